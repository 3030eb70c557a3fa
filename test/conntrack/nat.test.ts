/**
 * NAT bindings against nf_nat_core.c / nf_nat_proto.c (Linux 6.18): DNAT and un-DNAT,
 * SNAT/MASQUERADE port choice (kept when free, nf_nat_l4proto_unique_tuple when taken, with
 * the offsets drawn from the Rng), RANDOM_FULLY, find_appropriate_src, find_best_ips_proto,
 * null bindings, nf_nat_used_tuple_harder, ICMP id and ICMP error translation.
 *
 * Expected ports are worked out by hand from the kernel's formula `min + off % range_size`
 * with `off` the low 16 bits of the scripted random word; expected addresses of
 * find_best_ips_proto come from an independent C implementation of the kernel function run
 * on a little-endian host (the vectors below).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ScriptedRng, SeededRng, parseIp, formatWords, IPPROTO_TCP, IPPROTO_UDP, type Family } from '../../src/core/index.ts';
import {
  IP_CT_ESTABLISHED_REPLY, IP_CT_RELATED_REPLY, IPS_DST_NAT_DONE, IPS_SRC_NAT, NF_ACCEPT, NF_DROP,
  NF_INET_LOCAL_OUT, NF_INET_POST_ROUTING, NF_INET_PRE_ROUTING, STATUS_NAMES,
} from '../../src/netfilter/index.ts';
import type { Packet } from '../../src/packet/index.ts';
import {
  findBestIpsProto, makeNatRange, makeTuple, NF_NAT_MANIP_DST, NF_NAT_MANIP_SRC, NF_NAT_RANGE_MAP_IPS, NF_NAT_RANGE_PERSISTENT,
  NF_NAT_RANGE_PROTO_RANDOM, NF_NAT_RANGE_PROTO_RANDOM_FULLY, NF_NAT_RANGE_PROTO_SPECIFIED, tcpStateName, type ConntrackTable,
  type NatRange,
} from '../../src/conntrack/index.ts';
import { conn, icmp, table, tcp, tuple, udp, words } from './helpers.ts';

const PUB = '203.0.113.7';
const SRV = '198.51.100.5';
const masq = (ip = PUB, flags = 0): NatRange => makeNatRange(NF_NAT_RANGE_MAP_IPS | flags, words(ip), words(ip));

/** Forward through a NAT router: conntrack, DNAT hook (dnat or null binding), SNAT hook (snat or null binding), confirm. */
function route(ct: ConntrackTable, p: Packet, snat: NatRange | null = null, dnat: NatRange | null = null, quoted?: Parameters<ConntrackTable['in']>[2]): number {
  let v = ct.in(p, NF_INET_PRE_ROUTING, quoted);
  if (v !== NF_ACCEPT) return v;
  natHook(ct, p, NF_INET_PRE_ROUTING, NF_NAT_MANIP_DST, dnat, quoted);
  natHook(ct, p, NF_INET_POST_ROUTING, NF_NAT_MANIP_SRC, snat, quoted);
  v = ct.confirm(p);
  return v;
}

function natHook(ct: ConntrackTable, p: Packet, hook: number, manip: number, range: NatRange | null, quoted?: Parameters<ConntrackTable['in']>[2]): void {
  if (p.ct === null) return;
  const c = conn(p);
  if (p.ctinfo === 2 && !ct.natInitialized(c, manip)) {
    if (range !== null) assert.is(ct.setupNat(c, range, manip), NF_ACCEPT);
    else assert.is(ct.allocNullBinding(c, manip, hook), NF_ACCEPT);
  }
  ct.natPacket(p, hook, quoted);
}

const addr = (p: Packet, which: 'saddr' | 'daddr') => formatWords(p.family, p[which]);
const statusNames = (s: number) => STATUS_NAMES.filter((_, i) => s & (1 << i));

test('DNAT: the packet goes to the backend, the reply comes back from the service address', () => {
  const { ct } = table();
  const vip = '10.96.0.10', be = '10.244.1.5';
  const p = tcp('10.0.0.2', 40000, vip, 80, 'SYN');
  assert.is(route(ct, p, null, makeNatRange(NF_NAT_RANGE_MAP_IPS | NF_NAT_RANGE_PROTO_SPECIFIED, words(be), words(be), 8080, 8080)), NF_ACCEPT);
  assert.is(addr(p, 'daddr'), be);
  assert.is(p.dport, 8080);
  assert.is(addr(p, 'saddr'), '10.0.0.2');
  const c = conn(p);
  // As the kernel answers show: ct_status DST_NAT,SRC_NAT_DONE,DST_NAT_DONE (plus CONFIRMED once confirmed).
  assert.equal(statusNames(c.status), ['CONFIRMED', 'DST_NAT', 'SRC_NAT_DONE', 'DST_NAT_DONE']);
  assert.is(formatWords(4, c.reply.src), be);
  assert.is(c.reply.sport, 8080);
  const r = tcp(be, 8080, '10.0.0.2', 40000, 'SYN,ACK');
  route(ct, r);
  assert.is(r.ct, c);
  assert.is(r.ctinfo, IP_CT_ESTABLISHED_REPLY);
  assert.is(addr(r, 'saddr'), vip, 'un-DNAT at POST_ROUTING');
  assert.is(r.sport, 80);
  assert.is(addr(r, 'daddr'), '10.0.0.2');
  const second = tcp('10.0.0.2', 40000, vip, 80, 'ACK');
  route(ct, second, null, makeNatRange(NF_NAT_RANGE_MAP_IPS, words('10.9.9.9'), words('10.9.9.9')));
  assert.is(addr(second, 'daddr'), be, 'later packets reuse the binding; the nat table is not consulted');
});

test('MASQUERADE keeps the source port when the tuple is free', () => {
  const { ct } = table();
  const p = tcp('192.168.1.10', 40000, SRV, 443, 'SYN');
  route(ct, p, masq());
  assert.is(addr(p, 'saddr'), PUB);
  assert.is(p.sport, 40000);
  assert.ok(conn(p).status & IPS_SRC_NAT);
  const r = tcp(SRV, 443, PUB, 40000, 'SYN,ACK');
  route(ct, r);
  assert.is(addr(r, 'daddr'), '192.168.1.10', 'un-SNAT at PRE_ROUTING');
  assert.is(r.dport, 40000);
});

test('MASQUERADE on a clash: the port is min + off % range_size with off from the Rng (1024..65535 for ports ≥ 1024)', () => {
  const rng = new ScriptedRng([0x12345]);
  const { ct } = table({}, rng);
  route(ct, tcp('192.168.1.10', 40000, SRV, 443, 'SYN'), masq());
  const p = tcp('192.168.1.11', 40000, SRV, 443, 'SYN');
  route(ct, p, masq());
  // off = 0x2345 = 9029; 1024 + 9029 % 64512 = 10053
  assert.is(p.sport, 10053);
  assert.is(addr(p, 'saddr'), PUB);
  assert.ok(ct.stats.found >= 1, 'the clash was found (nf_conntrack_tuple_taken)');
  const r = tcp(SRV, 443, PUB, 10053, 'SYN,ACK');
  route(ct, r);
  assert.is(addr(r, 'daddr'), '192.168.1.11');
  assert.is(r.dport, 40000);
});

test('MASQUERADE on a clash: taken candidates are skipped (off++), low ports stay in their class', () => {
  // Port 1029 is already used on the public side by a connection of the router itself.
  const rng = new ScriptedRng([5, 30, 7]);
  const { ct } = table({}, rng);
  const local = tcp(PUB, 1029, SRV, 443, 'SYN');
  ct.in(local, NF_INET_LOCAL_OUT);
  ct.allocNullBinding(conn(local), NF_NAT_MANIP_DST, NF_INET_LOCAL_OUT);
  natHook(ct, local, NF_INET_POST_ROUTING, NF_NAT_MANIP_SRC, null);
  ct.confirm(local);
  assert.is(local.sport, 1029);
  route(ct, tcp('192.168.1.10', 40000, SRV, 443, 'SYN'), masq());
  const p = tcp('192.168.1.11', 40000, SRV, 443, 'SYN');
  route(ct, p, masq());
  // off = 5: 1024 + 5 = 1029 is taken, next 1030.
  assert.is(p.sport, 1030);
  // A privileged source port (600..1023 class): off = 30 -> 600 + 30.
  route(ct, tcp('192.168.1.10', 700, SRV, 443, 'SYN'), masq());
  const q = tcp('192.168.1.11', 700, SRV, 443, 'SYN');
  route(ct, q, masq());
  assert.is(q.sport, 630);
  // Below 512 (1..511 class): off = 7 -> 1 + 7.
  route(ct, tcp('192.168.1.10', 100, SRV, 443, 'SYN'), masq());
  const s = tcp('192.168.1.11', 100, SRV, 443, 'SYN');
  route(ct, s, masq());
  assert.is(s.sport, 8);
});

test('--random-fully draws a port even when the original is free; --to-source ports pick inside the range', () => {
  const { ct } = table({}, new ScriptedRng([100, 7, 3]));
  const p = tcp('192.168.1.10', 40000, SRV, 443, 'SYN');
  route(ct, p, masq(PUB, NF_NAT_RANGE_PROTO_RANDOM_FULLY));
  assert.is(p.sport, 1124, '1024 + 100');
  const q = udp('192.168.1.10', 40000, SRV, 53);
  route(ct, q, makeNatRange(NF_NAT_RANGE_MAP_IPS | NF_NAT_RANGE_PROTO_SPECIFIED, words(PUB), words(PUB), 5000, 5009));
  assert.is(q.sport, 5007, 'not in 5000-5009: 5000 + 7 % 10');
  const r = udp('192.168.1.10', 5003, SRV, 53);
  route(ct, r, makeNatRange(NF_NAT_RANGE_MAP_IPS | NF_NAT_RANGE_PROTO_SPECIFIED, words(PUB), words(PUB), 5000, 5009));
  assert.is(r.sport, 5003, 'already in range and free: kept');
  const s = udp('192.168.1.10', 5004, SRV, 53);
  route(ct, s, masq(PUB, NF_NAT_RANGE_PROTO_RANDOM));
  assert.is(s.sport, 1024 + 3, '--random: the port is drawn too');
});

test('the same source keeps its mapping (find_appropriate_src), whatever the hash would pick', () => {
  const { ct } = table();
  const range = makeNatRange(NF_NAT_RANGE_MAP_IPS, words('203.0.113.1'), words('203.0.113.10'));
  const p = tcp('192.168.1.10', 40000, '198.51.100.5', 443, 'SYN');
  route(ct, p, range);
  assert.is(addr(p, 'saddr'), '203.0.113.9', 'find_best_ips_proto (C oracle vector)');
  const q = tcp('192.168.1.10', 40000, '198.51.100.6', 443, 'SYN');
  route(ct, q, range);
  // Hashing alone would give 203.0.113.10 for this destination (C oracle); the existing mapping wins.
  assert.is(addr(q, 'saddr'), '203.0.113.9');
  assert.is(q.sport, 40000);
  const r = tcp('192.168.1.10', 40001, '198.51.100.6', 443, 'SYN');
  route(ct, r, range);
  assert.is(addr(r, 'saddr'), '203.0.113.10', 'another source port: no mapping to reuse, the hash decides');
});

/** [family, src, dst, min, max, persistent, zone, manip, expected] from the C oracle. */
const FIND_BEST_VECTORS: [Family, string, string, string, string, number, number, number, string][] = [
  [4, '192.168.1.10', '198.51.100.5', '203.0.113.1', '203.0.113.10', 0, 0, 0, '203.0.113.9'],
  [4, '192.168.1.10', '198.51.100.6', '203.0.113.1', '203.0.113.10', 0, 0, 0, '203.0.113.10'],
  [4, '192.168.1.10', '198.51.100.5', '203.0.113.1', '203.0.113.10', 1, 0, 0, '203.0.113.10'],
  [4, '192.168.1.10', '198.51.100.5', '203.0.113.1', '203.0.113.10', 0, 7, 0, '203.0.113.7'],
  [4, '192.168.1.10', '198.51.100.5', '10.0.0.0', '10.0.255.255', 0, 0, 0, '10.0.216.215'],
  [4, '192.168.1.10', '10.96.0.10', '10.244.1.2', '10.244.1.4', 0, 0, 1, '10.244.1.4'],
  [4, '192.168.1.11', '198.51.100.5', '203.0.113.1', '203.0.113.10', 0, 0, 0, '203.0.113.3'],
  [4, '192.168.1.11', '198.51.100.6', '203.0.113.1', '203.0.113.10', 0, 0, 0, '203.0.113.10'],
  [4, '192.168.1.11', '198.51.100.5', '203.0.113.1', '203.0.113.10', 1, 0, 0, '203.0.113.10'],
  [4, '192.168.1.11', '198.51.100.5', '203.0.113.1', '203.0.113.10', 0, 7, 0, '203.0.113.1'],
  [4, '192.168.1.11', '198.51.100.5', '10.0.0.0', '10.0.255.255', 0, 0, 0, '10.0.65.54'],
  [4, '192.168.1.11', '10.96.0.10', '10.244.1.2', '10.244.1.4', 0, 0, 1, '10.244.1.3'],
  [4, '10.244.1.5', '198.51.100.5', '203.0.113.1', '203.0.113.10', 0, 0, 0, '203.0.113.5'],
  [4, '10.244.1.5', '198.51.100.6', '203.0.113.1', '203.0.113.10', 0, 0, 0, '203.0.113.9'],
  [4, '10.244.1.5', '198.51.100.5', '203.0.113.1', '203.0.113.10', 1, 0, 0, '203.0.113.10'],
  [4, '10.244.1.5', '198.51.100.5', '203.0.113.1', '203.0.113.10', 0, 7, 0, '203.0.113.9'],
  [4, '10.244.1.5', '198.51.100.5', '10.0.0.0', '10.0.255.255', 0, 0, 0, '10.0.117.72'],
  [4, '10.244.1.5', '10.96.0.10', '10.244.1.2', '10.244.1.4', 0, 0, 1, '10.244.1.4'],
  [4, '172.16.0.99', '198.51.100.5', '203.0.113.1', '203.0.113.10', 0, 0, 0, '203.0.113.1'],
  [4, '172.16.0.99', '198.51.100.6', '203.0.113.1', '203.0.113.10', 0, 0, 0, '203.0.113.10'],
  [4, '172.16.0.99', '198.51.100.5', '203.0.113.1', '203.0.113.10', 1, 0, 0, '203.0.113.8'],
  [4, '172.16.0.99', '198.51.100.5', '203.0.113.1', '203.0.113.10', 0, 7, 0, '203.0.113.2'],
  [4, '172.16.0.99', '198.51.100.5', '10.0.0.0', '10.0.255.255', 0, 0, 0, '10.0.15.186'],
  [4, '172.16.0.99', '10.96.0.10', '10.244.1.2', '10.244.1.4', 0, 0, 1, '10.244.1.4'],
  [6, '2001:db8::10', '2001:db8:1::5', '2001:db8:ffff::1', '2001:db8:ffff::20', 0, 0, 0, '2001:db8:ffff::4'],
  [6, '2001:db8::11', '2001:db8:1::5', '2001:db8:ffff::1', '2001:db8:ffff::20', 0, 0, 0, '2001:db8:ffff::15'],
  [6, '2001:db8::10', '2001:db8:1::5', '2001:db8:ffff::1', '2001:db8:ffff:1::20', 0, 0, 0, '2001:db8:ffff:0:1dd2:88d9:1dd2:88d9'],
  [6, '2001:db8::10', 'fd00::1', 'fd00:1::1', 'fd00:1::9', 0, 0, 1, 'fd00:1::4'],
  [6, '2001:db8::10', '2001:db8:1::5', '2001:db8:ffff::1', '2001:db8:ffff::20', 1, 0, 0, '2001:db8:ffff::f'],
];

test('find_best_ips_proto picks the address the kernel picks (jhash2 + reciprocal_scale; C oracle vectors)', () => {
  for (const [fam, src, dst, min, max, persistent, zone, manip, expected] of FIND_BEST_VECTORS) {
    const t = makeTuple(fam, IPPROTO_TCP, parseIp(src)!.w, 1000, parseIp(dst)!.w, 80);
    const range = makeNatRange(NF_NAT_RANGE_MAP_IPS | (persistent ? NF_NAT_RANGE_PERSISTENT : 0), parseIp(min)!.w, parseIp(max)!.w);
    findBestIpsProto(zone, t, range, manip);
    const got = formatWords(fam, manip === NF_NAT_MANIP_SRC ? t.src : t.dst);
    assert.is(got, expected, `${src} -> ${dst} in ${min}-${max}${persistent ? ' persistent' : ''} zone ${zone} ${manip ? 'DST' : 'SRC'}`);
  }
});

test('DNAT to an address range in a zone uses the zone in the hash', () => {
  const { ct } = table();
  const p = tcp('192.168.1.11', 1000, '10.96.0.10', 80, 'SYN');
  route(ct, p, null, makeNatRange(NF_NAT_RANGE_MAP_IPS, words('10.244.1.2'), words('10.244.1.4')));
  assert.is(addr(p, 'daddr'), '10.244.1.3', 'C oracle vector');
  const q = tcp('192.168.1.10', 40000, '198.51.100.5', 443, 'SYN');
  q.ctZone = 7;
  route(ct, q, makeNatRange(NF_NAT_RANGE_MAP_IPS, words('203.0.113.1'), words('203.0.113.10')));
  assert.is(addr(q, 'saddr'), '203.0.113.7', 'zone 7 (C oracle vector)');
});

test('null binding: the router\'s own connection that clashes with a NATed one gets a new source port', () => {
  const { ct } = table({}, new ScriptedRng([42]));
  const n = PUB;
  route(ct, tcp('192.168.1.10', 40000, SRV, 80, 'SYN'), masq(n));
  const p = tcp(n, 40000, SRV, 80, 'SYN');
  assert.is(ct.in(p, NF_INET_LOCAL_OUT), NF_ACCEPT);
  natHook(ct, p, NF_INET_LOCAL_OUT, NF_NAT_MANIP_DST, null);
  natHook(ct, p, NF_INET_POST_ROUTING, NF_NAT_MANIP_SRC, null);
  assert.is(ct.confirm(p), NF_ACCEPT);
  assert.is(p.sport, 1024 + 42, 'nf_nat_used_tuple_new: the reply tuple is taken, so the port moves');
  assert.ok(conn(p).status & IPS_SRC_NAT);
  const q = tcp(n, 40001, SRV, 80, 'SYN');
  ct.in(q, NF_INET_LOCAL_OUT);
  natHook(ct, q, NF_INET_LOCAL_OUT, NF_NAT_MANIP_DST, null);
  natHook(ct, q, NF_INET_POST_ROUTING, NF_NAT_MANIP_SRC, null);
  assert.is(q.sport, 40001, 'no clash: unchanged');
  assert.equal(statusNames(conn(q).status), ['SRC_NAT_DONE', 'DST_NAT_DONE']);
});

test('SNAT to a single port: a TIME_WAIT SNATed entry is evicted in the last attempts (nf_nat_used_tuple_harder); an ESTABLISHED one is not', () => {
  const { ct } = table();
  const one = makeNatRange(NF_NAT_RANGE_MAP_IPS | NF_NAT_RANGE_PROTO_SPECIFIED, words(PUB), words(PUB), 5000, 5000);
  const a = '192.168.1.10';
  const seq: [boolean, string][] = [[true, 'SYN'], [false, 'SYN,ACK'], [true, 'ACK'], [true, 'FIN,ACK'], [false, 'FIN,ACK'], [true, 'ACK']];
  let first = null as ReturnType<typeof conn> | null;
  for (const [o, f] of seq) {
    const p = o ? tcp(a, 40000, SRV, 80, f) : tcp(SRV, 80, PUB, 5000, f);
    route(ct, p, one);
    first ??= conn(p);
  }
  assert.is(tcpStateName(first!.tcpState), 'TIME_WAIT');
  const p = tcp('192.168.1.11', 40000, SRV, 80, 'SYN');
  assert.is(route(ct, p, one), NF_ACCEPT);
  assert.is(p.sport, 5000);
  assert.is(ct.connById(first!.id), null, 'the TIME_WAIT entry was killed');
  // Now the port is held by an entry in SYN_SENT: the third client cannot get it.
  const q = tcp('192.168.1.12', 40000, SRV, 80, 'SYN');
  assert.is(route(ct, q, one), NF_DROP, 'no free tuple: the clash drops the packet at confirm');
  assert.is(ct.stats.insertFailed, 1);
});

test('DNAT onto a tuple already in use: the null SNAT binding at POST_ROUTING moves the source port', () => {
  const { ct } = table({}, new ScriptedRng([77]));
  const be = makeNatRange(NF_NAT_RANGE_MAP_IPS | NF_NAT_RANGE_PROTO_SPECIFIED, words('10.244.1.5'), words('10.244.1.5'), 8080, 8080);
  // The client talks to the backend directly, and through the service, from the same port.
  route(ct, tcp('10.0.0.2', 40000, '10.244.1.5', 8080, 'SYN'));
  const p = tcp('10.0.0.2', 40000, '10.96.0.10', 80, 'SYN');
  assert.is(route(ct, p, null, be), NF_ACCEPT);
  assert.is(addr(p, 'daddr'), '10.244.1.5');
  assert.is(p.sport, 1024 + 77, 'the reply tuple would clash, so the source port is rewritten');
  assert.equal(statusNames(conn(p).status), ['CONFIRMED', 'SRC_NAT', 'DST_NAT', 'SRC_NAT_DONE', 'DST_NAT_DONE']);
  // With an explicit single-port SNAT there is no way out: confirm drops it.
  const q = tcp('10.0.0.3', 40000, '10.96.0.10', 80, 'SYN');
  const pin = makeNatRange(NF_NAT_RANGE_MAP_IPS | NF_NAT_RANGE_PROTO_SPECIFIED, words('10.0.0.2'), words('10.0.0.2'), 40000, 40000);
  assert.is(route(ct, q, pin, be), NF_DROP);
  assert.is(ct.stats.insertFailed, 1);
});

test('second binding of the same type is refused; a confirmed entry is left alone', () => {
  const { ct } = table();
  const p = tcp('10.0.0.2', 40000, SRV, 80, 'SYN');
  ct.in(p, NF_INET_PRE_ROUTING);
  const c = conn(p);
  assert.is(ct.setupNat(c, masq(), NF_NAT_MANIP_SRC), NF_ACCEPT);
  assert.ok(ct.natInitialized(c, NF_NAT_MANIP_SRC));
  assert.not.ok(ct.natInitialized(c, NF_NAT_MANIP_DST));
  assert.is(ct.setupNat(c, masq('203.0.113.8'), NF_NAT_MANIP_SRC), NF_DROP);
  assert.is(ct.allocNullBinding(c, NF_NAT_MANIP_DST, NF_INET_PRE_ROUTING), NF_ACCEPT);
  ct.confirm(p);
  const before = formatWords(4, c.reply.dst);
  const d = makeNatRange(NF_NAT_RANGE_MAP_IPS, words('10.1.1.1'), words('10.1.1.1'));
  c.status &= ~IPS_DST_NAT_DONE;
  assert.is(ct.setupNat(c, d, NF_NAT_MANIP_DST), NF_ACCEPT);
  assert.is(formatWords(4, c.reply.dst), before, 'confirmed: no change');
  assert.throws(() => ct.allocNullBinding(c, NF_NAT_MANIP_SRC, NF_INET_PRE_ROUTING), /does not belong/);
});

test('ping through MASQUERADE: the id is kept when free, changed on a clash, restored on the reply', () => {
  const { ct } = table({}, new ScriptedRng([0xbeef]));
  const p = icmp('192.168.1.10', SRV, 8, 0, 1);
  route(ct, p, masq());
  assert.is(p.icmpId, 1);
  assert.is(addr(p, 'saddr'), PUB);
  const q = icmp('192.168.1.11', SRV, 8, 0, 1);
  route(ct, q, masq());
  assert.is(q.icmpId, 0xbeef, 'ICMP ids: min 0, range 65536, off from the Rng');
  const r = icmp(SRV, PUB, 0, 0, 0xbeef);
  route(ct, r);
  assert.is(r.ct, q.ct);
  assert.is(addr(r, 'daddr'), '192.168.1.11');
  assert.is(r.icmpId, 1);
});

test('ICMP error about a NATed flow: the outer destination and the quoted header are un-NATed', () => {
  const { ct } = table();
  const p = udp('192.168.1.10', 5000, SRV, 53);
  route(ct, p, masq());
  const quoted = tuple(IPPROTO_UDP, PUB, 5000, SRV, 53); // the datagram as the server saw it
  const err = icmp(SRV, PUB, 3, 3, 0);
  assert.is(route(ct, err, null, null, quoted), NF_ACCEPT);
  assert.is(err.ct, p.ct);
  assert.is(err.ctinfo, IP_CT_RELATED_REPLY);
  assert.is(addr(err, 'daddr'), '192.168.1.10');
  assert.is(formatWords(4, quoted.src), '192.168.1.10');
  assert.is(quoted.sport, 5000);
  assert.is(formatWords(4, quoted.dst), SRV);
  // DNAT'ed flow: an error from the backend has its source and the quoted destination restored.
  const q = tcp('10.0.0.2', 40000, '10.96.0.10', 80, 'SYN');
  route(ct, q, null, makeNatRange(NF_NAT_RANGE_MAP_IPS | NF_NAT_RANGE_PROTO_SPECIFIED, words('10.244.1.5'), words('10.244.1.5'), 8080, 8080));
  const inner = tuple(IPPROTO_TCP, '10.0.0.2', 40000, '10.244.1.5', 8080);
  const e2 = icmp('10.244.1.5', '10.0.0.2', 3, 10, 0);
  route(ct, e2, null, null, inner);
  assert.is(e2.ctinfo, IP_CT_RELATED_REPLY);
  assert.is(addr(e2, 'saddr'), '10.96.0.10');
  assert.is(formatWords(4, inner.dst), '10.96.0.10');
  assert.is(inner.dport, 80);
  // A redirect about a NATed connection is dropped by NAT.
  const redir = icmp('10.244.1.5', '10.0.0.2', 5, 1, 0);
  ct.in(redir, NF_INET_PRE_ROUTING, tuple(IPPROTO_TCP, '10.0.0.2', 40000, '10.244.1.5', 8080));
  assert.is(ct.natPacket(redir, NF_INET_PRE_ROUTING), NF_DROP);
});

test('a seeded Rng makes NAT choices reproducible', () => {
  const ports = (seed: number) => {
    const { ct } = table({}, new SeededRng(seed));
    const out: number[] = [];
    for (let i = 0; i < 5; i++) {
      const p = tcp(`192.168.1.${10 + i}`, 40000, SRV, 443, 'SYN');
      route(ct, p, masq(PUB, NF_NAT_RANGE_PROTO_RANDOM_FULLY));
      out.push(p.sport);
    }
    return out;
  };
  assert.equal(ports(9), ports(9));
  assert.not.equal(ports(9), ports(10));
});

test.run();
