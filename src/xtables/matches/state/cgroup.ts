/**
 * `-m cgroup`: the cgroup (v2 path or net_cls classid) of the sending socket (xt_cgroup.c).
 * Parsed, checked and printed; nfemu models no cgroups, so compiling it is UNSUPPORTED.
 */
import { NfemuError, type Family } from '../../../core/index.ts';
import { NF_INET_LOCAL_IN, NF_INET_LOCAL_OUT, NF_INET_POST_ROUTING } from '../../../netfilter/index.ts';
import { registerMatch, type MatchExt, type OptionUse, type ParseEnv } from '../../ext.ts';
import { checkHooks, checkOnce, parseUint } from './common.ts';

export const CGROUP_HOOKS = (1 << NF_INET_LOCAL_OUT) | (1 << NF_INET_POST_ROUTING) | (1 << NF_INET_LOCAL_IN);

export interface CgroupData {
  readonly path: string | null;
  readonly invertPath: boolean;
  readonly classid: number | null;
  readonly invertClassid: boolean;
}

/** xtables_save_string: plain when nothing needs quoting, else double-quoted with escapes. */
export function saveString(s: string): string {
  if (s !== '' && !/[\s"'\\]/.test(s)) return s;
  return `"${s.replace(/["\\]/g, (c) => `\\${c}`)}"`;
}

export const cgroupMatch: MatchExt<CgroupData> = {
  name: 'cgroup',
  options: [
    { name: 'path', args: 1, invertible: true },
    { name: 'cgroup', args: 1, invertible: true },
  ],
  parse(opts: readonly OptionUse[], env: ParseEnv) {
    checkOnce('cgroup', opts, env);
    let path: string | null = null;
    let invertPath = false;
    let classid: number | null = null;
    let invertClassid = false;
    for (const o of opts) {
      if (o.name === 'path') {
        path = o.args[0]!;
        invertPath = o.invert;
      } else {
        const n = parseUint(o.args[0]!, 0, 0xffffffff);
        if (n === null) env.fail(`cgroup: bad value for option "--cgroup", or out of range (0-4294967295).`, o.token);
        classid = n;
        invertClassid = o.invert;
      }
    }
    return { path, invertPath, classid, invertClassid };
  },
  print(d: CgroupData, _family: Family) {
    const out: string[] = [];
    if (d.path !== null) out.push(`${d.invertPath ? '! ' : ''}--path ${saveString(d.path)}`);
    if (d.classid !== null) out.push(`${d.invertClassid ? '! ' : ''}--cgroup ${d.classid}`);
    return out.join(' ');
  },
  check(d, env) {
    const h = checkHooks('cgroup', 'match', env.hooks, CGROUP_HOOKS);
    if (h) return h;
    if (d.path === null && d.classid === null) return 'cgroup: no path or classid specified';
    if (d.path !== null && d.classid !== null) return 'cgroup: path and classid specified';
    return null;
  },
  compile() {
    throw new NfemuError('UNSUPPORTED', 'cgroup match: nfemu models no cgroups of local processes (-m cgroup)', { token: 'cgroup' });
  },
};

registerMatch(cgroupMatch);
