/**
 * `-m ah`: on IPv4 the Authentication Header as the upper-layer protocol (`-p ah`; libipt_ah.c,
 * ipt_ah.c: --ahspi only); on IPv6 the AH extension header (libip6t_ah.c, ip6t_ah.c: --ahspi,
 * --ahlen, --ahres).
 *
 * IPv6: nfemu packets carry no extension headers, so the kernel's match returns false
 * (negated or not). IPv4: nfemu packets carry no AH header; only an SPI range covering every
 * value can be evaluated (see exthdr.ts), anything else is refused at compile.
 */
import { IPPROTO_AH } from '../../../core/index.ts';
import type { CheckEnv, CompileEnv, MatchExt, OptionUse, ParseEnv } from '../../ext.ts';
import { registerMatch } from '../../ext.ts';
import { X6Parser, x6OptionDefs, xtCheckMatch, type X6Entry } from './common.ts';
import { FULL_U32, isFull32, NO_HEADER, printU32Range, upperLayerMatcher, type U32Range } from './exthdr.ts';

export interface AhData {
  readonly spis: U32Range;
  /** IPv6 only: --ahlen (0 and not negated when not given). */
  readonly len: number;
  readonly invLen: boolean;
  readonly res: boolean;
}

const O_SPI = 0, O_LEN = 1, O_RES = 2;
const TABLE6: readonly X6Entry[] = [
  { id: O_SPI, name: 'ahspi', args: 1, invert: true },
  { id: O_LEN, name: 'ahlen', args: 1, invert: true },
  { id: O_RES, name: 'ahres', args: 0 },
];
const TABLE4: readonly X6Entry[] = [TABLE6[0]!];

function parse(opts: readonly OptionUse[], env: ParseEnv): AhData {
  const x6 = new X6Parser('ah', env.family === 4 ? TABLE4 : TABLE6, env);
  let spis = FULL_U32;
  let len = 0, invLen = false, res = false;
  for (const o of opts) {
    const e = x6.use(o);
    if (e.id === O_SPI) {
      const v = x6.uintRange(e, o.args[0]!, 0xffffffff, o.token);
      spis = { min: v[0]!, max: v.length > 1 ? v[1]! : v[0]!, invert: o.invert };
    } else if (e.id === O_LEN) {
      len = x6.uint(e, o.args[0]!, 0, 0xffffffff, o.token);
      invLen = o.invert;
    } else {
      res = true;
    }
  }
  x6.finish();
  return { spis, len, invLen, res };
}

function print(d: AhData): string {
  const out = [printU32Range('ahspi', d.spis)];
  if (d.len !== 0 || d.invLen) out.push(`${d.invLen ? '! ' : ''}--ahlen ${d.len}`);
  if (d.res) out.push('--ahres');
  return out.filter((s) => s).join(' ');
}

function check(_d: AhData, env: CheckEnv): string | null {
  return env.family === 4 ? xtCheckMatch(env, 'ah', { proto: IPPROTO_AH }) : null;
}

export const ahMatch: MatchExt<AhData> = {
  name: 'ah',
  // IPv4 has only --ahspi; the generic parser offers all three, parse() refuses the others there.
  options: x6OptionDefs(TABLE6),
  parse,
  print,
  check,
  compile: (d: AhData, env: CompileEnv) =>
    env.family === 6 ? NO_HEADER : upperLayerMatcher('ah', 'AH header (SPI)', isFull32(d.spis), d.spis.invert),
};

registerMatch(ahMatch);
