/**
 * Istio sidecar capture: the rules istio-iptables writes into a pod, and what they do to
 * four connections — an application's outbound call (redirected to Envoy on 15001), the
 * same connection arriving at the server pod (redirected to Envoy on 15006), Envoy's own
 * traffic (uid 1337: never captured again), and excluded ports (inbound 9090 for metrics,
 * outbound 5432 for a database) that bypass the proxy entirely.
 */
import {
  Cluster, EchoServer, httpRequest, parseHttpResponse, istioIptables, walkToLines, emitWalk, type Scenario, type Hop, type Walk,
} from '../src/index.ts';

const MANIFESTS = `
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  clusterIP: 10.96.0.20
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: 8080}]
`;

/** The rule that decided a hop's nat verdicts, as `chain#n VERDICT` lines. */
function natRules(h: Hop): string[] {
  return h.trace.filter((e) => e.table === 'nat').map((e) => `${e.chain}${e.rule_index !== null ? `#${e.rule_index}` : ''} ${e.verdict}`);
}

function hopsOf(w: Walk): Hop[] {
  return w.legs.flatMap((l) => l.hops);
}

const scenario: Scenario = {
  name: 'istio-capture',
  title: 'Istio sidecar capture: 15001 out, 15006 in, uid 1337 and excluded ports',
  run(io) {
    const c = new Cluster({ seed: 11 });
    c.addNetwork('nodes', '192.168.0.0/24');
    c.addNode({ name: 'node1', ip: '192.168.0.2', podCIDR: '10.244.1.0/24' });
    c.addNode({ name: 'node2', ip: '192.168.0.3', podCIDR: '10.244.2.0/24' });
    c.addPod({ name: 'sleep', node: 'node1', ip: '10.244.1.9', labels: { app: 'sleep' } });
    c.addPod({ name: 'prometheus', node: 'node1', ip: '10.244.1.20', labels: { app: 'prometheus' } });
    c.addPod({ name: 'web-1', node: 'node2', ip: '10.244.2.5', labels: { app: 'web' } });
    c.addPod({ name: 'db-1', node: 'node2', ip: '10.244.2.7', labels: { app: 'db' } });
    c.applyManifests(MANIFESTS, 'istio-capture manifests');
    c.serveHttp('web-1', 8080);
    c.serveHttp('web-1', 9090, { name: 'metrics', identity: 'web-1 metrics' });
    c.listen('db-1', 'tcp', 5432, new EchoServer('postgres on db-1', 'postgres'));
    c.injectSidecar('sleep', { outboundPortsExclude: '5432' });
    c.injectSidecar('web-1', { inboundPortsExclude: '15090,15021,15020,9090' });

    io.say('Two nodes. Pods: sleep (10.244.1.9, sidecar) and prometheus (10.244.1.20, no sidecar) on node1;');
    io.say('web-1 (10.244.2.5, sidecar, app on 8080, metrics on 9090) and db-1 (10.244.2.7, postgres, no sidecar) on node2.');
    io.say('Service web: 10.96.0.20:80 → pods app=web port 8080. Nodes run kube-proxy (iptables mode).');
    io.say('');
    io.say('The nat table istio-iptables writes into web-1 (sidecar injector defaults, plus 9090 excluded inbound):');
    const rules = istioIptables({ inboundPortsExclude: '15090,15021,15020,9090' }).v4;
    for (const l of rules.split('\n').filter((x) => x.startsWith('-A'))) io.say(`    ${l}`);
    io.check(rules.includes('-A ISTIO_INBOUND -p tcp --dport 9090 -j RETURN'), 'port 9090 is excluded from inbound capture by a RETURN in ISTIO_INBOUND');
    io.check(rules.includes('-A ISTIO_OUTPUT -m owner --uid-owner 1337 -j RETURN'), 'traffic of uid 1337 (the proxy) returns from ISTIO_OUTPUT before any redirect');

    // 1. The application in sleep calls http://web/.
    io.say('');
    io.say('1. The application in sleep (uid 1000) connects to web (10.96.0.20:80) and sends GET /:');
    const w1 = c.walker({ title: 'sleep → web through two sidecars' });
    const r1 = w1.exchange('sleep', { proto: 'tcp', dst: '10.96.0.20', dport: 80, uid: 1000, gid: 1000, payload: httpRequest({ host: 'web', path: '/' }), label: 'app in sleep → web:80' });
    for (const l of walkToLines(w1.walk)) io.say(l);
    emitWalk(io, 'mesh-request', w1.walk);
    const first = w1.walk.legs[0]!;
    const sleepOut = first.hops[0]!;
    io.say(`   sleep's nat OUTPUT for the application's packet: ${natRules(sleepOut).join(', ')}`);
    io.check(sleepOut.after.dst === '127.0.0.1' && sleepOut.after.dport === 15001 && first.end.host === 'sleep', 'the application\'s SYN is redirected to Envoy on 127.0.0.1:15001 inside the sleep pod');
    io.check(natRules(sleepOut).includes('ISTIO_REDIRECT#1 ACCEPT'), 'the redirect is ISTIO_OUTPUT → ISTIO_REDIRECT → REDIRECT --to-ports 15001');
    const upstream = w1.walk.legs.find((l) => l.from === 'sleep' && l.kind === 'request' && l.depth === 1)!;
    const escape = upstream.hops[0]!;
    io.check(natRules(escape).some((r) => r.startsWith('ISTIO_OUTPUT#') && r.endsWith('RETURN')) && escape.after.dst === '10.244.2.5' && escape.after.out_iface === 'eth0',
      'Envoy\'s own connection (uid 1337) returns from ISTIO_OUTPUT and leaves sleep on eth0, straight to the pod address 10.244.2.5:8080');
    io.check(hopsOf(w1.walk).filter((h) => h.host === 'node1' || h.host === 'node2').every((h) => h.before.dst === h.after.dst),
      'no node rewrites anything: Envoy picked the endpoint itself, so kube-proxy\'s ClusterIP DNAT never applies');
    const atWeb = upstream.hops[upstream.hops.length - 1]!;
    io.check(atWeb.host === 'web-1' && atWeb.after.dport === 15006, 'arriving at web-1, the connection to port 8080 is redirected to Envoy\'s inbound port 15006');
    const toApp = w1.walk.legs.find((l) => l.from === 'web-1' && l.kind === 'request')!;
    io.check(toApp.hops[0]!.before.src === '127.0.0.6' && natRules(toApp.hops[0]!).includes('ISTIO_OUTPUT#1 RETURN'),
      'the inbound Envoy hands the request to the app from 127.0.0.6, which the first ISTIO_OUTPUT rule lets through');
    const body = r1.reply ? parseHttpResponse(r1.reply)?.body ?? '' : '';
    io.say(`   the application in sleep reads: ${body}`);
    io.check(r1.ok && body.includes('to 127.0.0.6:'), 'the app in web-1 sees its client as 127.0.0.6 (the sidecar), not as the sleep pod');
    io.check(r1.ok && r1.socket.dst === '10.96.0.20', 'the reply reaches the application\'s socket, still connected to 10.96.0.20:80');

    // 2. Prometheus scrapes the excluded metrics port.
    io.say('');
    io.say('2. prometheus (no sidecar) scrapes web-1:9090 directly:');
    const w2 = c.walker({ title: 'prometheus → web-1:9090 (excluded inbound port)' });
    const r2 = w2.exchange('prometheus', { proto: 'tcp', dst: '10.244.2.5', dport: 9090, payload: httpRequest({ host: '10.244.2.5:9090', path: '/metrics' }) });
    for (const l of walkToLines(w2.walk)) io.say(l);
    emitWalk(io, 'excluded-inbound', w2.walk);
    const atWeb2 = w2.walk.legs[0]!.hops.at(-1)!;
    io.say(`   web-1's nat PREROUTING: ${natRules(atWeb2).join(', ')}`);
    io.check(atWeb2.after.dport === 9090 && natRules(atWeb2).includes('ISTIO_INBOUND#5 RETURN'), 'port 9090 returns from ISTIO_INBOUND: no redirect to 15006');
    io.check(r2.ok && r2.servedBy?.process === 'metrics' && (parseHttpResponse(r2.reply!)?.body ?? '').includes('10.244.1.20'), 'the metrics endpoint answers directly and sees prometheus\'s own address');

    // 3. The excluded outbound port.
    io.say('');
    io.say('3. The application in sleep talks to postgres on db-1:5432, an excluded outbound port:');
    const w3 = c.walker({ title: 'sleep → db-1:5432 (excluded outbound port)' });
    const r3 = w3.exchange('sleep', { proto: 'tcp', dst: '10.244.2.7', dport: 5432, uid: 1000, gid: 1000, payload: 'SELECT 1' });
    for (const l of walkToLines(w3.walk)) io.say(l);
    emitWalk(io, 'excluded-outbound', w3.walk);
    const out3 = w3.walk.legs[0]!.hops[0]!;
    io.check(out3.after.out_iface === 'eth0' && out3.after.dport === 5432 && natRules(out3).includes('ISTIO_OUTPUT#1 RETURN'),
      'port 5432 returns at the top of ISTIO_OUTPUT: the packet leaves sleep on eth0 without visiting Envoy');
    io.check(r3.ok && r3.servedBy?.host === 'db-1' && w3.walk.legs.length === 2, 'one request and one reply: no proxy in between');
  },
};

export default scenario;
