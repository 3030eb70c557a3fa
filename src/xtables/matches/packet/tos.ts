/**
 * `-m tos --tos value[/mask]` or a symbolic name (libxt_tos.c revision 1, xt_dscp.c tos_mt):
 * (TOS & mask) == value, on the IPv4 TOS byte or the IPv6 traffic class (pkt.tos). A number
 * without mask uses 0xff; a name (Minimize-Delay, …) uses 0x3f (the two top bits are not compared).
 */
import type { Packet } from '../../../packet/index.ts';
import type { CompileEnv, Matcher, MatchExt, OptionUse, ParseEnv } from '../../ext.ts';
import { registerMatch } from '../../ext.ts';
import { xtStrtoul, X6Parser, x6OptionDefs, type X6Entry } from './common.ts';

export interface TosData {
  readonly value: number;
  readonly mask: number;
  readonly invert: boolean;
}

const SYMBOLS: ReadonlyArray<readonly [string, number]> = [
  ['Minimize-Cost', 0x02], ['Maximize-Reliability', 0x04], ['Maximize-Throughput', 0x08],
  ['Minimize-Delay', 0x10], ['Normal-Service', 0x00],
];

const TABLE: readonly X6Entry[] = [{ id: 0, name: 'tos', args: 1, invert: true, mand: true }];

/**
 * xtopt_parse_tosmask / xtopt_parse_mval: `value[/mask]` with base-0 numbers up to 255, or
 * a symbolic name. Shared with other value/mask options of one byte.
 */
export function parseByteValueMask(x6: X6Parser, _e: X6Entry, text: string, token: string): { value: number; mask: number } {
  const illegal = (): never => x6.env.fail(`Illegal value: "${text}"`, token);
  const v = xtStrtoul(text, 0, 255, false);
  if (v === null) return illegal();
  let end = v.end;
  let mask = 0xff;
  if (text[end] === '/') {
    const m = xtStrtoul(text.slice(end + 1), 0, 255, false);
    if (m === null) return illegal();
    mask = m.value;
    end = end + 1 + m.end;
  }
  if (end !== text.length) illegal();
  return { value: v.value, mask };
}

function parse(opts: readonly OptionUse[], env: ParseEnv): TosData {
  const x6 = new X6Parser('tos', TABLE, env);
  let d: TosData = { value: 0, mask: 0xff, invert: false };
  for (const o of opts) {
    const e = x6.use(o);
    const text = o.args[0]!;
    if (xtStrtoul(text, 0, 255, false) !== null) {
      d = { ...parseByteValueMask(x6, e, text, o.token), invert: o.invert };
    } else {
      const s = SYMBOLS.find(([n]) => n.toLowerCase() === text.toLowerCase());
      if (s === undefined) env.fail(`Symbolic name "${text}" is unknown`, o.token);
      d = { value: s[1], mask: 0x3f, invert: o.invert };
    }
  }
  x6.finish();
  return d;
}

const hex2 = (n: number): string => '0x' + n.toString(16).padStart(2, '0');

class TosMatcher implements Matcher {
  constructor(
    private readonly value: number,
    private readonly mask: number,
    private readonly invert: boolean,
  ) {}

  match(pkt: Packet): boolean {
    return ((pkt.tos & this.mask) === this.value) !== this.invert;
  }
}

export const tosMatch: MatchExt<TosData> = {
  name: 'tos',
  options: x6OptionDefs(TABLE),
  parse,
  print: (d) => `${d.invert ? '! ' : ''}--tos ${hex2(d.value)}/${hex2(d.mask)}`,
  compile: (d: TosData, _env: CompileEnv) => new TosMatcher(d.value, d.mask, d.invert),
};

registerMatch(tosMatch);
