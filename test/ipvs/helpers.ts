/** Shared helpers for the IPVS tests: an engine on a simulated clock, packets, a fake host view. */
import { SimulatedClock, parseIp } from '../../src/core/index.ts';
import { buildPacket, type Packet, type PacketSpec } from '../../src/packet/index.ts';
import { NF_INET_LOCAL_IN } from '../../src/netfilter/index.ts';
import { RTN_LOCAL, RTN_UNICAST } from '../../src/xtables/index.ts';
import { Ipvs, restoreIpvs, type IpvsEnv, type VirtualService } from '../../src/ipvs/index.ts';

export function engine(text: string): { ipvs: Ipvs; clock: SimulatedClock } {
  const clock = new SimulatedClock(0);
  const ipvs = new Ipvs({ clock });
  restoreIpvs(ipvs, text, 'test');
  return { ipvs, clock };
}

/** The only (or the first) service of an engine. */
export function svcOf(ipvs: Ipvs, i = 0): VirtualService {
  return ipvs.serviceList()[i]!;
}

export function words(ip: string): Uint32Array {
  return parseIp(ip)!.w;
}

/** An environment whose local addresses are `locals`, with no conntrack; emitted packets are collected. */
export function env(locals: string[] = []): IpvsEnv & { emitted: Packet[] } {
  const set = new Set(locals);
  const emitted: Packet[] = [];
  return {
    conntrack: null,
    host: { addrType: (f, w) => (set.has(f === 4 ? `${w[0]! >>> 24}.${(w[0]! >>> 16) & 255}.${(w[0]! >>> 8) & 255}.${w[0]! & 255}` : '') ? RTN_LOCAL : RTN_UNICAST) },
    emit: (p) => emitted.push(p),
    emitted,
  };
}

export function pkt(spec: Partial<PacketSpec> & { src: string; dst: string }): Packet {
  return buildPacket({ proto: 'tcp', sport: 40000, dport: 80, tcp_flags: 'SYN', in_iface: 'eth0', ...spec } as PacketSpec);
}

/** Sends a new connection's first packet through ip_vs_in_hook at LOCAL_IN; returns the real server it went to ('' if none). */
export function connect(ipvs: Ipvs, e: IpvsEnv, spec: Partial<PacketSpec> & { src: string; dst: string }): string {
  const p = pkt(spec);
  const before = `${p.daddr[0]}:${p.dport}`;
  ipvs.inHook(NF_INET_LOCAL_IN, p, e);
  const after = `${p.daddr[0]}:${p.dport}`;
  if (before === after) return '';
  const w = p.daddr[0]!;
  return `${w >>> 24}.${(w >>> 16) & 255}.${(w >>> 8) & 255}.${w & 255}:${p.dport}`;
}

/** The fast-check seed: FC_SEED, or one taken from the time (printed so a failure can be replayed). */
export function seed(name: string): number {
  const s = Number(process.env.FC_SEED ?? Date.now() % 2 ** 31);
  console.log(`  ${name}: fast-check seed ${s} (FC_SEED=${s} to replay)`);
  return s;
}
