/**
 * `-m hashlimit` (libxt_hashlimit.c revision 3, xt_hashlimit.c): a token bucket per flow key
 * (source/destination address under a prefix mask, ports), kept in a table named by
 * --hashlimit-name.
 *
 * Kernel behaviour kept here:
 *  - Tables are per family and name, shared by every rule naming them; the table keeps the
 *    configuration of the rule that created it (rate, burst, mode, masks, expiry), so a later
 *    rule with the same name but another rate uses the first rule's buckets.
 *  - Buckets count credits in jiffies (HZ = 250, the Debian/Ubuntu kernel setting): packets
 *    cost user2credits(avg), a new bucket is full (avg·burst), credit accrues per jiffy since
 *    the bucket's last packet. Byte mode (`kb/s`) and rate-match mode follow rateinfo_init /
 *    rateinfo_recalc / hashlimit_byte_cost.
 *  - An entry idle past --hashlimit-htable-expire is removed by the garbage collector, which
 *    runs every --hashlimit-htable-gcinterval ms; nfemu counts gc runs from the first packet
 *    the table sees (the kernel from table creation).
 * Credits exceed 2^53, so 64-bit values are kept as two 32-bit words.
 */
import type { Family } from '../../../core/index.ts';
import type { Packet } from '../../../packet/index.ts';
import type { CheckEnv, CompileEnv, ExtState, Matcher, MatchExt, OptionUse, ParseEnv, XtContext } from '../../ext.ts';
import { registerMatch } from '../../ext.ts';
import { atollU64, strtoul, X6Parser, x6OptionDefs, type X6Entry } from './common.ts';
import { parseRateText } from './limit.ts';

export const XT_HASHLIMIT_HASH_DIP = 0x01;
export const XT_HASHLIMIT_HASH_DPT = 0x02;
export const XT_HASHLIMIT_HASH_SIP = 0x04;
export const XT_HASHLIMIT_HASH_SPT = 0x08;
export const XT_HASHLIMIT_INVERT = 0x10;
export const XT_HASHLIMIT_BYTES = 0x20;
export const XT_HASHLIMIT_RATE_MATCH = 0x40;

/** Kernel HZ nfemu assumes (CONFIG_HZ=250). */
export const HZ = 250;
const SCALE = 1000000n; // XT_HASHLIMIT_SCALE_v2
const BYTE_SHIFT = 4n; // XT_HASHLIMIT_BYTE_SHIFT
const BURST_DEFAULT = 5;
const BURST_MAX = 1000000;
const GC_INTERVAL_DEFAULT = 1000;
const BYTE_EXPIRE = 15;
const BYTE_EXPIRE_BURST = 60;
const U32_MAX = 0xffffffffn;
const U64_MASK = (1n << 64n) - 1n;

export interface HashlimitData {
  readonly name: string;
  /** XT_HASHLIMIT_* bits (hash keys, INVERT for --hashlimit-above, BYTES, RATE_MATCH). */
  readonly mode: number;
  /** hashlimit_cfg3.avg as a decimal string (u64). */
  readonly avg: string;
  /** Packets, or the number of byte-bucket refills in byte mode. */
  readonly burst: number;
  readonly size: number;
  readonly max: number;
  readonly gcInterval: number;
  readonly expire: number;
  readonly srcmask: number;
  readonly dstmask: number;
  readonly interval: number;
}

const O_UPTO = 0, O_ABOVE = 1, O_MODE = 3, O_SRCMASK = 4, O_DSTMASK = 5, O_NAME = 6, O_BURST = 7;
const O_SIZE = 8, O_MAX = 9, O_GCINT = 10, O_EXPIRE = 11, O_RATEMATCH = 12, O_INTERVAL = 13;
const TABLE: readonly X6Entry[] = [
  { id: O_UPTO, name: 'hashlimit-upto', args: 1, invert: true, excl: 1 << O_ABOVE },
  { id: O_ABOVE, name: 'hashlimit-above', args: 1, invert: true, excl: 1 << O_UPTO },
  { id: O_UPTO, name: 'hashlimit', args: 1, invert: true, excl: 1 << O_ABOVE },
  { id: O_SRCMASK, name: 'hashlimit-srcmask', args: 1 },
  { id: O_DSTMASK, name: 'hashlimit-dstmask', args: 1 },
  { id: O_BURST, name: 'hashlimit-burst', args: 1 },
  { id: O_SIZE, name: 'hashlimit-htable-size', args: 1 },
  { id: O_MAX, name: 'hashlimit-htable-max', args: 1 },
  { id: O_GCINT, name: 'hashlimit-htable-gcinterval', args: 1 },
  { id: O_EXPIRE, name: 'hashlimit-htable-expire', args: 1 },
  { id: O_MODE, name: 'hashlimit-mode', args: 1 },
  { id: O_NAME, name: 'hashlimit-name', args: 1, mand: true },
  { id: O_RATEMATCH, name: 'hashlimit-rate-match', args: 0 },
  { id: O_INTERVAL, name: 'hashlimit-rate-interval', args: 1 },
];

const factorOf = (c: string | undefined): bigint => (c === 'm' ? 1048576n : c === 'k' ? 1024n : 1n);

function bytesToCost(bytes: bigint): bigint {
  const r = (bytes >> BYTE_SHIFT) & U32_MAX;
  return U32_MAX / (r + 1n);
}

function costToBytes(cost: bigint): bigint {
  const r = cost ? U32_MAX / cost : U32_MAX;
  return (r - 1n) << BYTE_SHIFT;
}

/** parse_bytes: `N[k|m]b/s`; null when the text is not a byte rate. */
function parseBytes(text: string, env: ParseEnv, token: string): bigint | null {
  const at = text.indexOf('b/s');
  if (at <= 0) return null;
  const r = atollU64(text);
  if (r === 0n) return null;
  const tmp = r * factorOf(text[at - 1]);
  if (tmp > U64_MASK) env.fail(`Rate value too large "${tmp}" (max ${U64_MASK})`, token);
  const cost = bytesToCost(tmp);
  if (cost === 0n) env.fail(`Rate too high "${text}"`, token);
  return cost;
}

function parseMode(text: string): number | null {
  let mode = 0;
  for (const tok of text.split(/[,|]/)) {
    if (tok === '') continue;
    if (tok === 'dstip') mode |= XT_HASHLIMIT_HASH_DIP;
    else if (tok === 'srcip') mode |= XT_HASHLIMIT_HASH_SIP;
    else if (tok === 'srcport') mode |= XT_HASHLIMIT_HASH_SPT;
    else if (tok === 'dstport') mode |= XT_HASHLIMIT_HASH_DPT;
    else return null;
  }
  return mode;
}

function parse(opts: readonly OptionUse[], env: ParseEnv): HashlimitData {
  const x6 = new X6Parser('hashlimit', TABLE, env);
  const dmask = env.family === 4 ? 32 : 128;
  let mode = 0;
  let avg = 0n;
  let mult = 1;
  let burst = BigInt(BURST_DEFAULT);
  let size = 0, max = 0, gcInterval = GC_INTERVAL_DEFAULT, expire = 0, srcmask = dmask, dstmask = dmask, interval = 0;
  let name = '';
  for (const o of opts) {
    const e = x6.use(o);
    const a = o.args[0] ?? '';
    switch (e.id) {
      case O_UPTO:
      case O_ABOVE: {
        if ((e.id === O_UPTO) === o.invert) mode |= XT_HASHLIMIT_INVERT;
        const cost = parseBytes(a, env, o.token);
        if (cost !== null) {
          avg = cost;
          mult = BYTE_EXPIRE;
          mode |= XT_HASHLIMIT_BYTES;
        } else {
          const p = parseRateText(a);
          if (p === null) env.fail(`hashlimit: Bad value for "--${e.name}" option: "${a}"`, o.token);
          // atoll, not atoi: the count is 64-bit here.
          const r = atollU64(a);
          avg = (SCALE * BigInt(p.mult)) / r;
          if (avg === 0n) env.fail(`Rate too fast "${a}"`, o.token);
          mult = p.mult;
        }
        break;
      }
      case O_MODE: {
        const m = parseMode(a);
        if (m === null) env.fail(`hashlimit: Bad value for "--hashlimit-mode" option: "${a}"`, o.token);
        mode |= m;
        break;
      }
      case O_SRCMASK: srcmask = x6.uint(e, a, 0, 128, o.token); break;
      case O_DSTMASK: dstmask = x6.uint(e, a, 0, 128, o.token); break;
      case O_NAME:
        if (a.length < 1) env.fail('Argument must have a minimum length of 1 characters', o.token);
        name = a;
        break;
      case O_BURST: {
        let p = 0;
        while (p < a.length && /\s/.test(a[p]!)) p++;
        const r = a[p] === '-' ? null : strtoul(a, 0, 0);
        if (r === null || r.end === 0 || r.overflow || r.value < 1n || (r.end === a.length && r.value > BigInt(BURST_MAX))) {
          env.fail(`bad value for option "--hashlimit-burst", or out of range (1-${BURST_MAX}).`, o.token);
        }
        const v = r.value * factorOf(a[r.end]);
        if (v > U64_MASK) env.fail(`bad value for option "--hashlimit-burst", value "${a}" too large (max ${U64_MASK / 1048576n}mb).`, o.token);
        burst = v;
        break;
      }
      case O_SIZE: size = x6.uint(e, a, 0, 0xffffffff, o.token); break;
      case O_MAX: max = x6.uint(e, a, 0, 0xffffffff, o.token); break;
      case O_GCINT: gcInterval = x6.uint(e, a, 0, 0xffffffff, o.token); break;
      case O_EXPIRE: expire = x6.uint(e, a, 0, 0xffffffff, o.token); break;
      case O_RATEMATCH: mode |= XT_HASHLIMIT_RATE_MATCH; break;
      default: {
        const r = Number(BigInt.asIntN(32, atollU64(a) & U32_MAX));
        if (r <= 0) env.fail(`hashlimit: Bad value for "--hashlimit-rate-interval" option: "${a}"`, o.token);
        interval = r;
      }
    }
  }
  // hashlimit_mt_check (x6_fcheck), then the table's mandatory/exclusion checks.
  if (!x6.has(O_UPTO) && !x6.has(O_ABOVE)) env.fail('You have to specify --hashlimit');
  if (!x6.has(O_EXPIRE)) expire = mult * 1000;
  if (mode & XT_HASHLIMIT_BYTES) {
    let b = 0n;
    if (x6.has(O_BURST)) {
      const unit = costToBytes(avg);
      if (burst < unit) env.fail(`burst cannot be smaller than ${unit}b`);
      b = (burst / unit) & U32_MAX;
      if (burst % unit) b++;
      if (!x6.has(O_EXPIRE)) expire = BYTE_EXPIRE_BURST * 1000;
    }
    burst = b;
  } else if (burst > BigInt(BURST_MAX)) {
    env.fail(`bad value for option "--hashlimit-burst", or out of range (1-${BURST_MAX}).`);
  }
  if (x6.has(O_RATEMATCH)) {
    if (!(mode & XT_HASHLIMIT_BYTES)) avg /= BigInt(mult);
    if (interval === 0) interval = mode & XT_HASHLIMIT_BYTES ? 1 : mult;
  }
  x6.finish();
  return { name, mode, avg: avg.toString(), burst: Number(burst), size, max, gcInterval, expire, srcmask, dstmask, interval };
}

const RATES: ReadonlyArray<readonly [string, bigint]> = [
  ['day', SCALE * 86400n], ['hour', SCALE * 3600n], ['min', SCALE * 60n], ['sec', SCALE],
];

/** print_rate (revision 2/3 scale): the text and the unit in ms (the default expiry "quantum"). */
function printRate(avg: bigint): { text: string; quantum: number } {
  if (avg === 0n) return { text: 'inf', quantum: 0 };
  let i = 1;
  for (; i < RATES.length; i++) {
    const m = RATES[i]![1];
    if (avg > m || m / avg < m % avg) break;
  }
  const [name, m] = RATES[i - 1]!;
  return { text: `${m / avg}/${name}`, quantum: Number((m / SCALE) * 1000n) };
}

const UNITS: ReadonlyArray<readonly [string, bigint]> = [['m', 1048576n], ['k', 1024n], ['', 1n]];

/** print_bytes: `NNkb/s` and, with a burst, ` --hashlimit-burst NNkb`. */
function printBytes(avg: bigint, burst: number): { text: string; quantum: number } {
  let r = costToBytes(avg);
  let i = 0;
  for (; i < UNITS.length - 1; i++) {
    const t = UNITS[i]![1];
    if (r >= t && bytesToCost(r & ~(t - 1n)) === avg) break;
  }
  let text = `${r / UNITS[i]![1]}${UNITS[i]![0]}b/s`;
  if (burst === 0) return { text, quantum: BYTE_EXPIRE * 1000 };
  r *= BigInt(burst);
  for (i = 0; i < UNITS.length - 1; i++) if (r >= UNITS[i]![1]) break;
  text += ` --hashlimit-burst ${r / UNITS[i]![1]}${UNITS[i]![0]}b`;
  return { text, quantum: BYTE_EXPIRE_BURST * 1000 };
}

function print(d: HashlimitData, family: Family): string {
  const dmask = family === 4 ? 32 : 128;
  const avg = BigInt(d.avg);
  const out: string[] = [d.mode & XT_HASHLIMIT_INVERT ? '--hashlimit-above' : '--hashlimit-upto'];
  let quantum: number;
  if (d.mode & XT_HASHLIMIT_BYTES) {
    const p = printBytes(avg, d.burst);
    out.push(p.text);
    quantum = p.quantum;
  } else {
    const p = printRate(avg);
    out.push(p.text, `--hashlimit-burst ${d.burst}`);
    quantum = p.quantum;
  }
  const keys = d.mode & (XT_HASHLIMIT_HASH_SIP | XT_HASHLIMIT_HASH_SPT | XT_HASHLIMIT_HASH_DIP | XT_HASHLIMIT_HASH_DPT);
  if (keys) {
    const names: string[] = [];
    if (keys & XT_HASHLIMIT_HASH_SIP) names.push('srcip');
    if (keys & XT_HASHLIMIT_HASH_SPT) names.push('srcport');
    if (keys & XT_HASHLIMIT_HASH_DIP) names.push('dstip');
    if (keys & XT_HASHLIMIT_HASH_DPT) names.push('dstport');
    out.push(`--hashlimit-mode ${names.join(',')}`);
  }
  out.push(`--hashlimit-name ${d.name}`);
  if (d.size) out.push(`--hashlimit-htable-size ${d.size}`);
  if (d.max) out.push(`--hashlimit-htable-max ${d.max}`);
  if (d.gcInterval !== GC_INTERVAL_DEFAULT) out.push(`--hashlimit-htable-gcinterval ${d.gcInterval}`);
  if (d.expire !== quantum) out.push(`--hashlimit-htable-expire ${d.expire}`);
  if (d.srcmask !== dmask) out.push(`--hashlimit-srcmask ${d.srcmask}`);
  if (d.dstmask !== dmask) out.push(`--hashlimit-dstmask ${d.dstmask}`);
  if (d.mode & XT_HASHLIMIT_RATE_MATCH) {
    out.push('--hashlimit-rate-match');
    if (d.interval !== 1) out.push(`--hashlimit-rate-interval ${d.interval}`);
  }
  return out.join(' ');
}

// --- kernel arithmetic -------------------------------------------------------------------

/** POW2_BELOW64 / POW2_BELOW32: the largest power of two not above x. */
function pow2Below(x: bigint): bigint {
  let p = 1n;
  while (p * 2n <= x) p *= 2n;
  return p;
}

/** CREDITS_PER_JIFFY for revision 2/3. */
const CPJ = pow2Below(U64_MASK / BigInt(HZ * 86400));
/** CREDITS_PER_JIFFY_BYTES. */
const CPJ_BYTES = Number(pow2Below(U32_MAX / BigInt(HZ)));

/** user2credits for revision 2/3 (u64 arithmetic). */
function user2credits(user: bigint): bigint {
  const hzCpj = BigInt(HZ) * CPJ;
  if (SCALE >= hzCpj) return (user / (SCALE / hzCpj)) & U64_MASK;
  return (user * (hzCpj / SCALE)) & U64_MASK;
}

function check(d: HashlimitData, env: CheckEnv): string | null {
  const avg = BigInt(d.avg);
  if (d.gcInterval === 0 || d.expire === 0) return 'xt_hashlimit: gc interval and expire must not be 0 (Invalid argument)';
  const maxMask = env.family === 4 ? 32 : 128;
  if (d.srcmask > maxMask || d.dstmask > maxMask) return `xt_hashlimit: mask longer than ${maxMask} bits (Invalid argument)`;
  if (d.mode & XT_HASHLIMIT_RATE_MATCH) {
    if (avg === 0n || avg > U32_MAX) return 'xt_hashlimit: invalid rate';
    if (d.interval === 0) return 'xt_hashlimit: invalid interval';
  } else if (d.mode & XT_HASHLIMIT_BYTES) {
    if ((((avg & U32_MAX) * BigInt(HZ * CPJ_BYTES)) >> 32n) === 0n) return `xt_hashlimit: overflow, rate too high: ${avg}`;
  } else if (d.burst === 0 || user2credits((avg * BigInt(d.burst)) & U64_MASK) < user2credits(avg)) {
    return `xt_hashlimit: overflow, try lower: ${avg}/${d.burst}`;
  }
  return null;
}

/** msecs_to_jiffies for HZ dividing 1000 (rounds up). */
const msToJiffies = (ms: number): number => Math.ceil((ms * HZ) / 1000);

// Per-entry fields (Float64Array, stride E).
const F_USED = 0, F_EXPIRES = 1, F_PREV = 2, F_CREDIT_HI = 3, F_CREDIT_LO = 4, F_CAP = 5, F_RATE = 6, F_WINDOW = 7;
const E = 8;
/** Key words: src[4], dst[4], sport, dport. */
const K = 10;

/** One named table (struct xt_hashlimit_htable): the creating rule's config and the buckets. */
export class HashlimitTable implements ExtState {
  keys: Uint32Array;
  vals: Float64Array;
  count = 0;
  /** Jiffy of the first packet, the origin of the gc schedule (NaN before). */
  gcOrigin = NaN;
  constructor(
    readonly cfg: HashlimitData,
    capacity = 64,
  ) {
    this.keys = new Uint32Array(capacity * K);
    this.vals = new Float64Array(capacity * E);
  }

  get capacity(): number {
    return this.vals.length / E;
  }

  clone(): HashlimitTable {
    const c = new HashlimitTable(this.cfg, this.capacity);
    c.keys.set(this.keys);
    c.vals.set(this.vals);
    c.count = this.count;
    c.gcOrigin = this.gcOrigin;
    return c;
  }

  /** Slot holding `key` (from `key[off..off+K)`), or the empty slot where it would go. */
  find(key: Uint32Array): number {
    const mask = this.capacity - 1;
    let h = 0x811c9dc5;
    for (let i = 0; i < K; i++) h = Math.imul(h ^ key[i]!, 0x01000193);
    h ^= h >>> 15;
    let slot = h & mask;
    for (;;) {
      if (this.vals[slot * E + F_USED] === 0) return slot;
      let same = true;
      for (let i = 0; i < K; i++) {
        if (this.keys[slot * K + i] !== key[i]) {
          same = false;
          break;
        }
      }
      if (same) return slot;
      slot = (slot + 1) & mask;
    }
  }

  /** Removes the entry in `slot`, shifting later entries of its probe chain back (no tombstones). */
  remove(slot: number): void {
    const mask = this.capacity - 1;
    this.vals[slot * E + F_USED] = 0;
    this.count--;
    let hole = slot;
    let j = (slot + 1) & mask;
    while (this.vals[j * E + F_USED] !== 0) {
      let h = 0x811c9dc5;
      for (let i = 0; i < K; i++) h = Math.imul(h ^ this.keys[j * K + i]!, 0x01000193);
      h ^= h >>> 15;
      const home = h & mask;
      // Move j into the hole if its home is not cyclically within (hole, j].
      const between = hole <= j ? home > hole && home <= j : home > hole || home <= j;
      if (!between) {
        this.keys.copyWithin(hole * K, j * K, j * K + K);
        this.vals.copyWithin(hole * E, j * E, j * E + E);
        this.vals[j * E + F_USED] = 0;
        hole = j;
      }
      j = (j + 1) & mask;
    }
  }

  /** Doubles the capacity (configuration-sized growth; amortised, not per packet). */
  grow(): void {
    const old = this;
    const keys = old.keys;
    const vals = old.vals;
    const cap = old.capacity;
    this.keys = new Uint32Array(cap * 2 * K);
    this.vals = new Float64Array(cap * 2 * E);
    this.count = 0;
    const tmp = new Uint32Array(K);
    for (let s = 0; s < cap; s++) {
      if (vals[s * E + F_USED] === 0) continue;
      tmp.set(keys.subarray(s * K, s * K + K));
      const d = this.find(tmp);
      this.keys.set(tmp, d * K);
      this.vals.set(vals.subarray(s * E, s * E + E), d * E);
      this.count++;
    }
  }

  /** Whether the gc, running every `gcJ` jiffies from the origin, has run in [expires, now]. */
  collected(expires: number, now: number, gcJ: number): boolean {
    if (now < expires) return false;
    const k = Math.ceil((expires - this.gcOrigin) / gcJ);
    const tick = this.gcOrigin + Math.max(k, 1) * gcJ;
    return tick <= now;
  }

  /** Drops every entry the gc would have removed by `now`. */
  sweep(now: number, gcJ: number): void {
    for (let s = 0; s < this.capacity; s++) {
      while (this.vals[s * E + F_USED] !== 0 && this.collected(this.vals[s * E + F_EXPIRES]!, now, gcJ)) this.remove(s);
    }
  }
}

/** The compiled match: the rule's own INVERT/RATE_MATCH bits, the table's bucket parameters. */
class HashlimitMatcher implements Matcher {
  private readonly key = new Uint32Array(K);
  private readonly invert: boolean;
  private readonly rateMatchRule: boolean;
  private readonly bytesRule: boolean;
  // From the table's configuration:
  private readonly tmode: number;
  private readonly srcmask: number;
  private readonly dstmask: number;
  private readonly expireJ: number;
  private readonly gcJ: number;
  private readonly maxEntries: number;
  private readonly costHi: number;
  private readonly costLo: number;
  private readonly capHi: number;
  private readonly capLo: number;
  private readonly byteCost: number;
  private readonly byteCapCount: number;
  private readonly rmRate: number;
  private readonly rmBurst: number;
  private readonly rmIntervalJ: number;

  constructor(
    private readonly slot: number,
    rule: HashlimitData,
    table: HashlimitData,
  ) {
    this.invert = (rule.mode & XT_HASHLIMIT_INVERT) !== 0;
    this.rateMatchRule = (rule.mode & XT_HASHLIMIT_RATE_MATCH) !== 0;
    this.bytesRule = (rule.mode & XT_HASHLIMIT_BYTES) !== 0;
    this.tmode = table.mode;
    this.srcmask = table.srcmask;
    this.dstmask = table.dstmask;
    this.expireJ = msToJiffies(table.expire);
    this.gcJ = Math.max(1, msToJiffies(table.gcInterval));
    // htable_create: max defaults to 8 × size; nfemu takes size 8192 when not given.
    const size = table.size || 8192;
    this.maxEntries = table.max === 0 ? 8 * size : Math.max(table.max, size);
    const avg = BigInt(table.avg);
    const cost = user2credits(avg);
    const cap = user2credits((avg * BigInt(table.burst)) & U64_MASK);
    this.costHi = Number(cost >> 32n);
    this.costLo = Number(cost & U32_MAX);
    this.capHi = Number(cap >> 32n);
    this.capLo = Number(cap & U32_MAX);
    this.byteCost = Number((((avg & U32_MAX) * BigInt(HZ * CPJ_BYTES)) >> 32n) & U32_MAX);
    this.byteCapCount = table.burst;
    if (table.mode & XT_HASHLIMIT_BYTES) {
      const r = avg & U32_MAX ? U32_MAX / (avg & U32_MAX) : U32_MAX;
      const rate = (r - 1n) << BYTE_SHIFT;
      this.rmRate = Number(rate);
      this.rmBurst = table.burst ? table.burst * Number(rate) : Number(rate);
    } else {
      this.rmRate = avg === 0n ? 0 : Number(SCALE / avg);
      this.rmBurst = table.burst + this.rmRate;
    }
    this.rmIntervalJ = table.interval * HZ;
  }

  private fillKey(pkt: Packet): void {
    const k = this.key;
    k.fill(0);
    const m = this.tmode;
    if (m & XT_HASHLIMIT_HASH_DIP) maskInto(k, 4, pkt.daddr, this.dstmask, pkt.family);
    if (m & XT_HASHLIMIT_HASH_SIP) maskInto(k, 0, pkt.saddr, this.srcmask, pkt.family);
    if (m & (XT_HASHLIMIT_HASH_SPT | XT_HASHLIMIT_HASH_DPT)) {
      // proto_ports_offset(): ports only for protocols that carry them.
      const p = pkt.proto;
      const ports = p === 6 || p === 17 || p === 132 || p === 136 || p === 33;
      if (m & XT_HASHLIMIT_HASH_SPT) k[8] = ports ? pkt.sport : 0;
      if (m & XT_HASHLIMIT_HASH_DPT) k[9] = ports ? pkt.dport : 0;
    }
  }

  match(pkt: Packet, ctx: XtContext): boolean {
    const t = ctx.states[this.slot] as HashlimitTable;
    const now = Math.floor((ctx.nowMs * HZ) / 1000);
    if (t.gcOrigin !== t.gcOrigin) t.gcOrigin = now;
    this.fillKey(pkt);
    let s = t.find(this.key);
    let v = t.vals;
    let base = s * E;
    if (v[base + F_USED] !== 0 && t.collected(v[base + F_EXPIRES]!, now, this.gcJ)) {
      t.remove(s);
      s = t.find(this.key);
      base = s * E;
    }
    if (v[base + F_USED] === 0) {
      if (t.count >= this.maxEntries) {
        t.sweep(now, this.gcJ);
        // dsthash_alloc_init fails: the kernel drops the packet (hotdrop); the match is false.
        if (t.count >= this.maxEntries) return false;
      }
      if ((t.count + 1) * 2 > t.capacity) {
        t.grow();
        s = t.find(this.key);
      }
      v = t.vals;
      base = s * E;
      t.keys.set(this.key, s * K);
      t.count++;
      v[base + F_USED] = 1;
      v[base + F_EXPIRES] = now + this.expireJ;
      v[base + F_PREV] = now;
      // rateinfo_init
      if (this.tmode & XT_HASHLIMIT_RATE_MATCH) {
        v[base + F_RATE] = 0;
        v[base + F_WINDOW] = 0;
      } else if (this.tmode & XT_HASHLIMIT_BYTES) {
        v[base + F_CREDIT_LO] = CPJ_BYTES * HZ;
        v[base + F_CAP] = this.byteCapCount;
      } else {
        v[base + F_CREDIT_HI] = this.capHi;
        v[base + F_CREDIT_LO] = this.capLo;
      }
    } else {
      v[base + F_EXPIRES] = now + this.expireJ;
      this.recalc(v, base, now);
    }
    if (this.rateMatchRule) {
      v[base + F_RATE] = v[base + F_RATE]! + (this.bytesRule ? pkt.length : 1);
      return (v[base + F_WINDOW] === 0 && v[base + F_RATE]! <= this.rmBurst) !== this.invert;
    }
    if (this.bytesRule) {
      const cost = this.byteCostOf(v, base, pkt.length);
      if (v[base + F_CREDIT_LO]! >= cost) {
        v[base + F_CREDIT_LO] = v[base + F_CREDIT_LO]! - cost;
        return !this.invert;
      }
      return this.invert;
    }
    // credit >= cost, as two 32-bit words.
    const hi = v[base + F_CREDIT_HI]!;
    const lo = v[base + F_CREDIT_LO]!;
    if (hi > this.costHi || (hi === this.costHi && lo >= this.costLo)) {
      let nlo = lo - this.costLo;
      let nhi = hi - this.costHi;
      if (nlo < 0) {
        nlo += 4294967296;
        nhi -= 1;
      }
      v[base + F_CREDIT_HI] = nhi;
      v[base + F_CREDIT_LO] = nlo;
      return !this.invert;
    }
    return this.invert;
  }

  /** rateinfo_recalc with the table's mode. */
  private recalc(v: Float64Array, base: number, now: number): void {
    const delta = now - v[base + F_PREV]!;
    if (delta <= 0) return;
    if (this.tmode & XT_HASHLIMIT_RATE_MATCH) {
      if (delta < this.rmIntervalJ) return;
      v[base + F_PREV] = now;
      v[base + F_WINDOW] = v[base + F_RATE]! * this.rmIntervalJ > delta * this.rmRate ? 1 : 0;
      v[base + F_RATE] = 0;
      return;
    }
    v[base + F_PREV] = now;
    if (this.tmode & XT_HASHLIMIT_BYTES) {
      const cap = CPJ_BYTES * HZ;
      const c = v[base + F_CREDIT_LO]! + CPJ_BYTES * delta;
      v[base + F_CREDIT_LO] = c > cap ? cap : c;
      return;
    }
    // credit += delta · 2^39 (CREDITS_PER_JIFFY is a power of two ≥ 2^32): only the high word moves, mod 2^32.
    const hi = (v[base + F_CREDIT_HI]! + delta * CPJ_HI) % 4294967296;
    const lo = v[base + F_CREDIT_LO]!;
    if (hi > this.capHi || (hi === this.capHi && lo > this.capLo)) {
      v[base + F_CREDIT_HI] = this.capHi;
      v[base + F_CREDIT_LO] = this.capLo;
    } else {
      v[base + F_CREDIT_HI] = hi;
    }
  }

  /** hashlimit_byte_cost: refills the bucket from the burst counter when it runs short. */
  private byteCostOf(v: Float64Array, base: number, len: number): number {
    const full = CPJ_BYTES * HZ;
    let tmp = ((len >>> 4) + 1) * this.byteCost;
    if (tmp > full) tmp = full;
    if (v[base + F_CREDIT_LO]! < tmp && v[base + F_CAP]! > 0) {
      v[base + F_CAP] = v[base + F_CAP]! - 1;
      v[base + F_CREDIT_LO] = full;
    }
    return tmp;
  }
}

/** CREDITS_PER_JIFFY / 2^32 (CPJ is 2^39 at HZ 250). */
const CPJ_HI = Number(CPJ >> 32n);
if (CPJ & U32_MAX) throw new Error('hashlimit: CREDITS_PER_JIFFY below 2^32 is not supported');

/** Writes `w` masked to `prefix` bits into key[off..off+4). */
function maskInto(key: Uint32Array, off: number, w: Uint32Array, prefix: number, family: Family): void {
  const words = family === 4 ? 1 : 4;
  let left = prefix;
  for (let i = 0; i < words; i++) {
    const bits = left >= 32 ? 32 : left <= 0 ? 0 : left;
    key[off + i] = bits === 0 ? 0 : bits === 32 ? w[i]! : (w[i]! & (0xffffffff << (32 - bits))) >>> 0;
    left -= 32;
  }
}

function compile(d: HashlimitData, env: CompileEnv): Matcher {
  const slot = env.stateSlot(`hashlimit/${env.family}/${d.name}`, () => new HashlimitTable(d));
  return new LazyHashlimit(slot, d);
}

/**
 * Resolves the table's configuration on first use: the slot may have been created by another
 * rule naming the same table, whose configuration then applies (as in the kernel). Builds the
 * real matcher once, on the rule's first packet.
 *
 * Not modelled: the kernel refuses a rule whose --hashlimit-rate-match setting differs from
 * that of the existing table of the same name; nfemu uses the table's setting.
 */
class LazyHashlimit implements Matcher {
  private inner: HashlimitMatcher | null = null;
  constructor(
    private readonly slot: number,
    private readonly rule: HashlimitData,
  ) {}

  match(pkt: Packet, ctx: XtContext): boolean {
    let m = this.inner;
    if (m === null) m = this.inner = new HashlimitMatcher(this.slot, this.rule, (ctx.states[this.slot] as HashlimitTable).cfg);
    return m.match(pkt, ctx);
  }
}

export const hashlimitMatch: MatchExt<HashlimitData> = {
  name: 'hashlimit',
  options: x6OptionDefs(TABLE),
  parse,
  print,
  check,
  compile,
};

registerMatch(hashlimitMatch);
