/**
 * `-m recent` (revision 1): lists of recently seen addresses (xt_recent.c, Linux 6.x).
 *
 * Tables are per network namespace, by name, shared by every rule that names them (and by
 * iptables and ip6tables): a table's address mask is the one of the first rule that
 * created it. Each entry is one masked address with a ring of packet timestamps; a table
 * holds at most ip_list_tot = 100 entries and drops the least recently used one to make
 * room. --rcheck/--update count the timestamps within --seconds (all of them without it)
 * and match once --hitcount of them are found (any one without it); --update then records
 * the packet, --set always records it, --remove drops the entry.
 *
 * Linux 6.x keeps ip_pkt_list_tot (default 0, "retained for backwards compatibility") and
 * accepts hitcounts up to 65535: the ring holds roundup_pow_of_two(hitcount) stamps
 * (32 without a hitcount), the largest any rule of the table asks for.
 */
import { formatWords, parseIpOf, prefixMask, type Family } from '../../../core/index.ts';
import type { Packet } from '../../../packet/index.ts';
import { registerMatch, type ExtState, type MatchExt, type Matcher, type OptionUse, type ParseEnv, type XtContext } from '../../ext.ts';
import { checkOnce, has, optionsFcheck, parseUint, type OptionRule } from './common.ts';

export const XT_RECENT_CHECK = 1 << 0;
export const XT_RECENT_SET = 1 << 1;
export const XT_RECENT_UPDATE = 1 << 2;
export const XT_RECENT_REMOVE = 1 << 3;
export const XT_RECENT_TTL = 1 << 4;
export const XT_RECENT_REAP = 1 << 5;
export const XT_RECENT_SOURCE = 0;
export const XT_RECENT_DEST = 1;

/** Entries per table (module parameter ip_list_tot). */
export const IP_LIST_TOT = 100;
/** XT_RECENT_MAX_NSTAMPS: hitcounts must be below this. */
export const XT_RECENT_MAX_NSTAMPS = 65536;
export const XT_RECENT_NAME_LEN = 200;

export interface RecentData {
  /** XT_RECENT_* bits: one operation plus TTL / REAP. */
  readonly checkSet: number;
  readonly invert: boolean;
  readonly seconds: number;
  readonly hitCount: number;
  readonly name: string;
  /** Four words; for IPv4 only word 0 is set (the rest stay 0, as in the kernel's union). */
  readonly mask: Uint32Array;
  readonly side: number;
}

const OPS = ['set', 'rcheck', 'update', 'remove'];
const OPTION_RULES: readonly OptionRule[] = [
  { name: 'set', excl: OPS.filter((x) => x !== 'set') },
  { name: 'rcheck', excl: OPS.filter((x) => x !== 'rcheck') },
  { name: 'update', excl: OPS.filter((x) => x !== 'update') },
  { name: 'remove', excl: OPS.filter((x) => x !== 'remove') },
  { name: 'seconds' },
  { name: 'reap', also: ['seconds'] },
  { name: 'hitcount' },
  { name: 'rttl', excl: ['set', 'remove'] },
  { name: 'name' },
  { name: 'rsource' },
  { name: 'rdest' },
  { name: 'mask' },
];

function parseRecent(opts: readonly OptionUse[], env: ParseEnv): RecentData {
  checkOnce('recent', opts, env, ['rsource', 'rdest']);
  let checkSet = 0;
  let invert = false;
  let seconds = 0;
  let hitCount = 0;
  let name = 'DEFAULT';
  const mask = env.family === 4 ? prefixMask(4, 32) : prefixMask(6, 128);
  let side = XT_RECENT_SOURCE;
  for (const o of opts) {
    const arg = o.args[0] ?? '';
    switch (o.name) {
      case 'set': checkSet |= XT_RECENT_SET; invert = o.invert; break;
      case 'rcheck': checkSet |= XT_RECENT_CHECK; invert = o.invert; break;
      case 'update': checkSet |= XT_RECENT_UPDATE; invert = o.invert; break;
      case 'remove': checkSet |= XT_RECENT_REMOVE; invert = o.invert; break;
      case 'seconds': {
        const n = parseUint(arg, 1, 0xffffffff);
        if (n === null) env.fail(`recent: bad value for option "--seconds", or out of range (1-4294967295).`, o.token);
        seconds = n!;
        break;
      }
      case 'reap': checkSet |= XT_RECENT_REAP; break;
      case 'hitcount': {
        const n = parseUint(arg, 0, 0xffffffff);
        if (n === null) env.fail(`recent: bad value for option "--hitcount", or out of range (0-4294967295).`, o.token);
        hitCount = n!;
        break;
      }
      case 'rttl': checkSet |= XT_RECENT_TTL; break;
      case 'name': name = arg; break;
      case 'rsource': side = XT_RECENT_SOURCE; break;
      case 'rdest': side = XT_RECENT_DEST; break;
      case 'mask': {
        const ip = parseIpOf(env.family, arg);
        if (ip === null) env.fail(`host/network \`${arg}' not found`, arg);
        mask.set(ip!.w);
        break;
      }
    }
  }
  if (!OPS.some((x) => has(opts, x))) env.fail("recent: you must specify one of `--set', `--rcheck' `--update' or `--remove'");
  optionsFcheck('recent', OPTION_RULES, opts, env);
  return { checkSet, invert, seconds, hitCount, name, mask, side };
}

function printRecent(d: RecentData, family: Family): string {
  const out: string[] = [];
  if (d.invert) out.push('!');
  if (d.checkSet & XT_RECENT_SET) out.push('--set');
  if (d.checkSet & XT_RECENT_CHECK) out.push('--rcheck');
  if (d.checkSet & XT_RECENT_UPDATE) out.push('--update');
  if (d.checkSet & XT_RECENT_REMOVE) out.push('--remove');
  // libxt_recent prints seconds and hitcount with %d.
  if (d.seconds) out.push(`--seconds ${d.seconds | 0}`);
  if (d.checkSet & XT_RECENT_REAP) out.push('--reap');
  if (d.hitCount) out.push(`--hitcount ${d.hitCount | 0}`);
  if (d.checkSet & XT_RECENT_TTL) out.push('--rttl');
  out.push(`--name ${d.name}`);
  out.push(`--mask ${formatWords(family, d.mask)}`);
  out.push(d.side === XT_RECENT_DEST ? '--rdest' : '--rsource');
  return out.join(' ');
}

/** recent_mt_check (the kernel refuses these with EINVAL, mostly without a log line). */
function checkRecent(d: RecentData): string | null {
  const op = d.checkSet & (XT_RECENT_SET | XT_RECENT_REMOVE | XT_RECENT_CHECK | XT_RECENT_UPDATE);
  if (op & (XT_RECENT_SET | XT_RECENT_REMOVE) && (d.seconds || d.hitCount || d.checkSet & (XT_RECENT_TTL | XT_RECENT_REAP))) {
    return 'recent: --set and --remove take no --seconds, --hitcount, --rttl or --reap (Invalid argument)';
  }
  if (d.checkSet & XT_RECENT_REAP && !d.seconds) return 'recent: --reap needs --seconds (Invalid argument)';
  if (d.hitCount >= XT_RECENT_MAX_NSTAMPS) {
    return `recent: hitcount (${d.hitCount}) is larger than allowed maximum (${XT_RECENT_MAX_NSTAMPS - 1})`;
  }
  if (d.name === '' || d.name.length >= XT_RECENT_NAME_LEN || d.name === '.' || d.name === '..' || d.name.includes('/')) {
    return `recent: invalid table name \`${d.name}' (Invalid argument)`;
  }
  return null;
}

/** Ring size a rule needs (nstamp_mask + 1) with ip_pkt_list_tot = 0. */
function ringNeed(hitCount: number): number {
  if (hitCount === 0) return 32;
  let n = 1;
  while (n < hitCount) n *= 2;
  return n;
}

/**
 * The largest ring any compiled rule asked for, per table name. Process-wide and only ever
 * growing: a ring larger than the kernel's never changes an answer (timestamps are kept
 * newest-first and a rule never needs more than its own hitcount of them), it only costs
 * memory, and it lets a table be sized before the first packet although CompileEnv hands out
 * state slots, not the state objects.
 */
const ringNeeds = new Map<string, number>();

/** One address of a recent table. */
export class RecentEntry {
  family: Family = 4;
  readonly addr = new Uint32Array(4);
  ttl = 0;
  /** Next slot to write (kernel e->index, before masking). */
  index = 0;
  nstamps = 0;
  stamps: Float64Array;

  constructor(cap: number) {
    this.stamps = new Float64Array(cap);
  }

  /** The newest timestamp. */
  last(): number {
    return this.stamps[(this.index - 1 + this.stamps.length) % this.stamps.length]!;
  }

  /** Grows the ring to `cap`, keeping the stamps oldest first. */
  grow(cap: number): void {
    const old = this.stamps;
    const n = this.nstamps;
    const next = new Float64Array(cap);
    const start = n < old.length ? 0 : this.index % old.length;
    for (let i = 0; i < n; i++) next[i] = old[(start + i) % old.length]!;
    this.stamps = next;
    this.index = n;
  }

  copy(): RecentEntry {
    const e = new RecentEntry(this.stamps.length);
    e.family = this.family;
    e.addr.set(this.addr);
    e.ttl = this.ttl;
    e.index = this.index;
    e.nstamps = this.nstamps;
    e.stamps.set(this.stamps);
    return e;
  }
}

/** A named recent table: its mask and its entries, least recently used first. */
export class RecentTable implements ExtState {
  readonly entries: RecentEntry[] = [];
  /** Removed entries kept for reuse (no allocation while the table is full). */
  private readonly spare: RecentEntry[] = [];

  constructor(
    readonly name: string,
    readonly mask: Uint32Array,
  ) {}

  clone(): RecentTable {
    const t = new RecentTable(this.name, Uint32Array.from(this.mask));
    for (const e of this.entries) t.entries.push(e.copy());
    return t;
  }

  /** The ring size entries get now. */
  cap(): number {
    return ringNeeds.get(this.name) ?? 32;
  }

  /** recent_entry_lookup. Hot path. */
  lookup(family: Family, addr: Uint32Array, ttl: number): RecentEntry | null {
    const es = this.entries;
    for (let i = 0; i < es.length; i++) {
      const e = es[i]!;
      if (
        e.family === family && e.addr[0] === addr[0] && e.addr[1] === addr[1] && e.addr[2] === addr[2] && e.addr[3] === addr[3] &&
        (ttl === e.ttl || ttl === 0 || e.ttl === 0)
      ) return e;
    }
    return null;
  }

  /** recent_entry_remove. */
  remove(e: RecentEntry): void {
    const es = this.entries;
    const i = es.indexOf(e);
    if (i < 0) return;
    for (let j = i; j < es.length - 1; j++) es[j] = es[j + 1]!;
    es.length = es.length - 1;
    this.spare.push(e);
  }

  /** recent_entry_init: a new entry with one timestamp, evicting the LRU entry when full. */
  init(family: Family, addr: Uint32Array, ttl: number, now: number): RecentEntry {
    if (this.entries.length >= IP_LIST_TOT) this.remove(this.entries[0]!);
    const cap = this.cap();
    let e = this.spare.pop();
    if (e === undefined || e.stamps.length !== cap) e = new RecentEntry(cap);
    e.family = family;
    e.addr.set(addr);
    e.ttl = ttl;
    e.stamps[0] = now;
    e.nstamps = 1;
    e.index = 1;
    this.entries.push(e);
    return e;
  }

  /** recent_entry_update: record a timestamp and move the entry to the LRU tail. */
  update(e: RecentEntry, now: number): void {
    const cap = this.cap();
    if (e.stamps.length < cap) e.grow(cap);
    e.index %= e.stamps.length;
    e.stamps[e.index++] = now;
    if (e.index > e.nstamps) e.nstamps = e.index;
    const es = this.entries;
    const i = es.indexOf(e);
    for (let j = i; j < es.length - 1; j++) es[j] = es[j + 1]!;
    es[es.length - 1] = e;
  }

  /** recent_entry_reap: drop the LRU entry if its newest stamp is older than `time`. */
  reap(time: number): void {
    const head = this.entries[0];
    if (head !== undefined && time > head.last()) this.remove(head);
  }
}

class RecentMatcher implements Matcher {
  private readonly scratch = new Uint32Array(4);

  constructor(
    private readonly slot: number,
    private readonly d: RecentData,
    private readonly family: Family,
  ) {}

  /** Hot path (recent_mt); allocates only when a new address enters a table. */
  match(pkt: Packet, ctx: XtContext): boolean {
    const d = this.d;
    const t = ctx.states[this.slot] as RecentTable;
    const src = d.side === XT_RECENT_DEST ? pkt.daddr : pkt.saddr;
    const a = this.scratch;
    for (let i = 0; i < 4; i++) a[i] = (src[i]! & t.mask[i]!) >>> 0;
    let ttl = pkt.ttl;
    // "use TTL as seen before forwarding": a packet with an output device and no local socket.
    if (pkt.outIface !== '' && pkt.uid === -1 && pkt.inIface !== '') ttl = (ttl + 1) & 0xff;
    const now = ctx.nowMs;
    let ret = d.invert;
    const e = t.lookup(this.family, a, d.checkSet & XT_RECENT_TTL ? ttl : 0);
    if (e === null) {
      if (!(d.checkSet & XT_RECENT_SET)) return ret;
      t.init(this.family, a, ttl, now);
      return !ret;
    }
    if (d.checkSet & XT_RECENT_SET) {
      ret = !ret;
    } else if (d.checkSet & XT_RECENT_REMOVE) {
      t.remove(e);
      return !ret;
    } else {
      const time = now - d.seconds * 1000;
      let hits = 0;
      const n = e.nstamps;
      for (let i = 0; i < n; i++) {
        if (d.seconds && time > e.stamps[i]!) continue;
        if (!d.hitCount || ++hits >= d.hitCount) {
          ret = !ret;
          break;
        }
      }
      if (d.checkSet & XT_RECENT_REAP) t.reap(time);
    }
    if (d.checkSet & XT_RECENT_SET || (d.checkSet & XT_RECENT_UPDATE && ret)) {
      t.update(e, now);
      e.ttl = ttl;
    }
    return ret;
  }
}

export const recentMatch: MatchExt<RecentData> = {
  name: 'recent',
  options: [
    { name: 'set', args: 0, invertible: true },
    { name: 'rcheck', args: 0, invertible: true },
    { name: 'update', args: 0, invertible: true },
    { name: 'remove', args: 0, invertible: true },
    { name: 'seconds', args: 1 },
    { name: 'reap', args: 0 },
    { name: 'hitcount', args: 1 },
    { name: 'rttl', args: 0 },
    { name: 'name', args: 1 },
    { name: 'rsource', args: 0 },
    { name: 'rdest', args: 0 },
    { name: 'mask', args: 1 },
  ],
  parse: parseRecent,
  print: printRecent,
  check: checkRecent,
  compile(d, env) {
    const need = ringNeed(d.hitCount);
    if ((ringNeeds.get(d.name) ?? 0) < need) ringNeeds.set(d.name, need);
    const mask = Uint32Array.from(d.mask);
    const slot = env.stateSlot(`recent:${d.name}`, () => new RecentTable(d.name, mask));
    return new RecentMatcher(slot, d, env.family);
  },
};

registerMatch(recentMatch);
