/**
 * `-m icmp --icmp-type type[/code]` (IPv4; libipt_icmp.c, xt_icmp in ip_tables.c), and the
 * type/code parser the icmp6 module shares.
 *
 * iptables-nft-save prints numbers (`--icmp-type 8`, `3/4`), `any` for type 255. The kernel's
 * match runs: never on a non-first fragment; type 255 matches every ICMP message.
 */
import type { Family } from '../../../core/index.ts';
import { IPPROTO_ICMP } from '../../../core/index.ts';
import type { Packet } from '../../../packet/index.ts';
import type { CheckEnv, CompileEnv, Matcher, MatchExt, OptionUse, ParseEnv } from '../../ext.ts';
import { registerMatch } from '../../ext.ts';
import { strtoul, X6Parser, x6OptionDefs, xtCheckMatch, type X6Entry } from './common.ts';

export interface IcmpData {
  readonly type: number;
  readonly codeMin: number;
  readonly codeMax: number;
  readonly invert: boolean;
}

/** Named types: name, type, code range (libxt_icmp.h, in its order: ambiguity is reported in it). */
export type IcmpName = readonly [string, number, number, number];

export const ICMP_NAMES: readonly IcmpName[] = [
  ['any', 0xff, 0, 0xff], ['echo-reply', 0, 0, 0xff], ['pong', 0, 0, 0xff],
  ['destination-unreachable', 3, 0, 0xff], ['network-unreachable', 3, 0, 0], ['host-unreachable', 3, 1, 1],
  ['protocol-unreachable', 3, 2, 2], ['port-unreachable', 3, 3, 3], ['fragmentation-needed', 3, 4, 4],
  ['source-route-failed', 3, 5, 5], ['network-unknown', 3, 6, 6], ['host-unknown', 3, 7, 7],
  ['network-prohibited', 3, 9, 9], ['host-prohibited', 3, 10, 10], ['TOS-network-unreachable', 3, 11, 11],
  ['TOS-host-unreachable', 3, 12, 12], ['communication-prohibited', 3, 13, 13], ['host-precedence-violation', 3, 14, 14],
  ['precedence-cutoff', 3, 15, 15], ['source-quench', 4, 0, 0xff], ['redirect', 5, 0, 0xff],
  ['network-redirect', 5, 0, 0], ['host-redirect', 5, 1, 1], ['TOS-network-redirect', 5, 2, 2],
  ['TOS-host-redirect', 5, 3, 3], ['echo-request', 8, 0, 0xff], ['ping', 8, 0, 0xff],
  ['router-advertisement', 9, 0, 0xff], ['router-solicitation', 10, 0, 0xff], ['time-exceeded', 11, 0, 0xff],
  ['ttl-exceeded', 11, 0, 0xff], ['ttl-zero-during-transit', 11, 0, 0], ['ttl-zero-during-reassembly', 11, 1, 1],
  ['parameter-problem', 12, 0, 0xff], ['ip-header-bad', 12, 0, 0], ['required-option-missing', 12, 1, 1],
  ['timestamp-request', 13, 0, 0xff], ['timestamp-reply', 14, 0, 0xff], ['address-mask-request', 17, 0, 0xff],
  ['address-mask-reply', 18, 0, 0xff],
];

/**
 * Parses `name`, `type`, `type/code` or `type/code:code` the way iptables 1.8.9 does: names
 * by case-insensitive prefix (ambiguity is an error), numbers with strtoul base 0.
 */
export function parseIcmpTypeCode(text: string, names: readonly IcmpName[], label: string, env: ParseEnv, token: string): Omit<IcmpData, 'invert'> {
  let found: IcmpName | null = null;
  for (const n of names) {
    if (n[0].length >= text.length && n[0].slice(0, text.length).toLowerCase() === text.toLowerCase()) {
      if (found !== null) env.fail(`Ambiguous ${label} type \`${text}': \`${found[0]}' or \`${n[0]}'?`, token);
      found = n;
    }
  }
  if (found !== null) return { type: found[1], codeMin: found[2], codeMax: found[3] };
  const t = strtoul(text, 0, 0);
  if (t.end === 0 || t.overflow || t.value > 255n) env.fail(`Unknown ${label} type \`${text}'`, token);
  const type = Number(t.value);
  let p = t.end;
  if (p === text.length) return { type, codeMin: 0, codeMax: 0xff };
  if (text[p] === ':') env.fail(`${label} type range not supported`, token);
  if (text[p] !== '/') env.fail(`unknown character ${text[p]}`, token);
  const c1 = strtoul(text, p + 1, 0);
  if (c1.end === p + 1 || c1.overflow || c1.value > 255n) env.fail(`Unknown ${label} code \`${text}'`, token);
  const codeMin = Number(c1.value);
  let codeMax = codeMin;
  p = c1.end;
  if (text[p] === ':') {
    const c2 = strtoul(text, p + 1, 0);
    if (c2.end === p + 1 || c2.overflow || c2.value > 255n) env.fail(`Unknown ${label} code \`${text}'`, token);
    codeMax = Number(c2.value);
    p = c2.end;
  }
  if (p !== text.length) env.fail(`unknown character ${text[p]}`, token);
  return { type, codeMin, codeMax };
}

/** `[! ]--OPT type[/code]`: only the low code is printed, and only if the range is not 0-255. */
export function printIcmp(d: IcmpData, opt: string, anyName: boolean): string {
  const inv = d.invert ? '! ' : '';
  if (anyName && d.type === 0xff) return `${inv}--${opt} any`;
  const code = d.codeMin !== 0 || d.codeMax !== 0xff ? `/${d.codeMin}` : '';
  return `${inv}--${opt} ${d.type}${code}`;
}

/** icmp_type_code_match(), plus the fragment rule. Hot path. */
export class IcmpMatcher implements Matcher {
  constructor(
    private readonly type: number,
    private readonly codeMin: number,
    private readonly codeMax: number,
    private readonly invert: boolean,
    /** IPv4 only: type 255 matches any message. */
    private readonly anyType: boolean,
  ) {}

  match(pkt: Packet): boolean {
    if (pkt.fragment) return false;
    const hit =
      (this.anyType && this.type === 0xff) ||
      (pkt.icmpType === this.type && pkt.icmpCode >= this.codeMin && pkt.icmpCode <= this.codeMax);
    return hit !== this.invert;
  }
}

const TABLE: readonly X6Entry[] = [{ id: 0, name: 'icmp-type', args: 1, invert: true, mand: true }];

function parse(opts: readonly OptionUse[], env: ParseEnv): IcmpData {
  const x6 = new X6Parser('icmp', TABLE, env);
  let d: IcmpData = { type: 0xff, codeMin: 0, codeMax: 0xff, invert: false };
  for (const o of opts) {
    x6.use(o);
    d = { ...parseIcmpTypeCode(o.args[0]!, ICMP_NAMES, 'ICMP', env, o.token), invert: o.invert };
  }
  x6.finish();
  return d;
}

function check(_d: IcmpData, env: CheckEnv): string | null {
  return xtCheckMatch(env, 'icmp', { proto: IPPROTO_ICMP });
}

export const icmpMatch: MatchExt<IcmpData> = {
  name: 'icmp',
  family: 4 as Family,
  options: x6OptionDefs(TABLE),
  parse,
  print: (d) => printIcmp(d, 'icmp-type', true),
  check,
  compile: (d: IcmpData, _env: CompileEnv) => new IcmpMatcher(d.type, d.codeMin, d.codeMax, d.invert, true),
};

registerMatch(icmpMatch);
