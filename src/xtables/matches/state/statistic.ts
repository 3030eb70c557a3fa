/**
 * `-m statistic`: random sampling and every-nth counting (xt_statistic.c).
 *
 * Random mode stores the probability as the kernel does, u32 = lround(0x80000000 * p), and
 * matches when `(get_random_u32() & 0x7fffffff) < u32`: exactly u32 / 2^31. The engine
 * decides it through ctx.chance(), which is how it enumerates the branches.
 *
 * Nth mode keeps one counter per rule, shared by every packet that reaches the rule (the
 * kernel's info->master->count, started at every - packet): each packet advances it modulo
 * n, and the packet that brings it to 0 matches, so with `--packet p` the (p+1)th packet and
 * every nth after it match.
 */
import type { Family } from '../../../core/index.ts';
import type { Packet } from '../../../packet/index.ts';
import { registerMatch, type ExtState, type MatchExt, type Matcher, type OptionUse, type ParseEnv, type XtContext } from '../../ext.ts';
import { checkOnce, optionsFcheck, parseUint, type OptionRule } from './common.ts';

const OPTION_RULES: readonly OptionRule[] = [
  { name: 'mode', mand: true },
  { name: 'probability', excl: ['every', 'packet'] },
  { name: 'every', excl: ['probability'], also: ['packet'] },
  { name: 'packet', excl: ['probability'], also: ['every'] },
];

export const XT_STATISTIC_MODE_RANDOM = 0;
export const XT_STATISTIC_MODE_NTH = 1;

export interface StatisticData {
  readonly mode: number;
  readonly invert: boolean;
  /** Random mode: lround(0x80000000 * p), 0..2^31. */
  readonly probability: number;
  /** Nth mode: n - 1, as the kernel stores it. */
  readonly every: number;
  readonly packet: number;
}

/** lround() of a non-negative double: halves away from zero. */
function lround(x: number): number {
  const f = Math.floor(x);
  return x - f >= 0.5 ? f + 1 : f;
}

/** strtod() of a decimal number (leading white space allowed), or null. */
function parseDouble(text: string): number | null {
  const t = text.replace(/^[ \t\n\v\f\r]+/, '');
  if (!/^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$/.test(t)) return null;
  return Number(t);
}

/**
 * `%.11f` of u32 / 2^31 the way glibc prints it: from the exact binary value, ties to even.
 */
export function formatProbability(u32: number): string {
  const scale = 10n ** 11n;
  const num = BigInt(u32) * scale;
  let q = num >> 31n;
  const rem = num & 0x7fffffffn;
  const half = 0x40000000n;
  if (rem > half || (rem === half && (q & 1n) === 1n)) q += 1n;
  const int = q / scale;
  const frac = (q % scale).toString().padStart(11, '0');
  return `${int}.${frac}`;
}

function parseStatistic(opts: readonly OptionUse[], env: ParseEnv): StatisticData {
  checkOnce('statistic', opts, env);
  let mode = XT_STATISTIC_MODE_RANDOM;
  let invert = false;
  let probability = 0;
  let every = 0;
  let packet = 0;
  const seen = new Set<string>();
  for (const o of opts) {
    seen.add(o.name);
    if (o.invert) invert = true;
    const arg = o.args[0] ?? '';
    switch (o.name) {
      case 'mode':
        if (arg === 'random') mode = XT_STATISTIC_MODE_RANDOM;
        else if (arg === 'nth') mode = XT_STATISTIC_MODE_NTH;
        else env.fail(`Bad mode "${arg}"`, arg);
        break;
      case 'probability': {
        const p = parseDouble(arg);
        if (p === null || !(p >= 0 && p <= 1)) env.fail(`statistic: bad value for option "--probability", or out of range (0-1).`, o.token);
        probability = lround(0x80000000 * p!);
        break;
      }
      case 'every': {
        const n = parseUint(arg, 1, 0xffffffff);
        if (n === null) env.fail(`statistic: bad value for option "--every", or out of range (1-4294967295).`, o.token);
        every = n! - 1;
        break;
      }
      case 'packet': {
        const n = parseUint(arg, 0, 0xffffffff);
        if (n === null) env.fail(`statistic: bad value for option "--packet", or out of range (0-4294967295).`, o.token);
        packet = n!;
        break;
      }
    }
  }
  // statistic_check (x6_fcheck) runs before the generic mandatory / "also" checks.
  if (mode === XT_STATISTIC_MODE_RANDOM && !seen.has('probability')) env.fail('--probability must be specified when using random mode');
  if (mode === XT_STATISTIC_MODE_NTH && !seen.has('every') && !seen.has('packet')) {
    env.fail('--every and --packet must be specified when using nth mode');
  }
  if (packet > every) env.fail('the --packet p must be 0 <= p <= n-1');
  optionsFcheck('statistic', OPTION_RULES, opts, env);
  return { mode, invert, probability, every, packet };
}

function printStatistic(d: StatisticData, _family: Family): string {
  const inv = d.invert ? ' !' : '';
  if (d.mode === XT_STATISTIC_MODE_RANDOM) return `--mode random${inv} --probability ${formatProbability(d.probability)}`;
  return `--mode nth${inv} --every ${d.every + 1} --packet ${d.packet}`;
}

/** The per-rule nth counter (info->master->count). */
export class NthCounter implements ExtState {
  constructor(public count: number) {}
  clone(): NthCounter {
    return new NthCounter(this.count);
  }
}

class RandomMatcher implements Matcher {
  private readonly p: number;
  constructor(probability: number, private readonly invert: boolean) {
    this.p = Math.min(probability, 0x80000000) / 0x80000000;
  }

  /** Hot path: one ctx.chance() decision with the exact probability. */
  match(_pkt: Packet, ctx: XtContext): boolean {
    return ctx.chance(this.p) !== this.invert;
  }
}

class NthMatcher implements Matcher {
  constructor(
    private readonly slot: number,
    private readonly every: number,
    private readonly invert: boolean,
  ) {}

  /** Hot path. */
  match(_pkt: Packet, ctx: XtContext): boolean {
    const st = ctx.states[this.slot] as NthCounter;
    const next = st.count === this.every ? 0 : st.count + 1;
    st.count = next;
    return (next === 0) !== this.invert;
  }
}

export const statisticMatch: MatchExt<StatisticData> = {
  name: 'statistic',
  options: [
    { name: 'mode', args: 1 },
    { name: 'probability', args: 1, invertible: true },
    { name: 'every', args: 1, invertible: true },
    { name: 'packet', args: 1 },
  ],
  parse: parseStatistic,
  print: printStatistic,
  compile(d, env) {
    if (d.mode === XT_STATISTIC_MODE_RANDOM) return new RandomMatcher(d.probability, d.invert);
    const initial = d.every - d.packet;
    const slot = env.stateSlot(`${env.ruleKey}:statistic-nth`, () => new NthCounter(initial));
    return new NthMatcher(slot, d.every, d.invert);
  },
};

registerMatch(statisticMatch);
