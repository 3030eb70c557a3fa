import { formatWords, protoShort, IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP } from '../core/index.ts';
import { Packet, TCP_FLAG_NAMES } from './packet.ts';

/** `FIN,SYN,…` in the kernel's bit order; '' when none. */
export function formatTcpFlags(flags: number): string {
  const names: string[] = [];
  for (const [name, bit] of TCP_FLAG_NAMES) if (flags & bit) names.push(name);
  return names.join(',');
}

export function formatMark(mark: number): string {
  return '0x' + (mark >>> 0).toString(16);
}

/** The address and port of one end, `[v6]:port` for IPv6. */
export function formatEndpoint(family: 4 | 6, w: Uint32Array, port: number | null): string {
  const a = formatWords(family, w);
  if (port === null) return a;
  return family === 6 ? `[${a}]:${port}` : `${a}:${port}`;
}

/** One line: `tcp 10.0.0.2:40000 -> 172.30.0.41:80 [SYN] in eth0 mark 0x4000`. */
export function formatPacket(p: Packet): string {
  const isIcmp = p.proto === IPPROTO_ICMP || p.proto === IPPROTO_ICMPV6;
  const ports = !isIcmp && (p.sport !== 0 || p.dport !== 0);
  let s = `${protoShort(p.proto)} ${formatEndpoint(p.family, p.saddr, ports ? p.sport : null)} -> ${formatEndpoint(p.family, p.daddr, ports ? p.dport : null)}`;
  if (p.proto === IPPROTO_TCP && p.tcpFlags) s += ` [${formatTcpFlags(p.tcpFlags)}]`;
  if (isIcmp) s += ` type ${p.icmpType} code ${p.icmpCode}${p.icmpId ? ` id ${p.icmpId}` : ''}`;
  if (p.inIface) s += ` in ${p.inIface}`;
  if (p.outIface) s += ` out ${p.outIface}`;
  if (p.mark) s += ` mark ${formatMark(p.mark)}`;
  return s;
}
