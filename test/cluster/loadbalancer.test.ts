/**
 * The cloud L4 load balancer: it forwards by address and port only (any payload passes
 * unread and unchanged), spreads new connections evenly over its backends, and follows a
 * Service's NodePorts or pods, honouring externalTrafficPolicy Local like a health check.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Cluster, EchoServer, loadBalancerRestore } from '../../src/cluster/index.ts';

function edge(frontends: Parameters<Cluster['addLoadBalancer']>[0]['frontends'], manifests = ''): Cluster {
  const c = new Cluster({ seed: 12 });
  c.addNetwork('internet', '203.0.113.0/24');
  c.addNetwork('nodes', '192.168.0.0/24');
  c.addLoadBalancer({ name: 'lb', interfaces: [{ ip: '203.0.113.1' }, { ip: '192.168.0.1' }], frontends });
  c.addNode({ name: 'node1', ip: '192.168.0.2', podCIDR: '10.244.1.0/24', gateway: '192.168.0.1' });
  c.addNode({ name: 'node2', ip: '192.168.0.3', podCIDR: '10.244.2.0/24', gateway: '192.168.0.1' });
  c.addNode({ name: 'node3', ip: '192.168.0.4', podCIDR: '10.244.3.0/24', gateway: '192.168.0.1' });
  c.addPod({ name: 'p1', node: 'node1', ip: '10.244.1.5', labels: { app: 'echo' } });
  c.addPod({ name: 'p2', node: 'node2', ip: '10.244.2.5', labels: { app: 'echo' } });
  for (const p of ['p1', 'p2']) c.listen(p, 'tcp', 7000, new EchoServer(p));
  c.addExternal({ name: 'client', ip: '203.0.113.10', gateway: '203.0.113.1' });
  if (manifests) c.applyManifests(manifests, 'lb test');
  return c;
}

test('any payload passes the load balancer unread and unchanged', () => {
  const c = edge([{ vip: '203.0.113.100', port: 80, backends: ['10.244.1.5:7000'] }]);
  // Bytes that are neither HTTP, TLS nor DNS: an L7 device would have to reject or mangle them.
  const payload = '\u0000\u00ff binary \r\n\r\n GET / HTTP/9 \u0001';
  const w = c.walker();
  const r = w.exchange('client', { proto: 'tcp', dst: '203.0.113.100', dport: 80, payload });
  assert.ok(r.ok, r.failure ?? '');
  assert.equal(r.request.end.payload, payload);
  assert.equal(r.reply, `p1: ${payload}`);
  const lb = r.request.hops.find((h) => h.host === 'lb')!;
  assert.equal([lb.before.dst, lb.before.dport, lb.after.dst, lb.after.dport], ['203.0.113.100', 80, '10.244.1.5', 7000]);
  assert.equal(c.host('lb').listeners.size, 0, 'no socket on the load balancer');
  assert.ok(lb.trace.every((e) => e.table === 'nat' || e.table === 'filter'));
  assert.equal(r.replyLeg!.end.packet.src, '203.0.113.100');
  assert.equal(r.request.end.packet.src, '203.0.113.10', 'the client address is kept');
});

test('new connections are spread evenly (1500 connections, 4σ bounds)', () => {
  const c = edge([{ vip: '203.0.113.100', port: 80, backends: ['10.244.1.5:7000', '10.244.2.5:7000', '10.244.1.5:7000'] }]);
  // The first and third backends are the same pod: it should get 2/3.
  const w = c.walker({ trace: false });
  let p1 = 0;
  for (let i = 0; i < 1500; i++) {
    const r = w.exchange('client', { proto: 'tcp', dst: '203.0.113.100', dport: 80, payload: 'x' });
    assert.ok(r.ok);
    if (r.servedBy!.host === 'p1') p1++;
  }
  // Binomial(1500, 2/3): mean 1000, σ = sqrt(1500 · 2/3 · 1/3) ≈ 18.3.
  assert.ok(Math.abs(p1 - 1000) <= 73, `p1 served ${p1}`);
});

test('the restore text: statistic cascade 1/n, 1/(n-1), …, then the last unconditionally', () => {
  const t = loadBalancerRestore([{ vip: '203.0.113.100', port: 80, protocol: 'TCP', backends: [{ ip: '10.0.0.1', port: 1 }, { ip: '10.0.0.2', port: 2 }, { ip: '10.0.0.3', port: 3 }] }]);
  const rules = t.split('\n').filter((l) => l.startsWith('-A PREROUTING'));
  assert.equal(rules.length, 3);
  assert.ok(rules[0]!.includes('--probability 0.3333333333') && rules[0]!.endsWith('--to-destination 10.0.0.1:1'));
  assert.ok(rules[1]!.includes('--probability 0.5000000000') && rules[1]!.endsWith('--to-destination 10.0.0.2:2'));
  assert.ok(!rules[2]!.includes('statistic') && rules[2]!.endsWith('--to-destination 10.0.0.3:3'));
  const none = loadBalancerRestore([{ vip: '203.0.113.100', port: 80, protocol: 'TCP', backends: [] }]);
  assert.ok(none.includes('-A INPUT -d 203.0.113.100/32 -p tcp -m tcp --dport 80') && none.includes('-j DROP'));
});

const SERVICE = (policy: string) => `
apiVersion: v1
kind: Service
metadata: {name: echo, namespace: default}
spec:
  type: LoadBalancer
  clusterIP: 10.96.0.70
  externalTrafficPolicy: ${policy}
  healthCheckNodePort: 32001
  selector: {app: echo}
  ports: [{port: 80, targetPort: 7000, nodePort: 30070}]
`;

test('Service backends: every node\'s NodePort (Cluster), only nodes with an endpoint (Local), or the pods', () => {
  const cl = edge([{ vip: '203.0.113.100', port: 80, service: 'default/echo' }], SERVICE('Cluster'));
  const lo = edge([{ vip: '203.0.113.100', port: 80, service: 'default/echo' }], SERVICE('Local'));
  const pods = edge([{ vip: '203.0.113.100', port: 80, service: 'default/echo', target: 'pod' }], SERVICE('Cluster'));
  const show = (c: Cluster) => {
    const leg = c.walker();
    const ends = new Set<string>();
    for (let i = 0; i < 40; i++) {
      const r = leg.exchange('client', { proto: 'tcp', dst: '203.0.113.100', dport: 80, payload: 'x' });
      assert.ok(r.ok, r.failure ?? '');
      const h = r.request.hops.find((x) => x.host === 'lb')!;
      ends.add(`${h.after.dst}:${h.after.dport}`);
    }
    return [...ends].sort();
  };
  assert.equal(show(cl), ['192.168.0.2:30070', '192.168.0.3:30070', '192.168.0.4:30070']);
  assert.equal(show(lo), ['192.168.0.2:30070', '192.168.0.3:30070'], 'node3 has no echo pod: its health check fails');
  assert.equal(show(pods), ['10.244.1.5:7000', '10.244.2.5:7000']);
});

test.run();
