/**
 * The connection table and the hook functions of ip_vs_core.c / ip_vs_conn.c /
 * ip_vs_proto_tcp.c, driven directly (no host): TCP states and their timeouts, active and
 * inactive counts, persistence templates and their timeout on the simulated clock,
 * thresholds (OVERLOAD), ip_vs_leave, conn_reuse_mode, expiry of deleted servers.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { NF_ACCEPT, NF_DROP, NF_INET_FORWARD, NF_INET_LOCAL_IN, NF_STOLEN } from '../../src/netfilter/index.ts';
import { IP_VS_DEST_F_OVERLOAD, IP_VS_TCP_S_ESTABLISHED, IP_VS_TCP_S_SYN_RECV, IP_VS_TCP_S_TIME_WAIT, printConnections } from '../../src/ipvs/index.ts';
import { connect, engine, env, pkt, svcOf } from './helpers.ts';

const RR2 = '-A -t 10.96.0.1:80 -s rr\n-a -t 10.96.0.1:80 -r 10.0.0.1:8080 -m\n-a -t 10.96.0.1:80 -r 10.0.0.2:8080 -m\n';
const C = '192.168.1.50';

test('a SYN is scheduled, DNATed to the real server and handed on (NF_STOLEN, next hop the server)', () => {
  const { ipvs } = engine(RR2);
  const p = pkt({ src: C, dst: '10.96.0.1' });
  assert.is(ipvs.inHook(NF_INET_LOCAL_IN, p, env()), NF_STOLEN);
  assert.equal([...p.daddr.subarray(0, 1)], [0x0a000002]);
  assert.is(p.dport, 8080);
  assert.equal([...ipvs.xmitNextHop.subarray(0, 1)], [0x0a000002]);
  // The same packet again is marked (skb->ipvs_property): IPVS leaves it alone.
  assert.is(ipvs.inHook(NF_INET_LOCAL_IN, p, env()), NF_ACCEPT);
});

test('TCP states follow tcp_states[] with their timeouts; the counters follow tcp_state_active', () => {
  const { ipvs, clock } = engine(RR2);
  const e = env();
  connect(ipvs, e, { src: C, dst: '10.96.0.1' });
  const [c] = ipvs.connections();
  const d = c!.dest!;
  // INPUT syn from NONE -> SYN_RECV (60 s), active.
  assert.is(c!.state, IP_VS_TCP_S_SYN_RECV);
  assert.is(c!.expiresAt, 60000);
  assert.equal([d.activeConns, d.inactConns], [1, 0]);
  // OUTPUT syn+ack (syn row) from SYN_RECV stays SYN_RECV; INPUT ack -> ESTABLISHED (900 s).
  ipvs.outHook(NF_INET_FORWARD, pkt({ src: '10.0.0.2', sport: 8080, dst: C, dport: 40000, tcp_flags: 'SYN,ACK' }), e);
  ipvs.inHook(NF_INET_LOCAL_IN, pkt({ src: C, dst: '10.96.0.1', tcp_flags: 'ACK' }), e);
  assert.is(c!.state, IP_VS_TCP_S_ESTABLISHED);
  assert.is(c!.expiresAt, 900000);
  // OUTPUT fin from ESTABLISHED -> FIN_WAIT (inactive, 120 s); INPUT fin from FIN_WAIT -> TIME_WAIT.
  clock.advanceSeconds(10);
  ipvs.outHook(NF_INET_FORWARD, pkt({ src: '10.0.0.2', sport: 8080, dst: C, dport: 40000, tcp_flags: 'FIN,ACK' }), e);
  assert.equal([d.activeConns, d.inactConns], [0, 1]);
  ipvs.inHook(NF_INET_LOCAL_IN, pkt({ src: C, dst: '10.96.0.1', tcp_flags: 'FIN,ACK' }), e);
  assert.is(c!.state, IP_VS_TCP_S_TIME_WAIT);
  assert.is(c!.expiresAt, 10000 + 120000);
  // Expires on the clock: gone, counters back to 0.
  clock.advanceSeconds(120);
  assert.is(ipvs.connections().length, 0);
  assert.equal([d.activeConns, d.inactConns], [0, 0]);
});

test('a reply from the real server is un-NATed to the VIP by ip_vs_out (MASQ)', () => {
  const { ipvs } = engine(RR2);
  const e = env();
  connect(ipvs, e, { src: C, dst: '10.96.0.1' });
  const r = pkt({ src: '10.0.0.2', sport: 8080, dst: C, dport: 40000, tcp_flags: 'SYN,ACK' });
  assert.is(ipvs.outHook(NF_INET_FORWARD, r, e), NF_ACCEPT);
  assert.equal([r.saddr[0], r.sport], [0x0a600001, 80]);
  // A packet of no connection is left alone.
  const x = pkt({ src: '10.0.0.9', sport: 8080, dst: C, dport: 40000, tcp_flags: 'ACK' });
  ipvs.outHook(NF_INET_FORWARD, x, e);
  assert.equal([x.saddr[0], x.sport], [0x0a000009, 8080]);
});

test('UDP connections are inactive and live 300 s from the last packet', () => {
  const { ipvs, clock } = engine('-A -u 10.96.0.10:53 -s rr\n-a -u 10.96.0.10:53 -r 10.0.0.5:53 -m\n');
  const e = env();
  connect(ipvs, e, { proto: 'udp', src: C, dst: '10.96.0.10', dport: 53 });
  const [c] = ipvs.connections();
  assert.equal([c!.dest!.activeConns, c!.dest!.inactConns], [0, 1]);
  clock.advanceSeconds(200);
  connect(ipvs, e, { proto: 'udp', src: C, dst: '10.96.0.10', dport: 53 });
  clock.advanceSeconds(299);
  assert.is(ipvs.connections().length, 1, 'refreshed at 200 s: alive at 499 s');
  clock.advanceSeconds(1);
  assert.is(ipvs.connections().length, 0, 'gone at 500 s');
});

test('persistence: one client stays on one server until the template times out (-p 300)', () => {
  const { ipvs, clock } = engine('-A -t 10.96.0.1:80 -s rr -p 300\n-a -t 10.96.0.1:80 -r 10.0.0.1:8080 -m\n-a -t 10.96.0.1:80 -r 10.0.0.2:8080 -m\n');
  const e = env();
  const first = connect(ipvs, e, { src: C, sport: 40000, dst: '10.96.0.1' });
  assert.is(first, '10.0.0.2:8080');
  assert.is(connect(ipvs, e, { src: '192.168.1.51', sport: 40000, dst: '10.96.0.1' }), '10.0.0.1:8080', 'another client: rr moves on');
  // The SYN_RECV connection expires at 60 s; the template (re-armed by each new connection) at +300 s.
  clock.advanceSeconds(100);
  assert.is(connect(ipvs, e, { src: C, sport: 40001, dst: '10.96.0.1' }), first, 'at 100 s: same server');
  clock.advanceSeconds(299); // 399 s: template expires at 400
  assert.is(connect(ipvs, e, { src: C, sport: 40002, dst: '10.96.0.1' }), first, 'at 399 s: same server');
  clock.advanceSeconds(301); // 700 s > 399 + 300
  assert.is(connect(ipvs, e, { src: C, sport: 40003, dst: '10.96.0.1' }), '10.0.0.2:8080', 'new template: rr pick (cursor was on .1)');
  const tpl = ipvs.connections().filter((c) => c.isTemplate);
  assert.is(tpl.length, 1);
  assert.is(tpl[0]!.dest!.persistConns, 1);
});

test('persistence: a template waits while it controls a live connection (60 s steps, ip_vs_conn_expire)', () => {
  const { ipvs, clock } = engine('-A -t 10.96.0.1:80 -s rr -p 30\n-a -t 10.96.0.1:80 -r 10.0.0.1:8080 -m\n-a -t 10.96.0.1:80 -r 10.0.0.2:8080 -m\n');
  const e = env();
  const first = connect(ipvs, e, { src: C, dst: '10.96.0.1' });
  ipvs.inHook(NF_INET_LOCAL_IN, pkt({ src: C, dst: '10.96.0.1', tcp_flags: 'ACK' }), e); // ESTABLISHED: 900 s
  clock.advanceSeconds(500);
  // The template fired at 30 s and every 60 s after: still there at 500 s.
  assert.is(ipvs.connections().filter((c) => c.isTemplate).length, 1);
  assert.is(connect(ipvs, e, { src: C, sport: 41000, dst: '10.96.0.1' }), first);
});

test('persistence netmask groups clients: -M 255.255.255.0', () => {
  const { ipvs } = engine('-A -t 10.96.0.1:80 -s rr -p 300 -M 255.255.255.0\n-a -t 10.96.0.1:80 -r 10.0.0.1:8080 -m\n-a -t 10.96.0.1:80 -r 10.0.0.2:8080 -m\n');
  const e = env();
  const a = connect(ipvs, e, { src: '192.168.1.50', dst: '10.96.0.1' });
  assert.is(connect(ipvs, e, { src: '192.168.1.99', dst: '10.96.0.1' }), a);
  assert.is.not(connect(ipvs, e, { src: '192.168.2.1', dst: '10.96.0.1' }), a);
});

test('no real servers: ICMP port unreachable from the VIP, and the packet is dropped (ip_vs_leave)', () => {
  const { ipvs } = engine('-A -t 10.96.0.1:80 -s rr\n');
  const e = env(['10.96.0.1']);
  const p = pkt({ src: C, dst: '10.96.0.1' });
  assert.is(ipvs.inHook(NF_INET_LOCAL_IN, p, e), NF_DROP);
  assert.is(e.emitted.length, 1);
  const icmp = e.emitted[0]!;
  assert.equal([icmp.proto, icmp.icmpType, icmp.icmpCode, icmp.saddr[0], icmp.daddr[0]], [1, 3, 3, 0x0a600001, 0xc0a80132]);
  assert.match(ipvs.lastReason, /ip_vs_leave/);
});

test('a TCP packet without SYN of no connection is not scheduled (passes to the local stack)', () => {
  const { ipvs } = engine(RR2);
  const p = pkt({ src: C, dst: '10.96.0.1', tcp_flags: 'ACK' });
  assert.is(ipvs.inHook(NF_INET_LOCAL_IN, p, env()), NF_ACCEPT);
  assert.is(p.daddr[0], 0x0a600001);
  assert.is(ipvs.connections().length, 0);
});

test('upper threshold sets OVERLOAD; it clears below 3/4 of it (no lower threshold)', () => {
  const { ipvs, clock } = engine('-A -u 10.96.0.1:53 -s rr\n-a -u 10.96.0.1:53 -r 10.0.0.1:53 -m -x 2\n-a -u 10.96.0.1:53 -r 10.0.0.2:53 -m\n');
  const e = env();
  const d1 = svcOf(ipvs).dests.find((d) => d.addr[0] === 0x0a000001)!;
  // rr: .2, .1, .2, (.1 has 1 conn), .1 -> 2 conns: OVERLOAD, then .2 only.
  const got = [0, 1, 2, 3, 4, 5].map((i) => connect(ipvs, e, { proto: 'udp', src: C, sport: 1000 + i, dst: '10.96.0.1', dport: 53 }));
  assert.equal(got, ['10.0.0.2:53', '10.0.0.1:53', '10.0.0.2:53', '10.0.0.1:53', '10.0.0.2:53', '10.0.0.2:53']);
  assert.ok(d1.flags & IP_VS_DEST_F_OVERLOAD);
  clock.advanceSeconds(301); // all expire: 0 * 4 < 2 * 3
  ipvs.expire();
  assert.is(d1.flags & IP_VS_DEST_F_OVERLOAD, 0);
});

test('conn_reuse_mode=1: a SYN reusing a TIME_WAIT connection is rescheduled', () => {
  const { ipvs } = engine(RR2);
  const e = env();
  assert.is(connect(ipvs, e, { src: C, dst: '10.96.0.1' }), '10.0.0.2:8080');
  const [c] = ipvs.connections();
  c!.state = IP_VS_TCP_S_TIME_WAIT;
  assert.is(connect(ipvs, e, { src: C, dst: '10.96.0.1' }), '10.0.0.1:8080', 'a new connection, next rr pick');
  assert.is(ipvs.connections().length, 1);
});

test('a deleted server: its connections are dropped; with expire_nodest_conn they expire and the SYN is rescheduled', () => {
  const { ipvs } = engine(RR2);
  const e = env();
  connect(ipvs, e, { src: C, dst: '10.96.0.1' });
  const svc = svcOf(ipvs);
  ipvs.deleteDest(svc, 4, new Uint32Array([0x0a000002, 0, 0, 0]), 8080);
  assert.is(ipvs.inHook(NF_INET_LOCAL_IN, pkt({ src: C, dst: '10.96.0.1', tcp_flags: 'ACK' }), e), NF_DROP);
  ipvs.setSysctl('net.ipv4.vs.expire_nodest_conn', 1);
  assert.is(connect(ipvs, e, { src: C, dst: '10.96.0.1' }), '10.0.0.1:8080');
});

test('ipvsadm -Lnc lists connections and templates with their time left', () => {
  const { ipvs, clock } = engine('-A -t 10.96.0.1:80 -s rr -p 300\n-a -t 10.96.0.1:80 -r 10.0.0.1:8080 -m\n');
  connect(ipvs, env(), { src: C, dst: '10.96.0.1' });
  clock.advanceSeconds(5);
  assert.is(printConnections(ipvs), [
    'IPVS connection entries',
    'pro expire state       source             virtual            destination',
    'TCP 04:55  NONE        192.168.1.50:0     10.96.0.1:80       10.0.0.1:8080',
    'TCP 00:55  SYN_RECV    192.168.1.50:40000 10.96.0.1:80       10.0.0.1:8080',
    '',
  ].join('\n'));
});

test('clone() is independent: state changed in the copy does not leak back', () => {
  const { ipvs } = engine(RR2);
  const e = env();
  connect(ipvs, e, { src: C, dst: '10.96.0.1' });
  const k = ipvs.clone();
  assert.is(connect(k, e, { src: C, sport: 1, dst: '10.96.0.1' }), '10.0.0.1:8080');
  assert.is(k.connections().length, 2);
  assert.is(ipvs.connections().length, 1);
  assert.is(connect(ipvs, e, { src: C, sport: 1, dst: '10.96.0.1' }), '10.0.0.1:8080', 'the original cursor did not move');
});

test.run();
