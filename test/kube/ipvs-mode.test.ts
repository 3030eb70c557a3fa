/**
 * kube-proxy's IPVS mode (src/kube/ipvs.ts), "one flow table, both modes": the same
 * manifests run in iptables mode and in IPVS mode on the same kind of node, and every flow
 * must reach the same endpoint set with the same masquerade decision — except where
 * kube-proxy's IPVS mode genuinely behaves differently (read from pkg/proxy/ipvs/proxier.go
 * and netlink_linux.go), where the IPVS behaviour kube-proxy's source implies is asserted
 * instead, with the reason printed.
 *
 * Endpoint sets in IPVS mode: the flow's first packet is sent again and again on one node
 * (scheduler state kept) with fresh conntrack and IPVS connection tables, collecting the real
 * server it was sent to, until the rr cycle comes back to the first one. Masquerade: a
 * MASQUERADE rule rewrote the source on the way to the endpoint.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NF_ACCEPT, buildHost, packetJson, runPacketBranches, type CaseFile, type Host } from '../../src/index.ts';
import type { PacketSpec } from '../../src/packet/index.ts';
import { ConnTable } from '../../src/ipvs/index.ts';
import { RTN_LOCAL, RTN_UNICAST } from '../../src/xtables/index.ts';
import { parseIp } from '../../src/core/index.ts';
import { generateIpvs, parseManifests } from '../../src/kube/index.ts';
import { sharedPath } from '../support/shared.ts';
import { kubeProxyCommand } from '../../src/cli/kube-proxy.ts';
import { NODE_NAME, OTHER_NODE, flowTokens } from './rebuild.ts';

const NODE_IP = '192.168.0.2';
const POD_CIDR = '10.0.0.0/8';

interface Flow {
  name: string;
  sourceIP: string;
  destIP: string;
  destPort: number;
  protocol?: string;
  expectOutput: string;
  expectMasq: boolean;
}

/** What one mode did with a flow: endpoints (or DROP/REJECT) and whether it was masqueraded. */
interface Result {
  out: string[];
  masq: boolean;
}

/** The node of these tests: eth0 192.168.0.2/24, pods behind cni0 (as the iptables vector tests). */
function node(manifests: string, mode: 'iptables' | 'ipvs', options: Record<string, unknown>): CaseFile {
  return {
    manifests, node: NODE_NAME,
    kube_proxy: { mode, style: '2023', nodeIPs: [NODE_IP], markFormat: 'short', randomFully: false, ...options },
    interfaces: [{ name: 'eth0', addrs: [`${NODE_IP}/24`] }, { name: 'cni0', addrs: [] }],
    routes: ['default via 192.168.0.1 dev eth0', `${POD_CIDR} dev cni0`],
    packets: [],
  } as CaseFile;
}

function packetOf(f: Flow, i: number): PacketSpec {
  const proto = f.protocol ?? 'tcp';
  const base = { proto, src: f.sourceIP, sport: 40000 + i, dst: f.destIP, dport: f.destPort, ...(proto === 'tcp' ? { tcp_flags: 'SYN' } : {}) };
  const local = f.sourceIP === NODE_IP || f.sourceIP.startsWith('127.');
  return (local ? { hook: 'OUTPUT', ...base } : { hook: 'PREROUTING', in_iface: 'eth0', ...base }) as PacketSpec;
}

/** iptables mode: every random branch of the first packet, in kube-proxy's tracer vocabulary. */
function runIptables(c: CaseFile, f: Flow, i: number): Result {
  const got = new Set<string>();
  let masq = false;
  for (const b of runPacketBranches(buildHost(c, { file: 'iptables mode' }), packetOf(f, i), {})) {
    const t = flowTokens(b.outcome.trace?.entries ?? [], b.outcome.by);
    t.out.forEach((x) => got.add(x));
    masq ||= t.masq;
  }
  return { out: [...got].sort(), masq };
}

/** IPVS mode: the rr cycle, one packet per round, fresh conntrack and IPVS connections each time. */
function runIpvs(c: CaseFile, f: Flow, i: number): Result {
  let host: Host = buildHost(c, { file: 'ipvs mode' });
  const seen: string[] = [];
  const other = new Set<string>();
  let masq = false;
  for (let round = 0; round < 16; round++) {
    host.conntrack?.flush();
    if (host.ipvs) host.ipvs.conns = new ConnTable();
    const branches = runPacketBranches(host, packetOf(f, i), {});
    assert.is(branches.length, 1, `${f.name}: IPVS mode has no random rules`);
    const b = branches[0]!;
    host = b.host;
    const o = b.outcome;
    const t = flowTokens(o.trace?.entries ?? [], o.by);
    masq ||= t.masq;
    for (const x of t.out) other.add(x);
    if (o.reason?.startsWith('IPVS: no destination available')) other.add('REJECT');
    const p = packetJson(o.packet) as { dst: string; dport?: number };
    const delivered = (o.fate === 'forwarded' || o.fate === 'sent') && o.verdict === NF_ACCEPT;
    const spec = packetOf(f, i);
    if (!delivered) break;
    const ep = `${p.dst}:${p.dport}`;
    if (ep === `${spec.dst}:${spec.dport}`) break; // not load-balanced at all
    if (seen.includes(ep)) break; // the rr cycle is complete
    seen.push(ep);
  }
  return { out: [...new Set([...seen, ...other])].sort(), masq };
}

const fmt = (r: Result) => `[${r.out.join(', ')}] masq=${r.masq}`;
const same = (a: Result, b: Result) => a.masq === b.masq && a.out.join(',') === b.out.join(',');

/**
 * Where kube-proxy's IPVS mode differs from its iptables mode for a flow, the IPVS result its
 * source implies and why; null where both modes must agree.
 */
type Divergence = (f: Flow) => { expect: Result; reason: string } | null;

/** The flows-only vector's manifests, written out from its `setup`. */
function flowsOnlyYaml(v: FlowsOnly): string {
  const docs: string[] = [];
  for (const s of v.setup.services) {
    docs.push([
      'apiVersion: v1', 'kind: Service', `metadata: {name: ${s.name}, namespace: ${s.ns}}`, 'spec:', `  type: ${s.type}`,
      `  clusterIP: ${s.clusterIP}`, `  externalTrafficPolicy: ${s.externalTrafficPolicy}`, `  internalTrafficPolicy: ${s.internalTrafficPolicy}`,
      `  healthCheckNodePort: ${s.healthCheckNodePort}`,
      `  ports: [{name: ${s.port.name}, port: ${s.port.port}, protocol: ${s.port.protocol}, nodePort: ${s.port.nodePort}}]`,
      'status:', '  loadBalancer:', `    ingress: [${s.loadBalancerIngress.map((ip) => `{ip: ${ip}}`).join(', ')}]`,
    ].join('\n'));
  }
  v.setup.endpointSlices.forEach((e, i) => {
    const [ns, name] = e.service.split('/');
    docs.push([
      'apiVersion: discovery.k8s.io/v1', 'kind: EndpointSlice', `metadata: {name: ${name}-${i}, namespace: ${ns}, labels: {kubernetes.io/service-name: ${name}}}`,
      'addressType: IPv4', `ports: [{name: ${e.port.name}, port: ${e.port.port}, protocol: ${e.port.protocol}}]`,
      'endpoints:', ...e.endpoints.map((ep) => `- {addresses: ["${ep.ip}"], nodeName: ${ep.local ? NODE_NAME : OTHER_NODE}}`),
    ].join('\n'));
  });
  return docs.join('\n---\n') + '\n';
}

interface FlowsOnly {
  nodeIPs: string[];
  setup: {
    services: {
      ns: string; name: string; type: string; clusterIP: string; port: { name: string; port: number; protocol: string; nodePort: number };
      healthCheckNodePort: number; loadBalancerIngress: string[]; externalTrafficPolicy: string; internalTrafficPolicy: string;
    }[];
    endpointSlices: { service: string; port: { name: string; port: number; protocol: string }; endpoints: { ip: string; local: boolean }[] }[];
  };
  variants: { name: string; masqueradeAll: boolean; clusterCIDR: string | null; flows: Flow[] }[];
}

/**
 * Runs `flows` in both modes; returns [agreeing, total, report lines, failures]. A flow must
 * agree unless `diverge` names it, and then the IPVS result must be the one it names.
 */
function compare(label: string, yaml: string, options: Record<string, unknown>, flows: Flow[], diverge: Divergence): { agree: number; lines: string[]; failures: string[] } {
  const ipt = node(yaml, 'iptables', options);
  const ipvs = node(yaml, 'ipvs', options);
  let agree = 0;
  const lines: string[] = [];
  const failures: string[] = [];
  flows.forEach((f, i) => {
    const a = runIptables(ipt, f, i);
    const b = runIpvs(ipvs, f, i);
    const d = diverge(f);
    if (same(a, b)) {
      agree++;
      if (d && !same(d.expect, b)) failures.push(`${label} "${f.name}": expected IPVS ${fmt(d.expect)} (${d.reason}), got ${fmt(b)}`);
      return;
    }
    lines.push(`  ${label} "${f.name}": iptables ${fmt(a)}, ipvs ${fmt(b)}${d ? ` — ${d.reason}` : ''}`);
    if (!d) failures.push(`${label} "${f.name}": modes differ and kube-proxy's IPVS mode should not: iptables ${fmt(a)}, ipvs ${fmt(b)}`);
    else if (!same(d.expect, b)) failures.push(`${label} "${f.name}": expected IPVS ${fmt(d.expect)} (${d.reason}), got ${fmt(b)}`);
  });
  return { agree, lines, failures };
}

/** kube-proxy IPVS-mode behaviour for the TestInternalExternalMasquerade setup. */
const masqueradeVectorDivergence: Divergence = (f) => {
  if (f.destIP.startsWith('127.')) {
    return {
      expect: { out: [], masq: false },
      reason: 'localhost NodePorts are not supported in IPVS mode: NodePort virtual servers are made only on non-loopback node addresses (netlinkHandle.isValidForSet), and KUBE-SERVICES returns early for -s 127.0.0.0/8',
    };
  }
  // svc2 is the eTP:Local service: LB IP 5.6.7.8, NodePort 3002; its local endpoint is 10.180.0.2.
  const eTPLocalExternal = f.destIP === '5.6.7.8' || (f.destIP === NODE_IP && f.destPort === 3002);
  const fromInside = f.sourceIP === NODE_IP || f.sourceIP.startsWith('10.');
  if (eTPLocalExternal && fromInside) {
    return {
      expect: { out: ['10.180.0.2:80'], masq: false },
      reason: 'IPVS mode has no eTP:Local short-circuit for pods or the node: the virtual server holds the local endpoints only and KUBE-LOAD-BALANCER-LOCAL / KUBE-NODE-PORT-LOCAL-TCP RETURN before any masquerade mark',
    };
  }
  return null;
};

test('one flow table, both modes: TestInternalExternalMasquerade (4 variants, written-out Services and EndpointSlices)', () => {
  const root = sharedPath('conformance/kube-proxy/flows-only/2023.TestInternalExternalMasquerade.json', 'ipvs vs iptables flow comparison');
  if (!root) return;
  const v = JSON.parse(readFileSync(root, 'utf8')) as FlowsOnly;
  assert.equal(v.nodeIPs, [NODE_IP]);
  const yaml = flowsOnlyYaml(v);
  let agree = 0;
  let total = 0;
  const lines: string[] = [];
  const failures: string[] = [];
  for (const variant of v.variants) {
    const options = { masqueradeAll: variant.masqueradeAll, ...(variant.clusterCIDR ? { clusterCIDR: variant.clusterCIDR } : { localDetector: null }) };
    const r = compare(variant.name, yaml, options, variant.flows, masqueradeVectorDivergence);
    agree += r.agree;
    total += variant.flows.length;
    lines.push(...r.lines);
    failures.push(...r.failures);
  }
  console.log(`ipvs vs iptables: ${agree}/${total} flows agree`);
  if (lines.length) console.log(lines.join('\n'));
  if (failures.length) console.log(failures.join('\n'));
  assert.is(total, 120);
  assert.is(failures.length, 0);
});

/** Our own: hairpin, no endpoints, eTP:Local without a local endpoint, a UDP service, affinity. */
const OWN_YAML = `apiVersion: v1
kind: Service
metadata: {name: web, namespace: ns1}
spec:
  clusterIP: 172.30.0.50
  ports: [{name: http, port: 80, protocol: TCP}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-0, namespace: ns1, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
ports: [{name: http, port: 8080, protocol: TCP}]
endpoints:
- {addresses: ["10.0.1.5"], nodeName: ${NODE_NAME}}
- {addresses: ["10.0.2.5"], nodeName: ${OTHER_NODE}}
- {addresses: ["10.0.3.5"], nodeName: ${OTHER_NODE}}
---
apiVersion: v1
kind: Service
metadata: {name: empty, namespace: ns1}
spec:
  type: NodePort
  clusterIP: 172.30.0.51
  ports: [{name: http, port: 80, protocol: TCP, nodePort: 30051}]
---
apiVersion: v1
kind: Service
metadata: {name: remote-only, namespace: ns1}
spec:
  type: NodePort
  clusterIP: 172.30.0.52
  externalTrafficPolicy: Local
  ports: [{name: http, port: 80, protocol: TCP, nodePort: 30052}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: remote-only-0, namespace: ns1, labels: {kubernetes.io/service-name: remote-only}}
addressType: IPv4
ports: [{name: http, port: 80, protocol: TCP}]
endpoints:
- {addresses: ["10.0.2.7"], nodeName: ${OTHER_NODE}}
---
apiVersion: v1
kind: Service
metadata: {name: dns, namespace: kube-system}
spec:
  clusterIP: 172.30.0.10
  ports: [{name: dns, port: 53, protocol: UDP}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: dns-0, namespace: kube-system, labels: {kubernetes.io/service-name: dns}}
addressType: IPv4
ports: [{name: dns, port: 53, protocol: UDP}]
endpoints:
- {addresses: ["10.0.1.9"], nodeName: ${NODE_NAME}}
- {addresses: ["10.0.2.9"], nodeName: ${OTHER_NODE}}
`;

const WEB_EPS = '10.0.1.5:8080, 10.0.2.5:8080, 10.0.3.5:8080';

/** Expected values from kube-proxy's rules (either mode where they agree), written by hand. */
const OWN_FLOWS: Flow[] = [
  { name: 'pod to ClusterIP', sourceIP: '10.0.1.7', destIP: '172.30.0.50', destPort: 80, expectOutput: WEB_EPS, expectMasq: false },
  // Hairpin: the pod may be sent to itself; iptables' KUBE-SEP "-s <ep>" mark and IPVS' KUBE-LOOP-BACK both masquerade it.
  { name: 'endpoint pod to its own ClusterIP (hairpin)', sourceIP: '10.0.1.5', destIP: '172.30.0.50', destPort: 80, expectOutput: WEB_EPS, expectMasq: true },
  { name: 'node to ClusterIP', sourceIP: NODE_IP, destIP: '172.30.0.50', destPort: 80, expectOutput: WEB_EPS, expectMasq: true },
  { name: 'external to ClusterIP', sourceIP: '203.0.113.9', destIP: '172.30.0.50', destPort: 80, expectOutput: WEB_EPS, expectMasq: true },
  { name: 'pod to ClusterIP, no endpoints', sourceIP: '10.0.1.7', destIP: '172.30.0.51', destPort: 80, expectOutput: 'REJECT', expectMasq: false },
  // Both modes refuse it before any NAT happens (iptables: filter REJECT; IPVS: ip_vs_leave's ICMP), so nothing is masqueraded.
  { name: 'external to NodePort, no endpoints', sourceIP: '203.0.113.9', destIP: NODE_IP, destPort: 30051, expectOutput: 'REJECT', expectMasq: false },
  { name: 'external to eTP:Local NodePort, no local endpoint', sourceIP: '203.0.113.9', destIP: NODE_IP, destPort: 30052, expectOutput: 'DROP', expectMasq: false },
  { name: 'pod to UDP ClusterIP', sourceIP: '10.0.1.7', destIP: '172.30.0.10', destPort: 53, protocol: 'udp', expectOutput: '10.0.1.9:53, 10.0.2.9:53', expectMasq: false },
  { name: 'external to a closed port of a ClusterIP', sourceIP: '203.0.113.9', destIP: '172.30.0.50', destPort: 81, expectOutput: '', expectMasq: false },
];

const ownDivergence: Divergence = (f) => {
  if (f.destPort === 30052) {
    return {
      expect: { out: ['10.0.2.7:80'], masq: false },
      reason: 'eTP:Local without a local endpoint: syncEndpoint falls back to the cluster endpoints (kubernetes PR 97081) where iptables mode DROPs; KUBE-NODE-PORT-LOCAL-TCP returns before the masquerade mark',
    };
  }
  if (f.destPort === 81) {
    // iptables mode: the ClusterIP is no local address, the packet is forwarded untouched; IPVS mode: KUBE-IPVS-FILTER.
    return { expect: { out: ['REJECT'], masq: false }, reason: 'the VIP is a local address on kube-ipvs0: KUBE-IPVS-FILTER rejects new connections to its other ports' };
  }
  return null;
};

test('one flow table, both modes: our own flows (hairpin, no endpoints, eTP:Local fallback, UDP, VIP ports)', () => {
  const options = { clusterCIDR: POD_CIDR };
  const r = compare('own', OWN_YAML, options, OWN_FLOWS, ownDivergence);
  console.log(`own flows, ipvs vs iptables: ${r.agree}/${OWN_FLOWS.length} flows agree`);
  if (r.lines.length) console.log(r.lines.join('\n'));
  if (r.failures.length) console.log(r.failures.join('\n'));
  assert.is(r.failures.length, 0);
  // The flows' hand-written expectations hold in IPVS mode where no divergence is named, in iptables mode otherwise.
  const ipt = node(OWN_YAML, 'iptables', options);
  OWN_FLOWS.forEach((f, i) => {
    const want: Result = { out: f.expectOutput ? f.expectOutput.split(', ').sort() : [], masq: f.expectMasq };
    const got = runIptables(ipt, f, i);
    if (f.destPort === 81) return; // forwarded off the node untouched in iptables mode: no kube-proxy token
    assert.equal(fmt(got), fmt(want), `iptables mode "${f.name}"`);
  });
});

test('generateIpvs: virtual servers, ipsets, kube-ipvs0 and rules for one NodePort service with affinity', () => {
  const yaml = `apiVersion: v1
kind: Service
metadata: {name: svc, namespace: ns}
spec:
  type: NodePort
  clusterIP: 172.30.0.60
  externalIPs: [192.0.2.60]
  sessionAffinity: ClientIP
  sessionAffinityConfig: {clientIP: {timeoutSeconds: 600}}
  ports: [{name: p, port: 80, protocol: TCP, nodePort: 30060}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: svc-0, namespace: ns, labels: {kubernetes.io/service-name: svc}}
addressType: IPv4
ports: [{name: p, port: 8080, protocol: TCP}]
endpoints:
- {addresses: ["10.0.1.5"], nodeName: ${NODE_NAME}}
- {addresses: ["10.0.2.5"], nodeName: ${OTHER_NODE}}
`;
  const s = generateIpvs(parseManifests(yaml, 'affinity'), { nodeName: NODE_NAME, nodeIPs: [NODE_IP], clusterCIDR: POD_CIDR, scheduler: 'mh' });
  const dests = ['-r 10.0.1.5:8080 -m -w 1', '-r 10.0.2.5:8080 -m -w 1'];
  // Three virtual servers (ClusterIP, externalIP, node IP:NodePort; none on 127.0.0.1), persistence 600 s, mh with its source-hash flag.
  const want = ['172.30.0.60:80', '192.0.2.60:80', `${NODE_IP}:30060`].flatMap((vs) => [`-A -t ${vs} -s mh -p 600 -b mh-port`, ...dests.map((d) => `-a -t ${vs} ${d}`)]);
  assert.equal(s.ipvs.trim().split('\n'), want);
  assert.equal(s.vips, ['172.30.0.60', '192.0.2.60']);
  assert.equal(s.nodePortIPs, [NODE_IP]);
  const adds = s.ipsets.split('\n').filter((l) => l.startsWith('add '));
  assert.equal(adds, [
    'add KUBE-LOOP-BACK 10.0.1.5,tcp:8080,10.0.1.5',
    'add KUBE-CLUSTER-IP 172.30.0.60,tcp:80',
    'add KUBE-EXTERNAL-IP 192.0.2.60,tcp:80',
    'add KUBE-NODE-PORT-TCP 30060',
    'add KUBE-IPVS-IPS 172.30.0.60',
    'add KUBE-IPVS-IPS 192.0.2.60',
  ]);
  assert.is(s.ipsets.split('\n').filter((l) => l.startsWith('create ')).length, 17, 'every set kube-proxy knows is created');
  assert.ok(s.iptables.includes('-A KUBE-SERVICES -m comment --comment "Kubernetes service cluster ip + port for masquerade purpose" -m set --match-set KUBE-CLUSTER-IP dst,dst ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ'));
  assert.ok(s.iptables.includes('-A KUBE-SERVICES -m comment --comment "Kubernetes service external ip + port for masquerade and filter purpose" -m set --match-set KUBE-EXTERNAL-IP dst,dst -m physdev ! --physdev-is-in -m addrtype ! --src-type LOCAL -j ACCEPT'));
  assert.equal(s.sysctls, { 'net.ipv4.vs.conntrack': 1, 'net.ipv4.vs.expire_nodest_conn': 1, 'net.ipv4.vs.expire_quiescent_template': 1, 'net.ipv4.ip_forward': 1 });
  // The KUBE-SERVICES order kube-proxy writes: loopback RETURN first, the ACCEPTs for IPVS traffic last.
  const svcRules = s.iptables.split('\n').filter((l) => l.startsWith('-A KUBE-SERVICES'));
  assert.is(svcRules[0], '-A KUBE-SERVICES -s 127.0.0.0/8 -j RETURN');
  assert.is(svcRules.at(-1), '-A KUBE-SERVICES -m set --match-set KUBE-CLUSTER-IP dst,dst -j ACCEPT');
});

test('a case with manifests and kube_proxy.mode "ipvs": kube-ipvs0 holds the VIPs, IPVS is loaded, rr visits every endpoint', () => {
  const yaml = OWN_YAML;
  const c = node(yaml, 'ipvs', { clusterCIDR: POD_CIDR });
  const host = buildHost(c, {});
  assert.ok(host.ipvs !== null, 'IPVS loaded');
  // The VIPs are local addresses (on kube-ipvs0): a ClusterIP is RTN_LOCAL for the node.
  const f: Flow = { name: 'x', sourceIP: '10.0.1.7', destIP: '172.30.0.50', destPort: 80, expectOutput: '', expectMasq: false };
  const r = runIpvs(c, f, 0);
  assert.equal(r.out, WEB_EPS.split(', '));
  assert.is(host.routing.addrType(4, parseIp('172.30.0.50')!.w, null), RTN_LOCAL);
  assert.is(host.routing.addrType(4, parseIp('172.30.0.99')!.w, null), RTN_UNICAST, 'an unused service address is not local');
  // Unknown mode: a clear error.
  assert.throws(() => buildHost({ ...c, kube_proxy: { mode: 'nft' } } as unknown as CaseFile, {}), /kube_proxy.mode must be "iptables" or "ipvs"/);
});

test('nfemu kube-proxy --mode ipvs: ipsets, iptables, kube-ipvs0 addresses and virtual servers, each under a header', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nfemu-ipvs-'));
  const file = join(dir, 'm.yaml');
  writeFileSync(file, OWN_YAML);
  let stdout = '';
  let stderr = '';
  const rc = kubeProxyCommand(['--mode', 'ipvs', '--node', NODE_NAME, '--node-ip', NODE_IP, '--cluster-cidr', POD_CIDR, file], (t) => (stdout += t), (t) => (stderr += t));
  assert.is(rc, 0, stderr);
  const headers = stdout.split('\n').filter((l) => l.startsWith('# '));
  assert.equal(headers, ['# ipsets (ipset save)', '# iptables (iptables-save)', '# kube-ipvs0 addresses', '# IPVS virtual servers (ipvsadm-save -n)']);
  assert.ok(stdout.includes('add KUBE-CLUSTER-IP 172.30.0.50,tcp:80\n'));
  assert.ok(stdout.includes('-A -t 172.30.0.50:80 -s rr\n-a -t 172.30.0.50:80 -r 10.0.1.5:8080 -m -w 1\n'));
  assert.ok(stdout.includes('-A -u 172.30.0.10:53 -s rr\n'));
  assert.ok(stdout.includes(`-A -t ${NODE_IP}:30051 -s rr\n`), 'a NodePort virtual server with no real servers');
  assert.ok(!stdout.includes('127.0.0.1:30051'), 'no localhost NodePort virtual server');
  assert.ok(stdout.includes('-A KUBE-IPVS-FILTER -m conntrack --ctstate NEW -m set --match-set KUBE-IPVS-IPS dst -j REJECT'));
});

test.run();
