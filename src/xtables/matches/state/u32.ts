/**
 * `-m u32`: tests on 32-bit words read at computed offsets of the packet (xt_u32.c).
 * Parsed and printed as iptables does (numbers in hex, no spaces); nfemu's packets carry no
 * header bytes to read, so compiling it is UNSUPPORTED.
 */
import { NfemuError, type Family } from '../../../core/index.ts';
import { registerMatch, type MatchExt, type OptionUse, type ParseEnv } from '../../ext.ts';
import { checkOnce, strtoul } from './common.ts';

/** XT_U32_MAXSIZE: operators per location, ranges per test, tests per rule. */
export const U32_MAXSIZE = 10;

export const XT_U32_AND = 0;
export const XT_U32_LEFTSH = 1;
export const XT_U32_RIGHTSH = 2;
export const XT_U32_AT = 3;
const OP_TEXT = ['&', '<<', '>>', '@'];

export interface U32Test {
  /** First number, then [op, number] pairs. */
  readonly first: number;
  readonly ops: readonly (readonly [number, number])[];
  readonly ranges: readonly (readonly [number, number])[];
}

export interface U32Data {
  readonly tests: readonly U32Test[];
  readonly invert: boolean;
}

function parseU32(text: string, env: ParseEnv, token: string): U32Test[] {
  const s = text.replace(/\s+/g, '');
  let i = 0;
  const at = () => i + 1;
  const num = (): number => {
    const r = strtoul(s, i);
    if (r === null || r.value > 0xffffffff) env.fail(`u32: at char ${at()}: expected number`, token);
    i = r!.end;
    return r!.value;
  };
  const tests: U32Test[] = [];
  for (;;) {
    if (tests.length >= U32_MAXSIZE + 1) env.fail(`u32: at char ${at()}: too many "&&"s`, token);
    if (i >= s.length) env.fail('u32: abrupt end of input after location specifier', token);
    const first = num();
    const ops: [number, number][] = [];
    for (;;) {
      if (i >= s.length) env.fail('u32: abrupt end of input after location specifier', token);
      if (s[i] === '=') {
        i++;
        break;
      }
      let op = -1;
      if (s.startsWith('&&', i)) env.fail(`u32: at char ${at()}: expected "=" or an operator`, token);
      else if (s[i] === '&') op = XT_U32_AND;
      else if (s.startsWith('<<', i)) op = XT_U32_LEFTSH;
      else if (s.startsWith('>>', i)) op = XT_U32_RIGHTSH;
      else if (s[i] === '@') op = XT_U32_AT;
      if (op < 0) env.fail(`u32: at char ${at()}: operator expected`, token);
      if (ops.length >= U32_MAXSIZE) env.fail(`u32: at char ${at()}: too many operators`, token);
      i += OP_TEXT[op]!.length;
      ops.push([op, num()]);
    }
    const ranges: [number, number][] = [];
    for (;;) {
      if (ranges.length >= U32_MAXSIZE) env.fail(`u32: at char ${at()}: too many ","s`, token);
      const lo = num();
      let hi = lo;
      if (s[i] === ':') {
        i++;
        hi = num();
      }
      ranges.push([lo, hi]);
      if (s[i] === ',') {
        i++;
        continue;
      }
      break;
    }
    tests.push({ first, ops, ranges });
    if (i >= s.length) return tests;
    if (!s.startsWith('&&', i)) env.fail(`u32: at char ${at()}: expected "," or "&&"`, token);
    i += 2;
  }
}

const h = (n: number) => `0x${n.toString(16)}`;

export const u32Match: MatchExt<U32Data> = {
  name: 'u32',
  options: [{ name: 'u32', args: 1, invertible: true }],
  parse(opts: readonly OptionUse[], env: ParseEnv) {
    checkOnce('u32', opts, env);
    const o = opts.find((x) => x.name === 'u32');
    if (o === undefined) env.fail('u32: option "--u32" must be specified');
    return { tests: parseU32(o!.args[0]!, env, o!.token), invert: o!.invert };
  },
  print(d: U32Data, _family: Family) {
    const tests = d.tests.map((t) => {
      const loc = h(t.first) + t.ops.map(([op, n]) => OP_TEXT[op] + h(n)).join('');
      const vals = t.ranges.map(([a, b]) => (a === b ? h(a) : `${h(a)}:${h(b)}`)).join(',');
      return `${loc}=${vals}`;
    });
    return `${d.invert ? '! ' : ''}--u32 "${tests.join('&&')}"`;
  },
  compile() {
    throw new NfemuError('UNSUPPORTED', 'u32 match: nfemu packets carry no header bytes to read (-m u32)', { token: 'u32' });
  },
};

registerMatch(u32Match);
