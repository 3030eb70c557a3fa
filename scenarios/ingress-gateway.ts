/**
 * The whole way in through an Istio ingress gateway: the client resolves the shop's name
 * in public DNS, connects to the cloud load balancer's VIP, which sends it to a node's
 * NodePort, where kube-proxy DNATs it to the gateway pod; Envoy there matches the
 * VirtualService and splits traffic 90/10 between two versions (DestinationRule subsets),
 * connecting straight to a pod of the chosen version; the answer retraces every step.
 * The cluster is declared in YAML (a cluster document followed by Kubernetes and Istio
 * objects), the way `parseCluster` / `readClusterFile` read it.
 */
import { parseCluster, httpRequest, parseHttpResponse, parseHttpRequest, walkToLines, emitWalk, type Scenario } from '../src/index.ts';

const CLUSTER = `
apiVersion: nfemu/v1
kind: Cluster
seed: 2024
networks:
  - {name: internet, cidr: 203.0.113.0/24}
  - {name: nodes, cidr: 192.168.0.0/24}
loadBalancers:
  - name: lb
    interfaces: [{network: internet, ip: 203.0.113.1}, {network: nodes, ip: 192.168.0.1}]
    frontends:
      - {vip: 203.0.113.100, port: 80, service: istio-system/istio-ingressgateway}
nodes:
  - {name: node1, ip: 192.168.0.2, podCIDR: 10.244.1.0/24, gateway: 192.168.0.1}
  - {name: node2, ip: 192.168.0.3, podCIDR: 10.244.2.0/24, gateway: 192.168.0.1}
pods:
  - {name: ingressgateway-1, namespace: istio-system, node: node1, ip: 10.244.1.10, labels: {istio: ingressgateway}}
  - {name: reviews-v1-a, node: node1, ip: 10.244.1.20, labels: {app: reviews, version: v1}}
  - {name: reviews-v1-b, node: node2, ip: 10.244.2.21, labels: {app: reviews, version: v1}}
  - {name: reviews-v2-a, node: node2, ip: 10.244.2.22, labels: {app: reviews, version: v2}}
externals:
  - {name: client, network: internet, ip: 203.0.113.10, gateway: 203.0.113.1, nameservers: [203.0.113.53]}
  - {name: public-dns, network: internet, ip: 203.0.113.53}
processes:
  - {host: public-dns, kind: dns, records: {shop.example.com: [203.0.113.100]}}
  - {host: ingressgateway-1, kind: gateway}
  - {host: reviews-v1-a, kind: http, port: 9080}
  - {host: reviews-v1-b, kind: http, port: 9080}
  - {host: reviews-v2-a, kind: http, port: 9080}
---
apiVersion: v1
kind: Service
metadata: {name: istio-ingressgateway, namespace: istio-system}
spec:
  type: LoadBalancer
  clusterIP: 10.96.0.80
  selector: {istio: ingressgateway}
  ports: [{name: http2, port: 80, targetPort: 8080, nodePort: 30080}]
---
apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: default}
spec:
  clusterIP: 10.96.0.50
  selector: {app: reviews}
  ports: [{name: http, port: 9080, targetPort: 9080}]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: shop-gateway, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers:
    - port: {number: 80, name: http, protocol: HTTP}
      hosts: [shop.example.com]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: default}
spec:
  hosts: [shop.example.com]
  gateways: [istio-system/shop-gateway]
  http:
    - name: reviews-canary
      match: [{uri: {prefix: /reviews}}]
      route:
        - destination: {host: reviews, port: {number: 9080}, subset: v1}
          weight: 90
        - destination: {host: reviews, port: {number: 9080}, subset: v2}
          weight: 10
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: default}
spec:
  host: reviews
  subsets:
    - {name: v1, labels: {version: v1}}
    - {name: v2, labels: {version: v2}}
`;

const scenario: Scenario = {
  name: 'ingress-gateway',
  title: 'Ingress gateway: DNS → LoadBalancer → NodePort → Envoy → 90/10 split → pod, and back',
  run(io) {
    const c = parseCluster(CLUSTER, 'ingress-gateway.yaml');
    io.say('A client on the internet opens http://shop.example.com/reviews/1. shop.example.com is in public DNS as the VIP');
    io.say('203.0.113.100 of a cloud load balancer whose backends are the NodePort 30080 of Service');
    io.say('istio-system/istio-ingressgateway on both nodes. The gateway pod (Envoy) runs on node1. A VirtualService');
    io.say('sends /reviews to Service reviews, 90% to subset v1 (two pods) and 10% to subset v2 (one pod).');

    const w = c.walker({ title: 'client → shop.example.com/reviews/1 through the ingress gateway' });
    io.say('');
    io.say('1. The client resolves the name (its resolv.conf: nameserver 203.0.113.53, no search list, ndots 1):');
    const res = w.resolve('client', 'shop.example.com');
    for (const l of walkToLines(w.walk)) io.say(l);
    io.check(res.address === '203.0.113.100' && res.tries.length === 1, 'one query, answered with the load balancer\'s VIP 203.0.113.100');

    io.say('');
    io.say('2. The request:');
    const before = w.walk.legs.length;
    const r = w.exchange('client', { proto: 'tcp', dst: res.address!, dport: 80, payload: httpRequest({ host: 'shop.example.com', path: '/reviews/1' }), label: 'client → shop.example.com:80' });
    for (const l of walkToLines({ ...w.walk, legs: w.walk.legs.slice(before) })) io.say(l);
    emitWalk(io, 'ingress', w.walk);
    const req = r.request;
    const lbHop = req.hops.find((h) => h.host === 'lb')!;
    io.check(lbHop.after.dport === 30080, 'the load balancer DNATs the VIP to a node\'s NodePort 30080');
    io.check(req.end.host === 'ingressgateway-1' && req.end.packet.dport === 8080, 'kube-proxy on that node DNATs the NodePort to the gateway pod 10.244.1.10:8080');
    const up = r.upstream[0]!;
    const upReq = up.request.end.payload ? parseHttpRequest(up.request.end.payload) : null;
    const served = up.servedBy?.host ?? '';
    io.check(r.ok && up.ok && served.startsWith('reviews-'), `Envoy routes /reviews to a reviews pod (${served}) by its pod address, not through the ClusterIP`);
    io.check(up.request.hops.every((h) => h.host !== 'lb') && up.socket.dst.startsWith('10.244.'), 'the gateway\'s upstream connection goes pod to pod, inside the cluster');
    io.say(`   the gateway added x-forwarded-for: ${upReq?.headers['x-forwarded-for']}`);
    io.check(upReq?.headers['x-forwarded-for'] !== '203.0.113.10', 'with externalTrafficPolicy Cluster the gateway sees a node\'s address, not the client\'s (x-forwarded-for shows it)');
    const res1 = r.reply ? parseHttpResponse(r.reply) : null;
    io.say(`   the client reads: ${res1?.status} ${res1?.reason}: ${res1?.body}`);
    io.check(r.ok && r.replyLeg!.end.packet.src === '203.0.113.100', 'the answer comes back from 203.0.113.100:80, through the gateway and the load balancer');

    io.say('');
    io.say('3. 500 more requests (not traced), counting which version answers:');
    const counts = new Map<string, number>();
    const quiet = c.walker({ trace: false });
    for (let i = 0; i < 500; i++) {
      const x = quiet.exchange('client', { proto: 'tcp', dst: '203.0.113.100', dport: 80, payload: httpRequest({ host: 'shop.example.com', path: `/reviews/${i}` }) });
      const who = x.upstream[0]?.servedBy?.host ?? 'failed';
      counts.set(who, (counts.get(who) ?? 0) + 1);
    }
    for (const [k, v] of [...counts.entries()].sort()) io.say(`   ${k.padEnd(14)} ${v}`);
    const v2 = counts.get('reviews-v2-a') ?? 0;
    const v1 = (counts.get('reviews-v1-a') ?? 0) + (counts.get('reviews-v1-b') ?? 0);
    io.check(v1 + v2 === 500, 'every request was answered by a reviews pod');
    // 10% of 500 is 50; the binomial standard deviation is sqrt(500·0.1·0.9) ≈ 6.7: 4σ either side.
    io.check(v2 >= 23 && v2 <= 77, `v2 answered ${v2} of 500, about 10% (within 4σ of 50)`);
    io.check((counts.get('reviews-v1-a') ?? 0) > 150 && (counts.get('reviews-v1-b') ?? 0) > 150, 'v1\'s share is spread over both v1 pods');

    io.say('');
    io.say('4. A path no route matches:');
    const w4 = c.walker({ title: 'client → shop.example.com/admin (no route)' });
    const r4 = w4.exchange('client', { proto: 'tcp', dst: '203.0.113.100', dport: 80, payload: httpRequest({ host: 'shop.example.com', path: '/admin' }) });
    for (const l of walkToLines(w4.walk)) io.say(l);
    emitWalk(io, 'ingress-no-route', w4.walk);
    io.check(r4.ok && parseHttpResponse(r4.reply!)?.status === 404 && r4.upstream.length === 0, 'the gateway answers 404 itself: no upstream connection is opened');
  },
};

export default scenario;
