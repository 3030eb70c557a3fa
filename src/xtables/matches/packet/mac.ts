/**
 * `-m mac --mac-source XX:XX:XX:XX:XX:XX` (libxt_mac.c, xt_mac.c): the Ethernet source
 * address. Only PREROUTING, INPUT and FORWARD. A packet without an Ethernet header (locally
 * generated, or arriving on lo: pkt.macSource is '') never matches, with or without `!`.
 * The anonymised `XX:XX:…` of some dumps is refused with the kernel tool's message.
 */
import type { Packet } from '../../../packet/index.ts';
import type { CheckEnv, CompileEnv, Matcher, MatchExt, OptionUse, ParseEnv } from '../../ext.ts';
import { registerMatch } from '../../ext.ts';
import { strtoul, X6Parser, x6OptionDefs, xtCheckMatch, type X6Entry } from './common.ts';

const HOOKS_PRE_IN_FWD = (1 << 0) | (1 << 1) | (1 << 2);

export interface MacData {
  /** Six bytes. */
  readonly mac: readonly number[];
  readonly invert: boolean;
}

const TABLE: readonly X6Entry[] = [{ id: 0, name: 'mac-source', args: 1, invert: true, mand: true }];

/** xtopt_parse_ethermac: six strtoul(…, 16) fields of at most two characters, ':'-separated. */
export function parseEtherMac(text: string, env: ParseEnv, token: string): number[] {
  const out: number[] = [];
  let p = 0;
  for (let i = 0; i < 6; i++) {
    const r = strtoul(text, p, 16);
    const end = r.end === p ? p : r.end;
    if (end - p > 2) env.fail('Invalid MAC address specified.', token);
    if (i < 5 ? text[end] !== ':' : end !== text.length) env.fail('Invalid MAC address specified.', token);
    out.push(Number(r.value & 0xffn));
    p = end + 1;
  }
  return out;
}

function parse(opts: readonly OptionUse[], env: ParseEnv): MacData {
  const x6 = new X6Parser('mac', TABLE, env);
  let d: MacData = { mac: [0, 0, 0, 0, 0, 0], invert: false };
  for (const o of opts) {
    x6.use(o);
    d = { mac: parseEtherMac(o.args[0]!, env, o.token), invert: o.invert };
  }
  x6.finish();
  return d;
}

function print(d: MacData): string {
  return `${d.invert ? '! ' : ''}--mac-source ${d.mac.map((b) => b.toString(16).padStart(2, '0')).join(':')}`;
}

/** Compares pkt.macSource (12 hex digits, any case) with the 12 precomputed digits. Hot path. */
class MacMatcher implements Matcher {
  constructor(
    private readonly hex: string,
    private readonly invert: boolean,
  ) {}

  match(pkt: Packet): boolean {
    const m = pkt.macSource;
    if (m.length !== 12 || pkt.inIface === 'lo') return false;
    for (let i = 0; i < 12; i++) {
      let c = m.charCodeAt(i);
      if (c >= 0x41 && c <= 0x46) c += 0x20;
      if (c !== this.hex.charCodeAt(i)) return this.invert;
    }
    return !this.invert;
  }
}

export const macMatch: MatchExt<MacData> = {
  name: 'mac',
  options: x6OptionDefs(TABLE),
  parse,
  print,
  check: (_d: MacData, env: CheckEnv) => xtCheckMatch(env, 'mac', { hooks: HOOKS_PRE_IN_FWD }),
  compile: (d: MacData, _env: CompileEnv) => new MacMatcher(d.mac.map((b) => b.toString(16).padStart(2, '0')).join(''), d.invert),
};

registerMatch(macMatch);
