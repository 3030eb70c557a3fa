/**
 * The scaling harness's cost model: rules evaluated and hash lookups, counted on hand-written
 * rulesets and on kube-proxy's generated ones, against counts derived by hand from what
 * netfilter walks (a packet looks at every rule of a chain up to the one that matches).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Host, SeededRng, SimulatedClock, restore, buildPacket, parseRoute, NF_INET_PRE_ROUTING } from '../../src/index.ts';
import { IpsetRegistry } from '../../src/ipset/index.ts';
import { CountingTracer, LookupCounter, measureCost } from '../../bench/scaling/cost.ts';
import { buildIptables, buildIpvs } from '../../bench/scaling/modes.ts';

const NAT = `*nat
:PREROUTING ACCEPT [0:0]
:KUBE-SERVICES - [0:0]
:SVC - [0:0]
-A PREROUTING -j KUBE-SERVICES
-A KUBE-SERVICES -d 10.96.0.1/32 -p tcp -m tcp --dport 80 -j SVC
-A KUBE-SERVICES -d 10.96.0.2/32 -p tcp -m tcp --dport 80 -j SVC
-A KUBE-SERVICES -d 10.96.0.3/32 -p tcp -m tcp --dport 80 -j SVC
-A SVC -p tcp -j DNAT --to-destination 10.128.0.1:8080
COMMIT
`;

function host(text: string, sets?: IpsetRegistry): Host {
  const h = new Host({ clock: new SimulatedClock(), rng: new SeededRng(1) });
  h.routing.addAddr('eth0', '192.168.0.2/24');
  h.routing.addRoute(parseRoute('default via 192.168.0.1 dev eth0'));
  h.load(restore(text, { family: 4, ...(sets ? { sets: { get: (n: string) => sets.get(n) } } : {}) }), sets ? { get: (n: string) => sets.get(n) } : undefined);
  return h;
}

function syn(dst: string, sport = 40000) {
  return buildPacket({ hook: 'PREROUTING', in_iface: 'eth0', proto: 'tcp', src: '192.168.0.50', sport, dst, dport: 80, tcp_flags: 'SYN' });
}

test('rules evaluated: every rule looked at up to the match, in every chain walked', () => {
  // To 10.96.0.3: PREROUTING's jump (1), all three KUBE-SERVICES rules (3), the DNAT (1) = 5.
  // To 10.96.0.1: jump (1), first rule (1), DNAT (1) = 3. To 10.96.0.9: jump + 3 misses = 4.
  const cases: [string, number][] = [['10.96.0.3', 5], ['10.96.0.1', 3], ['10.96.0.9', 4]];
  cases.forEach(([dst, want], i) => {
    const h = host(NAT);
    const t = new CountingTracer();
    h.inject(syn(dst, 40000 + i), NF_INET_PRE_ROUTING, t);
    assert.is(t.total, want, `to ${dst}:\n${t.entries.map((e) => `${e.table}:${e.chain}#${e.rule_index} ${e.verdict}`).join('\n')}`);
    assert.equal(t.byTable, { nat: want });
  });
});

test('an established packet skips the nat table and costs one conntrack lookup', () => {
  const h = host(NAT);
  const counter = new LookupCounter();
  counter.install(h, null, null);
  const t0 = new CountingTracer();
  const o = h.inject(syn('10.96.0.3'), NF_INET_PRE_ROUTING, t0);
  assert.is(o.fate, 'forwarded');
  const reply = buildPacket({ hook: 'PREROUTING', in_iface: 'eth0', proto: 'tcp', src: '10.128.0.1', sport: 8080, dst: '192.168.0.50', dport: 40000, tcp_flags: 'SYN,ACK' });
  assert.is(h.inject(reply, NF_INET_PRE_ROUTING, null).fate, 'forwarded');
  counter.reset();
  const t = new CountingTracer();
  const ack = buildPacket({ hook: 'PREROUTING', in_iface: 'eth0', proto: 'tcp', src: '192.168.0.50', sport: 40000, dst: '10.96.0.3', dport: 80, tcp_flags: 'ACK' });
  h.inject(ack, NF_INET_PRE_ROUTING, t);
  // nf_conntrack_in finds the entry (one hash lookup); nat runs only for a connection's first packet.
  assert.is(t.total, 0);
  assert.equal(counter.counts, { conntrack: 1, ipset: 0, ipvs: 0 });
});

test('ipset lookups: one per set match evaluated, none for rules whose header did not match', () => {
  const sets = new IpsetRegistry(new SimulatedClock());
  sets.restore('create S hash:ip,port family inet hashsize 1024 maxelem 65536\nadd S 10.96.0.3,tcp:80\n');
  const rules = `*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
-A FORWARD -p udp -m set --match-set S dst,dst -j DROP
-A FORWARD -m set --match-set S dst -j ACCEPT
-A FORWARD -m set --match-set S dst,dst -j ACCEPT
COMMIT
`;
  const h = host(rules, sets);
  const counter = new LookupCounter();
  counter.install(h, sets, null, ['S']);
  const t = new CountingTracer();
  const o = h.inject(syn('10.96.0.3'), NF_INET_PRE_ROUTING, t);
  // Rule 1: -p udp fails on the header, its set is never consulted. Rule 2: one direction for a
  // two-dimensional set never matches, and the kernel returns before hashing (ip_set_test:
  // opt->dim < set->type->dimension → 0). Rule 3: one hash lookup, a hit.
  assert.is(o.fate, 'forwarded');
  assert.is(t.total, 3);
  assert.is(counter.counts.ipset, 1);
});

test('kube-proxy iptables mode: a first packet walks one more rule per service before it', () => {
  // One endpoint per service, so no statistic branch: nat = PREROUTING jump (1) + KUBE-SERVICES
  // up to service i (i + 1) + SVC masquerade check (1, a miss: the pod is inside the cluster
  // CIDR) and jump (1) + SEP hairpin check (1) and DNAT (1), then POSTROUTING's jump (1) and
  // KUBE-POSTROUTING's unmarked RETURN (1): i + 8. filter FORWARD: the four jumps kube-proxy
  // installs (4) + KUBE-FORWARD's three rules (3) = 7. Total i + 15.
  const n = 5;
  const m = buildIptables({ services: n, endpoints: 1 });
  const counter = new LookupCounter();
  counter.install(m.host, null, null);
  const c = measureCost(m.host, counter, { first: 0, middle: 2, last: n - 1 });
  assert.is(c.first.rules, 15);
  assert.is(c.middle.rules, 17);
  assert.is(c.last.rules, 19);
  assert.equal(c.last.rulesByTable, { nat: 12, filter: 7 });
  assert.is(c.last.fate, 'forwarded');
  assert.is(c.last.to, '10.128.0.5:8080');
  // Established: FORWARD's first jump (NEW only) misses, its second (KUBE-FORWARD, no state
  // match) is taken; there the INVALID and mark rules miss and the RELATED,ESTABLISHED rule
  // ACCEPTs, so FORWARD's last two rules are never looked at: 2 + 3 = 5. No nat. One
  // conntrack lookup (nf_conntrack_in finds the entry).
  assert.is(c.established.rules, 5);
  assert.equal(c.established.lookupsByTable, { conntrack: 1, ipset: 0, ipvs: 0 });
});

test('kube-proxy IPVS mode: the same rules at every service position', () => {
  // nat PREROUTING: jump (1), KUBE-SERVICES: 127/8 RETURN miss, masquerade set rule (header miss:
  // the pod is in the cluster CIDR), addrtype LOCAL → KUBE-NODE-PORT (empty), CLUSTER-IP ACCEPT
  // (4); nat POSTROUTING after IPVS sends it on: jump + RETURN (2) = 7. filter INPUT: three jumps
  // (3), KUBE-IPVS-FILTER: LOAD-BALANCER miss, CLUSTER-IP RETURN (2), KUBE-NODE-PORT's health
  // check rule (1); filter OUTPUT (IPVS sends the packet through LOCAL_OUT): one jump (1) = 7.
  const n = 5;
  const m = buildIpvs({ services: n, endpoints: 1 });
  const counter = new LookupCounter();
  counter.install(m.host, m.sets, m.ipvs, m.setNames);
  const c = measureCost(m.host, counter, { first: 0, middle: 2, last: n - 1 });
  for (const p of [c.first, c.middle, c.last]) {
    assert.is(p.rules, 14);
    assert.equal(p.rulesByTable, { nat: 7, filter: 7 });
    assert.is(p.fate, 'forwarded');
  }
  assert.is(c.last.to, '10.128.0.5:8080');
  assert.equal(c.first.lookups, c.last.lookups);
  // Set tests: KUBE-CLUSTER-IP in nat KUBE-SERVICES (1), KUBE-LOAD-BALANCER + KUBE-CLUSTER-IP in
  // KUBE-IPVS-FILTER (2), KUBE-HEALTH-CHECK-NODE-PORT in filter KUBE-NODE-PORT (1).
  assert.is(c.last.lookupsByTable.ipset, 4);
});

test.run();
