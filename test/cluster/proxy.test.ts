/**
 * The Envoy-like proxy: deterministic route matching (host, path, headers), weighted
 * choices in the proportions asked for (seeded, bounded), subsets by pod labels, the
 * sidecar's default and passthrough routes, the answers when nothing matches, and the
 * Istio YAML subset's errors.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ScriptedRng } from '../../src/core/index.ts';
import { NfemuError } from '../../src/core/index.ts';
import {
  Cluster, httpRequest, parseHttpResponse, parseHttpRequest, parseIstio, pickWeighted, hostMatches, type ExchangeResult,
} from '../../src/cluster/index.ts';

test('pickWeighted: one draw, the boundary at weight/total exactly', () => {
  // scaleU32(w, 100) = floor(w · 100 / 2^32); index 1 starts at 90: w ≥ ceil(0.9 · 2^32) = 3865470567.
  assert.equal(pickWeighted(new ScriptedRng([0]), [90, 10]), 0);
  assert.equal(pickWeighted(new ScriptedRng([3865470566]), [90, 10]), 0);
  assert.equal(pickWeighted(new ScriptedRng([3865470567]), [90, 10]), 1);
  assert.equal(pickWeighted(new ScriptedRng([0xffffffff]), [90, 10]), 1);
  assert.equal(pickWeighted(new ScriptedRng([0xffffffff]), [1, 0]), 0, 'a zero weight is never chosen');
});

test('host patterns', () => {
  assert.ok(hostMatches('*.example.com', 'shop.example.com'));
  assert.not.ok(hostMatches('*.example.com', 'example.com'));
  assert.ok(hostMatches('*', 'anything'));
  assert.ok(hostMatches('Shop.Example.com', 'shop.example.COM'));
  assert.not.ok(hostMatches('shop.example.com', 'www.shop.example.com'));
});

const K8S = `
apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: default}
spec:
  clusterIP: 10.96.0.50
  selector: {app: reviews}
  ports: [{name: http, port: 9080}]
---
apiVersion: v1
kind: Service
metadata: {name: ratings, namespace: default}
spec:
  clusterIP: 10.96.0.60
  selector: {app: ratings}
  ports: [{name: http, port: 9080}]
`;

const ISTIO = `
apiVersion: networking.istio.io/v1beta1
kind: Gateway
metadata: {name: gw, namespace: default}
spec:
  selector: {istio: gw}
  servers:
    - port: {number: 80, name: http, protocol: HTTP}
      hosts: ["*.example.com"]
---
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: shop, namespace: default}
spec:
  hosts: ["shop.example.com"]
  gateways: [gw]
  http:
    - name: canary-header
      match:
        - uri: {prefix: /api}
          headers: {x-canary: {exact: "1"}}
      route:
        - destination: {host: reviews, subset: v2}
    - name: health
      match: [{uri: {exact: /health}}]
      route:
        - destination: {host: ratings}
    - name: split
      match: [{uri: {prefix: /api}}]
      route:
        - destination: {host: reviews, subset: v1}
          weight: 75
        - destination: {host: reviews, subset: v2}
          weight: 25
---
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: reviews-mesh, namespace: default}
spec:
  hosts: [reviews]
  http:
    - route:
        - destination: {host: reviews, subset: v2}
---
apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata: {name: reviews, namespace: default}
spec:
  host: reviews.default.svc.cluster.local
  subsets:
    - {name: v1, labels: {version: v1}}
    - {name: v2, labels: {version: v2}}
`;

function mesh(): Cluster {
  const c = new Cluster({ seed: 77 });
  c.addNetwork('nodes', '192.168.0.0/24');
  c.addNode({ name: 'node1', ip: '192.168.0.2', podCIDR: '10.244.1.0/24' });
  c.addNode({ name: 'node2', ip: '192.168.0.3', podCIDR: '10.244.2.0/24' });
  c.addPod({ name: 'client', node: 'node1', ip: '10.244.1.9', labels: { app: 'client' } });
  c.addPod({ name: 'gw-1', node: 'node1', ip: '10.244.1.10', labels: { istio: 'gw' } });
  c.addPod({ name: 'reviews-v1-a', node: 'node1', ip: '10.244.1.20', labels: { app: 'reviews', version: 'v1' } });
  c.addPod({ name: 'reviews-v1-b', node: 'node2', ip: '10.244.2.21', labels: { app: 'reviews', version: 'v1' } });
  c.addPod({ name: 'reviews-v2', node: 'node2', ip: '10.244.2.22', labels: { app: 'reviews', version: 'v2' } });
  c.addPod({ name: 'ratings-1', node: 'node2', ip: '10.244.2.30', labels: { app: 'ratings' } });
  c.addPod({ name: 'plain', node: 'node2', ip: '10.244.2.40', labels: { app: 'plain' } });
  c.applyManifests(K8S, 'k8s');
  c.applyIstio(ISTIO, 'istio');
  for (const p of ['reviews-v1-a', 'reviews-v1-b', 'reviews-v2', 'ratings-1', 'plain']) c.serveHttp(p, 9080);
  c.runGateway('gw-1');
  return c;
}

/** Which pod finally answered a request through the gateway. */
function backend(r: ExchangeResult): string | null {
  return r.upstream[0]?.servedBy?.host ?? null;
}

const viaGateway = (c: Cluster, path: string, headers: Record<string, string> = {}, host = 'shop.example.com') =>
  c.walker({ trace: false }).exchange('client', { proto: 'tcp', dst: '10.244.1.10', dport: 80, payload: httpRequest({ host, path, headers }) });

test('the gateway listens on the Gateway server port (no Service in front: the number itself)', () => {
  const c = mesh();
  c.sync();
  assert.equal([...c.host('gw-1').listeners.keys()], ['tcp/80']);
});

test('route matching is deterministic: first matching rule, header and exact matches', () => {
  const c = mesh();
  for (let i = 0; i < 5; i++) assert.equal(backend(viaGateway(c, '/api/items', { 'x-canary': '1' })), 'reviews-v2', 'header match → v2 only');
  for (let i = 0; i < 5; i++) assert.equal(backend(viaGateway(c, '/health')), 'ratings-1');
  const r = viaGateway(c, '/health/deep');
  assert.equal(parseHttpResponse(r.reply!)!.status, 404, 'exact /health does not match /health/deep and nothing else does');
  assert.equal(r.upstream.length, 0);
  const other = viaGateway(c, '/api', {}, 'www.example.com');
  assert.equal(parseHttpResponse(other.reply!)!.status, 404, 'a host the Gateway takes but no VirtualService routes');
  const foreign = viaGateway(c, '/api', {}, 'example.org');
  assert.equal(parseHttpResponse(foreign.reply!)!.status, 404, 'a host outside the Gateway\'s hosts');
});

test('a 75/25 split gives about 75/25 (1000 requests, 4σ bounds) and each subset only its labelled pods', () => {
  const c = mesh();
  const w = c.walker({ trace: false });
  const counts: Record<string, number> = {};
  for (let i = 0; i < 1000; i++) {
    const r = w.exchange('client', { proto: 'tcp', dst: '10.244.1.10', dport: 80, payload: httpRequest({ host: 'shop.example.com', path: `/api/${i}` }) });
    const b = backend(r) ?? 'none';
    counts[b] = (counts[b] ?? 0) + 1;
  }
  const v2 = counts['reviews-v2'] ?? 0;
  const v1 = (counts['reviews-v1-a'] ?? 0) + (counts['reviews-v1-b'] ?? 0);
  assert.equal(v1 + v2, 1000, JSON.stringify(counts));
  // Binomial(1000, 0.25): mean 250, σ = sqrt(1000 · 0.25 · 0.75) ≈ 13.7.
  assert.ok(v2 >= 250 - 55 && v2 <= 250 + 55, `v2 got ${v2}`);
  // Inside v1, two pods picked uniformly: each about half of v1 (σ ≈ sqrt(750 · 0.25) ≈ 13.7).
  assert.ok(Math.abs((counts['reviews-v1-a'] ?? 0) - v1 / 2) <= 55, JSON.stringify(counts));
});

test('the same seed gives the same sequence of choices', () => {
  const seq = () => {
    const c = mesh();
    return Array.from({ length: 30 }, (_, i) => backend(viaGateway(c, `/api/${i}`)));
  };
  assert.equal(seq(), seq());
});

test('the gateway adds x-forwarded-for with the address it saw', () => {
  const c = mesh();
  const r = viaGateway(c, '/health');
  const up = parseHttpRequest(r.upstream[0]!.request.end.payload)!;
  assert.equal(up.headers['x-forwarded-for'], '10.244.1.9');
  assert.equal(up.path, '/health');
  assert.equal(up.host, 'shop.example.com');
});

test('sidecar outbound: a mesh VirtualService, the default route, passthrough', () => {
  const c = mesh();
  c.injectSidecar('client');
  // reviews has a mesh VirtualService sending everything to v2.
  for (let i = 0; i < 4; i++) {
    const r = c.walker({ trace: false }).exchange('client', { proto: 'tcp', dst: '10.96.0.50', dport: 9080, uid: 1000, payload: httpRequest({ host: 'reviews:9080', path: '/' }) });
    assert.equal(r.upstream[0]!.servedBy?.host, 'reviews-v2');
    assert.equal(r.upstream[0]!.socket.dst, '10.244.2.22', 'Envoy connects to the pod address');
  }
  // ratings has none: the Service's endpoints.
  const r2 = c.walker().exchange('client', { proto: 'tcp', dst: '10.96.0.60', dport: 9080, uid: 1000, payload: httpRequest({ host: 'ratings', path: '/' }) });
  assert.equal(r2.upstream[0]!.servedBy?.host, 'ratings-1');
  assert.ok(r2.request.notes.some((n) => n.includes('default route')));
  // A pod address that is no Service: passed through to where it was going.
  const r3 = c.walker().exchange('client', { proto: 'tcp', dst: '10.244.2.40', dport: 9080, uid: 1000, payload: httpRequest({ host: '10.244.2.40', path: '/' }) });
  assert.ok(r3.ok);
  assert.equal(r3.upstream[0]!.servedBy?.host, 'plain');
  assert.equal(r3.upstream[0]!.socket, { proto: 'tcp', src: '10.244.1.9', sport: r3.upstream[0]!.socket.sport, dst: '10.244.2.40', dport: 9080 });
  assert.ok(r3.request.notes.some((n) => n.includes('PassthroughCluster')));
  // The application's socket still talks to what it connected to.
  assert.equal(r3.replyLeg!.end.packet.src, '10.244.2.40');
});

test('no endpoint in a subset: 503 from the proxy, no upstream connection', () => {
  const c = mesh();
  c.removePod('reviews-v2');
  const r = viaGateway(c, '/api', { 'x-canary': '1' });
  assert.equal(parseHttpResponse(r.reply!)!.status, 503);
  assert.equal(r.upstream.length, 0);
});

test('Istio YAML outside the subset is an error with its line', () => {
  const bad = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: x}
spec:
  hosts: [a]
  http:
    - route:
        - destination: {host: a}
      retries: {attempts: 3}
`;
  try {
    parseIstio(bad, 'vs.yaml');
    assert.unreachable('should throw');
  } catch (e) {
    assert.ok(e instanceof NfemuError);
    assert.equal(e.file, 'vs.yaml');
    assert.equal(e.line, 9);
    assert.ok(e.message.includes('spec.http[0].retries'), e.message);
  }
  const zero = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: x}
spec:
  hosts: [a]
  http:
    - route:
        - {destination: {host: a}, weight: 0}
        - {destination: {host: b}, weight: 0}
`;
  assert.throws(() => parseIstio(zero), /weights add up to 0/);
  assert.throws(() => parseIstio(zero.replace('networking.istio.io/v1', 'networking.istio.io/v2')), /apiVersion/);
  const simple = `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: g}
spec:
  selector: {istio: gw}
  servers:
    - port: {number: 443, name: https, protocol: HTTPS}
      hosts: [a.example.com]
      tls: {mode: SIMPLE, credentialName: x}
`;
  assert.throws(() => parseIstio(simple), /credentialName|PASSTHROUGH/);
});

test('a VirtualService without weights: one destination gets everything', () => {
  const cfg = parseIstio(`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: x, namespace: ns}
spec:
  hosts: [a]
  http:
    - route:
        - destination: {host: a}
`);
  const vs = cfg.virtualServices[0]!;
  assert.equal(vs.namespace, 'ns');
  assert.equal(vs.gateways, ['mesh']);
  assert.equal(vs.http[0]!.route[0]!.weight, 100);
});

test.run();
