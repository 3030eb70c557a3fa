/**
 * `-m udp`: source and destination port ranges (libxt_udp.c, xt_tcpudp.c).
 *
 * As for tcp, iptables-nft 1.8.9 emits native payload expressions (add_nft_udp) unless the
 * match is empty, in which case the kernel's xt_udp runs. Native: a 0:65535 range is not
 * emitted even with `!`; with nothing emitted the match disappears from the rule (matches
 * every packet, no `-m udp` in the save). Both never match a non-first fragment when they
 * read the header. Ports are parsed by the x6 PORTRC type: getaddrinfo service names of any
 * protocol, decimal numbers truncated to 16 bits, no min/max order check.
 */
import { IPPROTO_UDP } from '../../../core/index.ts';
import type { Packet } from '../../../packet/index.ts';
import type { CheckEnv, CompileEnv, Matcher, OptionUse, ParseEnv } from '../../ext.ts';
import { registerMatch } from '../../ext.ts';
import { parsePortAddrinfo, X6Parser, x6OptionDefs, xtCheckMatch, type X6Entry } from './common.ts';
import type { VanishingMatchExt } from './tcp.ts';

export interface UdpData {
  readonly spts: readonly [number, number];
  readonly dpts: readonly [number, number];
  readonly invSrc: boolean;
  readonly invDst: boolean;
}

const O_SRC = 0;
const O_DST = 1;

const TABLE: readonly X6Entry[] = [
  { id: O_SRC, name: 'source-port', args: 1, invert: true },
  { id: O_SRC, name: 'sport', args: 1, invert: true },
  { id: O_DST, name: 'destination-port', args: 1, invert: true },
  { id: O_DST, name: 'dport', args: 1, invert: true },
];

/**
 * xtopt_parse_mport: `a`, `a:b`, `:b`, `a:`, `:` (empty parts keep 0 / 65535), at most two
 * components, each resolved by getaddrinfo.
 */
export function parsePortRangeX6(x6: X6Parser, e: X6Entry, text: string, token: string): [number, number] {
  const range: [number, number] = [0, 0xffff];
  const parts = text.split(':');
  let n = 0;
  for (const part of parts) {
    if (n === 2) x6.env.fail(`${x6.ext}: Too many components for option "--${e.name}" (max: 2)`, token);
    if (part !== '') {
      const v = parsePortAddrinfo(part);
      if (v === null) x6.env.fail(`Port "${part}" does not resolve to anything.`, token);
      range[n] = v;
    }
    n++;
  }
  if (n === 1) range[1] = range[0];
  return range;
}

function parse(opts: readonly OptionUse[], env: ParseEnv): UdpData {
  const x6 = new X6Parser('udp', TABLE, env);
  let spts: [number, number] = [0, 0xffff];
  let dpts: [number, number] = [0, 0xffff];
  let invSrc = false;
  let invDst = false;
  for (const o of opts) {
    const e = x6.use(o);
    if (e.id === O_SRC) {
      spts = parsePortRangeX6(x6, e, o.args[0]!, o.token);
      invSrc = o.invert;
    } else {
      dpts = parsePortRangeX6(x6, e, o.args[0]!, o.token);
      invDst = o.invert;
    }
  }
  x6.finish();
  return { spts, dpts, invSrc, invDst };
}

function full(r: readonly [number, number]): boolean {
  return r[0] === 0 && r[1] === 0xffff;
}

/** udp_all_zero(): iptables-nft then loads the kernel's xt_udp. */
export function udpUsesXtMatch(d: UdpData): boolean {
  return full(d.spts) && full(d.dpts) && !d.invSrc && !d.invDst;
}

function vanishes(d: UdpData): boolean {
  return !udpUsesXtMatch(d) && full(d.spts) && full(d.dpts);
}

function print(d: UdpData): string {
  const out: string[] = [];
  if (!full(d.spts)) out.push(`${d.invSrc ? '! ' : ''}--sport ${d.spts[0] === d.spts[1] ? d.spts[0] : `${d.spts[0]}:${d.spts[1]}`}`);
  if (!full(d.dpts)) out.push(`${d.invDst ? '! ' : ''}--dport ${d.dpts[0] === d.dpts[1] ? d.dpts[0] : `${d.dpts[0]}:${d.dpts[1]}`}`);
  return out.join(' ');
}

function check(d: UdpData, env: CheckEnv): string | null {
  if (udpUsesXtMatch(d)) return xtCheckMatch(env, 'udp', { proto: IPPROTO_UDP });
  if ((env.rule.proto?.proto ?? 0) !== IPPROTO_UDP) return "UDP match requires '-p udp'";
  return null;
}

/** Port-range match shared by udp (and the xt_udp fallback): fields not tested are skipped. */
export class PortsMatcher implements Matcher {
  constructor(
    private readonly readsHeader: boolean,
    private readonly useSrc: boolean,
    private readonly sMin: number,
    private readonly sMax: number,
    private readonly sInv: boolean,
    private readonly useDst: boolean,
    private readonly dMin: number,
    private readonly dMax: number,
    private readonly dInv: boolean,
  ) {}

  match(pkt: Packet): boolean {
    if (this.readsHeader && pkt.fragment) return false;
    if (this.useSrc && (pkt.sport >= this.sMin && pkt.sport <= this.sMax) === this.sInv) return false;
    if (this.useDst && (pkt.dport >= this.dMin && pkt.dport <= this.dMax) === this.dInv) return false;
    return true;
  }
}

function compile(d: UdpData, _env: CompileEnv): Matcher {
  if (udpUsesXtMatch(d)) return new PortsMatcher(true, false, 0, 0, false, false, 0, 0, false);
  const useSrc = !full(d.spts);
  const useDst = !full(d.dpts);
  return new PortsMatcher(useSrc || useDst, useSrc, d.spts[0], d.spts[1], d.invSrc, useDst, d.dpts[0], d.dpts[1], d.invDst);
}

export const udpMatch: VanishingMatchExt<UdpData> = {
  name: 'udp',
  options: x6OptionDefs(TABLE),
  parse,
  print,
  check,
  compile,
  omitted: vanishes,
  native: (d) => !udpUsesXtMatch(d),
};

registerMatch(udpMatch);
