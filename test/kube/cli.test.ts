/**
 * From YAML to a trace in one command: `nfemu kube-proxy`, `nfemu trace --manifests` and a
 * case file carrying `manifests_files` + `node` in place of a ruleset.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCase, type CaseFile } from '../../src/index.ts';
import { PROJECT_ROOT } from '../support/shared.ts';

const dir = mkdtempSync(join(tmpdir(), 'nfemu-kube-'));
const MANIFEST = `apiVersion: v1
kind: Node
metadata: {name: node-a}
spec: {podCIDR: 10.244.1.0/24}
status:
  addresses: [{type: InternalIP, address: 192.168.1.10}]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  type: NodePort
  clusterIP: 10.96.0.100
  externalTrafficPolicy: Local
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http, nodePort: 30080}]
---
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Pod
  metadata: {name: web-a, namespace: shop, labels: {app: web}}
  spec: {nodeName: node-a, containers: [{name: c, ports: [{name: http, containerPort: 8080}]}]}
  status: {podIP: 10.244.1.5, conditions: [{type: Ready, status: "True"}]}
- apiVersion: v1
  kind: Pod
  metadata: {name: web-b, namespace: shop, labels: {app: web}}
  spec: {nodeName: node-b, containers: [{name: c, ports: [{name: http, containerPort: 8080}]}]}
  status: {podIP: 10.244.2.7, conditions: [{type: Ready, status: "True"}]}
`;
const manifest = join(dir, 'shop.yaml');
writeFileSync(manifest, MANIFEST);

function nfemu(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(PROJECT_ROOT, 'bin', 'nfemu.mjs'), ...args], { encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('nfemu kube-proxy prints the node ruleset; --payload the restore input', () => {
  const r = nfemu('kube-proxy', '--mode', 'iptables', '--node', 'node-a', '--cluster-cidr', '10.244.0.0/16', manifest);
  assert.is(r.status, 0, r.stderr);
  assert.ok(r.stdout.startsWith('*mangle\n'), r.stdout.slice(0, 200));
  assert.ok(r.stdout.includes('-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES\n'));
  // eTP Local: the node-local pod only in the SVL chain; iptables-save spelling of the rules.
  assert.ok(/-A KUBE-SVL-\S+ -m comment --comment "shop\/web:http -> 10\.244\.1\.5:8080" -j KUBE-SEP-/.test(r.stdout), r.stdout);
  assert.not.ok(/-A KUBE-SVL-\S+ .*10\.244\.2\.7/.test(r.stdout));
  const p = nfemu('kube-proxy', '--node', 'node-a', '--payload', manifest);
  assert.is(p.status, 0, p.stderr);
  assert.ok(p.stdout.startsWith('*filter\n:KUBE-SERVICES - [0:0]\n'));
  assert.ok(p.stdout.includes('-A KUBE-MARK-MASQ -j MARK --or-mark 0x00004000\n'));
  assert.ok(p.stdout.endsWith('COMMIT\n'));
});

test('nfemu kube-proxy: nftables mode is not available yet; bad manifests name file and line', () => {
  for (const mode of ['nftables']) {
    const r = nfemu('kube-proxy', '--mode', mode, manifest);
    assert.is(r.status, 1);
    assert.is(r.stderr, `nfemu: kube-proxy --mode ${mode} is not available yet (--mode iptables or ipvs)\n`);
  }
  const bad = join(dir, 'bad.yaml');
  writeFileSync(bad, 'apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec:\n  clusterIP: 10.0.0.1\n  ports:\n  - port: http\n');
  const r = nfemu('kube-proxy', bad);
  assert.is(r.status, 1);
  assert.is(r.stderr, `nfemu: ${bad}:7: document 1 (Service default/x): spec.ports[0].port: must be an integer, got "http"\n`);
  assert.is(nfemu('kube-proxy', '--mode', 'userspace', manifest).status, 2);
  assert.ok(nfemu('kube-proxy', '--help').stdout.startsWith('usage: nfemu kube-proxy'));
});

test('nfemu trace --manifests: the node, its addresses and kube-proxy rules from YAML', () => {
  const r = nfemu('trace', '--manifests', manifest, '--node', 'node-a', '--cluster-cidr', '10.244.0.0/16', '--json', 'tcp 203.0.113.9:40000 -> 192.168.1.10:30080 in eth0');
  assert.is(r.status, 0, r.stderr);
  const res = JSON.parse(r.stdout) as { results: { final: { dst: string; dport: number; src: string; fate: string }; outcomes?: unknown[] }[] };
  const f = res.results[0]!.final;
  // eTP Local from outside: only the local pod, source kept.
  assert.equal([f.dst, f.dport, f.src, f.fate], ['10.244.1.5', 8080, '203.0.113.9', 'forwarded']);
  assert.is(res.results[0]!.outcomes, undefined);
});

test('a case file with manifests_files and node instead of a ruleset', () => {
  const c: CaseFile = {
    manifests_files: ['shop.yaml'],
    node: 'node-b',
    kube_proxy: { clusterCIDR: '10.244.0.0/16', nodeIPs: ['192.168.1.11'] },
    packets: [{ hook: 'PREROUTING', in_iface: 'eth0', proto: 'tcp', src: '10.244.2.9', sport: 41000, dst: '10.96.0.100', dport: 80, tcp_flags: 'SYN' } as CaseFile['packets'][number]],
  };
  const res = runCase(c, { baseDir: dir, file: join(dir, 'case.json') });
  const outcomes = res.results[0]!.outcomes!;
  assert.equal(outcomes.map((o) => `${o.final.dst}:${o.final.dport}`).sort(), ['10.244.1.5:8080', '10.244.2.7:8080']);
  assert.equal(outcomes.map((o) => o.probability), [0.5, 0.5]);
  // Inline YAML works too, and a case cannot have both.
  const inline = runCase({ ...c, manifests_files: undefined, manifests: MANIFEST }, { file: 'inline.json' });
  assert.is(inline.results[0]!.outcomes!.length, 2);
  assert.throws(() => runCase({ ...c, ruleset: '*filter\nCOMMIT\n' }, { baseDir: dir }), /either a ruleset or manifests/);
});

test.run();
