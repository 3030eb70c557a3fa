/**
 * `-m icmp6` (alias `icmpv6`) `--icmpv6-type type[/code]` (IPv6; libip6t_icmp6.c, the icmp6
 * match in ip6_tables.c). iptables-nft-save prints numbers and the name `icmp6`. No `any`
 * here: type 255 is an ordinary type. Never matches a non-first fragment.
 */
import type { Family } from '../../../core/index.ts';
import { IPPROTO_ICMPV6 } from '../../../core/index.ts';
import type { CheckEnv, CompileEnv, MatchExt, OptionUse, ParseEnv } from '../../ext.ts';
import { registerMatch } from '../../ext.ts';
import { X6Parser, x6OptionDefs, xtCheckMatch, type X6Entry } from './common.ts';
import { IcmpMatcher, parseIcmpTypeCode, printIcmp, type IcmpData, type IcmpName } from './icmp.ts';

export const ICMPV6_NAMES: readonly IcmpName[] = [
  ['destination-unreachable', 1, 0, 0xff], ['no-route', 1, 0, 0], ['communication-prohibited', 1, 1, 1],
  ['beyond-scope', 1, 2, 2], ['address-unreachable', 1, 3, 3], ['port-unreachable', 1, 4, 4],
  ['failed-policy', 1, 5, 5], ['reject-route', 1, 6, 6], ['packet-too-big', 2, 0, 0xff],
  ['time-exceeded', 3, 0, 0xff], ['ttl-exceeded', 3, 0, 0xff], ['ttl-zero-during-transit', 3, 0, 0],
  ['ttl-zero-during-reassembly', 3, 1, 1], ['parameter-problem', 4, 0, 0xff], ['bad-header', 4, 0, 0],
  ['unknown-header-type', 4, 1, 1], ['unknown-option', 4, 2, 2], ['echo-request', 128, 0, 0xff],
  ['ping', 128, 0, 0xff], ['echo-reply', 129, 0, 0xff], ['pong', 129, 0, 0xff],
  ['router-solicitation', 133, 0, 0xff], ['router-advertisement', 134, 0, 0xff],
  ['neighbour-solicitation', 135, 0, 0xff], ['neighbor-solicitation', 135, 0, 0xff],
  ['neighbour-advertisement', 136, 0, 0xff], ['neighbor-advertisement', 136, 0, 0xff], ['redirect', 137, 0, 0xff],
];

const TABLE: readonly X6Entry[] = [{ id: 0, name: 'icmpv6-type', args: 1, invert: true, mand: true }];

function parse(opts: readonly OptionUse[], env: ParseEnv): IcmpData {
  const x6 = new X6Parser('icmp6', TABLE, env);
  let d: IcmpData = { type: 0, codeMin: 0, codeMax: 0xff, invert: false };
  for (const o of opts) {
    x6.use(o);
    d = { ...parseIcmpTypeCode(o.args[0]!, ICMPV6_NAMES, 'ICMPv6', env, o.token), invert: o.invert };
  }
  x6.finish();
  return d;
}

function check(_d: IcmpData, env: CheckEnv): string | null {
  return xtCheckMatch(env, 'icmp6', { proto: IPPROTO_ICMPV6 });
}

export const icmp6Match: MatchExt<IcmpData> = {
  name: 'icmp6',
  aliases: ['icmpv6'],
  family: 6 as Family,
  options: x6OptionDefs(TABLE),
  parse,
  print: (d) => printIcmp(d, 'icmpv6-type', false),
  check,
  compile: (d: IcmpData, _env: CompileEnv) => new IcmpMatcher(d.type, d.codeMin, d.codeMax, d.invert, false),
};

registerMatch(icmp6Match);
