/**
 * `-m connmark`: the mark of the packet's conntrack entry (xt_connmark.c connmark_mt):
 * no entry (INVALID or untracked) never matches, whatever `!` says; otherwise
 * `(ct->mark & mask) == mark`, xor `!`. Printed like `-m mark`.
 */
import type { Family } from '../../../core/index.ts';
import type { Packet } from '../../../packet/index.ts';
import { registerMatch, type MatchExt, type Matcher } from '../../ext.ts';
import { connOf } from './common.ts';
import { parseMarkOption, printMarkOption, type MarkData } from './mark.ts';

class ConnmarkMatcher implements Matcher {
  constructor(
    private readonly mark: number,
    private readonly mask: number,
    private readonly invert: boolean,
  ) {}

  /** Hot path. */
  match(pkt: Packet): boolean {
    const ct = connOf(pkt);
    if (ct === null) return false;
    return (((ct.mark & this.mask) >>> 0) === this.mark) !== this.invert;
  }
}

export const connmarkMatch: MatchExt<MarkData> = {
  name: 'connmark',
  options: [{ name: 'mark', args: 1, invertible: true }],
  parse: (opts, env) => parseMarkOption('connmark', opts, env),
  print: (d: MarkData, _family: Family) => printMarkOption(d),
  compile: (d) => new ConnmarkMatcher(d.mark >>> 0, d.mask >>> 0, d.invert),
};

registerMatch(connmarkMatch);
