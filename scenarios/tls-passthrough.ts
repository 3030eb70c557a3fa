/**
 * TLS through an L4 load balancer: the cloud load balancer and every node only rewrite
 * addresses and ports; the encrypted bytes arrive at the pod exactly as the client sent
 * them, and only the pod, holding the certificate, reads the request inside. The load
 * balancer cannot tell two host names apart: a ClientHello for a name the backend has no
 * certificate for takes the very same path and is refused by the backend, not the LB.
 */
import {
  Cluster, HttpServer, printSave, httpRequest, tlsClientHello, peekTls, openTls, parseHttpResponse, walkToLines, emitWalk, type Scenario,
} from '../src/index.ts';

const MANIFESTS = `
apiVersion: v1
kind: Service
metadata: {name: shop, namespace: default}
spec:
  type: LoadBalancer
  clusterIP: 10.96.0.30
  selector: {app: shop}
  ports: [{name: https, port: 443, targetPort: 8443, nodePort: 30443}]
`;

const scenario: Scenario = {
  name: 'tls-passthrough',
  title: 'TLS passthrough: an L4 load balancer never reads the payload, the pod terminates TLS',
  run(io) {
    const c = new Cluster({ seed: 5 });
    c.addNetwork('internet', '203.0.113.0/24');
    c.addNetwork('nodes', '192.168.0.0/24');
    c.addLoadBalancer({
      name: 'lb',
      interfaces: [{ network: 'internet', ip: '203.0.113.1' }, { network: 'nodes', ip: '192.168.0.1' }],
      frontends: [{ vip: '203.0.113.100', port: 443, service: 'default/shop' }],
    });
    c.addNode({ name: 'node1', ip: '192.168.0.2', podCIDR: '10.244.1.0/24', gateway: '192.168.0.1' });
    c.addNode({ name: 'node2', ip: '192.168.0.3', podCIDR: '10.244.2.0/24', gateway: '192.168.0.1' });
    c.addPod({ name: 'shop-1', node: 'node2', ip: '10.244.2.5', labels: { app: 'shop' } });
    c.applyManifests(MANIFESTS, 'tls-passthrough manifests');
    c.listen('shop-1', 'tcp', 8443, new HttpServer({ name: 'nginx', identity: 'shop-1', tlsNames: ['shop.example.com'] }));
    c.addExternal({ name: 'client', network: 'internet', ip: '203.0.113.10', gateway: '203.0.113.1' });

    io.say('A client on the internet (203.0.113.10) connects to shop.example.com = 203.0.113.100:443, the VIP of a cloud');
    io.say('L4 load balancer. Its backends are the NodePort 30443 of Service default/shop on both nodes; the only pod,');
    io.say('shop-1 (10.244.2.5), runs nginx with the certificate for shop.example.com on port 8443.');
    io.say('');
    io.say('The load balancer\'s rules (addresses and ports, nothing else):');
    for (const l of lbRules(c)) io.say(`    ${l}`);

    const inner = httpRequest({ host: 'shop.example.com', path: '/cart', headers: { cookie: 'session=42' } });
    const hello = tlsClientHello('shop.example.com', inner);
    io.say('');
    io.say('1. The client sends a TLS ClientHello for shop.example.com with an encrypted GET /cart:');
    const w = c.walker({ title: 'client → shop.example.com:443 (TLS passthrough)' });
    const r = w.exchange('client', { proto: 'tcp', dst: '203.0.113.100', dport: 443, payload: hello, label: 'client → 203.0.113.100:443' });
    for (const l of walkToLines(w.walk)) io.say(l);
    emitWalk(io, 'tls-passthrough', w.walk);
    const req = w.walk.legs[0]!;
    const lbHop = req.hops.find((h) => h.host === 'lb')!;
    io.check(lbHop.before.dst === '203.0.113.100' && lbHop.after.dport === 30443 && lbHop.trace.some((e) => e.table === 'nat' && e.verdict === 'ACCEPT'),
      'the load balancer DNATs 203.0.113.100:443 to a node\'s NodePort 30443 (a nat rule on addresses and ports)');
    io.check(c.host('lb').listeners.size === 0, 'no process runs on the load balancer: nothing there could read the payload');
    io.check(req.end.host === 'shop-1' && req.end.payload === hello, 'the bytes delivered to shop-1 are exactly the bytes the client sent');
    const seen = peekTls(req.end.payload);
    io.say(`   on the wire anyone can read only: SNI ${seen?.name}, ${seen?.encryptedBytes} encrypted bytes`);
    io.check(seen !== null && !req.end.payload.includes('/cart') && !req.end.payload.includes('session=42'), 'the path and the cookie are not visible in the payload on any hop');
    const answer = r.reply !== null ? openTls(r.reply) : null;
    const res = answer ? parseHttpResponse(answer.inner) : null;
    io.say(`   the client decrypts the answer: ${res ? `${res.status} ${res.reason}: ${res.body}` : '(none)'}`);
    io.check(r.ok && r.servedBy?.host === 'shop-1' && res?.status === 200 && res.body.includes('GET /cart'), 'only shop-1 decrypts the request (GET /cart) and answers 200, encrypted');
    io.check(r.ok && r.replyLeg!.end.packet.src === '203.0.113.100' && r.replyLeg!.end.packet.sport === 443,
      'the answer comes back through the load balancer\'s conntrack: the client sees it from 203.0.113.100:443');

    io.say('');
    io.say('2. Another ClientHello, for admin.example.com, to the same VIP:');
    const w2 = c.walker({ title: 'client → admin.example.com:443 (same VIP)' });
    const r2 = w2.exchange('client', { proto: 'tcp', dst: '203.0.113.100', dport: 443, payload: tlsClientHello('admin.example.com', httpRequest({ host: 'admin.example.com', path: '/' })) });
    for (const l of walkToLines(w2.walk)) io.say(l);
    emitWalk(io, 'tls-other-sni', w2.walk);
    const lb2 = w2.walk.legs[0]!.hops.find((h) => h.host === 'lb')!;
    const ruleOf = (h: typeof lb2) => h.trace.filter((e) => e.table === 'nat' && e.rule_index !== null).map((e) => `nat:${e.chain}#${e.rule_index}`).join(' ');
    io.say(`   load balancer rules matched: first connection ${ruleOf(lbHop)}; this one ${ruleOf(lb2)}`);
    io.check(lb2.after.dport === 30443 && w2.walk.legs[0]!.end.host === 'shop-1', 'the load balancer forwards it just the same: at L4 the host name is invisible to it');
    io.check(r2.reply === 'TLS Alert unrecognized_name', 'shop-1 refuses it (no certificate for admin.example.com): the backend, not the LB, tells the names apart');
  },
};

/** The load balancer's rules as iptables-save prints them (rule lines only). */
function lbRules(c: Cluster): string[] {
  c.sync();
  return printSave(c.host('lb').host.currentRuleset()).split('\n').filter((l) => l.startsWith('-A'));
}

export default scenario;
