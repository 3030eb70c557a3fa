/**
 * The host's packet path, as the kernel runs it: hook and table order by priority, the
 * routing decision and its stack drops, loopback delivery, re-routing after OUTPUT DNAT,
 * and the nat table seen only by a connection's first packet.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runCase, type CaseFile, type PacketResultJson } from '../../src/index.ts';

const steps = (r: PacketResultJson) => r.trace.map((e) => `${e.hook} ${e.table}:${e.chain}${e.rule_index !== null ? '#' + e.rule_index : ''} ${e.verdict}`);

/**
 * Every built-in chain of every table, each with one counting rule, so each traversal
 * shows; the MASQUERADE rule (never matching) turns conntrack on, without which the nat
 * chains are never traversed.
 */
const ALL = `*raw
:PREROUTING ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A PREROUTING
-A OUTPUT
COMMIT
*mangle
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A PREROUTING
-A INPUT
-A FORWARD
-A OUTPUT
-A POSTROUTING
COMMIT
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A PREROUTING
-A INPUT
-A OUTPUT
-A POSTROUTING
-A POSTROUTING -o nomatch0 -j MASQUERADE
COMMIT
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT
-A FORWARD
-A OUTPUT
COMMIT
*security
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT
-A FORWARD
-A OUTPUT
COMMIT
`;

const HOST: Omit<CaseFile, 'packets'> = {
  ruleset: ALL,
  interfaces: [{ name: 'eth0', addrs: ['192.168.0.2/24'] }, { name: 'eth1', addrs: ['10.1.0.1/24'] }],
  routes: ['default via 192.168.0.1 dev eth0'],
};

function one(c: Partial<CaseFile>, p: CaseFile['packets'][number]): PacketResultJson {
  return runCase({ ...HOST, ...c, packets: [p] } as CaseFile).results[0]!;
}

/** Chain visits only (the counting rule of each built-in chain, then its policy). */
const visits = (r: PacketResultJson) => steps(r).filter((s) => s.endsWith('#1 CONTINUE')).map((s) => s.replace('#1 CONTINUE', ''));

test('local delivery: raw, mangle, nat PREROUTING; then mangle, filter, nat (100), security (150) INPUT', () => {
  const r = one({}, { hook: 'PREROUTING', in_iface: 'eth0', proto: 'tcp', src: '192.168.0.9', sport: 1000, dst: '192.168.0.2', dport: 22 });
  assert.equal(visits(r), [
    'PREROUTING raw:PREROUTING', 'PREROUTING mangle:PREROUTING', 'PREROUTING nat:PREROUTING',
    'INPUT mangle:INPUT', 'INPUT filter:INPUT', 'INPUT nat:INPUT', 'INPUT security:INPUT',
  ]);
  assert.is(r.final.fate, 'local');
});

test('forwarding: mangle, filter, security FORWARD; then mangle, nat POSTROUTING; TTL decremented', () => {
  const r = one({}, { hook: 'PREROUTING', in_iface: 'eth0', proto: 'udp', src: '192.168.0.9', sport: 1000, dst: '10.1.0.7', dport: 53, ttl: 9 });
  assert.equal(visits(r), [
    'PREROUTING raw:PREROUTING', 'PREROUTING mangle:PREROUTING', 'PREROUTING nat:PREROUTING',
    'FORWARD mangle:FORWARD', 'FORWARD filter:FORWARD', 'FORWARD security:FORWARD',
    'POSTROUTING mangle:POSTROUTING', 'POSTROUTING nat:POSTROUTING',
  ]);
  assert.is(r.final.fate, 'forwarded');
  assert.is(r.final.out_iface, 'eth1');
  const fwd = r.trace.find((e) => e.hook === 'FORWARD')!;
  assert.is(fwd.packet!.ttl, 8, 'ip_forward decrements the TTL before the FORWARD hook');
});

test('locally generated: raw, mangle, nat (-100), filter, security OUTPUT; then POSTROUTING', () => {
  const r = one({}, { hook: 'OUTPUT', proto: 'tcp', src: '192.168.0.2', sport: 1000, dst: '8.8.8.8', dport: 443 });
  assert.equal(visits(r), [
    'OUTPUT raw:OUTPUT', 'OUTPUT mangle:OUTPUT', 'OUTPUT nat:OUTPUT', 'OUTPUT filter:OUTPUT', 'OUTPUT security:OUTPUT',
    'POSTROUTING mangle:POSTROUTING', 'POSTROUTING nat:POSTROUTING',
  ]);
  assert.is(r.final.fate, 'sent');
});

test('to a local address: out through lo and in again (PREROUTING and INPUT without nat)', () => {
  const r = one({}, { hook: 'OUTPUT', proto: 'tcp', src: '192.168.0.2', sport: 1000, dst: '10.1.0.1', dport: 80 });
  assert.equal(visits(r), [
    'OUTPUT raw:OUTPUT', 'OUTPUT mangle:OUTPUT', 'OUTPUT nat:OUTPUT', 'OUTPUT filter:OUTPUT', 'OUTPUT security:OUTPUT',
    'POSTROUTING mangle:POSTROUTING', 'POSTROUTING nat:POSTROUTING',
    // nat PREROUTING and nat INPUT are skipped: the connection's DST binding was made at
    // OUTPUT and its SRC binding at POSTROUTING (nf_nat_inet_fn runs the table only for a
    // manip type not yet initialised).
    'PREROUTING raw:PREROUTING', 'PREROUTING mangle:PREROUTING',
    'INPUT mangle:INPUT', 'INPUT filter:INPUT', 'INPUT security:INPUT',
  ]);
  assert.is(r.final.fate, 'local');
});

test('a chain that was never created is not traversed (iptables-nft creates built-in chains on use)', () => {
  const r = one({ ruleset: '*nat\n-A POSTROUTING -j MASQUERADE\nCOMMIT\n' }, { hook: 'PREROUTING', in_iface: 'eth0', proto: 'tcp', src: '192.168.0.9', sport: 1000, dst: '10.1.0.7', dport: 80 });
  assert.equal(steps(r), ['POSTROUTING nat:POSTROUTING#1 ACCEPT']);
});

test('a nat table alone does not turn conntrack on, and without conntrack its chains are not traversed', () => {
  const r = one({ ruleset: '*nat\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING\nCOMMIT\n' }, { hook: 'PREROUTING', in_iface: 'eth0', proto: 'tcp', src: '192.168.0.9', sport: 1000, dst: '192.168.0.2', dport: 22 });
  assert.equal(steps(r), []);
  assert.is(r.final.ct_state, undefined);
  assert.equal(r.conntrack, []);
});

test('stack drops: forwarding off, TTL 1, no route, martian source and destination, multicast', () => {
  const base = { hook: 'PREROUTING' as const, in_iface: 'eth0', proto: 'udp', src: '192.168.0.9', sport: 1000, dport: 53 };
  const cases: [string, Partial<CaseFile>, Partial<CaseFile['packets'][number]>, RegExp][] = [
    ['ip_forward=0', { sysctls: { 'net.ipv4.ip_forward': 0 } }, { dst: '10.1.0.7' }, /forwarding is off/],
    ['TTL 1', {}, { dst: '10.1.0.7', ttl: 1 }, /TTL/],
    ['no route', { routes: [] }, { dst: '8.8.8.8' }, /no route/],
    ['loopback source from outside', {}, { src: '127.0.0.5', dst: '192.168.0.2' }, /martian source/],
    ['our own address from outside', {}, { src: '10.1.0.1', dst: '192.168.0.2' }, /martian source/],
    ['127.0.0.0/8 destination from outside', {}, { dst: '127.0.0.1' }, /martian destination/],
    ['multicast not joined', {}, { dst: '224.0.0.251' }, /multicast/],
  ];
  for (const [name, c, p, why] of cases) {
    const r = one(c, { ...base, ...p } as CaseFile['packets'][number]);
    assert.is(r.final.fate, 'stack_drop', name);
    assert.is(r.final.verdict, 'ACCEPT', `${name}: netfilter accepted it`);
    assert.match(String(r.final.reason), why, name);
  }
  // route_localnet lets 127/8 destinations in.
  const ok = one({ sysctls: { 'net.ipv4.conf.all.route_localnet': 1 } }, { ...base, dst: '127.0.0.1' });
  assert.is(ok.final.fate, 'local');
});

test('OUTPUT DNAT re-routes the packet (ip_route_me_harder)', () => {
  const r = one({ ruleset: '*nat\n-A OUTPUT -d 8.8.8.8 -j DNAT --to-destination 10.1.0.9\nCOMMIT\n' }, { hook: 'OUTPUT', proto: 'udp', src: '192.168.0.2', sport: 1000, dst: '8.8.8.8', dport: 53 });
  assert.is(r.final.dst, '10.1.0.9');
  assert.is(r.final.out_iface, 'eth1', 'the new destination is routed out eth1, not the default route');
});

test('only the first packet of a connection sees the nat table; the reply is un-NATed', () => {
  const c: CaseFile = {
    ...HOST,
    ruleset: '*nat\n-A PREROUTING -d 192.168.0.2 -p tcp --dport 80 -j DNAT --to-destination 10.1.0.7:8080\nCOMMIT\n',
    packets: [
      { hook: 'PREROUTING', in_iface: 'eth0', proto: 'tcp', src: '192.168.0.9', sport: 1000, dst: '192.168.0.2', dport: 80, tcp_flags: 'SYN' },
      { hook: 'PREROUTING', in_iface: 'eth1', proto: 'tcp', src: '10.1.0.7', sport: 8080, dst: '192.168.0.9', dport: 1000, tcp_flags: 'SYN,ACK' },
      { hook: 'PREROUTING', in_iface: 'eth0', proto: 'tcp', src: '192.168.0.9', sport: 1000, dst: '192.168.0.2', dport: 80, tcp_flags: 'ACK' },
    ],
  };
  const [a, b, d] = runCase(c).results;
  assert.is(a!.final.dst, '10.1.0.7');
  assert.ok(a!.trace.some((e) => e.table === 'nat' && e.chain === 'PREROUTING'));
  assert.is(b!.final.src, '192.168.0.2', 'the reply is un-DNATed');
  assert.is(b!.final.sport, 80);
  assert.is(b!.final.ct_state, 'ESTABLISHED');
  assert.not.ok(b!.trace.some((e) => e.table === 'nat'), 'replies skip the nat table');
  assert.is(d!.final.dst, '10.1.0.7', 'later packets reuse the binding');
  assert.not.ok(d!.trace.some((e) => e.table === 'nat'));
});

test.run();
