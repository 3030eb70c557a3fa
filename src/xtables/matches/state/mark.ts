/**
 * `-m mark`: the packet's mark (skb->mark) under a mask (xt_mark.c mark_mt):
 * `(skb->mark & mask) == mark`, xor `!`. iptables-nft saves it as `--mark 0x…[/0x…]`, the
 * mask left out when it is 0xffffffff, the value printed as given (not masked).
 */
import type { Family } from '../../../core/index.ts';
import type { Packet } from '../../../packet/index.ts';
import { registerMatch, type MatchExt, type Matcher, type OptionUse, type ParseEnv } from '../../ext.ts';
import { checkOnce, hex, strtoul } from './common.ts';

export interface MarkData {
  readonly mark: number;
  readonly mask: number;
  readonly invert: boolean;
}

/**
 * XTTYPE_MARKMASK32: `value[/mask]`, each a C number (0x…, 0…, decimal) up to 2^32-1; the
 * mask defaults to 0xffffffff. Throws with iptables 1.8.9's wording for module `ext`.
 */
export function parseMarkMask(ext: string, o: OptionUse, env: ParseEnv): { mark: number; mask: number } {
  const text = o.args[0]!;
  const bad = (): never => env.fail(`${ext}: bad integer value for option "--${o.name}", or out of range.`, o.token);
  const v = strtoul(text);
  if (v === null || v.value > 0xffffffff) bad();
  let end = v!.end;
  let mask = 0xffffffff;
  if (text[end] === '/') {
    const m = strtoul(text, end + 1);
    if (m === null || m.value > 0xffffffff) bad();
    mask = m!.value;
    end = m!.end;
  }
  if (end !== text.length) env.fail(`${ext}: trailing garbage after value for option "--${o.name}".`, o.token);
  return { mark: v!.value >>> 0, mask: mask >>> 0 };
}

/** Parses the single mandatory `--mark` of mark and connmark. */
export function parseMarkOption(ext: string, opts: readonly OptionUse[], env: ParseEnv): MarkData {
  checkOnce(ext, opts, env);
  const o = opts.find((x) => x.name === 'mark');
  if (o === undefined) env.fail(`${ext}: option "--mark" must be specified`);
  const { mark, mask } = parseMarkMask(ext, o!, env);
  return { mark, mask, invert: o!.invert };
}

/** `[! ]--mark 0xV[/0xM]`. */
export function printMarkOption(d: MarkData): string {
  const mask = d.mask === 0xffffffff ? '' : `/${hex(d.mask)}`;
  return `${d.invert ? '! ' : ''}--mark ${hex(d.mark)}${mask}`;
}

class MarkMatcher implements Matcher {
  constructor(
    private readonly mark: number,
    private readonly mask: number,
    private readonly invert: boolean,
  ) {}

  /** Hot path. */
  match(pkt: Packet): boolean {
    return (((pkt.mark & this.mask) >>> 0) === this.mark) !== this.invert;
  }
}

export const markMatch: MatchExt<MarkData> = {
  name: 'mark',
  options: [{ name: 'mark', args: 1, invertible: true }],
  parse: (opts, env) => parseMarkOption('mark', opts, env),
  print: (d: MarkData, _family: Family) => printMarkOption(d),
  compile: (d) => new MarkMatcher(d.mark >>> 0, d.mask >>> 0, d.invert),
};

registerMatch(markMatch);
