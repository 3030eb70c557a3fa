/**
 * NodePort and LoadBalancer from outside the cluster, with externalTrafficPolicy Cluster
 * and Local. Cluster: any node accepts the connection and forwards it to an endpoint,
 * possibly on another node (an extra hop), masquerading it so the reply comes back the
 * same way, so the pod never sees the client's address. Local: only nodes with a local
 * endpoint take the connection, no masquerade, the pod sees the client; a node without
 * one drops it, and the cloud load balancer's health check keeps it out of rotation.
 * Node rules are what kube-proxy (iptables mode) generates from the manifests below.
 */
import { Cluster, httpRequest, walkToLines, emitWalk, type Scenario, type ExchangeResult } from '../src/index.ts';

const MANIFESTS = `
apiVersion: v1
kind: Service
metadata: {name: web-cluster, namespace: default}
spec:
  type: LoadBalancer
  clusterIP: 10.96.0.40
  externalTrafficPolicy: Cluster
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: 8080, nodePort: 30080}]
---
apiVersion: v1
kind: Service
metadata: {name: web-local, namespace: default}
spec:
  type: LoadBalancer
  clusterIP: 10.96.0.41
  externalTrafficPolicy: Local
  healthCheckNodePort: 32000
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: 8080, nodePort: 30081}]
`;

/** The address the server's socket saw as its peer. */
function seen(r: ExchangeResult): string {
  const last = r.upstream.length ? r.upstream[r.upstream.length - 1]! : r;
  return last.request.end.packet.src;
}

const scenario: Scenario = {
  name: 'nodeport-local',
  title: 'NodePort / LoadBalancer with externalTrafficPolicy Cluster vs Local',
  run(io) {
    const c = new Cluster({ seed: 8 });
    c.addNetwork('internet', '203.0.113.0/24');
    c.addNetwork('nodes', '192.168.0.0/24');
    c.addLoadBalancer({
      name: 'lb',
      interfaces: [{ ip: '203.0.113.1' }, { ip: '192.168.0.1' }],
      frontends: [
        { vip: '203.0.113.100', port: 80, service: 'default/web-local' },
        { vip: '203.0.113.101', port: 80, service: 'default/web-cluster' },
      ],
    });
    c.addNode({ name: 'node1', ip: '192.168.0.2', podCIDR: '10.244.1.0/24', gateway: '192.168.0.1' });
    c.addNode({ name: 'node2', ip: '192.168.0.3', podCIDR: '10.244.2.0/24', gateway: '192.168.0.1' });
    c.addPod({ name: 'web-1', node: 'node2', ip: '10.244.2.5', labels: { app: 'web' } });
    c.applyManifests(MANIFESTS, 'nodeport-local manifests');
    c.serveHttp('web-1', 8080);
    c.addExternal({ name: 'client', ip: '203.0.113.10', gateway: '203.0.113.1' });

    io.say('Two nodes behind a cloud load balancer (which is also their router to the internet). One pod, web-1');
    io.say('(10.244.2.5:8080), runs on node2; node1 has no endpoint. Two Services select it:');
    io.say('  web-cluster  NodePort 30080, LoadBalancer VIP 203.0.113.101, externalTrafficPolicy: Cluster');
    io.say('  web-local    NodePort 30081, LoadBalancer VIP 203.0.113.100, externalTrafficPolicy: Local');
    io.say('The client is 203.0.113.10 on the internet.');
    const get = httpRequest({ host: 'web', path: '/' });

    io.say('');
    io.say('1. Cluster policy, to the NodePort of node1 (which has no endpoint):');
    const w1 = c.walker({ title: 'client → node1:30080 (eTP Cluster)' });
    const r1 = w1.exchange('client', { proto: 'tcp', dst: '192.168.0.2', dport: 30080, payload: get });
    for (const l of walkToLines(w1.walk)) io.say(l);
    emitWalk(io, 'cluster-policy-nodeport', w1.walk);
    const n1 = w1.walk.legs[0]!.hops.find((h) => h.host === 'node1')!;
    io.check(r1.ok && n1.after.dst === '10.244.2.5' && n1.next?.host === 'node2', 'node1 accepts it and forwards it to the endpoint on node2: an extra hop');
    io.check(seen(r1) === '192.168.0.2', 'web-1 sees the connection coming from node1 (192.168.0.2): kube-proxy masqueraded it, the client address is lost');
    io.check(r1.replyLeg!.hops.some((h) => h.host === 'node1'), 'the reply goes back through node1, whose conntrack undoes both NATs');

    io.say('');
    io.say('2. Local policy, to the NodePort of node1:');
    const w2 = c.walker({ title: 'client → node1:30081 (eTP Local, no local endpoint)' });
    const r2 = w2.exchange('client', { proto: 'tcp', dst: '192.168.0.2', dport: 30081, payload: get });
    for (const l of walkToLines(w2.walk)) io.say(l);
    emitWalk(io, 'local-policy-no-endpoint', w2.walk);
    const drop = w2.walk.legs[0]!.hops.at(-1)!;
    io.say(`   decided by: ${drop.by ? `${drop.by.table}:${drop.by.chain}#${drop.by.rule_index} ${drop.by.target}` : '(none)'}${drop.by ? `  —  ${drop.trace.find((e) => e.rule_index === drop.by!.rule_index && e.chain === drop.by!.chain)?.rule ?? ''}` : ''}`);
    io.check(!r2.ok && drop.host === 'node1' && drop.fate === 'dropped', 'node1 drops it: it has no local endpoint for web-local');

    io.say('');
    io.say('3. Local policy, to the NodePort of node2:');
    const w3 = c.walker({ title: 'client → node2:30081 (eTP Local)' });
    const r3 = w3.exchange('client', { proto: 'tcp', dst: '192.168.0.3', dport: 30081, payload: get });
    for (const l of walkToLines(w3.walk)) io.say(l);
    emitWalk(io, 'local-policy-nodeport', w3.walk);
    io.check(r3.ok && seen(r3) === '203.0.113.10', 'web-1 sees the client\'s own address 203.0.113.10: no masquerade');
    io.check(w3.walk.legs[0]!.hops.filter((h) => h.host.startsWith('node')).length === 1, 'one node hop: the node that took the connection is the one with the endpoint');

    io.say('');
    io.say('4. The LoadBalancer VIP of web-local: the cloud health check (healthCheckNodePort 32000) fails on node1,');
    io.say('   so only node2 is a backend. Six connections:');
    const localRuns: ExchangeResult[] = [];
    const w4 = c.walker({ title: 'client → 203.0.113.100:80 (LoadBalancer, eTP Local)' });
    for (let i = 0; i < 6; i++) localRuns.push(w4.exchange('client', { proto: 'tcp', dst: '203.0.113.100', dport: 80, payload: get }));
    for (const l of walkToLines({ ...w4.walk, legs: w4.walk.legs.slice(0, 2) })) io.say(l);
    io.say('   … (the other five take the same path)');
    emitWalk(io, 'local-policy-loadbalancer', w4.walk);
    io.check(localRuns.every((r) => r.ok && r.request.hops.some((h) => h.host === 'node2') && !r.request.hops.some((h) => h.host === 'node1')), 'all six go to node2 and none to node1');
    io.check(localRuns.every((r) => seen(r) === '203.0.113.10'), 'web-1 sees the client address every time');

    io.say('');
    io.say('5. The LoadBalancer VIP of web-cluster: both nodes are backends. Twenty connections:');
    const clusterRuns: ExchangeResult[] = [];
    const w5 = c.walker({ title: 'client → 203.0.113.101:80 (LoadBalancer, eTP Cluster)', trace: false });
    for (let i = 0; i < 20; i++) clusterRuns.push(w5.exchange('client', { proto: 'tcp', dst: '203.0.113.101', dport: 80, payload: get }));
    const viaNode1 = clusterRuns.filter((r) => r.request.hops.some((h) => h.host === 'node1'));
    const viaNode2 = clusterRuns.filter((r) => !r.request.hops.some((h) => h.host === 'node1'));
    io.say(`   ${viaNode1.length} went to node1 then node2 (web-1 saw ${[...new Set(viaNode1.map(seen))].join(', ')}),`);
    io.say(`   ${viaNode2.length} went to node2 directly (web-1 saw ${[...new Set(viaNode2.map(seen))].join(', ')}).`);
    emitWalk(io, 'cluster-policy-loadbalancer', w5.walk);
    io.check(clusterRuns.every((r) => r.ok), 'all twenty are answered');
    io.check(viaNode1.length > 0 && viaNode2.length > 0, 'the load balancer spreads them over both nodes');
    io.check(viaNode1.every((r) => seen(r) === '192.168.0.2') && viaNode2.every((r) => seen(r) === '10.244.2.1'),
      'web-1 never sees 203.0.113.10: via node1 it sees node1\'s address; via node2 it sees node2\'s bridge address 10.244.2.1 (masquerade picks the outgoing interface\'s address)');
  },
};

export default scenario;
