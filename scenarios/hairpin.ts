/**
 * Hairpin: a pod connects to its own Service and kube-proxy picks the pod itself. The
 * node DNATs the packet back to the pod it came from, and kube-proxy's KUBE-SEP rule
 * (`-s <endpoint> -j KUBE-MARK-MASQ`) masquerades it, so the pod sees the connection come
 * from the node and answers the node, whose conntrack turns the answer back into a reply
 * from the ClusterIP. Without that masquerade the packet would come back into the pod with
 * the pod's own address as its source, which the kernel drops as a martian.
 */
import { Cluster, printSave, restore, httpRequest, parseHttpResponse, walkToLines, emitWalk, type Scenario } from '../src/index.ts';

const MANIFESTS = `
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  clusterIP: 10.96.0.20
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: 8080}]
`;

function build(): Cluster {
  const c = new Cluster({ seed: 4 });
  c.addNetwork('nodes', '192.168.0.0/24');
  c.addNode({ name: 'node1', ip: '192.168.0.2', podCIDR: '10.244.1.0/24' });
  c.addPod({ name: 'web-1', node: 'node1', ip: '10.244.1.5', labels: { app: 'web' } });
  c.applyManifests(MANIFESTS, 'hairpin manifests');
  c.serveHttp('web-1', 8080);
  return c;
}

const scenario: Scenario = {
  name: 'hairpin',
  title: 'Hairpin: a pod reaching its own Service lands on itself, masqueraded',
  run(io) {
    const c = build();
    io.say('One node, one pod: web-1 (10.244.1.5) serves on 8080 and is the only endpoint of Service web (10.96.0.20:80).');
    io.say('The node\'s rules are what kube-proxy (iptables mode) generates. web-1 connects to its own Service:');
    const w = c.walker({ title: 'web-1 → web:80 → web-1 (hairpin)' });
    const r = w.exchange('web-1', { proto: 'tcp', dst: '10.96.0.20', dport: 80, payload: httpRequest({ host: 'web', path: '/self' }) });
    for (const l of walkToLines(w.walk)) io.say(l);
    emitWalk(io, 'hairpin', w.walk);
    const hop = w.walk.legs[0]!.hops.find((h) => h.host === 'node1')!;
    io.say('   node1, rule by rule:');
    for (const e of hop.trace.filter((x) => x.table === 'nat' && x.rule_index !== null)) io.say(`     ${e.hook} nat:${e.chain}#${e.rule_index} ${e.verdict}   ${e.rule}`);
    io.check(hop.after.dst === '10.244.1.5' && hop.next?.host === 'web-1', 'node1 DNATs 10.96.0.20:80 to 10.244.1.5:8080 and sends it back out cni0 to web-1 itself');
    io.check(hop.trace.some((e) => e.chain.startsWith('KUBE-SEP-') && e.rule?.includes('-s 10.244.1.5/32') && e.verdict === 'JUMP:KUBE-MARK-MASQ'),
      'the KUBE-SEP rule `-s 10.244.1.5/32 -j KUBE-MARK-MASQ` matches: the source is the endpoint itself');
    io.check(hop.after.src === '10.244.1.1', 'MASQUERADE rewrites the source to node1\'s address on cni0, 10.244.1.1');
    const body = r.reply ? parseHttpResponse(r.reply)?.body ?? '' : '';
    io.say(`   web-1 (as a client) reads: ${body}`);
    io.check(r.ok && body.includes('to 10.244.1.1:'), 'web-1 (as the server) sees the connection come from 10.244.1.1, not from itself');
    io.check(r.ok && r.replyLeg!.hops[0]!.after.dst === '10.244.1.1' && r.replyLeg!.hops.some((h) => h.host === 'node1'),
      'its answer goes to the node, and node1\'s conntrack turns it back into 10.96.0.20:80 → 10.244.1.5');
    io.say('   (On a real node, br_netfilter bridges the rewritten frame back out of the port it came in on, which the');
    io.say('   bridge allows only in hairpin mode — kubelet\'s --hairpin-mode. nfemu routes it through the node: same hooks.)');

    io.say('');
    io.say('Now the same node without the masquerade rule (the KUBE-SEP `-s 10.244.1.5/32` line deleted):');
    const c2 = build();
    c2.sync();
    const text = printSave(c2.host('node1').host.currentRuleset()).split('\n').filter((l) => !(l.startsWith('-A KUBE-SEP-') && l.includes('-s 10.244.1.5/32'))).join('\n');
    c2.setRules('node1', restore(text, { family: 4, file: 'node1 without hairpin masquerade' }));
    const w2 = c2.walker({ title: 'hairpin without masquerade' });
    const r2 = w2.exchange('web-1', { proto: 'tcp', dst: '10.96.0.20', dport: 80, payload: httpRequest({ host: 'web', path: '/self' }) });
    for (const l of walkToLines(w2.walk)) io.say(l);
    emitWalk(io, 'hairpin-without-masquerade', w2.walk);
    io.say(`   result: ${r2.failure}`);
    const back = w2.walk.legs[0]!;
    io.check(!r2.ok && back.end.kind === 'stack_drop' && back.end.host === 'web-1' && back.end.packet.src === '10.244.1.5',
      'the SYN comes back into web-1 with web-1\'s own address as its source: the kernel drops it as a martian (accept_local=0)');
    io.check(r2.replyLeg === null && r2.servedBy === null, 'the server socket never sees it, so nobody answers: the connection attempt just times out');
  },
};

export default scenario;
