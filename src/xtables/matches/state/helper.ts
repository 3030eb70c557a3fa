/**
 * `-m helper`: the conntrack helper of the packet's *master* connection, so it matches
 * the connections a helper expected, e.g. an FTP data connection (xt_helper.c). No entry,
 * no master, or a master without a helper gives `!`'s value; otherwise the helper's name must
 * be a prefix of the option (the kernel compares strlen(helper name) bytes), and an empty
 * option matches any helper. nfemu assigns helpers only through CT --helper.
 */
import type { Family } from '../../../core/index.ts';
import type { Packet } from '../../../packet/index.ts';
import { registerMatch, type MatchExt, type Matcher, type OptionUse, type ParseEnv } from '../../ext.ts';
import { checkOnce, connOf, type HelperView } from './common.ts';

/** The name field holds 30 bytes with the NUL: longer names are cut, as iptables does. */
export const HELPER_NAME_MAX = 29;

export interface HelperData {
  readonly name: string;
  readonly invert: boolean;
}

class HelperMatcher implements Matcher {
  constructor(
    private readonly name: string,
    private readonly invert: boolean,
  ) {}

  /** Hot path (helper_mt). */
  match(pkt: Packet): boolean {
    const ct = connOf(pkt) as (HelperView | null);
    const master = ct?.master ?? null;
    const helper = master?.helper ?? null;
    if (helper === null || helper === undefined) return this.invert;
    if (this.name === '') return !this.invert;
    return this.name.startsWith(helper) !== this.invert;
  }
}

export const helperMatch: MatchExt<HelperData> = {
  name: 'helper',
  options: [{ name: 'helper', args: 1, invertible: true }],
  parse(opts: readonly OptionUse[], env: ParseEnv) {
    checkOnce('helper', opts, env);
    const o = opts.find((x) => x.name === 'helper');
    if (o === undefined) env.fail('helper: option "--helper" must be specified');
    return { name: o!.args[0]!.slice(0, HELPER_NAME_MAX), invert: o!.invert };
  },
  print: (d: HelperData, _family: Family) => `${d.invert ? '! ' : ''}--helper ${d.name}`,
  compile: (d) => new HelperMatcher(d.name, d.invert),
};

registerMatch(helperMatch);
