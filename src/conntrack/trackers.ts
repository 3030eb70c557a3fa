/**
 * The UDP, UDPLITE, ICMP, ICMPv6 and generic trackers (nf_conntrack_proto_udp.c,
 * nf_conntrack_proto_icmp.c, nf_conntrack_proto_icmpv6.c, generic_packet in
 * nf_conntrack_core.c). SCTP is tracked by ports with the generic timeout: packets carry no
 * chunk types, so the SCTP state machine is not modelled.
 */
import { NF_ACCEPT, IPS_ASSURED, IPS_CONFIRMED, IPS_NAT_CLASH, IPS_SEEN_REPLY } from '../netfilter/index.ts';
import type { Conn } from './conn.ts';
import { CT_INVALID, type TrackerContext } from './tcp.ts';

/** Timeouts in ms (the nf_conntrack_*_timeout sysctls). */
export interface L4Timeouts {
  udp: number;
  udpStream: number;
  icmp: number;
  icmpv6: number;
  generic: number;
}

/** How long a replied UDP flow must live before it counts as a stream (2 s). */
export const UDP_STREAM_DELAY_MS = 2000;

/**
 * nf_conntrack_udp_packet (kernel 6.x): 30 s until a reply; once replied, a packet more than
 * 2 s after the flow's first one extends the timeout to 120 s and sets ASSURED (never for
 * a NAT clash entry). Hot path.
 */
export function udpPacket(ctx: TrackerContext, t: L4Timeouts, ct: Conn, nowMs: number): number {
  const status = ct.status;
  if ((status & IPS_CONFIRMED) === 0) ct.udpStreamTs = nowMs + UDP_STREAM_DELAY_MS;
  if ((status & IPS_SEEN_REPLY) !== 0) {
    let extra = t.udp;
    let stream = false;
    if (nowMs > ct.udpStreamTs) {
      extra = t.udpStream;
      stream = (status & IPS_ASSURED) === 0;
    }
    ctx.refresh(ct, extra);
    if ((status & IPS_NAT_CLASH) !== 0) return NF_ACCEPT;
    if (stream) ct.status |= IPS_ASSURED;
  } else {
    ctx.refresh(ct, t.udp);
  }
  return NF_ACCEPT;
}

/** nf_conntrack_udplite_packet: replied flows get the stream timeout and ASSURED at once. */
export function udplitePacket(ctx: TrackerContext, t: L4Timeouts, ct: Conn): number {
  if ((ct.status & IPS_SEEN_REPLY) !== 0) {
    ctx.refresh(ct, t.udpStream);
    if ((ct.status & IPS_NAT_CLASH) === 0) ct.status |= IPS_ASSURED;
  } else {
    ctx.refresh(ct, t.udp);
  }
  return NF_ACCEPT;
}

/** ICMP types that can start an ICMP "connection" (valid_new): echo, timestamp, info, address mask. */
const ICMP_VALID_NEW = new Uint8Array(256);
ICMP_VALID_NEW[8] = ICMP_VALID_NEW[13] = ICMP_VALID_NEW[15] = ICMP_VALID_NEW[17] = 1;
/** ICMPv6: echo request and node information query. */
const ICMPV6_VALID_NEW = new Uint8Array(256);
ICMPV6_VALID_NEW[128] = ICMPV6_VALID_NEW[139] = 1;

/**
 * nf_conntrack_icmp_packet / nf_conntrack_icmpv6_packet: only a request type may create
 * the entry (an echo reply with no request is INVALID), the family must match the
 * protocol, and every packet restarts the 30 s timeout. Never ASSURED.
 */
export function icmpPacket(ctx: TrackerContext, timeoutMs: number, ct: Conn, family: number, v6: boolean): number {
  if (family !== (v6 ? 6 : 4)) return CT_INVALID;
  const type = (ct.orig.dport >>> 8) & 0xff;
  if ((v6 ? ICMPV6_VALID_NEW : ICMP_VALID_NEW)[type] !== 1) return CT_INVALID;
  ctx.refresh(ct, timeoutMs);
  return NF_ACCEPT;
}

/** generic_packet: every packet restarts the generic timeout (600 s). */
export function genericPacket(ctx: TrackerContext, timeoutMs: number, ct: Conn): number {
  ctx.refresh(ct, timeoutMs);
  return NF_ACCEPT;
}

/** icmp_is_err: the ICMPv4 types that quote a packet. */
export function icmpIsError(type: number): boolean {
  return type === 3 || type === 4 || type === 5 || type === 11 || type === 12;
}

/** NR_ICMP_TYPES: types above it are dropped as unknown by nf_conntrack_icmpv4_error. */
export const NR_ICMP_TYPES = 18;

/**
 * ICMPv6 types conntrack never tracks (noct_valid_new: MLD, router/neighbour discovery,
 * multicast router discovery): the packet becomes UNTRACKED.
 */
export function icmpv6Untracked(type: number): boolean {
  return (type >= 130 && type <= 136) || type === 143 || type === 151 || type === 152;
}

/** NDISC_REDIRECT. */
export const ICMPV6_REDIRECT = 137;
