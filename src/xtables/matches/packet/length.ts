/**
 * `-m length --length min[:max]` (libxt_length.c, xt_length.c): the IPv4 total length, or
 * for IPv6 the payload length plus the 40-byte header (that is, pkt.length in both cases).
 * A reversed range loads and never matches.
 */
import type { Packet } from '../../../packet/index.ts';
import type { CompileEnv, Matcher, MatchExt, OptionUse, ParseEnv } from '../../ext.ts';
import { registerMatch } from '../../ext.ts';
import { fmtRange, X6Parser, x6OptionDefs, type X6Entry } from './common.ts';

export interface LengthData {
  readonly min: number;
  readonly max: number;
  readonly invert: boolean;
}

const TABLE: readonly X6Entry[] = [{ id: 0, name: 'length', args: 1, invert: true, mand: true }];

function parse(opts: readonly OptionUse[], env: ParseEnv): LengthData {
  const x6 = new X6Parser('length', TABLE, env);
  let d: LengthData = { min: 0, max: 0, invert: false };
  for (const o of opts) {
    const e = x6.use(o);
    const v = x6.uintRange(e, o.args[0]!, 0xffff, o.token);
    d = { min: v[0]!, max: v.length > 1 ? v[1]! : v[0]!, invert: o.invert };
  }
  x6.finish();
  return d;
}

class LengthMatcher implements Matcher {
  constructor(
    private readonly min: number,
    private readonly max: number,
    private readonly invert: boolean,
  ) {}

  match(pkt: Packet): boolean {
    return (pkt.length >= this.min && pkt.length <= this.max) !== this.invert;
  }
}

export const lengthMatch: MatchExt<LengthData> = {
  name: 'length',
  options: x6OptionDefs(TABLE),
  parse,
  print: (d) => `${d.invert ? '! ' : ''}--length ${fmtRange(d.min, d.max)}`,
  compile: (d: LengthData, _env: CompileEnv) => new LengthMatcher(d.min, d.max, d.invert),
};

registerMatch(lengthMatch);
