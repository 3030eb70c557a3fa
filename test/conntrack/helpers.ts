/** Shared helpers for the conntrack tests (not a test file itself). */
import { SimulatedClock, SeededRng, parseIp, type Rng } from '../../src/core/index.ts';
import { NF_INET_PRE_ROUTING, NF_ACCEPT } from '../../src/netfilter/index.ts';
import { buildPacket, type Packet, type PacketSpec } from '../../src/packet/index.ts';
import { ConntrackTable, makeTuple, type Conn, type ConntrackOptions, type Tuple } from '../../src/conntrack/index.ts';

export function words(addr: string): Uint32Array {
  const ip = parseIp(addr);
  if (ip === null) throw new Error(`bad address ${addr}`);
  return Uint32Array.from(ip.w);
}

export function table(opts: ConntrackOptions = {}, rng: Rng = new SeededRng(1)): { ct: ConntrackTable; clock: SimulatedClock } {
  const clock = new SimulatedClock(1_000_000);
  return { ct: new ConntrackTable(clock, rng, opts), clock };
}

/** `tcp 10.0.0.1:1000 > 10.0.0.2:80 SYN` style builder. */
export function tcp(src: string, sport: number, dst: string, dport: number, flags: string, extra: Partial<PacketSpec> = {}): Packet {
  return buildPacket({ proto: 'tcp', src, sport, dst, dport, tcp_flags: flags, ...extra });
}
export function udp(src: string, sport: number, dst: string, dport: number, extra: Partial<PacketSpec> = {}): Packet {
  return buildPacket({ proto: 'udp', src, sport, dst, dport, ...extra });
}
export function icmp(src: string, dst: string, type: number, code: number, id: number, extra: Partial<PacketSpec> = {}): Packet {
  return buildPacket({ proto: src.includes(':') ? 'icmpv6' : 'icmp', src, dst, icmp_type: type, icmp_code: code, icmp_id: id, ...extra });
}

/**
 * The packet passes through a forwarding host: conntrack in at PRE_ROUTING, confirm at
 * POST_ROUTING (no NAT). Returns the in() verdict if it was not ACCEPT, else confirm's.
 */
export function forward(ct: ConntrackTable, p: Packet, quoted?: Tuple): number {
  const v = ct.in(p, NF_INET_PRE_ROUTING, quoted);
  if (v !== NF_ACCEPT) return v;
  return ct.confirm(p);
}

export function tuple(proto: number, src: string, sport: number, dst: string, dport: number): Tuple {
  const s = parseIp(src)!;
  return makeTuple(s.family, proto, s.w, sport, words(dst), dport);
}

export function conn(p: Packet): Conn {
  if (p.ct === null) throw new Error('packet has no conntrack entry');
  return p.ct as Conn;
}
