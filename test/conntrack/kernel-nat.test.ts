/**
 * Differential test against the running kernel (skipped unless root with the kernel
 * runner's tools, see src/verify/kernel): first packets through SNAT and DNAT to address
 * ranges, a source reusing its mapping, and port rewrites forced by clashes, in a scratch
 * namespace. The kernel's choice of address is a hash, so ours must be identical; its choice
 * of a new port is random, so ours must agree on whether the port changed and on the port
 * class (1-511, 600-1023, 1024-65535).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { formatWords, SeededRng } from '../../src/core/index.ts';
import { NF_ACCEPT, NF_INET_POST_ROUTING, NF_INET_PRE_ROUTING, IP_CT_NEW } from '../../src/netfilter/index.ts';
import { buildPacket, type PacketSpec } from '../../src/packet/index.ts';
import {
  makeNatRange, NF_NAT_MANIP_DST, NF_NAT_MANIP_SRC, NF_NAT_RANGE_MAP_IPS, NF_NAT_RANGE_PROTO_SPECIFIED, type Conn, type NatRange,
} from '../../src/conntrack/index.ts';
import { kernelAvailable, runCaseInKernel } from '../../src/verify/kernel/index.ts';
import { table, words } from './helpers.ts';

const RULES = `*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A PREROUTING -d 10.96.0.10/32 -p tcp --dport 80 -j DNAT --to-destination 10.244.1.2-10.244.1.4
-A PREROUTING -d 10.96.0.11/32 -p tcp -j DNAT --to-destination 10.244.1.5:8080
-A POSTROUTING -o eth1 -p tcp -j SNAT --to-source 203.0.113.1-203.0.113.10
-A POSTROUTING -o eth1 -p udp -j MASQUERADE
COMMIT
`;

const pkt = (iface: string, proto: string, src: string, sport: number, dst: string, dport: number): PacketSpec & { hook: 'PREROUTING' } =>
  ({ hook: 'PREROUTING', in_iface: iface, proto, src, sport, dst, dport, ...(proto === 'tcp' ? { tcp_flags: 'SYN' } : {}) });

const PACKETS = [
  pkt('eth0', 'tcp', '192.168.1.10', 40000, '198.51.100.5', 443),
  pkt('eth0', 'tcp', '192.168.1.10', 40001, '198.51.100.6', 443),
  pkt('eth0', 'tcp', '192.168.1.10', 40000, '198.51.100.6', 443), // same source: same mapping
  pkt('eth0', 'tcp', '192.168.1.11', 40000, '198.51.100.5', 443),
  pkt('eth0', 'tcp', '172.16.0.99', 3333, '198.51.100.5', 443),
  pkt('eth0', 'tcp', '192.168.1.11', 1000, '10.96.0.10', 80),
  pkt('eth0', 'tcp', '192.168.1.10', 1000, '10.96.0.10', 80),
  pkt('eth0', 'tcp', '192.168.1.12', 40000, '10.244.1.5', 8080), // direct to the backend
  pkt('eth0', 'tcp', '192.168.1.12', 40000, '10.96.0.11', 80), // through the service: clashes
  pkt('eth0', 'udp', '192.168.1.10', 5000, '198.51.100.5', 53),
  pkt('eth0', 'udp', '192.168.1.11', 5000, '198.51.100.5', 53), // MASQUERADE clash
  pkt('eth0', 'udp', '192.168.1.12', 700, '198.51.100.5', 53),
  pkt('eth0', 'udp', '192.168.1.13', 700, '198.51.100.5', 53), // clash, privileged class
];

const r = (ip: string) => words(ip);
const range = (lo: string, hi: string, p0 = 0, p1 = 0): NatRange =>
  makeNatRange(NF_NAT_RANGE_MAP_IPS | (p0 ? NF_NAT_RANGE_PROTO_SPECIFIED : 0), r(lo), r(hi), p0, p1);

/** Our side of the same rules. */
function dnatFor(spec: PacketSpec): NatRange | null {
  if (spec.proto !== 'tcp') return null;
  if (spec.dst === '10.96.0.10' && spec.dport === 80) return range('10.244.1.2', '10.244.1.4');
  if (spec.dst === '10.96.0.11') return range('10.244.1.5', '10.244.1.5', 8080, 8080);
  return null;
}
function snatFor(spec: PacketSpec, outIface: string): NatRange | null {
  if (outIface !== 'eth1') return null;
  return spec.proto === 'tcp' ? range('203.0.113.1', '203.0.113.10') : range('203.0.113.100', '203.0.113.100');
}

const portClass = (p: number) => (p < 512 ? 0 : p < 1024 ? 1 : 2);

test('NAT address choice and port rewrites agree with the running kernel', async () => {
  const avail = kernelAvailable();
  if (!avail.ok) {
    console.log(`  (skipped: ${avail.reason})`);
    return;
  }
  const answer = await runCaseInKernel({
    ruleset: RULES,
    interfaces: [{ name: 'eth0', addrs: ['192.168.1.1/24'] }, { name: 'eth1', addrs: ['203.0.113.100/24'] }, { name: 'eth2', addrs: ['10.244.1.1/24'] }],
    routes: ['default via 203.0.113.254 dev eth1', '172.16.0.0/16 dev eth0'],
    sysctls: { 'net.ipv4.ip_forward': 1, 'net.ipv4.conf.all.rp_filter': 0, 'net.ipv4.conf.eth0.rp_filter': 0 },
    packets: PACKETS,
  }, { log: () => {} });
  const { ct } = table({}, new SeededRng(3));
  PACKETS.forEach((spec, i) => {
    const k = answer.results[i]!.final!;
    const where = `${spec.proto} ${spec.src}:${spec.sport} -> ${spec.dst}:${spec.dport}`;
    assert.is(k.fate, 'forwarded', `${where}: the kernel forwarded it`);
    const p = buildPacket(spec);
    assert.is(ct.in(p, NF_INET_PRE_ROUTING), NF_ACCEPT);
    const c = p.ct as Conn;
    assert.is(p.ctinfo, IP_CT_NEW);
    const d = dnatFor(spec);
    if (d) ct.setupNat(c, d, NF_NAT_MANIP_DST);
    else ct.allocNullBinding(c, NF_NAT_MANIP_DST, NF_INET_PRE_ROUTING);
    ct.natPacket(p, NF_INET_PRE_ROUTING);
    const s = snatFor(spec, k.out_iface ?? '');
    if (s) ct.setupNat(c, s, NF_NAT_MANIP_SRC);
    else ct.allocNullBinding(c, NF_NAT_MANIP_SRC, NF_INET_POST_ROUTING);
    ct.natPacket(p, NF_INET_POST_ROUTING);
    assert.is(ct.confirm(p), NF_ACCEPT, where);
    assert.is(formatWords(4, p.saddr), k.src, `${where}: source address`);
    assert.is(formatWords(4, p.daddr), k.dst, `${where}: destination address`);
    assert.is(p.dport, k.dport, `${where}: destination port`);
    const kernelMoved = k.sport !== spec.sport;
    assert.is(p.sport !== spec.sport, kernelMoved, `${where}: source port ${kernelMoved ? 'rewritten' : 'kept'} (kernel ${k.sport}, ours ${p.sport})`);
    if (kernelMoved) assert.is(portClass(p.sport), portClass(k.sport!), `${where}: port class`);
  });
});

test.run();
