/**
 * REJECT (ipt_REJECT.c / ip6t_REJECT.c, nf_reject_ipv4.c / nf_reject_ipv6.c, icmp_send):
 * drops the packet and sends back a TCP RST or an ICMP(v6) destination-unreachable error.
 *
 * Model of the response packet (what nfemu's Packet can carry):
 * - TCP RST: source and destination swapped, ports swapped, flags RST (the original had
 *   ACK: seq = its ack_seq) or RST|ACK (otherwise), TTL 64 (ip_default_ttl), TOS 0, mark 0
 *   (fwmark_reflect off). Sequence numbers are not modelled. It is attached to the
 *   original's conntrack entry with RELATED_REPLY (RELATED for a reply), as nf_ct_attach
 *   does, so conntrack does not look it up again.
 * - ICMP error: type 3 / ICMPv6 type 1 with the code of --reject-with, from the source
 *   address icmp_send's routing picks (see icmpSource). TOS (orig & 0x1e) | 0xc0 (IPv4), length
 *   quoting at most 576 (IPv4) / 1280 (IPv6) bytes. The quoted packet is not a Packet
 *   field: its tuple is written into `payload` as `quoted: tcp 10.0.0.1:40000 -> 10.0.0.2:80 [SYN]`.
 *   When the original's entry is confirmed the error is attached to it as RELATED_REPLY
 *   (what conntrack's ICMP error lookup finds); an unconfirmed entry is not found by the
 *   kernel either.
 * Nothing is sent (the packet is still dropped) where the kernel sends nothing: no RST for
 * a RST, for a non-TCP packet or a non-first fragment; no ICMP error for a non-first
 * fragment, about an ICMP error (ICMPv6: error types < 128), for a packet to a
 * broadcast/multicast destination or received as link-layer broadcast/multicast, or for a
 * source that is unspecified, multicast or broadcast. ICMP rate limits are not modelled.
 */
import {
  IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, formatWords, protoShort, type Family,
} from '../../core/index.ts';
import {
  NF_DROP, NF_INET_FORWARD, NF_INET_LOCAL_IN, NF_INET_LOCAL_OUT, IPS_CONFIRMED,
} from '../../netfilter/index.ts';
import type { Conn } from '../../conntrack/index.ts';
import { Packet, TCP_ACK, TCP_RST, PACKET_BROADCAST, PACKET_MULTICAST, PACKET_OTHERHOST, formatTcpFlags } from '../../packet/index.ts';
import { registerTarget, RTN_BROADCAST, RTN_LOCAL, RTN_MULTICAST, type TargetExt, type XtContext } from '../ext.ts';
import { checkTarget, ruleProto, xtParse, type XtOption } from './util.ts';

/** enum ipt_reject_with (IPv4). */
export const IPT_ICMP_NET_UNREACHABLE = 0;
export const IPT_ICMP_HOST_UNREACHABLE = 1;
export const IPT_ICMP_PROT_UNREACHABLE = 2;
export const IPT_ICMP_PORT_UNREACHABLE = 3;
export const IPT_ICMP_ECHOREPLY = 4;
export const IPT_ICMP_NET_PROHIBITED = 5;
export const IPT_ICMP_HOST_PROHIBITED = 6;
export const IPT_TCP_RESET = 7;
export const IPT_ICMP_ADMIN_PROHIBITED = 8;

/** enum ip6t_reject_with (IPv6). */
export const IP6T_ICMP6_NO_ROUTE = 0;
export const IP6T_ICMP6_ADM_PROHIBITED = 1;
export const IP6T_ICMP6_NOT_NEIGHBOUR = 2;
export const IP6T_ICMP6_ADDR_UNREACH = 3;
export const IP6T_ICMP6_PORT_UNREACH = 4;
export const IP6T_ICMP6_ECHOREPLY = 5;
export const IP6T_TCP_RESET = 6;
export const IP6T_ICMP6_POLICY_FAIL = 7;
export const IP6T_ICMP6_REJECT_ROUTE = 8;

/** A reject type as libipt_REJECT / libip6t_REJECT list it: name, alias, value, ICMP code (-1: RST). */
interface RejectType {
  readonly name: string;
  readonly alias: string;
  readonly with: number;
  readonly code: number;
}

/** In the tools' table order: `--reject-with` takes the first entry its text is a prefix of. */
const TYPES4: readonly RejectType[] = [
  { name: 'icmp-net-unreachable', alias: 'net-unreach', with: IPT_ICMP_NET_UNREACHABLE, code: 0 },
  { name: 'icmp-host-unreachable', alias: 'host-unreach', with: IPT_ICMP_HOST_UNREACHABLE, code: 1 },
  { name: 'icmp-proto-unreachable', alias: 'proto-unreach', with: IPT_ICMP_PROT_UNREACHABLE, code: 2 },
  { name: 'icmp-port-unreachable', alias: 'port-unreach', with: IPT_ICMP_PORT_UNREACHABLE, code: 3 },
  { name: 'icmp-net-prohibited', alias: 'net-prohib', with: IPT_ICMP_NET_PROHIBITED, code: 9 },
  { name: 'icmp-host-prohibited', alias: 'host-prohib', with: IPT_ICMP_HOST_PROHIBITED, code: 10 },
  { name: 'tcp-reset', alias: 'tcp-rst', with: IPT_TCP_RESET, code: -1 },
  { name: 'icmp-admin-prohibited', alias: 'admin-prohib', with: IPT_ICMP_ADMIN_PROHIBITED, code: 13 },
];

const TYPES6: readonly RejectType[] = [
  { name: 'icmp6-no-route', alias: 'no-route', with: IP6T_ICMP6_NO_ROUTE, code: 0 },
  { name: 'icmp6-adm-prohibited', alias: 'adm-prohibited', with: IP6T_ICMP6_ADM_PROHIBITED, code: 1 },
  { name: 'icmp6-addr-unreachable', alias: 'addr-unreach', with: IP6T_ICMP6_ADDR_UNREACH, code: 3 },
  { name: 'icmp6-port-unreachable', alias: 'port-unreach', with: IP6T_ICMP6_PORT_UNREACH, code: 4 },
  { name: 'tcp-reset', alias: 'tcp-reset', with: IP6T_TCP_RESET, code: -1 },
  { name: 'icmp6-policy-fail', alias: 'policy-fail', with: IP6T_ICMP6_POLICY_FAIL, code: 5 },
  { name: 'icmp6-reject-route', alias: 'reject-route', with: IP6T_ICMP6_REJECT_ROUTE, code: 6 },
];

export interface RejectData {
  /** IPT_* (IPv4) or IP6T_* (IPv6). */
  readonly with: number;
}

const OPTIONS: readonly XtOption[] = [{ name: 'reject-with', args: 1 }];

function typeOf(family: Family, w: number): RejectType {
  return (family === 4 ? TYPES4 : TYPES6).find((t) => t.with === w)!;
}

/** ICMP types icmp_send treats as errors (icmp_pointers[].error, and every type past NR_ICMP_TYPES). */
function icmpIsError(type: number): boolean {
  return type > 18 || (type >= 1 && type <= 12 && type !== 8);
}

function isMulticast(family: Family, w: Uint32Array): boolean {
  return family === 4 ? w[0]! >>> 28 === 0xe : w[0]! >>> 24 === 0xff;
}

function isUnspecified(family: Family, w: Uint32Array): boolean {
  return family === 4 ? w[0] === 0 : (w[0]! | w[1]! | w[2]! | w[3]!) === 0;
}

/** The route of the original's destination is broadcast or multicast (rt_flags RTCF_BROADCAST|RTCF_MULTICAST). */
function toBroadcast(pkt: Packet, ctx: XtContext): boolean {
  if (isMulticast(pkt.family, pkt.daddr)) return true;
  if (pkt.family === 4 && pkt.daddr[0] === 0xffffffff) return true;
  const t = ctx.host.addrType(pkt.family, pkt.daddr, null);
  return t === RTN_BROADCAST || t === RTN_MULTICAST;
}

/** A source that does not identify one host (never reaches filter in the kernel: martian / RFC 4443 2.4). */
function badSource(pkt: Packet, ctx: XtContext): boolean {
  if (isUnspecified(pkt.family, pkt.saddr) || isMulticast(pkt.family, pkt.saddr)) return true;
  if (pkt.family === 4) {
    if (pkt.saddr[0] === 0xffffffff) return true;
    const t = ctx.host.addrType(4, pkt.saddr, null);
    return t === RTN_BROADCAST || t === RTN_MULTICAST;
  }
  return false;
}

/**
 * nf_ct_attach(): the response belongs to the original's entry, in the other direction
 * (ConntrackTable.attachRelated). `confirmedOnly`: what conntrack's ICMP error lookup finds.
 */
function attach(p: Packet, orig: Packet, ctx: XtContext, confirmedOnly: boolean): void {
  const ct = orig.ct as Conn | null;
  if (ct === null || ctx.conntrack === null) return;
  if (confirmedOnly && (ct.status & IPS_CONFIRMED) === 0) return;
  ctx.conntrack.attachRelated(p, orig);
}

/** nf_send_reset / nf_send_reset6. */
function sendReset(pkt: Packet, ctx: XtContext): void {
  if (pkt.proto !== IPPROTO_TCP || pkt.fragment || (pkt.tcpFlags & TCP_RST) !== 0) return;
  if (pkt.family === 6) {
    // Both addresses must be unicast (ipv6_addr_type & IPV6_ADDR_UNICAST).
    if (isUnspecified(6, pkt.saddr) || isMulticast(6, pkt.saddr) || isUnspecified(6, pkt.daddr) || isMulticast(6, pkt.daddr)) return;
  } else if (toBroadcast(pkt, ctx) || badSource(pkt, ctx)) {
    return;
  }
  const p = new Packet();
  p.family = pkt.family;
  p.proto = IPPROTO_TCP;
  p.saddr.set(pkt.daddr);
  p.daddr.set(pkt.saddr);
  p.sport = pkt.dport;
  p.dport = pkt.sport;
  p.tcpFlags = (pkt.tcpFlags & TCP_ACK) !== 0 ? TCP_RST : TCP_RST | TCP_ACK;
  p.ttl = 64;
  p.tos = 0;
  p.length = pkt.family === 4 ? 40 : 60;
  attach(p, pkt, ctx, false);
  ctx.emit(p);
}

/** icmp_send / icmp6_send for a destination-unreachable error with `code`. */
function sendUnreach(pkt: Packet, ctx: XtContext, code: number): void {
  const v4 = pkt.family === 4;
  if (pkt.fragment && v4) return;
  if (toBroadcast(pkt, ctx)) return;
  if (pkt.pktType === PACKET_BROADCAST || pkt.pktType === PACKET_MULTICAST || pkt.pktType === PACKET_OTHERHOST) return;
  if (badSource(pkt, ctx)) return;
  if (v4 && pkt.proto === IPPROTO_ICMP && icmpIsError(pkt.icmpType)) return;
  if (!v4 && pkt.proto === IPPROTO_ICMPV6 && pkt.icmpType < 128) return;
  const p = new Packet();
  p.family = pkt.family;
  p.proto = v4 ? IPPROTO_ICMP : IPPROTO_ICMPV6;
  p.icmpType = v4 ? 3 : 1;
  p.icmpCode = code;
  p.icmpId = 0;
  p.daddr.set(pkt.saddr);
  icmpSource(pkt, ctx, p.saddr);
  p.ttl = 64;
  p.tos = v4 ? (pkt.tos & 0x1e) | 0xc0 : 0;
  p.length = v4 ? 28 + Math.min(pkt.length, 548) : 48 + Math.min(pkt.length, 1232);
  p.payload = `quoted: ${quotedText(pkt)}`;
  attach(p, pkt, ctx, true);
  ctx.emit(p);
}

/**
 * The source icmp_send gives the error: the original destination when it is local;
 * for a locally generated packet (OUTPUT) the route back is local too, so its own source;
 * for a forwarded one the address routing picks towards the original source
 * (inet_select_addr on the device the error leaves by). HostView tells whether that device
 * is the incoming interface (reversePathOk); when it is not, nfemu cannot name the device
 * and takes inet_select_addr's fallback, the first device with a universe-scope address.
 */
function icmpSource(pkt: Packet, ctx: XtContext, out: Uint32Array): void {
  if (ctx.host.addrType(pkt.family, pkt.daddr, null) === RTN_LOCAL) {
    out.set(pkt.daddr);
    return;
  }
  if (ctx.hook === NF_INET_LOCAL_OUT || pkt.inIface === '') {
    out.set(pkt.saddr);
    return;
  }
  const reply = new Packet();
  reply.family = pkt.family;
  reply.saddr.set(pkt.daddr);
  reply.daddr.set(pkt.saddr);
  reply.outIface = ctx.host.reversePathOk(pkt, false, false, false) ? pkt.inIface : '';
  if (!ctx.host.masqueradeAddr(reply, out)) out.set(pkt.daddr);
}

/** `tcp 10.0.0.1:40000 -> 10.0.0.2:80 [SYN]` (`[v6]:port`; TCP flags; ICMP type, code and id). */
function quotedText(pkt: Packet): string {
  const a = (w: Uint32Array) => formatWords(pkt.family, w);
  const ports = pkt.proto === 6 || pkt.proto === 17 || pkt.proto === 132 || pkt.proto === 136 || pkt.proto === 33;
  const end = (w: Uint32Array, port: number) => (ports ? (pkt.family === 6 ? `[${a(w)}]:${port}` : `${a(w)}:${port}`) : a(w));
  let s = `${protoShort(pkt.proto)} ${end(pkt.saddr, pkt.sport)} -> ${end(pkt.daddr, pkt.dport)}`;
  if (pkt.proto === IPPROTO_TCP && pkt.tcpFlags !== 0) s += ` [${formatTcpFlags(pkt.tcpFlags)}]`;
  if (pkt.proto === IPPROTO_ICMP || pkt.proto === IPPROTO_ICMPV6) s += ` type ${pkt.icmpType} code ${pkt.icmpCode} id ${pkt.icmpId}`;
  return s;
}

export const rejectTarget: TargetExt<RejectData> = {
  name: 'REJECT',
  options: OPTIONS,
  parse(opts, env) {
    const types = env.family === 4 ? TYPES4 : TYPES6;
    let w = env.family === 4 ? IPT_ICMP_PORT_UNREACHABLE : IP6T_ICMP6_PORT_UNREACH;
    xtParse('REJECT', OPTIONS, opts, env, (use) => {
      const arg = use.args[0]!;
      const a = arg.toLowerCase();
      // strncasecmp(name, arg, strlen(arg)): the argument may be any prefix of a name or alias.
      const t = types.find((x) => x.name.startsWith(a) || x.alias.startsWith(a));
      if (t === undefined) env.fail(`unknown reject type "${arg}"`, use.token);
      w = t!.with;
    });
    return { with: w };
  },
  print(data, family) {
    return `--reject-with ${typeOf(family, data.with).name}`;
  },
  check(data, env) {
    const m = checkTarget('REJECT', env, 'filter', (1 << NF_INET_LOCAL_IN) | (1 << NF_INET_FORWARD) | (1 << NF_INET_LOCAL_OUT));
    if (m !== null) return m;
    const reset = env.family === 4 ? IPT_TCP_RESET : IP6T_TCP_RESET;
    if (data.with === reset && ruleProto(env) !== IPPROTO_TCP) {
      return env.family === 4 ? 'ipt_REJECT: TCP_RESET invalid for non-tcp' : 'ip6t_REJECT: TCP_RESET illegal for non-tcp';
    }
    return null;
  },
  compile(data, env) {
    const t = typeOf(env.family, data.with);
    const code = t.code;
    if (code < 0) {
      return {
        run(pkt, ctx) {
          sendReset(pkt, ctx);
          return NF_DROP;
        },
      };
    }
    return {
      run(pkt, ctx) {
        sendUnreach(pkt, ctx, code);
        return NF_DROP;
      },
    };
  },
};

registerTarget(rejectTarget);
