/**
 * Manifests in: multi-document YAML, Lists and typed lists, defaults the API server
 * applies, kinds kube-proxy does not read, and errors that name the file, the line of the
 * offending field, the document, the object and the field path.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { NfemuError } from '../../src/core/index.ts';
import { mergeManifests, parseManifests } from '../../src/kube/index.ts';

/** 1-based line of the first line of `text` containing `needle` (found independently of the loader). */
function lineOf(text: string, needle: string): number {
  const i = text.split('\n').findIndex((l) => l.includes(needle));
  if (i < 0) throw new Error(`test bug: ${needle} not in text`);
  return i + 1;
}

function parseError(text: string, file = 'm.yaml'): NfemuError {
  try {
    parseManifests(text, file);
  } catch (e) {
    if (e instanceof NfemuError) return e;
    throw e;
  }
  throw new Error('expected a parse error');
}

const MULTI = `# a comment
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  clusterIP: 10.96.0.10
  ports:
  - port: 80
---
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
---
apiVersion: v1
kind: List
items:
- apiVersion: discovery.k8s.io/v1
  kind: EndpointSlice
  metadata:
    name: web-abc
    namespace: default
    labels:
      kubernetes.io/service-name: web
  addressType: IPv4
  ports:
  - port: 8080
  endpoints:
  - addresses: [10.244.1.5]
    nodeName: node-a
    conditions: {ready: false, serving: true, terminating: true}
- apiVersion: v1
  kind: Node
  metadata: {name: node-a}
  spec: {podCIDR: 10.244.1.0/24}
  status:
    addresses: [{type: Hostname, address: node-a}, {type: InternalIP, address: 192.168.1.10}]
`;

test('multi-document YAML with a List: objects, defaults and ignored kinds', () => {
  const o = parseManifests(MULTI, 'multi.yaml');
  assert.is(o.services.length, 1);
  const s = o.services[0]!;
  assert.is(s.meta.namespace, 'default'); // metadata.namespace unset → default
  assert.is(s.type, 'ClusterIP');
  assert.equal(s.ports, [{ name: '', protocol: 'TCP', port: 80, targetPort: null, nodePort: 0 }]);
  assert.is(s.sessionAffinityTimeout, 10800);
  assert.equal(s.clusterIPs, ['10.96.0.10']);
  assert.is(s.origin.file, 'multi.yaml');
  assert.is(s.origin.line, lineOf(MULTI, 'apiVersion: v1'));
  assert.is(o.endpointSlices.length, 1);
  const e = o.endpointSlices[0]!;
  assert.is(e.serviceName, 'web');
  assert.equal(e.ports, [{ name: '', port: 8080, protocol: 'TCP' }]);
  assert.equal(e.endpoints[0], { addresses: ['10.244.1.5'], ready: false, serving: true, terminating: true, nodeName: 'node-a', zone: null });
  assert.is(o.nodes.length, 1);
  assert.equal(o.nodes[0]!.podCIDRs, ['10.244.1.0/24']);
  assert.equal(o.ignored.map((i) => `${i.kind}/${i.name}@${i.origin.line}`), [`Deployment/web@${lineOf(MULTI, 'apps/v1')}`]);
});

test('typed lists (kubectl get -o yaml of one kind through the API: items without kind)', () => {
  const text = `apiVersion: v1
kind: ServiceList
items:
- metadata: {name: a, namespace: x}
  spec: {clusterIP: 10.0.0.1, ports: [{port: 53, protocol: UDP, name: dns}, {port: 53, protocol: TCP, name: dns-tcp}]}
`;
  const o = parseManifests(text);
  assert.is(o.services.length, 1);
  assert.equal(o.services[0]!.ports.map((p) => `${p.name}/${p.protocol}`), ['dns/UDP', 'dns-tcp/TCP']);
});

test('JSON input is YAML too', () => {
  const o = parseManifests(JSON.stringify({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'j' }, spec: { clusterIP: 'None', ports: [{ port: 1 }] } }));
  assert.is(o.services[0]!.clusterIP, 'None');
});

test('field errors name file, line, document, object and field', () => {
  const text = `apiVersion: v1
kind: Service
metadata: {name: ok}
spec: {clusterIP: 10.0.0.1, ports: [{port: 1}]}
---
apiVersion: v1
kind: Service
metadata:
  name: bad
  namespace: prod
spec:
  clusterIP: 10.0.0.2
  ports:
  - name: http
    port: 99999
`;
  const e = parseError(text);
  assert.is(e.code, 'PARSE');
  assert.is(e.file, 'm.yaml');
  assert.is(e.line, lineOf(text, 'port: 99999'));
  assert.is(e.message, 'document 2 (Service prod/bad): spec.ports[0].port: must be between 1 and 65535, got 99999');
});

test('errors inside List items name the item', () => {
  const text = `apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Service
  metadata: {name: a}
  spec:
    clusterIP: 10.0.0.1
    ports: [{port: 80}]
- apiVersion: v1
  kind: Service
  metadata: {name: b}
  spec:
    clusterIP: not-an-ip
    ports: [{port: 80}]
`;
  const e = parseError(text);
  assert.is(e.line, lineOf(text, 'not-an-ip'));
  assert.is(e.message, 'document 1, items[1] (Service default/b): spec.clusterIP: "not-an-ip" is not an IP address or "None"');
});

test('table of invalid fields', () => {
  const cases: [string, string, string][] = [
    ['spec:\n  clusterIP: 10.0.0.1\n  type: Weird\n  ports: [{port: 1}]', 'Weird', 'spec.type: must be one of ClusterIP, NodePort, LoadBalancer, ExternalName, got "Weird"'],
    ['spec:\n  clusterIP: 10.0.0.1\n  ports:\n  - {port: 1, protocol: ICMP}', 'ICMP', 'spec.ports[0].protocol: must be one of TCP, UDP, SCTP, got "ICMP"'],
    ['spec:\n  clusterIP: 10.0.0.1\n  ports:\n  - {port: 1, targetPort: "8080"}', '"8080"', 'spec.ports[0].targetPort: "8080" is a string; write a port number without quotes'],
    ['spec:\n  clusterIP: 10.0.0.1\n  ports:\n  - {port: 1, name: a}\n  - {port: 2}', 'port: 2', 'spec.ports[1].name: is required when a Service has more than one port'],
    ['spec:\n  clusterIP: 10.0.0.1\n  ports:\n  - {port: 1, nodePort: 30000}', 'nodePort', 'spec.ports[0].nodePort: is only allowed for type NodePort or LoadBalancer (this Service is ClusterIP)'],
    ['spec:\n  clusterIP: 10.0.0.1\n  externalTrafficPolicy: local\n  ports: [{port: 1}]', 'local', 'spec.externalTrafficPolicy: must be one of Cluster, Local, got "local"'],
    ['spec:\n  clusterIP: 10.0.0.1\n  loadBalancerSourceRanges: [10.0.0.0]\n  ports: [{port: 1}]', 'loadBalancerSourceRanges', 'spec.loadBalancerSourceRanges[0]: "10.0.0.0" is not a CIDR'],
    ['spec:\n  clusterIP: 10.0.0.1\n  ports: {port: 1}', 'ports', 'spec.ports: must be a list, got a mapping'],
    ['spec:\n  clusterIP: 10.0.0.1\n  sessionAffinity: ClientIP\n  sessionAffinityConfig: {clientIP: {timeoutSeconds: 0}}\n  ports: [{port: 1}]', 'timeoutSeconds', 'spec.sessionAffinityConfig.clientIP.timeoutSeconds: must be between 1 and 86400, got 0'],
  ];
  for (const [spec, needle, message] of cases) {
    const text = `apiVersion: v1\nkind: Service\nmetadata: {name: s}\n${spec}\n`;
    const e = parseError(text);
    assert.is(e.message, `document 1 (Service default/s): ${message}`, spec);
    assert.is(e.line, lineOf(text, needle), spec);
  }
});

test('EndpointSlice: only discovery.k8s.io/v1; addresses must match addressType; missing label is a warning', () => {
  const v1beta1 = 'apiVersion: discovery.k8s.io/v1beta1\nkind: EndpointSlice\nmetadata: {name: e}\naddressType: IPv4\n';
  assert.is(parseError(v1beta1).message, 'document 1: apiVersion: EndpointSlice must be discovery.k8s.io/v1, got "discovery.k8s.io/v1beta1"');
  const mixed = 'apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: e}\naddressType: IPv6\nendpoints:\n- addresses: [10.1.1.1]\n';
  const e = parseError(mixed);
  assert.is(e.message, 'document 1 (EndpointSlice default/e): endpoints[0].addresses[0]: 10.1.1.1 is not an IPv6 address (addressType is IPv6)');
  assert.is(e.line, 6);
  const unlabelled = parseManifests('apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: e}\naddressType: IPv4\n', 'u.yaml');
  assert.is(unlabelled.endpointSlices[0]!.serviceName, null);
  assert.equal(unlabelled.warnings, ['u.yaml:1: EndpointSlice default/e has no kubernetes.io/service-name label; kube-proxy ignores it']);
});

test('YAML syntax errors carry the line', () => {
  const text = 'apiVersion: v1\nkind: Service\nmetadata: {name: x\nspec: {}\n';
  const e = parseError(text);
  assert.is(e.code, 'PARSE');
  assert.ok(e.message.startsWith('document 1: YAML: '), e.message);
  assert.ok(e.line !== undefined && e.line >= 3, String(e.line));
});

test('a duplicate object is an error naming both places', () => {
  const svc = 'apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: {clusterIP: 10.0.0.1, ports: [{port: 1}]}\n';
  try {
    mergeManifests([parseManifests(svc, 'one.yaml'), parseManifests(`# x\n${svc}`, 'two.yaml')]);
    assert.unreachable();
  } catch (e) {
    assert.instance(e, NfemuError);
    assert.is((e as NfemuError).message, 'duplicate Service default/a (first defined at one.yaml:1)');
    assert.is((e as NfemuError).file, 'two.yaml');
    assert.is((e as NfemuError).line, 2);
  }
});

test('missing apiVersion or kind', () => {
  assert.is(parseError('kind: Service\nmetadata: {name: a}\n').message, 'document 1: apiVersion: is required');
  assert.is(parseError('apiVersion: v1\nmetadata: {name: a}\n').message, 'document 1: kind: is required');
  assert.is(parseError('- a\n- b\n').message, 'document 1: must be a mapping (a Kubernetes object), got a list');
});

test('Pods: ports, IPs, readiness, deletion', () => {
  const o = parseManifests(`apiVersion: v1
kind: Pod
metadata: {name: p, namespace: n, labels: {app: x}, deletionTimestamp: "2024-01-01T00:00:00Z"}
spec:
  nodeName: node-a
  containers:
  - name: c
    ports: [{name: http, containerPort: 8080}, {containerPort: 53, protocol: UDP}]
status:
  podIPs: [{ip: 10.1.0.5}, {ip: "fd00::5"}]
  conditions: [{type: Initialized, status: "True"}, {type: Ready, status: "False"}]
`);
  const p = o.pods[0]!;
  assert.equal(p.containerPorts, [{ name: 'http', containerPort: 8080, protocol: 'TCP' }, { name: '', containerPort: 53, protocol: 'UDP' }]);
  assert.equal(p.podIPs, ['10.1.0.5', 'fd00::5']);
  assert.is(p.ready, false);
  assert.is(p.meta.deleting, true);
  assert.is(p.nodeName, 'node-a');
});

test.run();
