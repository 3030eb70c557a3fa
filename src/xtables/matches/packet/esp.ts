/**
 * `-m esp --espspi spi[:spi]` (libxt_esp.c, xt_esp.c): the SPI of the ESP header; needs
 * `-p esp`. nfemu packets carry no ESP header: only an SPI range covering every value can be
 * evaluated (every first fragment matches, or none when negated); anything narrower is
 * refused at compile (see exthdr.ts).
 */
import { IPPROTO_ESP } from '../../../core/index.ts';
import type { CheckEnv, CompileEnv, MatchExt, OptionUse, ParseEnv } from '../../ext.ts';
import { registerMatch } from '../../ext.ts';
import { X6Parser, x6OptionDefs, xtCheckMatch, type X6Entry } from './common.ts';
import { FULL_U32, isFull32, printU32Range, upperLayerMatcher, type U32Range } from './exthdr.ts';

export interface EspData {
  readonly spis: U32Range;
}

const TABLE: readonly X6Entry[] = [{ id: 0, name: 'espspi', args: 1, invert: true }];

function parse(opts: readonly OptionUse[], env: ParseEnv): EspData {
  const x6 = new X6Parser('esp', TABLE, env);
  let spis = FULL_U32;
  for (const o of opts) {
    const e = x6.use(o);
    const v = x6.uintRange(e, o.args[0]!, 0xffffffff, o.token);
    spis = { min: v[0]!, max: v.length > 1 ? v[1]! : v[0]!, invert: o.invert };
  }
  x6.finish();
  return { spis };
}

export const espMatch: MatchExt<EspData> = {
  name: 'esp',
  options: x6OptionDefs(TABLE),
  parse,
  print: (d) => printU32Range('espspi', d.spis),
  check: (_d: EspData, env: CheckEnv) => xtCheckMatch(env, 'esp', { proto: IPPROTO_ESP }),
  compile: (d: EspData, _env: CompileEnv) => upperLayerMatcher('esp', 'ESP header (SPI)', isFull32(d.spis), d.spis.invert),
};

registerMatch(espMatch);
