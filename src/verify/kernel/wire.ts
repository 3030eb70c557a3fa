/**
 * Packet bytes: building the IPv4/IPv6 packets the runner sends (real headers, correct
 * checksums, so conntrack does not call them INVALID) and reading the headers of captured
 * frames and of nf_tables trace events.
 */
import { formatWords, IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP, protoShort } from '../../core/index.ts';
import { formatTcpFlags, type Packet } from '../../packet/index.ts';

export const ETH_P_IP = 0x0800;
export const ETH_P_IPV6 = 0x86dd;

/** What the headers of one IP packet say. */
export interface IpView {
  family: 4 | 6;
  proto: number;
  src: string;
  dst: string;
  ttl: number;
  /** IPv4 identification, or the IPv6 flow label: the runner's marker for its own packet. */
  ident: number;
  sport?: number;
  dport?: number;
  tcpFlags?: number;
  icmpType?: number;
  icmpCode?: number;
  icmpId?: number;
  /** For ICMP errors: the quoted packet. */
  inner?: IpView;
}

function sum16(bytes: Uint8Array, start: number, end: number, acc: number): number {
  let s = acc;
  for (let i = start; i < end; i += 2) s += (bytes[i]! << 8) | (i + 1 < end ? bytes[i + 1]! : 0);
  return s;
}

function fold(s: number): number {
  let x = s;
  while (x > 0xffff) x = (x & 0xffff) + Math.floor(x / 0x10000);
  return ~x & 0xffff;
}

const CRC32C_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[i] = c >>> 0;
  }
  return t;
})();

/** CRC32c (Castagnoli), the SCTP checksum. */
export function crc32c(bytes: Uint8Array, start = 0, end = bytes.length): number {
  let c = 0xffffffff;
  for (let i = start; i < end; i++) c = CRC32C_TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function put16(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 8) & 0xff;
  b[o + 1] = v & 0xff;
}

function put32(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 24) & 0xff;
  b[o + 1] = (v >>> 16) & 0xff;
  b[o + 2] = (v >>> 8) & 0xff;
  b[o + 3] = v & 0xff;
}

function get16(b: Uint8Array, o: number): number {
  return (b[o]! << 8) | b[o + 1]!;
}

/** The L4 header (and SCTP INIT chunk) the runner sends, checksum left 0. */
function l4Header(p: Packet): Uint8Array {
  switch (p.proto) {
    case IPPROTO_TCP: {
      const h = new Uint8Array(20);
      put16(h, 0, p.sport);
      put16(h, 2, p.dport);
      put32(h, 4, 1000); // sequence number
      put32(h, 8, p.tcpFlags & 0x10 ? 2000 : 0); // acknowledgement number, when ACK is set
      h[12] = 5 << 4;
      h[13] = p.tcpFlags & 0xff;
      put16(h, 14, 64240); // window
      return h;
    }
    case IPPROTO_UDP: {
      const h = new Uint8Array(8);
      put16(h, 0, p.sport);
      put16(h, 2, p.dport);
      put16(h, 4, 8);
      return h;
    }
    case IPPROTO_ICMP:
    case IPPROTO_ICMPV6: {
      const h = new Uint8Array(8);
      h[0] = p.icmpType & 0xff;
      h[1] = p.icmpCode & 0xff;
      put16(h, 4, p.icmpId);
      put16(h, 6, 1); // sequence
      return h;
    }
    case IPPROTO_SCTP: {
      // Common header + an INIT chunk, which is what opens an SCTP association.
      const h = new Uint8Array(12 + 20);
      put16(h, 0, p.sport);
      put16(h, 2, p.dport);
      h[12] = 1; // INIT
      put16(h, 14, 20);
      put32(h, 16, 0x11223344); // initiate tag
      put32(h, 20, 65536); // a_rwnd
      put16(h, 24, 1);
      put16(h, 26, 1);
      put32(h, 28, 1); // initial TSN
      return h;
    }
    default:
      return new Uint8Array(0);
  }
}

/** Fills the L4 checksum of `l4` given the pseudo-header source/destination bytes. */
function l4Checksum(proto: number, family: 4 | 6, srcBytes: Uint8Array, dstBytes: Uint8Array, l4: Uint8Array): void {
  if (proto === IPPROTO_SCTP) {
    const c = crc32c(l4);
    // The CRC32c goes into the header in little-endian byte order (RFC 3309).
    l4[8] = c & 0xff;
    l4[9] = (c >>> 8) & 0xff;
    l4[10] = (c >>> 16) & 0xff;
    l4[11] = (c >>> 24) & 0xff;
    return;
  }
  if (proto === IPPROTO_ICMP) {
    put16(l4, 2, fold(sum16(l4, 0, l4.length, 0)));
    return;
  }
  let s = sum16(srcBytes, 0, srcBytes.length, 0);
  s = sum16(dstBytes, 0, dstBytes.length, s);
  s += proto + l4.length;
  s = sum16(l4, 0, l4.length, s);
  let c = fold(s);
  if (proto === IPPROTO_UDP && c === 0) c = 0xffff;
  const at = proto === IPPROTO_TCP ? 16 : proto === IPPROTO_UDP ? 6 : 2;
  put16(l4, at, c);
}

function addrBytes(family: 4 | 6, w: Uint32Array): Uint8Array {
  const n = family === 4 ? 1 : 4;
  const b = new Uint8Array(4 * n);
  for (let i = 0; i < n; i++) put32(b, 4 * i, w[i]!);
  return b;
}

/**
 * The IP packet for `p` (header + L4 header, no payload) with `ident` as the IPv4
 * identification / IPv6 flow label, so the runner can tell its packet from any other.
 */
export function buildIpPacket(p: Packet, ident: number): Uint8Array {
  const l4 = l4Header(p);
  const src = addrBytes(p.family, p.saddr);
  const dst = addrBytes(p.family, p.daddr);
  l4Checksum(p.proto, p.family, src, dst, l4);
  if (p.family === 4) {
    const b = new Uint8Array(20 + l4.length);
    b[0] = 0x45;
    b[1] = p.tos & 0xff;
    put16(b, 2, b.length);
    put16(b, 4, ident & 0xffff);
    b[8] = p.ttl & 0xff;
    b[9] = p.proto & 0xff;
    b.set(src, 12);
    b.set(dst, 16);
    put16(b, 10, fold(sum16(b, 0, 20, 0)));
    b.set(l4, 20);
    return b;
  }
  const b = new Uint8Array(40 + l4.length);
  const flow = ident & 0xfffff;
  put32(b, 0, ((6 << 28) | ((p.tos & 0xff) << 20) | flow) >>> 0);
  put16(b, 4, l4.length);
  b[6] = p.proto & 0xff;
  b[7] = p.ttl & 0xff;
  b.set(src, 8);
  b.set(dst, 24);
  b.set(l4, 40);
  return b;
}

/** An Ethernet frame around an IP packet. MACs as 12 hex digits (or with colons). */
export function buildFrame(dstMac: string, srcMac: string, family: 4 | 6, ip: Uint8Array): Uint8Array {
  const f = new Uint8Array(14 + ip.length);
  f.set(macBytes(dstMac), 0);
  f.set(macBytes(srcMac), 6);
  put16(f, 12, family === 4 ? ETH_P_IP : ETH_P_IPV6);
  f.set(ip, 14);
  return f;
}

function macBytes(mac: string): Uint8Array {
  const hex = mac.replace(/[:-]/g, '');
  const b = new Uint8Array(6);
  for (let i = 0; i < 6; i++) b[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16) || 0;
  return b;
}

export function hexToBytes(hex: string): Uint8Array {
  return Uint8Array.from(Buffer.from(hex, 'hex'));
}

export function bytesToHex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

function wordsOf(b: Uint8Array, o: number, n: number): Uint32Array {
  const w = new Uint32Array(4);
  for (let i = 0; i < n; i++) w[i] = ((b[o + 4 * i]! << 24) | (b[o + 4 * i + 1]! << 16) | (b[o + 4 * i + 2]! << 8) | b[o + 4 * i + 3]!) >>> 0;
  return w;
}

/**
 * Reads an IP header and, when present, the L4 header after it. `l4` may be given
 * separately (nf_tables trace events carry the network and transport headers apart).
 * Null when the bytes are not an IP header.
 */
export function parseIp(b: Uint8Array, l4?: Uint8Array | null, depth = 0): IpView | null {
  if (b.length < 1) return null;
  const version = b[0]! >> 4;
  let v: IpView;
  let off: number;
  let proto: number;
  if (version === 4) {
    if (b.length < 20) return null;
    const ihl = (b[0]! & 0x0f) * 4;
    proto = b[9]!;
    v = { family: 4, proto, src: formatWords(4, wordsOf(b, 12, 1)), dst: formatWords(4, wordsOf(b, 16, 1)), ttl: b[8]!, ident: get16(b, 4) };
    off = ihl;
  } else if (version === 6) {
    if (b.length < 40) return null;
    proto = b[6]!;
    v = {
      family: 6,
      proto,
      src: formatWords(6, wordsOf(b, 8, 4)),
      dst: formatWords(6, wordsOf(b, 24, 4)),
      ttl: b[7]!,
      ident: (((b[1]! & 0x0f) << 16) | (b[2]! << 8) | b[3]!) >>> 0,
    };
    off = 40;
  } else {
    return null;
  }
  const t = l4 ?? (b.length > off ? b.subarray(off) : null);
  if (t === null) return v;
  if ((proto === IPPROTO_TCP || proto === IPPROTO_UDP || proto === IPPROTO_SCTP || proto === 136) && t.length >= 4) {
    v.sport = get16(t, 0);
    v.dport = get16(t, 2);
    if (proto === IPPROTO_TCP && t.length >= 14) v.tcpFlags = t[13]!;
  } else if ((proto === IPPROTO_ICMP || proto === IPPROTO_ICMPV6) && t.length >= 2) {
    v.icmpType = t[0]!;
    v.icmpCode = t[1]!;
    if (t.length >= 6 && isEcho(proto, t[0]!)) v.icmpId = get16(t, 4);
    if (depth === 0 && t.length > 8 && isIcmpError(proto, t[0]!)) {
      const inner = parseIp(t.subarray(8), null, depth + 1);
      if (inner) v.inner = inner;
    }
  }
  return v;
}

/** Echo request/reply (the ICMP types conntrack tracks by identifier). */
export function isEcho(proto: number, type: number): boolean {
  return proto === IPPROTO_ICMP ? type === 0 || type === 8 : type === 128 || type === 129;
}

export function isIcmpError(proto: number, type: number): boolean {
  return proto === IPPROTO_ICMP ? type === 3 || type === 4 || type === 5 || type === 11 || type === 12 : type >= 1 && type <= 4;
}

/** The name the results use for a protocol (`tcp`, `udp`, `icmp`, `icmpv6`, `sctp`, or the number). */
export function protoLabel(proto: number): string {
  return protoShort(proto);
}

/** `SYN`, `RST,ACK`, … ('NONE' for no flags, so the field is never empty). */
export function tcpFlagsLabel(flags: number): string {
  return flags === 0 ? 'NONE' : formatTcpFlags(flags);
}
