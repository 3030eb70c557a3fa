/**
 * Clusters declared in YAML: the same cluster as one built in TypeScript walks the same
 * way; mistakes are errors with the file and the line.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NfemuError } from '../../src/core/index.ts';
import { Cluster, parseCluster, readClusterFile, httpRequest, walkToJson } from '../../src/cluster/index.ts';

const SERVICE = `apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  clusterIP: 10.96.0.20
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
`;

const YAML = `apiVersion: nfemu/v1
kind: Cluster
seed: 5
networks:
  - {name: nodes, cidr: 192.168.0.0/24}
nodes:
  - {name: node1, ip: 192.168.0.2, podCIDR: 10.244.1.0/24}
  - {name: node2, ip: 192.168.0.3, podCIDR: 10.244.2.0/24}
pods:
  - {name: client, node: node1, ip: 10.244.1.9}
  - {name: web-1, node: node2, ip: 10.244.2.5, labels: {app: web}}
processes:
  - {host: web-1, kind: http, port: 8080}
---
${SERVICE}`;

function fromTs(): Cluster {
  const c = new Cluster({ seed: 5 });
  c.addNetwork('nodes', '192.168.0.0/24');
  c.addNode({ name: 'node1', ip: '192.168.0.2', podCIDR: '10.244.1.0/24' });
  c.addNode({ name: 'node2', ip: '192.168.0.3', podCIDR: '10.244.2.0/24' });
  c.addPod({ name: 'client', node: 'node1', ip: '10.244.1.9' });
  c.addPod({ name: 'web-1', node: 'node2', ip: '10.244.2.5', labels: { app: 'web' } });
  c.serveHttp('web-1', 8080);
  c.applyManifests(SERVICE);
  return c;
}

test('a YAML cluster walks exactly like the same cluster built in TypeScript', () => {
  const spec = { proto: 'tcp' as const, dst: '10.96.0.20', dport: 80, payload: httpRequest({ host: 'web' }) };
  const a = parseCluster(YAML, 'c.yaml').exchange('client', spec);
  const b = fromTs().exchange('client', spec);
  assert.ok(a.result!.ok);
  assert.equal(JSON.stringify(walkToJson(a)), JSON.stringify(walkToJson(b)));
});

test('manifests listed in the file are read relative to it, Pods with a node and an IP become pods', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nfemu-cluster-'));
  writeFileSync(join(dir, 'k8s.yaml'), `${SERVICE}---
apiVersion: v1
kind: Pod
metadata: {name: web-2, namespace: default, labels: {app: web}}
spec: {nodeName: node1}
status: {podIP: 10.244.1.7, conditions: [{type: Ready, status: "True"}]}
`);
  writeFileSync(join(dir, 'cluster.yaml'), YAML.split('---')[0]!.replace('processes:', 'manifests: [k8s.yaml]\nprocesses:') + '  - {host: web-2, kind: http, port: 8080}\n');
  const c = readClusterFile(join(dir, 'cluster.yaml'));
  assert.equal(c.host('web-2').node, 'node1');
  const eps = c.registry().get('default', 'web')!.ports[0]!.endpoints.map((e) => e.pod).sort();
  assert.equal(eps, ['web-1', 'web-2']);
});

const bad: [string, string, number, RegExp][] = [
  ['unknown field', YAML.replace('seed: 5', 'seed: 5\nsede: 6'), 4, /sede: unknown field/],
  ['pod outside its node CIDR', YAML.replace('ip: 10.244.2.5', 'ip: 10.244.9.5'), 11, /not in node2's pod CIDR/],
  ['unknown process kind', YAML.replace('kind: http', 'kind: ftp'), 13, /unknown process kind "ftp"/],
  ['missing node', YAML.replace('node: node2, ip: 10.244.2.5', 'node: node9, ip: 10.244.2.5'), 11, /no node "node9"/],
  ['not a cluster', YAML.replace('kind: Cluster', 'kind: Klaster'), 2, /kind: Cluster/],
];

for (const [what, text, line, msg] of bad) {
  test(`error: ${what} (file and line)`, () => {
    try {
      parseCluster(text, 'c.yaml');
      assert.unreachable('should throw');
    } catch (e) {
      assert.ok(e instanceof NfemuError, String(e));
      assert.equal(e.file, 'c.yaml');
      assert.equal(e.line, line, e.message);
      assert.match(e.message, msg);
    }
  });
}

test.run();
