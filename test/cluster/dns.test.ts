/**
 * Cluster DNS: the order glibc tries names in (resolv/res_query.c __res_context_search),
 * the answers CoreDNS's kubernetes plugin gives, and resolutions walked as UDP queries
 * through kube-proxy's DNAT to a CoreDNS pod and back.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Cluster, KubeDnsZone, resolveWith, searchOrder, type DnsOutcome } from '../../src/cluster/index.ts';

const POD = { search: ['default.svc.cluster.local', 'svc.cluster.local', 'cluster.local'], ndots: 5 };

// Expected orders written from __res_context_search: dots >= ndots (or a trailing dot) → the name
// first; then each search domain (not for a trailing dot); then the name if not tried yet.
const ORDERS: [string, typeof POD, string[]][] = [
  ['web', POD, ['web.default.svc.cluster.local', 'web.svc.cluster.local', 'web.cluster.local', 'web']],
  ['web.default', POD, ['web.default.default.svc.cluster.local', 'web.default.svc.cluster.local', 'web.default.cluster.local', 'web.default']],
  ['web.default.svc.cluster.local', POD, [
    'web.default.svc.cluster.local.default.svc.cluster.local', 'web.default.svc.cluster.local.svc.cluster.local',
    'web.default.svc.cluster.local.cluster.local', 'web.default.svc.cluster.local',
  ]],
  ['a.b.c.d.e.f', POD, ['a.b.c.d.e.f', 'a.b.c.d.e.f.default.svc.cluster.local', 'a.b.c.d.e.f.svc.cluster.local', 'a.b.c.d.e.f.cluster.local']],
  ['web.default.svc.cluster.local.', POD, ['web.default.svc.cluster.local']],
  ['example.com', { search: ['corp.example'], ndots: 1 }, ['example.com', 'example.com.corp.example']],
  ['intranet', { search: ['corp.example'], ndots: 1 }, ['intranet.corp.example', 'intranet']],
  ['host', { search: ['corp.example', '.'], ndots: 1 }, ['host.corp.example', 'host']],
  ['host', { search: [], ndots: 1 }, ['host']],
];

for (const [name, conf, want] of ORDERS) {
  test(`search order: ${name} with ndots ${conf.ndots} and search [${conf.search.join(' ')}]`, () => {
    assert.equal(searchOrder(name, conf), want);
  });
}

test('resolveWith stops at the first answer, moves on after NXDOMAIN / NODATA / SERVFAIL', () => {
  const answers: Record<string, { outcome: DnsOutcome; answers: string[] }> = {
    'web.default.svc.cluster.local': { outcome: 'NXDOMAIN', answers: [] },
    'web.svc.cluster.local': { outcome: 'NODATA', answers: [] },
    'web.cluster.local': { outcome: 'SERVFAIL', answers: [] },
    web: { outcome: 'NOERROR', answers: ['192.0.2.1'] },
  };
  const r = resolveWith('web', POD, (q) => answers[q]!);
  assert.equal(r.address, '192.0.2.1');
  assert.equal(r.tries.map((t) => t.outcome), ['NXDOMAIN', 'NODATA', 'SERVFAIL', 'NOERROR']);
});

test('resolveWith: a timeout ends the search list but the bare name is still tried; refused ends everything', () => {
  const asked: string[] = [];
  const r = resolveWith('web', POD, (q) => {
    asked.push(q);
    return q === 'web.default.svc.cluster.local' ? { outcome: 'timeout', answers: [] } : { outcome: 'NXDOMAIN', answers: [] };
  });
  assert.equal(asked, ['web.default.svc.cluster.local', 'web']);
  assert.equal(r.address, null);
  const asked2: string[] = [];
  resolveWith('web', POD, (q) => {
    asked2.push(q);
    return { outcome: 'refused', answers: [] };
  });
  assert.equal(asked2, ['web.default.svc.cluster.local']);
});

const MANIFESTS = `
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  clusterIP: 10.96.0.20
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: db, namespace: default}
spec:
  clusterIP: None
  selector: {app: db}
  ports: [{port: 5432}]
---
apiVersion: v1
kind: Service
metadata: {name: kube-dns, namespace: kube-system}
spec:
  clusterIP: 10.96.0.10
  selector: {k8s-app: kube-dns}
  ports: [{name: dns, port: 53, protocol: UDP}]
`;

function cluster(): Cluster {
  const c = new Cluster({ seed: 9 });
  c.addNetwork('nodes', '192.168.0.0/24');
  // A default route, as every node has: a ClusterIP without endpoints must get as far as FORWARD.
  c.addNode({ name: 'node1', ip: '192.168.0.2', podCIDR: '10.244.1.0/24', gateway: '192.168.0.1' });
  c.addNode({ name: 'node2', ip: '192.168.0.3', podCIDR: '10.244.2.0/24', gateway: '192.168.0.1' });
  c.addPod({ name: 'client', node: 'node1', ip: '10.244.1.9' });
  c.addPod({ name: 'other', namespace: 'tools', node: 'node1', ip: '10.244.1.10' });
  c.addPod({ name: 'coredns-1', namespace: 'kube-system', node: 'node2', ip: '10.244.2.53', labels: { 'k8s-app': 'kube-dns' } });
  c.addPod({ name: 'db-0', node: 'node2', ip: '10.244.2.30', labels: { app: 'db' } });
  c.addPod({ name: 'db-1', node: 'node1', ip: '10.244.1.31', labels: { app: 'db' } });
  c.applyManifests(MANIFESTS, 'dns test');
  c.serveDns('coredns-1');
  return c;
}

test('the kubelet resolv.conf points pods at the DNS Service', () => {
  const c = cluster();
  assert.equal(c.resolvConfOf('client'), { nameservers: ['10.96.0.10'], search: ['default.svc.cluster.local', 'svc.cluster.local', 'cluster.local'], ndots: 5 });
  assert.equal(c.resolvConfOf('other')!.search[0], 'tools.svc.cluster.local');
});

test('the kubernetes zone: Services, headless Services, pods, empty non-terminals', () => {
  const z = new KubeDnsZone(cluster().registry(), 'cluster.local');
  assert.equal(z.lookup('web.default.svc.cluster.local'), { rcode: 'NOERROR', answers: ['10.96.0.20'] });
  assert.equal(z.lookup('WEB.default.svc.cluster.local.'), { rcode: 'NOERROR', answers: ['10.96.0.20'] });
  assert.equal([...z.lookup('db.default.svc.cluster.local').answers].sort(), ['10.244.1.31', '10.244.2.30']);
  assert.equal(z.lookup('10-244-1-9.default.pod.cluster.local'), { rcode: 'NOERROR', answers: ['10.244.1.9'] });
  assert.equal(z.lookup('default.svc.cluster.local'), { rcode: 'NOERROR', answers: [] });
  assert.equal(z.lookup('nosuchns.svc.cluster.local').rcode, 'NXDOMAIN');
  assert.equal(z.lookup('web.svc.cluster.local').rcode, 'NXDOMAIN');
  assert.equal(z.lookup('web').rcode, 'NXDOMAIN');
});

test('resolving `web` from a pod: one query, walked through the node DNAT to CoreDNS and back', () => {
  const c = cluster();
  const { resolution, walk } = c.resolve('client', 'web');
  assert.equal(resolution.address, '10.96.0.20');
  assert.equal(resolution.tries.map((t) => t.name), ['web.default.svc.cluster.local']);
  const q = walk.legs[0]!;
  assert.equal(q.hops.map((h) => h.host), ['client', 'node1', 'node2', 'coredns-1']);
  assert.equal([q.hops[1]!.before.dst, q.hops[1]!.after.dst], ['10.96.0.10', '10.244.2.53']);
  const a = walk.legs[1]!;
  assert.equal(a.kind, 'reply');
  assert.equal(a.end.host, 'client');
  assert.equal(a.end.packet.src, '10.96.0.10', 'the answer comes from the Service address the query went to');
});

test('`web.default` takes two queries, the FQDN without a trailing dot four', () => {
  const c = cluster();
  const r1 = c.resolve('client', 'web.default').resolution;
  assert.equal(r1.tries.map((t) => [t.name, t.outcome]), [['web.default.default.svc.cluster.local', 'NXDOMAIN'], ['web.default.svc.cluster.local', 'NOERROR']]);
  const r2 = c.resolve('client', 'web.default.svc.cluster.local').resolution;
  assert.equal(r2.tries.length, 4);
  assert.equal(r2.tries.slice(0, 3).map((t) => t.outcome), ['NXDOMAIN', 'NXDOMAIN', 'NXDOMAIN']);
  assert.equal(r2.address, '10.96.0.20');
  const r3 = c.resolve('client', 'web.default.svc.cluster.local.').resolution;
  assert.equal(r3.tries.length, 1, 'a trailing dot skips the search list');
});

test('from another namespace the short name does not resolve', () => {
  const r = cluster().resolve('other', 'web').resolution;
  assert.equal(r.address, null);
  assert.equal(r.tries.map((t) => t.name), ['web.tools.svc.cluster.local', 'web.svc.cluster.local', 'web.cluster.local', 'web']);
  assert.ok(r.tries.every((t) => t.outcome === 'NXDOMAIN'));
});

test('no DNS pod behind the Service: kube-proxy rejects the query and glibc gives up at once', () => {
  const c = cluster();
  c.removePod('coredns-1');
  const r = c.resolve('client', 'web').resolution;
  // The first query finds no endpoint (kube-proxy REJECTs a Service without endpoints: ICMP port
  // unreachable), which glibc treats as connection refused and stops.
  assert.equal(r.address, null);
  assert.equal(r.tries.length, 1);
  assert.equal(r.tries[0]!.outcome, 'refused');
});

test.run();
