/**
 * Cluster nodes running kube-proxy in IPVS mode: what the node holds (kube-ipvs0 with the
 * VIPs, ipsets, the IPVS virtual servers, no per-Service iptables chains), per-node modes,
 * resyncs, and walks through it (rr order, un-NAT of replies, masquerade of the node's own
 * connections). Expected values come from the manifests and from what the kernel does
 * (rr starts at the real server added last: __ip_vs_update_dest list_add_rcu puts each new
 * one at the head of svc->destinations; a local route's preferred source is the address itself).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { NfemuError, parseIp } from '../../src/core/index.ts';
import { printSave } from '../../src/xtables/index.ts';
import { httpRequest, parseCluster, Cluster, type ClusterOptions } from '../../src/cluster/index.ts';

const RTN_LOCAL = 2; // include/uapi/linux/rtnetlink.h

const WEB = `
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  clusterIP: 10.96.0.10
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: 8080}]
`;

const API = `
apiVersion: v1
kind: Service
metadata: {name: api, namespace: default}
spec:
  clusterIP: 10.96.0.20
  selector: {app: api}
  ports: [{name: http, port: 8443, targetPort: 8443}]
`;

/** Two nodes; client pod on node1; web-1 (node1) and web-2 (node2) serve Service web. */
function cluster(opts: ClusterOptions = { kubeProxy: { mode: 'ipvs' } }, node2Mode?: 'iptables' | 'ipvs'): Cluster {
  const c = new Cluster({ seed: 2, ...opts });
  c.addNetwork('nodes', '192.168.0.0/24');
  c.addNode({ name: 'node1', ip: '192.168.0.2', podCIDR: '10.244.1.0/24' });
  c.addNode({ name: 'node2', ip: '192.168.0.3', podCIDR: '10.244.2.0/24', ...(node2Mode ? { kubeProxyMode: node2Mode } : {}) });
  c.addPod({ name: 'client', node: 'node1', ip: '10.244.1.9' });
  c.addPod({ name: 'web-1', node: 'node1', ip: '10.244.1.5', labels: { app: 'web' } });
  c.addPod({ name: 'web-2', node: 'node2', ip: '10.244.2.6', labels: { app: 'web' } });
  c.serveHttp('web-1', 8080);
  c.serveHttp('web-2', 8080);
  c.applyManifests(WEB, 'web.yaml');
  return c;
}

function isLocal(c: Cluster, node: string, ip: string): boolean {
  return c.host(node).host.routing.addrType(4, parseIp(ip)!.w, null) === RTN_LOCAL;
}

function dummyAddrs(c: Cluster, node: string): string[] {
  const i = c.host(node).host.routing.ifaces.get('kube-ipvs0');
  return (i?.addrs ?? []).map((a) => `${[24, 16, 8, 0].map((s) => (a.addr[0]! >>> s) & 255).join('.')}/${a.prefix}`);
}

function connect(c: Cluster, from: string, dst = '10.96.0.10', dport = 80) {
  return c.walker().exchange(from, { proto: 'tcp', dst, dport, payload: httpRequest({ host: 'web', path: '/' }) });
}

test('iptables mode stays the default: no IPVS, no kube-ipvs0, KUBE-SVC chains', () => {
  const c = cluster({});
  const kp = c.kubeProxy('node1');
  assert.is(kp?.mode, 'iptables');
  assert.is(c.host('node1').host.ipvs, null);
  assert.not.ok(c.host('node1').host.routing.ifaces.has('kube-ipvs0'));
  assert.ok(printSave(c.host('node1').host.currentRuleset()).includes(':KUBE-SVC-'));
  assert.not.ok(isLocal(c, 'node1', '10.96.0.10'));
  assert.throws(() => c.ipvsadm('node1'), (e: unknown) => e instanceof NfemuError && /not run kube-proxy in IPVS mode/.test(e.message));
});

test('IPVS mode: kube-ipvs0 holds the VIP, ipsets and virtual servers, no per-Service chains', () => {
  const c = cluster();
  const kp = c.kubeProxy('node1');
  assert.ok(kp && kp.mode === 'ipvs');
  if (!kp || kp.mode !== 'ipvs') return;
  const dummy = c.host('node1').host.routing.ifaces.get('kube-ipvs0');
  assert.is(dummy?.kind, 'dummy');
  assert.equal(dummyAddrs(c, 'node1'), ['10.96.0.10/32']);
  assert.ok(isLocal(c, 'node1', '10.96.0.10'));
  assert.ok(isLocal(c, 'node2', '10.96.0.10'), 'every IPVS node binds every ClusterIP');
  const save = printSave(c.host('node1').host.currentRuleset());
  assert.not.ok(/KUBE-(SVC|SEP)-/.test(save));
  assert.ok(save.includes('-m set --match-set KUBE-CLUSTER-IP dst,dst -j KUBE-MARK-MASQ'));
  const members = kp.ipsets.save().split('\n').filter((l) => l.startsWith('add '));
  assert.ok(members.includes('add KUBE-CLUSTER-IP 10.96.0.10,tcp:80'));
  assert.ok(members.includes('add KUBE-IPVS-IPS 10.96.0.10'));
  // Only node1's own endpoint is a hairpin candidate on node1.
  assert.equal(members.filter((l) => l.startsWith('add KUBE-LOOP-BACK ')), ['add KUBE-LOOP-BACK 10.244.1.5,tcp:8080,10.244.1.5']);
  assert.is(kp.ipvs, c.host('node1').host.ipvs);
  const list = c.ipvsadm('node1');
  assert.ok(list.includes('TCP  10.96.0.10:80 rr\n'));
  assert.ok(/-> 10\.244\.1\.5:8080 +Masq +1 +0 +0/.test(list));
  assert.ok(/-> 10\.244\.2\.6:8080 +Masq +1 +0 +0/.test(list));
  assert.is((list.match(/ Masq /g) ?? []).length, 2);
  // kube-proxy's IPVS-mode sysctls reach the host (and so IPVS): conntrack on for masquerade.
  assert.is(c.host('node1').host.sysctl('net.ipv4.vs.conntrack'), 1);
});

test('per-node mode: node2 in iptables mode while the cluster default is IPVS', () => {
  const c = cluster({ kubeProxy: { mode: 'ipvs' } }, 'iptables');
  assert.is(c.kubeProxy('node1')?.mode, 'ipvs');
  assert.is(c.kubeProxy('node2')?.mode, 'iptables');
  assert.is(c.host('node2').host.ipvs, null);
  assert.ok(printSave(c.host('node2').host.currentRuleset()).includes(':KUBE-SVC-'));
  assert.not.ok(isLocal(c, 'node2', '10.96.0.10'));
});

test('bad modes are rejected with a USAGE error', () => {
  assert.throws(() => new Cluster({ kubeProxy: { mode: 'nft' as 'ipvs' } }), (e: unknown) => e instanceof NfemuError && e.code === 'USAGE');
  const c = new Cluster();
  c.addNetwork('nodes', '192.168.0.0/24');
  assert.throws(() => c.addNode({ name: 'n', ip: '192.168.0.2', podCIDR: '10.244.1.0/24', kubeProxyMode: 'userspace' as 'ipvs' }),
    (e: unknown) => e instanceof NfemuError && e.code === 'USAGE');
  assert.throws(() => c.kubeProxy('nope'), (e: unknown) => e instanceof NfemuError);
});

test('rr through a walk: the real server added last first, then alternating; replies come from the VIP', () => {
  const c = cluster();
  const kp = c.kubeProxy('node1');
  if (!kp || kp.mode !== 'ipvs') throw new Error('not ipvs');
  const added = kp.sync.ipvs.split('\n').filter((l) => l.startsWith('-a -t 10.96.0.10:80 ')).map((l) => l.split(' ')[4]!);
  assert.is(added.length, 2);
  const owner: Record<string, string> = { '10.244.1.5:8080': 'web-1', '10.244.2.6:8080': 'web-2' };
  const expected = [owner[added[1]!], owner[added[0]!], owner[added[1]!], owner[added[0]!]];
  const got: (string | undefined)[] = [];
  for (let i = 0; i < 4; i++) {
    const r = connect(c, 'client');
    assert.ok(r.ok, r.failure ?? '');
    got.push(r.servedBy?.host);
    const last = r.replyLeg!.hops[r.replyLeg!.hops.length - 1]!;
    assert.is(last.after.src, '10.96.0.10');
    assert.is(last.after.sport, 80);
    // Pod to ClusterIP: not masqueraded.
    assert.is(r.request.hops.find((h) => h.host === 'node1')!.after.src, '10.244.1.9');
  }
  assert.equal(got, expected);
  // Each SYN on node1 was delivered locally (INPUT), never forwarded by netfilter's FORWARD.
  const r = connect(c, 'client');
  const hooks = new Set(r.request.hops.find((h) => h.host === 'node1')!.trace.map((e) => e.hook));
  assert.ok(hooks.has('INPUT'));
  assert.not.ok(hooks.has('FORWARD'));
});

test('the node\'s own connection: the VIP as source, masqueraded to the node address', () => {
  const c = cluster();
  const r = connect(c, 'node1');
  assert.ok(r.ok, r.failure ?? '');
  const hop = r.request.hops[0]!;
  assert.is(hop.before.src, '10.96.0.10');
  assert.is(hop.after.src, '192.168.0.2');
  assert.ok(hop.after.dst === '10.244.1.5' || hop.after.dst === '10.244.2.6');
  assert.is(hop.after.dport, 8080);
  assert.ok(hop.trace.some((e) => e.chain === 'KUBE-MARK-MASQ'));
  const last = r.replyLeg!.hops[r.replyLeg!.hops.length - 1]!;
  assert.is(last.after.src, '10.96.0.10');
  assert.is(last.after.dst, '10.96.0.10');
});

test('resync: a new Service is bound and served, the IPVS object (and its connections) kept; a removed endpoint goes', () => {
  const c = cluster();
  c.sync();
  const before = c.host('node1').host.ipvs;
  assert.ok(before !== null);
  const r1 = connect(c, 'client');
  assert.ok(r1.ok);
  const conns = before!.conns.count;
  assert.ok(conns >= 1);
  c.addPod({ name: 'api-1', node: 'node2', ip: '10.244.2.9', labels: { app: 'api' } });
  c.serveHttp('api-1', 8443);
  c.applyManifests(API, 'api.yaml');
  c.sync();
  assert.is(c.host('node1').host.ipvs, before);
  assert.is(before!.conns.count, conns);
  assert.equal(dummyAddrs(c, 'node1').sort(), ['10.96.0.10/32', '10.96.0.20/32']);
  assert.ok(isLocal(c, 'node1', '10.96.0.20'));
  assert.ok(c.ipvsadm('node1').includes('TCP  10.96.0.20:8443 rr\n  -> 10.244.2.9:8443'));
  const r2 = connect(c, 'client', '10.96.0.20', 8443);
  assert.ok(r2.ok, r2.failure ?? '');
  assert.is(r2.servedBy?.host, 'api-1');
  c.removePod('web-2');
  const list = c.ipvsadm('node1');
  assert.not.ok(list.includes('10.244.2.6:8080'));
  assert.ok(list.includes('10.244.1.5:8080'));
  for (let i = 0; i < 3; i++) assert.is(connect(c, 'client').servedBy?.host, 'web-1');
});

test('cluster YAML: kubeProxy.mode and a node\'s kubeProxyMode', () => {
  const c = parseCluster(`apiVersion: nfemu/v1
kind: Cluster
kubeProxy: {mode: ipvs, scheduler: wrr}
networks: [{name: nodes, cidr: 192.168.0.0/24}]
nodes:
- {name: node1, ip: 192.168.0.2, podCIDR: 10.244.1.0/24}
- {name: node2, ip: 192.168.0.3, podCIDR: 10.244.2.0/24, kubeProxyMode: iptables}
pods:
- {name: web-1, node: node2, ip: 10.244.2.6, labels: {app: web}}
---
${WEB}`, 'cluster.yaml');
  assert.is(c.kubeProxy('node1')?.mode, 'ipvs');
  assert.is(c.kubeProxy('node2')?.mode, 'iptables');
  assert.ok(c.ipvsadm('node1').includes('TCP  10.96.0.10:80 wrr\n  -> 10.244.2.6:8080'));
});

test.run();
