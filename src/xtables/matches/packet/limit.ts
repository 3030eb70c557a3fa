/**
 * `-m limit --limit N/sec|minute|hour|day --limit-burst B` (libxt_limit.c).
 *
 * iptables-nft 1.8.9 does not load xt_limit: add_nft_limit() turns the rate into a native
 * nf_tables `limit` expression (rate per unit of 1 s, 60 s, 3600 s or 86400 s, chosen from the
 * stored average as print_rate does), so the kernel runs nft_limit.c's token bucket:
 * tokens are nanoseconds, one packet costs unit·10⁹ / rate, the bucket holds `burst` packets
 * (a burst of 0 means the default 5), starts full, refills with elapsed time, and a packet
 * that finds fewer tokens than its cost does not match (and takes none).
 */
import type { Packet } from '../../../packet/index.ts';
import type { CompileEnv, ExtState, Matcher, MatchExt, OptionUse, ParseEnv, XtContext } from '../../ext.ts';
import { registerMatch } from '../../ext.ts';
import { atoiU32, X6Parser, x6OptionDefs, type X6Entry } from './common.ts';

/** XT_LIMIT_SCALE: the average is stored as 1/10000 s between packets. */
export const XT_LIMIT_SCALE = 10000;
const XT_LIMIT_BURST = 5;

export interface LimitData {
  /** Average time between packets, in 1/10000 s (xt_rateinfo.avg). */
  readonly avg: number;
  /** As given (0 is stored; the kernel then uses 5). */
  readonly burst: number;
}

const RATES: ReadonlyArray<readonly [string, number]> = [
  ['day', XT_LIMIT_SCALE * 24 * 60 * 60],
  ['hour', XT_LIMIT_SCALE * 60 * 60],
  ['min', XT_LIMIT_SCALE * 60],
  ['sec', XT_LIMIT_SCALE],
];

/**
 * parse_rate of libxt_limit / libxt_hashlimit: `N[/unit]`, unit a case-insensitive prefix of
 * second, minute, hour, day; N read by atoi. Returns the seconds multiplier and N, or null.
 */
export function parseRateText(text: string): { mult: number; r: number } | null {
  let mult = 1;
  const slash = text.indexOf('/');
  if (slash >= 0) {
    const unit = text.slice(slash + 1).toLowerCase();
    if (unit.length === 0) return null;
    if ('second'.startsWith(unit)) mult = 1;
    else if ('minute'.startsWith(unit)) mult = 60;
    else if ('hour'.startsWith(unit)) mult = 3600;
    else if ('day'.startsWith(unit)) mult = 86400;
    else return null;
  }
  const r = atoiU32(text);
  if (r === 0) return null;
  return { mult, r };
}

/** The unit print_rate (and add_nft_limit) picks for an average: index into RATES. */
function rateIndex(avg: number): number {
  let i = 1;
  for (; i < RATES.length; i++) {
    const m = RATES[i]![1];
    if (avg > m || Math.floor(m / avg) < m % avg) break;
  }
  return i - 1;
}

/** print_rate: `N/unit`. */
export function formatRate(avg: number): string {
  if (avg === 0) return 'inf';
  const [name, m] = RATES[rateIndex(avg)]!;
  return `${Math.floor(m / avg)}/${name}`;
}

/** What add_nft_limit hands the kernel: packets per unit, unit in seconds. */
export function nftLimitRate(avg: number): { rate: number; unitSec: number } {
  const m = RATES[rateIndex(avg)]![1];
  return { rate: Math.floor(m / avg), unitSec: m / XT_LIMIT_SCALE };
}

const O_LIMIT = 0;
const O_BURST = 1;
const TABLE: readonly X6Entry[] = [
  { id: O_LIMIT, name: 'limit', args: 1 },
  { id: O_BURST, name: 'limit-burst', args: 1 },
];

function parse(opts: readonly OptionUse[], env: ParseEnv): LimitData {
  const x6 = new X6Parser('limit', TABLE, env);
  let avg = Math.floor((XT_LIMIT_SCALE * 3600) / 3);
  let burst = XT_LIMIT_BURST;
  for (const o of opts) {
    const e = x6.use(o);
    if (e.id === O_BURST) {
      burst = x6.uint(e, o.args[0]!, 0, 10000, o.token);
      continue;
    }
    const text = o.args[0]!;
    const p = parseRateText(text);
    if (p === null) env.fail(`bad rate "${text}"'`, o.token);
    // 32-bit unsigned arithmetic, as in C.
    avg = Math.floor((XT_LIMIT_SCALE * p.mult) / p.r) >>> 0;
    if (avg === 0) env.fail(`Rate too fast "${text}"`, o.token);
  }
  x6.finish();
  return { avg, burst };
}

function print(d: LimitData): string {
  const burst = d.burst === 0 ? XT_LIMIT_BURST : d.burst;
  return burst === XT_LIMIT_BURST ? `--limit ${formatRate(d.avg)}` : `--limit ${formatRate(d.avg)} --limit-burst ${burst}`;
}

const NS_PER_MS = 1e6;

/**
 * One nft_limit bucket. Token counts are nanoseconds kept exactly as whole milliseconds plus
 * a sub-millisecond remainder (0 ≤ rem < 10⁶), so no precision is lost above 2^53 ns.
 */
export class LimitState implements ExtState {
  /** Time of the last packet (ms); NaN before the first (the bucket is then full). */
  lastMs = NaN;
  tokMs = 0;
  tokRem = 0;
  clone(): LimitState {
    const c = new LimitState();
    c.lastMs = this.lastMs;
    c.tokMs = this.tokMs;
    c.tokRem = this.tokRem;
    return c;
  }
}

/** nft_limit_eval for packet-based limits. Hot path: allocation-free. */
class LimitMatcher implements Matcher {
  constructor(
    private readonly slot: number,
    private readonly costMs: number,
    private readonly costRem: number,
    private readonly maxMs: number,
    private readonly maxRem: number,
  ) {}

  match(_pkt: Packet, ctx: XtContext): boolean {
    const s = ctx.states[this.slot] as LimitState;
    const now = ctx.nowMs;
    if (s.lastMs !== s.lastMs) {
      s.tokMs = this.maxMs;
      s.tokRem = this.maxRem;
    } else if (now > s.lastMs) {
      s.tokMs += now - s.lastMs;
    }
    if (s.tokMs > this.maxMs || (s.tokMs === this.maxMs && s.tokRem > this.maxRem)) {
      s.tokMs = this.maxMs;
      s.tokRem = this.maxRem;
    }
    s.lastMs = now;
    // delta = tokens - cost; enough tokens when delta >= 0.
    let ms = s.tokMs - this.costMs;
    let rem = s.tokRem - this.costRem;
    if (rem < 0) {
      rem += NS_PER_MS;
      ms -= 1;
    }
    if (ms < 0) return false;
    s.tokMs = ms;
    s.tokRem = rem;
    return true;
  }
}

/** The bucket parameters nft_limit_init derives: cost and capacity in ns as (ms, remainder). */
export function limitBucket(avg: number, burst: number): { costMs: number; costRem: number; maxMs: number; maxRem: number } {
  const { rate, unitSec } = nftLimitRate(avg);
  const b = burst === 0 ? XT_LIMIT_BURST : burst;
  // cost = unit·10⁹ / rate (integer division), split into ms and ns remainder.
  const nsecs = BigInt(unitSec) * 1000000000n;
  const cost = nsecs / BigInt(rate);
  const max = cost * BigInt(b);
  return {
    costMs: Number(cost / 1000000n),
    costRem: Number(cost % 1000000n),
    maxMs: Number(max / 1000000n),
    maxRem: Number(max % 1000000n),
  };
}

function compile(d: LimitData, env: CompileEnv): Matcher {
  const slot = env.stateSlot(`${env.ruleKey}/limit/${d.avg}/${d.burst}`, () => new LimitState());
  const b = limitBucket(d.avg, d.burst);
  return new LimitMatcher(slot, b.costMs, b.costRem, b.maxMs, b.maxRem);
}

export const limitMatch: MatchExt<LimitData> = {
  name: 'limit',
  options: x6OptionDefs(TABLE),
  parse,
  print,
  compile,
};

registerMatch(limitMatch);
