/**
 * SET (xt_set.c, revision 3; libxt_SET.c): adds the packet to, or deletes it from, IP sets.
 * `--add-set NAME src|dst[,…]` (with `--exist` to refresh an existing entry and
 * `--timeout N`), `--del-set NAME flags`, `--map-set NAME flags` with `--map-mark`,
 * `--map-prio`, `--map-queue`. Continues in every case.
 *
 * Sets are resolved at compile time through CompileEnv.sets (a set missing then is a
 * no-op, as a set the kernel could not find). `--map-set` looks the packet up but maps
 * nothing: nfemu's IpsetHandle does not expose the skbinfo extension (skbmark, prio,
 * queue).
 */
import { XT_CONTINUE, NF_INET_FORWARD, NF_INET_LOCAL_OUT, NF_INET_POST_ROUTING } from '../../netfilter/index.ts';
import type { Packet } from '../../packet/index.ts';
import { registerTarget, type IpsetHandle, type TargetExt } from '../ext.ts';
import { strtoul, xtParse, type XtOption } from './util.ts';

/** One `NAME flags` reference: per dimension, 1 = source, 0 = destination. */
export interface SetRef {
  readonly name: string;
  readonly dirs: Uint8Array;
}

/** IPSET_FLAG_* bits of xt_set_info_target_v3.flags. */
export const IPSET_FLAG_EXIST = 1 << 6;
export const IPSET_FLAG_MAP_SKBMARK = 1 << 8;
export const IPSET_FLAG_MAP_SKBPRIO = 1 << 9;
export const IPSET_FLAG_MAP_SKBQUEUE = 1 << 10;
/** IPSET_NO_TIMEOUT: no --timeout given. */
export const IPSET_NO_TIMEOUT = 0xffffffff;
const IPSET_DIM_MAX = 6;
const IPSET_MAXNAMELEN = 32;

export interface SetData {
  readonly add: SetRef | null;
  readonly del: SetRef | null;
  readonly map: SetRef | null;
  readonly flags: number;
  /** Seconds, or IPSET_NO_TIMEOUT. */
  readonly timeout: number;
}

const OPTIONS: readonly XtOption[] = [
  { name: 'add-set', args: 2, multi: true },
  { name: 'del-set', args: 2, multi: true },
  { name: 'map-set', args: 2, multi: true },
  { name: 'timeout', args: 1, multi: true },
  { name: 'exist', args: 0, multi: true },
  { name: 'map-mark', args: 0, multi: true },
  { name: 'map-prio', args: 0, multi: true },
  { name: 'map-queue', args: 0, multi: true },
];

/** The ipset handle's add with its `exist` flag (src/ipset's handle takes it; IpsetHandle does not declare it). */
interface AddWithExist {
  add(pkt: Packet, dirs: Uint8Array, nowMs: number, timeoutSec?: number, exist?: boolean): void;
}

export const setTarget: TargetExt<SetData> = {
  name: 'SET',
  options: OPTIONS,
  parse(opts, env) {
    let add: SetRef | null = null;
    let del: SetRef | null = null;
    let map: SetRef | null = null;
    let flags = 0;
    let timeout = IPSET_NO_TIMEOUT;
    const ref = (name: string, spec: string, token: string): SetRef => {
      if (name.length > IPSET_MAXNAMELEN - 1) env.fail(`setname \`${name}' too long, max ${IPSET_MAXNAMELEN - 1} characters.`, token);
      // parse_dirs(): strsep on ',', each word must start with src or dst (strncmp … 3).
      const words = spec.split(',');
      const dirs: number[] = [];
      for (const w of words) {
        if (dirs.length === IPSET_DIM_MAX) env.fail(`Can't be more src/dst options than ${IPSET_DIM_MAX}.`, token);
        if (w.startsWith('src')) dirs.push(1);
        else if (w.startsWith('dst')) dirs.push(0);
        else env.fail(`You must spefify (the comma separated list of) 'src' or 'dst'.`, token);
      }
      return { name, dirs: Uint8Array.from(dirs) };
    };
    xtParse('SET', OPTIONS, opts, env, (use) => {
      const [a, b] = use.args;
      switch (use.name) {
        case 'add-set':
          if (add !== null) env.fail('--add-set can be specified only once', use.token);
          add = ref(a!, b!, use.token);
          break;
        case 'del-set':
          if (del !== null) env.fail('--del-set can be specified only once', use.token);
          del = ref(a!, b!, use.token);
          break;
        case 'map-set':
          if (map !== null) env.fail('--map-set can be specified only once', use.token);
          map = ref(a!, b!, use.token);
          break;
        case 'timeout': {
          const r = strtoul(a!);
          if (r === null || r.end !== a!.length || r.value > IPSET_NO_TIMEOUT - 1) {
            env.fail(`Invalid value for option --timeout or out of range 0-${IPSET_NO_TIMEOUT - 1}`, use.token);
          }
          timeout = r!.value;
          break;
        }
        case 'exist': flags |= IPSET_FLAG_EXIST; break;
        case 'map-mark': flags |= IPSET_FLAG_MAP_SKBMARK; break;
        case 'map-prio': flags |= IPSET_FLAG_MAP_SKBPRIO; break;
        case 'map-queue': flags |= IPSET_FLAG_MAP_SKBQUEUE; break;
      }
    });
    // set_target_v3_check().
    if (add === null && del === null && map === null) {
      env.fail("You must specify either `--add-set' or `--del-set' or `--map-set'");
    }
    if (add === null) {
      if (flags & IPSET_FLAG_EXIST) env.fail("Flag `--exist' can be used with `--add-set' only");
      if (timeout !== IPSET_NO_TIMEOUT) env.fail("Option `--timeout' can be used with `--add-set' only");
    }
    if (map === null) {
      if (flags & IPSET_FLAG_MAP_SKBMARK) env.fail("Flag `--map-mark' can be used with `--map-set' only");
      if (flags & IPSET_FLAG_MAP_SKBPRIO) env.fail("Flag `--map-prio' can be used with `--map-set' only");
      if (flags & IPSET_FLAG_MAP_SKBQUEUE) env.fail("Flag `--map-queue' can be used with `--map-set' only");
    } else if ((flags & (IPSET_FLAG_MAP_SKBMARK | IPSET_FLAG_MAP_SKBPRIO | IPSET_FLAG_MAP_SKBQUEUE)) === 0) {
      env.fail("You must specify flags `--map-mark' or '--map-prio` or `--map-queue'");
    }
    return { add, del, map, flags, timeout };
  },
  print(d) {
    const refText = (r: SetRef) => `${r.name} ${Array.from(r.dirs, (x) => (x ? 'src' : 'dst')).join(',')}`;
    const parts: string[] = [];
    if (d.add !== null) {
      parts.push(`--add-set ${refText(d.add)}`);
      if (d.flags & IPSET_FLAG_EXIST) parts.push('--exist');
      if (d.timeout !== IPSET_NO_TIMEOUT) parts.push(`--timeout ${d.timeout}`);
    }
    if (d.del !== null) parts.push(`--del-set ${refText(d.del)}`);
    if (d.map !== null) {
      parts.push(`--map-set ${refText(d.map)}`);
      if (d.flags & IPSET_FLAG_MAP_SKBMARK) parts.push('--map-mark');
      if (d.flags & IPSET_FLAG_MAP_SKBPRIO) parts.push('--map-prio');
      if (d.flags & IPSET_FLAG_MAP_SKBQUEUE) parts.push('--map-queue');
    }
    return parts.join(' ');
  },
  check(d, env) {
    if (env.sets !== null) {
      for (const r of [d.add, d.del, d.map]) {
        if (r !== null && env.sets.get(r.name) === null) return `Set ${r.name} doesn't exist.`;
      }
    }
    if (d.map !== null) {
      if (env.table !== 'mangle') return '--map-set only usable from mangle table';
      const ok = (1 << NF_INET_FORWARD) | (1 << NF_INET_LOCAL_OUT) | (1 << NF_INET_POST_ROUTING);
      if ((d.flags & (IPSET_FLAG_MAP_SKBPRIO | IPSET_FLAG_MAP_SKBQUEUE)) !== 0 && (env.hooks & ~ok) !== 0) {
        return 'mapping of prio or/and queue is allowed only from OUTPUT/FORWARD/POSTROUTING chains';
      }
    }
    return null;
  },
  compile(d, env) {
    const get = (r: SetRef | null): IpsetHandle | null => (r === null ? null : env.sets.get(r.name));
    const addSet = get(d.add) as (IpsetHandle & AddWithExist) | null;
    const delSet = get(d.del);
    const mapSet = get(d.map);
    const addDirs = d.add?.dirs ?? new Uint8Array(0);
    const delDirs = d.del?.dirs ?? new Uint8Array(0);
    const mapDirs = d.map?.dirs ?? new Uint8Array(0);
    const timeout = d.timeout === IPSET_NO_TIMEOUT ? undefined : d.timeout;
    const exist = (d.flags & IPSET_FLAG_EXIST) !== 0;
    return {
      /** set_target_v3(). Hot path. */
      run(pkt, ctx) {
        if (addSet !== null) addSet.add(pkt, addDirs, ctx.nowMs, timeout, exist);
        if (delSet !== null) delSet.del(pkt, delDirs, ctx.nowMs);
        // The lookup happens; the skbinfo mapping is not modelled (see the file comment).
        if (mapSet !== null) mapSet.test(pkt, mapDirs, ctx.nowMs);
        return XT_CONTINUE;
      },
    };
  },
};

registerTarget(setTarget);
