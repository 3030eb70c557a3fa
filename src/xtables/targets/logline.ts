/**
 * The packet part of a kernel log line, as nf_log_syslog.c writes it for LOG (and as ulogd
 * writes NFLOG packets in the same format): `IN=eth0 OUT= MAC=… SRC=… DST=… LEN=… …`.
 *
 * What nfemu's Packet does not carry is printed as a fixed value, so lines stay comparable:
 * IP ID=0 and no DF/MF/CE flags, IPv6 FLOWLBL=0, TCP WINDOW=0 RES=0x00 URGP=0 and
 * SEQ=0 ACK=0, ICMP echo SEQ=0, the destination MAC 00:00:00:00:00:00 (only the source MAC
 * is known), no IP or TCP options, and no fragment offset. The packet quoted inside an
 * ICMP error is not dumped (nfemu does not carry it). Builds a string: call only when a
 * rule logs.
 */
import { formatIpv4, IPPROTO_AH, IPPROTO_ESP, IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP, IPPROTO_UDPLITE } from '../../core/index.ts';
import type { Packet } from '../../packet/index.ts';

/** XT_LOG_* flags (xt_LOG.h). */
export const XT_LOG_TCPSEQ = 0x01;
export const XT_LOG_TCPOPT = 0x02;
export const XT_LOG_IPOPT = 0x04;
export const XT_LOG_UID = 0x08;
export const XT_LOG_NFLOG = 0x10;
export const XT_LOG_MACDECODE = 0x20;

/** %pI6: all eight groups, four hex digits each. */
function ipv6Full(w: Uint32Array): string {
  const g: string[] = [];
  for (let i = 0; i < 4; i++) {
    g.push((w[i]! >>> 16).toString(16).padStart(4, '0'), (w[i]! & 0xffff).toString(16).padStart(4, '0'));
  }
  return g.join(':');
}

const hex2u = (n: number) => (n & 0xff).toString(16).toUpperCase().padStart(2, '0');

/** `aa:bb:cc:dd:ee:ff` from 12 hex digits. */
function mac(m: string): string {
  return m.toLowerCase().match(/../g)!.join(':');
}

/** dump_mac_header(): for packets that came in on an interface. */
function macPart(pkt: Packet, flags: number): string {
  if (pkt.macSource === '') return 'MAC= ';
  const ethertype = pkt.family === 4 ? '0800' : '86dd';
  if (flags & XT_LOG_MACDECODE) return `MACSRC=${mac(pkt.macSource)} MACDST=00:00:00:00:00:00 MACPROTO=${ethertype} `;
  return `MAC=00:00:00:00:00:00:${mac(pkt.macSource)}:${ethertype.slice(0, 2)}:${ethertype.slice(2)} `;
}

/** nf_log_dump_tcp_header(). */
function tcpPart(pkt: Packet, flags: number): string {
  let s = 'PROTO=TCP ';
  if (pkt.fragment) return s;
  s += `SPT=${pkt.sport} DPT=${pkt.dport} `;
  if (flags & XT_LOG_TCPSEQ) s += 'SEQ=0 ACK=0 ';
  s += 'WINDOW=0 RES=0x00 ';
  const f = pkt.tcpFlags;
  if (f & 0x80) s += 'CWR ';
  if (f & 0x40) s += 'ECE ';
  if (f & 0x20) s += 'URG ';
  if (f & 0x10) s += 'ACK ';
  if (f & 0x08) s += 'PSH ';
  if (f & 0x04) s += 'RST ';
  if (f & 0x02) s += 'SYN ';
  if (f & 0x01) s += 'FIN ';
  return s + 'URGP=0 ';
}

/** nf_log_dump_udp_header(); `l4len` is the UDP length. */
function udpPart(pkt: Packet, l4len: number): string {
  const s = pkt.proto === IPPROTO_UDP ? 'PROTO=UDP ' : 'PROTO=UDPLITE ';
  if (pkt.fragment) return s;
  return `${s}SPT=${pkt.sport} DPT=${pkt.dport} LEN=${l4len} `;
}

/** Bytes an ICMP message of each type needs (required_len in dump_ipv4_packet). */
function icmpRequired(type: number): number {
  switch (type) {
    case 0: case 8: return 4;
    case 3: case 4: case 5: case 11: case 12: return 28;
    case 13: case 14: return 20;
    case 17: case 18: return 12;
    default: return 0;
  }
}

function icmpPart(pkt: Packet, l4len: number): string {
  let s = 'PROTO=ICMP ';
  if (pkt.fragment) return s;
  if (l4len < 8) return `${s}INCOMPLETE [${l4len} bytes] `;
  s += `TYPE=${pkt.icmpType} CODE=${pkt.icmpCode} `;
  const need = icmpRequired(pkt.icmpType);
  if (need !== 0 && l4len < need) return `${s}INCOMPLETE [${l4len} bytes] `;
  switch (pkt.icmpType) {
    case 0: case 8: s += `ID=${pkt.icmpId} SEQ=0 `; break;
    case 12: s += 'PARAMETER=0 '; break;
    case 5: s += 'GATEWAY=0.0.0.0 '; break;
    case 3: if (pkt.icmpCode === 4) s += 'MTU=0 '; break;
  }
  return s;
}

function icmpv6Part(pkt: Packet): string {
  let s = 'PROTO=ICMPv6 ';
  if (pkt.fragment) return s;
  s += `TYPE=${pkt.icmpType} CODE=${pkt.icmpCode} `;
  switch (pkt.icmpType) {
    case 128: case 129: s += `ID=${pkt.icmpId} SEQ=0 `; break;
    case 4: s += 'POINTER=00000000 '; break;
    case 2: s += 'MTU=0 '; break;
  }
  return s;
}

function l4Part(pkt: Packet, flags: number, l4len: number): string {
  switch (pkt.proto) {
    case IPPROTO_TCP: return tcpPart(pkt, flags);
    case IPPROTO_UDP: case IPPROTO_UDPLITE: return udpPart(pkt, l4len);
    case IPPROTO_ICMP: if (pkt.family === 4) return icmpPart(pkt, l4len); break;
    case IPPROTO_ICMPV6: if (pkt.family === 6) return icmpv6Part(pkt); break;
    // IPv6 walks AH and ESP as extension headers and prints no PROTO= for them.
    case IPPROTO_AH: return pkt.family === 6 || pkt.fragment ? '' : 'PROTO=AH SPI=0x0 ';
    case IPPROTO_ESP: return pkt.family === 6 ? '' : pkt.fragment ? 'PROTO=ESP ' : 'PROTO=ESP SPI=0x0 ';
  }
  return `PROTO=${pkt.proto} `;
}

/**
 * The log line for `pkt` after `prefix`: interfaces, MAC (for packets that came in on an
 * interface), the IP header, the L4 header, UID/GID (XT_LOG_UID, local sockets only) and
 * a non-zero mark. Ends with a space, as the kernel's does.
 */
export function logPacketLine(prefix: string, pkt: Packet, flags: number): string {
  let s = `${prefix}IN=${pkt.inIface} OUT=${pkt.outIface} `;
  if (pkt.inIface !== '') s += macPart(pkt, flags);
  let l4len: number;
  if (pkt.family === 4) {
    s += `SRC=${formatIpv4(pkt.saddr[0]!)} DST=${formatIpv4(pkt.daddr[0]!)} `;
    s += `LEN=${pkt.length} TOS=0x${hex2u(pkt.tos & 0x1e)} PREC=0x${hex2u(pkt.tos & 0xe0)} TTL=${pkt.ttl} ID=0 `;
    l4len = pkt.length - 20;
  } else {
    s += `SRC=${ipv6Full(pkt.saddr)} DST=${ipv6Full(pkt.daddr)} `;
    s += `LEN=${pkt.length} TC=${pkt.tos & 0xff} HOPLIMIT=${pkt.ttl} FLOWLBL=0 `;
    l4len = pkt.length - 40;
  }
  s += l4Part(pkt, flags, l4len);
  if ((flags & XT_LOG_UID) !== 0 && pkt.uid >= 0) s += `UID=${pkt.uid} GID=${pkt.gid < 0 ? 0 : pkt.gid} `;
  if (pkt.mark !== 0) s += `MARK=0x${(pkt.mark >>> 0).toString(16)} `;
  return s;
}
