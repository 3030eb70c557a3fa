/**
 * `-m tcp`: ports, flags and options of the TCP header (libxt_tcp.c, xt_tcpudp.c).
 *
 * iptables-nft (1.8.9) does not load xt_tcp for most rules: add_nft_tcp() emits native
 * payload expressions for the ports and flags and falls back to the kernel's xt_tcp match
 * only when --tcp-option is used or the match is empty. The two paths differ, and the
 * kernel runs what was loaded:
 *  - native: a port range of 0:65535 is not emitted (even with `!`), nor are flags with an
 *    empty mask; what is left reads the transport header, which a non-first fragment does
 *    not have (no match). With nothing left the rule keeps no tcp match at all: it matches
 *    every packet of the rule's protocol and iptables-nft-save prints no `-m tcp`.
 *  - xt_tcp: every field as written; never matches a non-first fragment.
 * The native path only compares the protocol number with `-p` (so `! -p tcp -m tcp --dport 80`
 * loads, and then reads the port field of whatever protocol the packet has).
 */
import { IPPROTO_TCP } from '../../../core/index.ts';
import type { Packet } from '../../../packet/index.ts';
import { TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN } from '../../../packet/index.ts';
import type { CheckEnv, CompileEnv, Matcher, MatchExt, OptionDef, OptionUse, ParseEnv } from '../../ext.ts';
import { registerMatch } from '../../ext.ts';
import { parsePortByProto, xtCheckMatch, xtStrtoul } from './common.ts';

export interface TcpData {
  /** Source port range (0:65535 when not given). */
  readonly spts: readonly [number, number];
  readonly dpts: readonly [number, number];
  readonly invSrc: boolean;
  readonly invDst: boolean;
  /** --tcp-flags mask and comparison (bits of the flags byte, FIN = 1 … URG = 0x20). */
  readonly flgMask: number;
  readonly flgCmp: number;
  readonly invFlags: boolean;
  /** --tcp-option kind (1-255), 0 when not given. */
  readonly option: number;
  readonly invOption: boolean;
}

const FLAG_NAMES: ReadonlyArray<readonly [string, number]> = [
  ['FIN', 0x01], ['SYN', 0x02], ['RST', 0x04], ['PSH', 0x08], ['ACK', 0x10], ['URG', 0x20], ['ALL', 0x3f], ['NONE', 0],
];

const OPTIONS: readonly OptionDef[] = [
  { name: 'source-port', args: 1, invertible: true, aliases: ['sport'] },
  { name: 'destination-port', args: 1, invertible: true, aliases: ['dport'] },
  { name: 'syn', args: 0, invertible: true },
  { name: 'tcp-flags', args: 2, invertible: true },
  { name: 'tcp-option', args: 1, invertible: true },
];

/** parse_tcp_ports / parse_sctp_ports: `a`, `a:b`, `:b`, `a:` with service names of `proto`. */
export function parsePortRangeOld(text: string, proto: string, env: ParseEnv, token: string): [number, number] {
  const port = (t: string): number => {
    const p = parsePortByProto(t, proto);
    if (p === null) env.fail(`invalid port/service \`${t}' specified`, token);
    return p;
  };
  const colon = text.indexOf(':');
  if (colon < 0) {
    const p = port(text);
    return [p, p];
  }
  const a = text.slice(0, colon);
  const b = text.slice(colon + 1);
  const lo = a.length ? port(a) : 0;
  const hi = b.length ? port(b) : 0xffff;
  if (lo > hi) env.fail('invalid portrange (min > max)', token);
  return [lo, hi];
}

function parseFlags(text: string, env: ParseEnv, token: string): number {
  let v = 0;
  for (const part of text.split(',')) {
    if (part === '') continue; // strtok skips empty fields
    const f = FLAG_NAMES.find(([n]) => n.toLowerCase() === part.toLowerCase());
    if (f === undefined) env.fail(`Unknown TCP flag \`${part}'`, token);
    v |= f[1];
  }
  return v;
}

/** print_tcpf: names in bit order, NONE for 0. */
export function formatTcpFlagList(flags: number): string {
  if (flags === 0) return 'NONE';
  const out: string[] = [];
  for (const [n, b] of FLAG_NAMES.slice(0, 6)) if (flags & b) out.push(n);
  return out.join(',');
}

function parse(opts: readonly OptionUse[], env: ParseEnv): TcpData {
  let spts: [number, number] = [0, 0xffff];
  let dpts: [number, number] = [0, 0xffff];
  let invSrc = false;
  let invDst = false;
  let flgMask = 0;
  let flgCmp = 0;
  let invFlags = false;
  let option = 0;
  let invOption = false;
  let seen = 0;
  for (const o of opts) {
    switch (o.name) {
      case 'source-port':
        if (seen & 1) env.fail("Only one `--source-port' allowed", o.token);
        spts = parsePortRangeOld(o.args[0]!, 'tcp', env, o.token);
        invSrc = o.invert;
        seen |= 1;
        break;
      case 'destination-port':
        if (seen & 2) env.fail("Only one `--destination-port' allowed", o.token);
        dpts = parsePortRangeOld(o.args[0]!, 'tcp', env, o.token);
        invDst = o.invert;
        seen |= 2;
        break;
      case 'syn':
      case 'tcp-flags':
        if (seen & 4) env.fail("Only one of `--syn' or `--tcp-flags'  allowed", o.token);
        if (o.name === 'syn') {
          flgMask = TCP_SYN | TCP_RST | TCP_ACK | TCP_FIN;
          flgCmp = TCP_SYN;
        } else {
          const cmp = o.args[1];
          if (cmp === undefined || cmp.startsWith('-') || cmp.startsWith('!')) env.fail('--tcp-flags requires two args.', o.token);
          flgMask = parseFlags(o.args[0]!, env, o.token);
          flgCmp = parseFlags(cmp, env, o.token);
        }
        invFlags = o.invert;
        seen |= 4;
        break;
      case 'tcp-option': {
        if (seen & 8) env.fail("Only one `--tcp-option' allowed", o.token);
        const n = xtStrtoul(o.args[0]!, 1, 255);
        if (n === null) env.fail(`Bad TCP option "${o.args[0]}"`, o.token);
        option = n.value;
        invOption = o.invert;
        seen |= 8;
        break;
      }
      default:
        env.fail(`tcp: unknown option "--${o.name}"`, o.token);
    }
  }
  return { spts, dpts, invSrc, invDst, flgMask, flgCmp, invFlags, option, invOption };
}

function fullRange(r: readonly [number, number]): boolean {
  return r[0] === 0 && r[1] === 0xffff;
}

/** tcp_all_zero(): the match carries nothing (iptables-nft then loads xt_tcp). */
function allZero(d: TcpData): boolean {
  return fullRange(d.spts) && fullRange(d.dpts) && !d.invSrc && !d.invDst && d.flgMask === 0 && d.flgCmp === 0 && !d.invFlags && d.option === 0 && !d.invOption;
}

/** Whether iptables-nft hands this match to the kernel's xt_tcp instead of native expressions. */
export function tcpUsesXtMatch(d: TcpData): boolean {
  return d.option !== 0 || d.invOption || allZero(d);
}

/** What the kernel actually holds after an iptables-nft restore (and so what save prints). */
function effective(d: TcpData): TcpData {
  if (tcpUsesXtMatch(d)) return d;
  return {
    spts: fullRange(d.spts) ? [0, 0xffff] : d.spts,
    dpts: fullRange(d.dpts) ? [0, 0xffff] : d.dpts,
    invSrc: fullRange(d.spts) ? false : d.invSrc,
    invDst: fullRange(d.dpts) ? false : d.invDst,
    flgMask: d.flgMask,
    flgCmp: d.flgMask === 0 ? 0 : d.flgCmp,
    invFlags: d.flgMask === 0 ? false : d.invFlags,
    option: 0,
    invOption: false,
  };
}

/**
 * Whether iptables-nft keeps no tcp match for this rule at all (native path with nothing to
 * emit): iptables-nft-save then prints no `-m tcp`, and the rule matches as if it had none.
 */
export function tcpVanishes(d: TcpData): boolean {
  if (tcpUsesXtMatch(d)) return false;
  const e = effective(d);
  return fullRange(e.spts) && fullRange(e.dpts) && e.flgMask === 0;
}

function print(data: TcpData): string {
  const d = effective(data);
  const out: string[] = [];
  const ports = (name: string, r: readonly [number, number], inv: boolean): void => {
    if (fullRange(r)) return;
    out.push(`${inv ? '! ' : ''}--${name} ${r[0] === r[1] ? r[0] : `${r[0]}:${r[1]}`}`);
  };
  ports('sport', d.spts, d.invSrc);
  ports('dport', d.dpts, d.invDst);
  if (d.option || d.invOption) out.push(`${d.invOption ? '! ' : ''}--tcp-option ${d.option}`);
  if (d.flgMask || d.invFlags) out.push(`${d.invFlags ? '! ' : ''}--tcp-flags ${formatTcpFlagList(d.flgMask)} ${formatTcpFlagList(d.flgCmp)}`);
  return out.join(' ');
}

function check(d: TcpData, env: CheckEnv): string | null {
  if (tcpUsesXtMatch(d)) return xtCheckMatch(env, 'tcp', { proto: IPPROTO_TCP });
  // Native path: iptables-nft itself compares the protocol number only.
  if ((env.rule.proto?.proto ?? 0) !== IPPROTO_TCP) return "TCP match requires '-p tcp'";
  return null;
}

/**
 * The compiled match. `useSrc`/`useDst`/`useFlags` say which fields are tested at all;
 * `xt` selects xt_tcp's semantics (options are tested; nfemu packets carry no TCP options).
 */
class TcpMatcher implements Matcher {
  constructor(
    private readonly useSrc: boolean,
    private readonly sMin: number,
    private readonly sMax: number,
    private readonly sInv: boolean,
    private readonly useDst: boolean,
    private readonly dMin: number,
    private readonly dMax: number,
    private readonly dInv: boolean,
    private readonly useFlags: boolean,
    private readonly fMask: number,
    private readonly fCmp: number,
    private readonly fInv: boolean,
    private readonly xt: boolean,
    private readonly option: number,
    private readonly optInv: boolean,
  ) {}

  match(pkt: Packet): boolean {
    // Both paths read the transport header, which a non-first fragment lacks.
    if (pkt.fragment && (this.xt || this.useSrc || this.useDst || this.useFlags)) return false;
    if (this.useSrc && (pkt.sport >= this.sMin && pkt.sport <= this.sMax) === this.sInv) return false;
    if (this.useDst && (pkt.dport >= this.dMin && pkt.dport <= this.dMax) === this.dInv) return false;
    if (this.useFlags && ((pkt.tcpFlags & this.fMask) === this.fCmp) === this.fInv) return false;
    // tcp_find_option() with no options after the header (doff 5) returns the inversion.
    if (this.xt && this.option !== 0 && !this.optInv) return false;
    return true;
  }
}

function compile(data: TcpData, _env: CompileEnv): Matcher {
  const xt = tcpUsesXtMatch(data);
  const d = effective(data);
  return new TcpMatcher(
    xt || !fullRange(d.spts), d.spts[0], d.spts[1], d.invSrc,
    xt || !fullRange(d.dpts), d.dpts[0], d.dpts[1], d.invDst,
    xt || d.flgMask !== 0, d.flgMask & 0xff, d.flgCmp & 0xff, d.invFlags,
    xt, d.option, d.invOption,
  );
}

/** A match module that may disappear from the rule as iptables-nft stores it. */
export interface VanishingMatchExt<D> extends MatchExt<D> {
  /** True when iptables-nft keeps nothing of this match: the printer should leave out `-m NAME` too. */
  omitted(data: D): boolean;
  /** True when iptables-nft stores the match as native expressions (see print.ts's folding). */
  native(data: D): boolean;
}

export const tcpMatch: VanishingMatchExt<TcpData> = {
  name: 'tcp',
  options: OPTIONS,
  parse,
  print,
  check,
  compile,
  omitted: tcpVanishes,
  native: (d) => !tcpUsesXtMatch(d),
};

registerMatch(tcpMatch);
