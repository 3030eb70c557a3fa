/**
 * The cluster walker: packets hop from host to host the way routes and L2 segments send
 * them, every hop runs that host's netfilter and conntrack, replies come back through the
 * same conntrack entries, and walks are bounded. Node rules here are hand-written (a DNAT
 * standing for a Service) so the expected hops and rewrites follow from the rules alone.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Cluster, EchoServer, type Hop, type Walk } from '../../src/cluster/index.ts';

const DNAT_RULES = (extra = '') => `*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A PREROUTING -d 10.96.0.10/32 -p tcp -m tcp --dport 80 -j DNAT --to-destination 10.244.2.5:8080
COMMIT
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
${extra}COMMIT
`;

/** Accepts everything, but tracks connections (like any node running kube-proxy). */
const PLAIN = `*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
COMMIT
`;

/** Two nodes, pod `a` on node1, pod `b` (an echo server on 8080) on node2; node1 DNATs 10.96.0.10:80 to b. */
function twoNodes(node1Extra = '', node2Rules = PLAIN): Cluster {
  const c = new Cluster({ seed: 1 });
  c.addNetwork('nodes', '192.168.0.0/24');
  c.addNode({ name: 'node1', ip: '192.168.0.2', podCIDR: '10.244.1.0/24', rules: DNAT_RULES(node1Extra) });
  c.addNode({ name: 'node2', ip: '192.168.0.3', podCIDR: '10.244.2.0/24', rules: node2Rules });
  c.addPod({ name: 'a', node: 'node1', ip: '10.244.1.9' });
  c.addPod({ name: 'a2', node: 'node1', ip: '10.244.1.10' });
  c.addPod({ name: 'b', node: 'node2', ip: '10.244.2.5' });
  c.listen('b', 'tcp', 8080, new EchoServer('b'));
  c.listen('a2', 'tcp', 8080, new EchoServer('a2'));
  return c;
}

const path = (hops: readonly Hop[]) => hops.map((h) => `${h.host}:${h.hook}:${h.fate}`);

test('pod → node → node → pod, each hop on its own host, the DNAT on node1 only', () => {
  const c = twoNodes();
  const w = c.walker();
  const r = w.exchange('a', { proto: 'tcp', dst: '10.96.0.10', dport: 80, sport: 40000, payload: 'ping' });
  assert.ok(r.ok, r.failure ?? '');
  const req = r.request;
  assert.equal(path(req.hops), ['a:OUTPUT:sent', 'node1:PREROUTING:forwarded', 'node2:PREROUTING:forwarded', 'b:PREROUTING:local']);
  // Where each hop sent it: a's default route is node1's cni0; node1 → 10.244.2.0/24 via 192.168.0.3; node2 → on-link.
  assert.equal(req.hops.map((h) => h.next && `${h.next.host}/${h.next.iface} via ${h.next.via}`), [
    'node1/cni0 via 10.244.1.1', 'node2/eth0 via 192.168.0.3', 'b/eth0 via 10.244.2.5', null,
  ]);
  assert.equal(req.hops[1]!.before.dst, '10.96.0.10');
  assert.equal(req.hops[1]!.after.dst, '10.244.2.5');
  assert.equal(req.hops[1]!.after.dport, 8080);
  assert.equal(req.hops[2]!.before.dst, req.hops[2]!.after.dst, 'node2 does not rewrite');
  // TTL: two routers on the way, 64 → 62.
  assert.equal(req.end.packet.ttl, 62);
  assert.equal(r.reply, 'b: ping');
  assert.equal(r.servedBy, { host: 'b', process: 'echo' });
});

test('the reply comes back through conntrack on every hop and is un-DNATed on node1', () => {
  const c = twoNodes();
  const r = c.walker().exchange('a', { proto: 'tcp', dst: '10.96.0.10', dport: 80, sport: 40000, payload: 'ping' });
  const rep = r.replyLeg!;
  assert.equal(path(rep.hops), ['b:OUTPUT:sent', 'node2:PREROUTING:forwarded', 'node1:PREROUTING:forwarded', 'a:PREROUTING:local']);
  for (const h of rep.hops.filter((x) => x.host.startsWith('node'))) {
    assert.equal(h.after.ct_state, 'ESTABLISHED', `${h.host} sees the reply as ESTABLISHED`);
    assert.equal(h.after.ct_direction, 'reply', `${h.host} matched it by the reply tuple`);
    assert.ok(h.conntrack !== null);
    assert.ok(h.trace.every((e) => e.table !== 'nat'), `${h.host}: replies never traverse the nat table`);
  }
  const n1 = rep.hops[2]!;
  assert.equal([n1.before.src, n1.before.sport, n1.after.src, n1.after.sport], ['10.244.2.5', 8080, '10.96.0.10', 80]);
  // node1's entry: original a:40000 → VIP:80, reply from b:8080 to a:40000.
  assert.equal(n1.conntrack!.original, { src: '10.244.1.9', dst: '10.96.0.10', proto: 'tcp', sport: 40000, dport: 80 });
  assert.equal(n1.conntrack!.reply, { src: '10.244.2.5', dst: '10.244.1.9', proto: 'tcp', sport: 8080, dport: 40000 });
  assert.equal(r.replyLeg!.end.packet.src, '10.96.0.10');
  assert.equal(r.socket, { proto: 'tcp', src: '10.244.1.9', sport: 40000, dst: '10.96.0.10', dport: 80 });
});

test('a reply that bypasses the DNAT host does not match the client socket', () => {
  // node1 DNATs the ClusterIP to a2, on the same bridge as the client a. a2 answers a on-link: the frame is
  // bridged, and only br_netfilter makes it pass node1's conntrack. Without it the reply skips the un-DNAT.
  const c = new Cluster({ seed: 1 });
  c.addNetwork('nodes', '192.168.0.0/24');
  c.addNode({
    name: 'node1', ip: '192.168.0.2', podCIDR: '10.244.1.0/24',
    rules: DNAT_RULES().replace('10.244.2.5:8080', '10.244.1.10:8080'),
  });
  c.addPod({ name: 'a', node: 'node1', ip: '10.244.1.9' });
  c.addPod({ name: 'a2', node: 'node1', ip: '10.244.1.10' });
  c.listen('a2', 'tcp', 8080, new EchoServer('a2'));
  const ok = c.walker().exchange('a', { proto: 'tcp', dst: '10.96.0.10', dport: 80, payload: 'x' });
  assert.ok(ok.ok, 'with br_netfilter the bridged reply passes node1 and is un-DNATed');
  assert.ok(ok.replyLeg!.hops.some((h) => h.host === 'node1' && h.note?.includes('br_netfilter')));
  c.topology.segment('node1:cni0').brNetfilter = false;
  const bad = c.walker().exchange('a', { proto: 'tcp', dst: '10.96.0.10', dport: 80, payload: 'x' });
  assert.not.ok(bad.ok);
  assert.equal(path(bad.replyLeg!.hops), ['a2:OUTPUT:sent', 'a:PREROUTING:local']);
  assert.ok(bad.failure!.includes('10.244.1.10:8080') && bad.failure!.includes('RST'), bad.failure!);
});

test('the hop bound stops a routing loop', () => {
  const c = new Cluster({ seed: 1 });
  c.addNetwork('lan', '10.0.0.0/24');
  c.addExternal({ name: 'client', ip: '10.0.0.10', gateway: '10.0.0.1' });
  for (const [name, ip, gw] of [['r1', '10.0.0.1', '10.0.0.2'], ['r2', '10.0.0.2', '10.0.0.1']] as const) {
    c.addLoadBalancer({ name, interfaces: [{ ip, iface: 'eth0' }], gateway: gw, podRoutes: false });
  }
  const leg = c.walker({ maxHops: 10 }).packet('client', { proto: 'udp', src: '10.0.0.10', sport: 1000, dst: '198.51.100.1', dport: 53 });
  assert.equal(leg.end.kind, 'hop_limit');
  assert.equal(leg.hops.length, 10);
  assert.equal(path(leg.hops).slice(0, 4), ['client:OUTPUT:sent', 'r1:PREROUTING:forwarded', 'r2:PREROUTING:forwarded', 'r1:PREROUTING:forwarded']);
  // With room to spare the TTL ends it: sent with 64, each forward needs TTL > 1 (ip_forward: ttl <= 1 → drop),
  // so the router receiving it with TTL 1 — the 64th router, hop 65 — drops it.
  const leg2 = c.walker({ maxHops: 200, trace: false }).packet('client', { proto: 'udp', src: '10.0.0.10', sport: 1001, dst: '198.51.100.1', dport: 53 });
  assert.equal(leg2.end.kind, 'stack_drop');
  assert.equal(leg2.hops.length, 65);
  assert.ok(leg2.end.detail.includes('TTL'), leg2.end.detail);
});

test('nobody answering ARP ends the walk as unreachable', () => {
  const c = twoNodes();
  const leg = c.walker().packet('a', { proto: 'tcp', src: '10.244.1.9', sport: 1, dst: '10.244.2.99', dport: 80 });
  assert.equal(leg.end.kind, 'unreachable');
  assert.equal(leg.end.host, 'node2');
  assert.ok(leg.end.detail.includes('10.244.2.99'));
});

test('bridged frames between two pods pass the node\'s FORWARD chain (br_netfilter)', () => {
  const c = twoNodes('-A FORWARD -s 10.244.1.9/32 -d 10.244.1.10/32 -j DROP\n');
  const r = c.walker().exchange('a', { proto: 'tcp', dst: '10.244.1.10', dport: 8080, payload: 'x' });
  assert.not.ok(r.ok);
  assert.equal(path(r.request.hops), ['a:OUTPUT:sent', 'node1:PREROUTING:dropped']);
  assert.equal(r.request.hops[1]!.by, { table: 'filter', chain: 'FORWARD', rule_index: 1, target: 'DROP' });
  c.topology.segment('node1:cni0').brNetfilter = false;
  const r2 = c.walker().exchange('a', { proto: 'tcp', dst: '10.244.1.10', dport: 8080, payload: 'x' });
  assert.ok(r2.ok);
  assert.equal(path(r2.request.hops), ['a:OUTPUT:sent', 'a2:PREROUTING:local']);
  // Bridged, not routed: the TTL is untouched.
  const r3 = twoNodes().walker().exchange('a', { proto: 'tcp', dst: '10.244.1.10', dport: 8080, payload: 'x' });
  assert.equal(r3.request.end.packet.ttl, 64);
});

test('REJECT\'s RST travels back as its own leg and the exchange reports it', () => {
  const c = twoNodes('-A FORWARD -d 10.244.2.5/32 -p tcp -j REJECT --reject-with tcp-reset\n');
  const w = c.walker();
  const r = w.exchange('a', { proto: 'tcp', dst: '10.96.0.10', dport: 80, sport: 40001, payload: 'x' });
  assert.not.ok(r.ok);
  const rst = w.walk.legs.find((l) => l.kind === 'emitted')!;
  assert.ok(rst, 'an emitted leg');
  assert.equal(rst.parent, r.request.id);
  assert.equal(rst.end.kind, 'delivered');
  assert.equal(rst.end.host, 'a');
  // The RST answers the packet as the client sent it: from the ClusterIP (conntrack un-DNATs it), RST flag.
  assert.equal([rst.end.packet.src, rst.end.packet.sport, rst.end.packet.dport], ['10.96.0.10', 80, 40001]);
  assert.ok(rst.end.packet.tcp_flags?.includes('RST'));
  assert.ok(r.failure!.startsWith('connection refused') && r.failure!.includes('got back'), r.failure!);
});

test('nothing listening: the exchange fails with connection refused', () => {
  const c = twoNodes();
  const r = c.walker().exchange('a', { proto: 'tcp', dst: '10.244.2.5', dport: 9999, payload: 'x' });
  assert.not.ok(r.ok);
  assert.ok(r.failure!.startsWith('connection refused'));
  assert.equal(r.request.end.kind, 'delivered');
});

test('the mark set in a pod does not cross into the node (skb_scrub_packet)', () => {
  const c = twoNodes();
  c.setRules('a', `*mangle
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A OUTPUT -j MARK --set-mark 0x99
COMMIT
`);
  const r = c.walker().exchange('a', { proto: 'tcp', dst: '10.96.0.10', dport: 80, payload: 'x' });
  assert.equal(r.request.hops[0]!.after.mark, '0x99');
  assert.equal(r.request.hops[1]!.before.mark, '0x0');
  assert.equal(r.request.hops[1]!.before.in_iface, 'cni0');
});

test('a process loop is bounded by the nesting depth', () => {
  const c = twoNodes();
  // A "proxy" on b that forwards every connection to itself again.
  c.listen('b', 'tcp', 7000, {
    name: 'loop', uid: 0, gid: 0,
    handle: (d, ctx) => {
      const r = ctx.connect({ proto: 'tcp', dst: '10.244.2.5', dport: 7000, payload: d.payload });
      return { reply: r.ok ? r.reply : null };
    },
  });
  const w = c.walker({ maxDepth: 4 });
  const r = w.exchange('a', { proto: 'tcp', dst: '10.244.2.5', dport: 7000, payload: 'x' });
  assert.not.ok(r.ok);
  assert.equal(Math.max(...w.walk.legs.map((l) => l.depth)), 4);
});

test('walks are deterministic for a seed', () => {
  const run = (): Walk => {
    const c = twoNodes();
    const w = c.walker();
    for (let i = 0; i < 3; i++) w.exchange('a', { proto: 'tcp', dst: '10.96.0.10', dport: 80, payload: `p${i}` });
    return w.walk;
  };
  assert.equal(JSON.stringify(run()), JSON.stringify(run()));
});

test.run();
