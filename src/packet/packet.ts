import type { Family } from '../core/index.ts';

/** TCP flag bits (as in the TCP header's flags byte). */
export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_PSH = 0x08;
export const TCP_ACK = 0x10;
export const TCP_URG = 0x20;
export const TCP_ECE = 0x40;
export const TCP_CWR = 0x80;
export const TCP_FLAG_NAMES: ReadonlyArray<readonly [string, number]> = [
  ['FIN', TCP_FIN], ['SYN', TCP_SYN], ['RST', TCP_RST], ['PSH', TCP_PSH],
  ['ACK', TCP_ACK], ['URG', TCP_URG], ['ECE', TCP_ECE], ['CWR', TCP_CWR],
];

/** Link-layer packet type (PACKET_HOST…), for -m pkttype. */
export const PACKET_HOST = 0;
export const PACKET_BROADCAST = 1;
export const PACKET_MULTICAST = 2;
export const PACKET_OTHERHOST = 3;
export const PACKET_OUTGOING = 4;

/**
 * The source MAC of a frame arriving from the wire when the packet names none: a fixed,
 * locally administered address (the kernel runner gives its peer interfaces the same).
 */
export const WIRE_PEER_MAC = '02:6e:66:65:6d:75';

/** Opaque handle to the conntrack entry a packet belongs to (conntrack owns the type). */
export interface ConnRef {
  readonly id: number;
}

/**
 * A packet: one class, numeric fields, fixed shape (DESIGN.md §2). Addresses are four
 * words each (IPv4 in word 0). Mutated in place by NAT and MARK on the packet path; copy
 * with `clone()` before keeping a snapshot.
 */
export class Packet {
  family: Family = 4;
  /** L4 protocol number. */
  proto = 0;
  readonly saddr = new Uint32Array(4);
  readonly daddr = new Uint32Array(4);
  sport = 0;
  dport = 0;
  /** TCP flags byte (TCP only). */
  tcpFlags = 0;
  /** ICMP / ICMPv6 type and code, -1 when not ICMP. */
  icmpType = -1;
  icmpCode = -1;
  /** ICMP echo identifier (the "port" conntrack tracks echo by). */
  icmpId = 0;
  ttl = 64;
  tos = 0;
  /** IP total length in bytes. */
  length = 60;
  /** Non-first fragment (offset ≠ 0). */
  fragment = false;
  /** skb->mark. */
  mark = 0;
  /** Incoming interface name ('' for locally generated). */
  inIface = '';
  /** Outgoing interface name ('' until routed). */
  outIface = '';
  /** uid / gid of the sending socket, -1 without a local socket. */
  uid = -1;
  gid = -1;
  /** PACKET_HOST, PACKET_BROADCAST, … */
  pktType = PACKET_HOST;
  /** Source MAC as 12 hex digits, '' when unknown (locally generated). */
  macSource = '';
  /** Conntrack entry and ctinfo (IP_CT_*); null / IP_CT_INVALID when none. */
  ct: ConnRef | null = null;
  ctinfo = -1;
  /** Conntrack zone chosen by CT --zone in raw. */
  ctZone = 0;
  /** Set by -j TRACE / nftrace. */
  nftrace = false;
  /** Application payload (scenarios use it to show what a proxy or backend sees). */
  payload = '';

  /** A deep copy (snapshots for traces; never on the fast path). */
  clone(): Packet {
    const p = new Packet();
    p.copyFrom(this);
    return p;
  }

  copyFrom(o: Packet): void {
    this.family = o.family;
    this.proto = o.proto;
    this.saddr.set(o.saddr);
    this.daddr.set(o.daddr);
    this.sport = o.sport;
    this.dport = o.dport;
    this.tcpFlags = o.tcpFlags;
    this.icmpType = o.icmpType;
    this.icmpCode = o.icmpCode;
    this.icmpId = o.icmpId;
    this.ttl = o.ttl;
    this.tos = o.tos;
    this.length = o.length;
    this.fragment = o.fragment;
    this.mark = o.mark;
    this.inIface = o.inIface;
    this.outIface = o.outIface;
    this.uid = o.uid;
    this.gid = o.gid;
    this.pktType = o.pktType;
    this.macSource = o.macSource;
    this.ct = o.ct;
    this.ctinfo = o.ctinfo;
    this.ctZone = o.ctZone;
    this.nftrace = o.nftrace;
    this.payload = o.payload;
  }
}
