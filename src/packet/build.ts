import { NfemuError, parseIp, protoNumber, IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, type Family } from '../core/index.ts';
import { Packet, TCP_FLAG_NAMES, TCP_SYN, WIRE_PEER_MAC } from './packet.ts';

/** A packet as a case file writes it (DESIGN.md §4). */
export interface PacketSpec {
  hook?: 'PREROUTING' | 'OUTPUT';
  proto: string;
  src: string;
  sport?: number;
  dst: string;
  dport?: number;
  in_iface?: string;
  out_iface?: string;
  uid?: number;
  gid?: number;
  tcp_flags?: string;
  icmp_type?: number;
  icmp_code?: number;
  icmp_id?: number;
  ttl?: number;
  mark?: number | string;
  length?: number;
  payload?: string;
  /** Source MAC of a frame arriving from the wire (default WIRE_PEER_MAC). */
  mac?: string;
}

/** Parses `SYN,ACK` (any case, `,` or `|` separated; `NONE` for none). */
export function parseTcpFlags(text: string): number {
  let v = 0;
  for (const raw of text.split(/[,|]/)) {
    const name = raw.trim().toUpperCase();
    if (name === '' || name === 'NONE') continue;
    if (name === 'ALL') {
      v |= 0x3f;
      continue;
    }
    const f = TCP_FLAG_NAMES.find(([n]) => n === name);
    if (!f) throw new NfemuError('PARSE', `unknown TCP flag "${raw}"`, { token: raw });
    v |= f[1];
  }
  return v;
}

function num(v: unknown, field: string, max: number): number {
  const n = typeof v === 'string' && /^0x[0-9a-f]+$/i.test(v) ? parseInt(v, 16) : Number(v);
  if (!Number.isInteger(n) || n < 0 || n > max) throw new NfemuError('PARSE', `packet field ${field}: bad value ${JSON.stringify(v)}`, { token: String(v) });
  return n;
}

/** Builds a packet from its case-file form; throws NfemuError('PARSE') on bad fields. */
export function buildPacket(spec: PacketSpec): Packet {
  const p = new Packet();
  const proto = protoNumber(String(spec.proto ?? ''));
  if (proto === null) throw new NfemuError('PARSE', `packet: unknown protocol "${spec.proto}"`, { token: String(spec.proto) });
  const src = parseIp(String(spec.src ?? ''));
  if (src === null) throw new NfemuError('PARSE', `packet: bad source address "${spec.src}"`, { token: String(spec.src) });
  const dst = parseIp(String(spec.dst ?? ''));
  if (dst === null) throw new NfemuError('PARSE', `packet: bad destination address "${spec.dst}"`, { token: String(spec.dst) });
  if (src.family !== dst.family) throw new NfemuError('PARSE', `packet: source and destination are of different families`);
  const family: Family = src.family;
  p.family = family;
  p.proto = proto === IPPROTO_ICMP && family === 6 ? IPPROTO_ICMPV6 : proto;
  p.saddr.set(src.w);
  p.daddr.set(dst.w);
  if (spec.sport !== undefined) p.sport = num(spec.sport, 'sport', 65535);
  if (spec.dport !== undefined) p.dport = num(spec.dport, 'dport', 65535);
  if (p.proto === IPPROTO_TCP) p.tcpFlags = spec.tcp_flags !== undefined ? parseTcpFlags(spec.tcp_flags) : TCP_SYN;
  if (p.proto === IPPROTO_ICMP || p.proto === IPPROTO_ICMPV6) {
    p.icmpType = spec.icmp_type !== undefined ? num(spec.icmp_type, 'icmp_type', 255) : p.proto === IPPROTO_ICMP ? 8 : 128;
    p.icmpCode = spec.icmp_code !== undefined ? num(spec.icmp_code, 'icmp_code', 255) : 0;
    p.icmpId = spec.icmp_id !== undefined ? num(spec.icmp_id, 'icmp_id', 65535) : 0;
  }
  if (spec.ttl !== undefined) p.ttl = num(spec.ttl, 'ttl', 255);
  if (spec.mark !== undefined) p.mark = num(spec.mark, 'mark', 0xffffffff);
  if (spec.length !== undefined) p.length = num(spec.length, 'length', 65535);
  else p.length = defaultLength(p);
  if (spec.in_iface !== undefined) {
    p.inIface = String(spec.in_iface);
    if (p.inIface !== 'lo') {
      const mac = spec.mac ?? WIRE_PEER_MAC;
      if (!/^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/.test(mac)) throw new NfemuError('PARSE', `packet: bad MAC address "${mac}"`, { token: mac });
      p.macSource = mac.replace(/:/g, '').toLowerCase();
    }
  }
  if (spec.out_iface !== undefined) p.outIface = String(spec.out_iface);
  if (spec.uid !== undefined) p.uid = num(spec.uid, 'uid', 0xffffffff);
  if (spec.gid !== undefined) p.gid = num(spec.gid, 'gid', 0xffffffff);
  if (spec.payload !== undefined) p.payload = String(spec.payload);
  return p;
}

/** Header-only length: IP header plus the L4 header the kernel runner sends. */
function defaultLength(p: Packet): number {
  const ip = p.family === 4 ? 20 : 40;
  switch (p.proto) {
    case 6: return ip + 20;
    case 17: return ip + 8;
    case 132: return ip + 12;
    case 1: case 58: return ip + 8;
    default: return ip;
  }
}

/**
 * Parses the one-line packet form the CLI takes:
 * `tcp 192.168.1.50:40000 -> 10.96.0.100:80 [SYN] in eth0`, `udp [fd00::1]:53 -> …`,
 * `icmp 10.0.0.1 -> 10.0.0.2 type 8 code 0`, then optional `in IFACE`, `out IFACE`,
 * `uid N`, `gid N`, `mark 0xN`, `ttl N`, `flags SYN,ACK`. With `in` the packet arrives at
 * PREROUTING, otherwise a local process sends it (OUTPUT).
 */
export function parsePacketString(text: string): PacketSpec {
  const t = text.trim().split(/\s+/);
  const bad = (msg: string, token?: string): never => {
    throw new NfemuError('PARSE', `packet "${text}": ${msg}`, { token });
  };
  if (t.length < 4 || t[2] !== '->') bad('expected "PROTO SRC[:PORT] -> DST[:PORT] …"');
  const spec: PacketSpec = { proto: t[0]!, src: '', dst: '' };
  const endpoint = (s: string): [string, number | undefined] => {
    const m6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(s);
    if (m6) return [m6[1]!, m6[2] !== undefined ? Number(m6[2]) : undefined];
    const colons = s.split(':').length - 1;
    if (colons === 1) {
      const [a, port] = s.split(':');
      if (!/^\d+$/.test(port!)) bad(`bad port in "${s}"`, s);
      return [a!, Number(port)];
    }
    return [s, undefined];
  };
  const [src, sport] = endpoint(t[1]!);
  const [dst, dport] = endpoint(t[3]!);
  spec.src = src;
  spec.dst = dst;
  if (sport !== undefined) spec.sport = sport;
  if (dport !== undefined) spec.dport = dport;
  for (let i = 4; i < t.length; i++) {
    const k = t[i]!;
    if (/^\[[A-Za-z,|]*\]$/.test(k)) {
      spec.tcp_flags = k.slice(1, -1);
      continue;
    }
    const v = t[i + 1];
    if (v === undefined) bad(`"${k}" needs a value`, k);
    i++;
    switch (k) {
      case 'in': spec.in_iface = v; break;
      case 'out': spec.out_iface = v; break;
      case 'uid': spec.uid = Number(v); break;
      case 'gid': spec.gid = Number(v); break;
      case 'mark': spec.mark = v!; break;
      case 'ttl': spec.ttl = Number(v); break;
      case 'flags': spec.tcp_flags = v; break;
      case 'type': spec.icmp_type = Number(v); break;
      case 'code': spec.icmp_code = Number(v); break;
      case 'id': spec.icmp_id = Number(v); break;
      default: bad(`unknown word "${k}"`, k);
    }
  }
  spec.hook = spec.in_iface !== undefined ? 'PREROUTING' : 'OUTPUT';
  return spec;
}
