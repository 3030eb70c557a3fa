/**
 * nfemu's kube-proxy generator against kube-proxy's own expectations
 * (../shared/conformance/kube-proxy, from pkg/proxy/iptables/proxier_test.go):
 * - every dump: rebuild the Services/EndpointSlices from the dump's comments and addresses
 *   (test/kube/rebuild.ts), regenerate, sort like kube-proxy's sortIPTablesRules, compare
 *   line for line (the TestSyncProxyRulesRepeated steps as a sequence of partial syncs);
 * - every flow: trace it through nfemu on the regenerated rules (a kernel-like host: the
 *   host of the matching ../shared/conformance/kernel-answers case where there is one) and
 *   judge it with kube-proxy's vocabulary;
 * - flows-only/2023.TestInternalExternalMasquerade: its written-out Services and
 *   EndpointSlices, four variants, 120 flows.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { buildHost, runPacketBranches, type CaseFile } from '../../src/index.ts';
import { printSave } from '../../src/xtables/index.ts';
import type { PacketSpec } from '../../src/packet/index.ts';
import {
  generateIptables, iptablesHostRuleset, parseManifests, sortRestoreText, type IptablesProxyOptions, type IptablesSync, type KubeObjects,
} from '../../src/kube/index.ts';
import { sharedPath } from '../support/shared.ts';
import { Dump, NODE_NAME, OTHER_NODE, flowTokens, rebuildFromDump } from './rebuild.ts';

const root = sharedPath('conformance/kube-proxy', 'kube-proxy generator vectors');
const kernelRoot = root ? join(root, '..', 'kernel-answers', 'kubeproxy') : null;

interface Flow {
  name: string;
  sourceIP: string;
  destIP: string;
  destPort: number;
  protocol?: string;
  expectOutput: string;
  expectMasq: boolean;
}

interface Vector {
  kind: string;
  nodeIPs: string[] | null;
  localAddresses: string[] | null;
  clusterCIDR: string | null;
  localDetector: string | null;
  ruleset: string;
  flows: Flow[];
  notes?: string[];
}

/**
 * Settings of a test that its dump cannot show, read from the test source
 * (danwinship/kubernetes pkg/proxy/iptables/proxier_test.go): this one sets
 * `fp.nodePortAddresses = NewNodePortAddresses(IPv4, ["127.0.0.0/8"])` with
 * `fp.localhostNodePorts = false`, so no NodePort rule is written at all.
 */
const EXTRA: Record<string, Record<string, unknown>> = {
  '2023.TestDisableLocalhostNodePortsIPv4WithNodeAddress.json': { nodePortAddresses: ['127.0.0.0/8'], localhostNodePorts: false },
};

/**
 * Parses a rebuilt input. One test (2023 TestEndpointSliceE2E) builds its Service with port 0,
 * which no manifest can say (the API server requires 1-65535) but kube-proxy renders as
 * `--dport 0`: such a port is loaded as 65535 and set back to 0 on the loaded object.
 */
function loadRebuilt(yaml: string, file: string): KubeObjects {
  const PORT0 = 65535;
  const objs = parseManifests(yaml.replace(/^( {4}port:) 0$/gm, `$1 ${PORT0}`), `${file} (rebuilt)`);
  return { ...objs, services: objs.services.map((s) => ({ ...s, ports: s.ports.map((p) => (p.port === PORT0 ? { ...p, port: 0 } : p)) })) };
}

function isHandWritten(v: Vector): boolean {
  return (v.localDetector ?? '').startsWith('not applicable');
}

function lineDiff(want: string, got: string): string {
  const w = want.split('\n');
  const g = got.split('\n');
  const out: string[] = [];
  for (const l of w) if (!g.includes(l)) out.push(`  - ${l}`);
  for (const l of g) if (!w.includes(l)) out.push(`  + ${l}`);
  if (!out.length) out.push('  (same lines, different order)');
  return out.join('\n');
}

function kernelFlowPackets(vectorFile: string): { c: CaseFile; packetOf: Map<string, number> } | null {
  if (!kernelRoot || !existsSync(join(kernelRoot, vectorFile))) return null;
  const c = JSON.parse(readFileSync(join(kernelRoot, vectorFile), 'utf8')) as CaseFile;
  const flows = (JSON.parse(readFileSync(join(kernelRoot, 'flows.json'), 'utf8')) as { flows: { vector: string; name: string; packet: number | null }[] }).flows;
  const packetOf = new Map<string, number>();
  for (const f of flows) if (f.vector === vectorFile && f.packet !== null) packetOf.set(f.name, f.packet);
  return { c, packetOf };
}

/** The default kernel-like node of these tests: eth0 192.168.0.2/24, pods behind cni0. */
function defaultHost(nodeIP: string, podCIDR: string | null): CaseFile {
  return {
    interfaces: [{ name: 'eth0', addrs: [`${nodeIP}/24`] }, { name: 'cni0', addrs: [] }],
    routes: ['default via 192.168.0.1 dev eth0', ...(podCIDR ? [`${podCIDR} dev cni0`] : ['10.0.0.0/8 dev cni0'])],
    packets: [],
  };
}

function flowPacket(f: Flow, local: string[], i: number): PacketSpec {
  const proto = f.protocol ?? 'tcp';
  const base = { proto, src: f.sourceIP, sport: 40000 + i, dst: f.destIP, dport: f.destPort, ...(proto === 'tcp' ? { tcp_flags: 'SYN' } : {}) };
  return (local.includes(f.sourceIP) ? { hook: 'OUTPUT', ...base } : { hook: 'PREROUTING', in_iface: 'eth0', ...base }) as PacketSpec;
}

/** Runs flows on the host ruleset of `sync`; returns failures (empty = all as expected). */
function runFlows(label: string, sync: IptablesSync, flows: Flow[], host: CaseFile, packetFor: (f: Flow, i: number) => PacketSpec): string[] {
  const c: CaseFile = {
    ...host,
    ruleset: printSave(iptablesHostRuleset(sync)),
    sysctls: { ...sync.sysctls, ...(host.sysctls ?? {}) },
    packets: [],
  };
  const bad: string[] = [];
  flows.forEach((f, i) => {
    const hostNow = buildHost(c, { file: label });
    const branches = runPacketBranches(hostNow, packetFor(f, i), {});
    const got = new Set<string>();
    let masq = false;
    for (const b of branches) {
      const t = flowTokens(b.outcome.trace?.entries ?? [], b.outcome.by);
      t.out.forEach((x) => got.add(x));
      masq ||= t.masq;
    }
    const want = new Set(f.expectOutput === '' ? [] : f.expectOutput.split(', '));
    const same = got.size === want.size && [...want].every((x) => got.has(x));
    if (!same || masq !== f.expectMasq) {
      bad.push(`${label} "${f.name}": expected [${[...want].join(', ')}] masq=${f.expectMasq}, nfemu [${[...got].join(', ')}] masq=${masq}`);
    }
  });
  return bad;
}

test('dumps: regenerated from their own comments, equal line for line; flows as expected', () => {
  if (!root) return;
  const files = readdirSync(root).filter((f) => f.endsWith('.json')).sort();
  let compared = 0;
  let exact = 0;
  let flowsRun = 0;
  const handWritten: string[] = [];
  const mismatches: string[] = [];
  const flowFailures: string[] = [];
  const sequences = new Map<string, { dump: Dump; prev: IptablesSync | undefined }>();
  const seqFiles = files.filter((f) => /TestSyncProxyRulesRepeated\.\d+\.json$/.test(f)).sort((a, b) => {
    const [pa, na] = [a.split('.')[0]!, Number(a.split('.').at(-2))];
    const [pb, nb] = [b.split('.')[0]!, Number(b.split('.').at(-2))];
    return pa === pb ? na - nb : pa < pb ? -1 : 1;
  });
  const ordered = [...files.filter((f) => !seqFiles.includes(f)), ...seqFiles];
  for (const file of ordered) {
    const v = JSON.parse(readFileSync(join(root, file), 'utf8')) as Vector;
    if (v.kind !== 'complete' && v.kind !== 'dump-only') continue;
    const style = file.startsWith('current.') ? 'current' : '2023';
    const seq = /^(.*TestSyncProxyRulesRepeated)\.(\d+)\.json$/.exec(file);
    let dump: Dump;
    let mode: { previous?: IptablesSync; full?: boolean } = {};
    if (seq) {
      let s = sequences.get(seq[1]!);
      if (!s) sequences.set(seq[1]!, (s = { dump: new Dump(), prev: undefined }));
      s.dump.apply(v.ruleset);
      dump = s.dump;
      // Steps 1 and 9 are full syncs (the first sync; the resync after a failed partial one).
      mode = { previous: s.prev, full: seq[2] === '1' || seq[2] === '9' };
    } else dump = new Dump().apply(v.ruleset);
    const rebuilt = rebuildFromDump(dump, { style, nodeIPs: v.nodeIPs, clusterCIDR: v.clusterCIDR, extra: EXTRA[file] });
    if (process.env.KUBE_VECTOR_DEBUG === file) console.log(rebuilt.yaml, rebuilt.options, rebuilt.assumptions);
    const objs = loadRebuilt(rebuilt.yaml, file);
    const sync = generateIptables(objs, rebuilt.options as IptablesProxyOptions, mode);
    if (seq) sequences.get(seq[1]!)!.prev = sync;

    if (isHandWritten(v)) handWritten.push(file);
    else {
      compared++;
      const got = sortRestoreText(sync.payload);
      if (got === v.ruleset) exact++;
      else mismatches.push(`${file}:\n${lineDiff(v.ruleset, got)}`);
    }
    if (v.flows.length) {
      const k = kernelFlowPackets(file);
      const local = v.localAddresses ?? [];
      const host = k ? k.c : defaultHost(v.nodeIPs?.[0] ?? '192.168.0.2', v.clusterCIDR);
      const packetFor = (f: Flow, i: number): PacketSpec => {
        const idx = k?.packetOf.get(f.name);
        return idx !== undefined ? k!.c.packets[idx]! : flowPacket(f, local, i);
      };
      flowsRun += v.flows.length;
      flowFailures.push(...runFlows(file, sync, v.flows, host, packetFor));
    }
  }
  console.log(`kube-proxy dumps: ${exact}/${compared} regenerated exactly (sorted as kube-proxy's tests sort)`);
  console.log(`  not compared line for line: ${handWritten.join(', ')} (hand-written tracer fixtures, not kube-proxy output: built-in chain rules with unquoted comments); their flows run on rules regenerated from them`);
  if (mismatches.length) console.log(mismatches.join('\n'));
  console.log(`kube-proxy dump flows: ${flowsRun - flowFailures.length}/${flowsRun} as expected on regenerated rules`);
  if (flowFailures.length) console.log(flowFailures.join('\n'));
  assert.is(flowFailures.length, 0, 'flows');
  assert.is(exact, compared, 'exact dumps');
});

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

/** The test's inputs as manifests, written out from the vector's `setup`. */
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

test('flows-only TestInternalExternalMasquerade: 4 variants from written-out Services and EndpointSlices', () => {
  if (!root) return;
  const v = JSON.parse(readFileSync(join(root, 'flows-only', '2023.TestInternalExternalMasquerade.json'), 'utf8')) as FlowsOnly;
  const objs = parseManifests(flowsOnlyYaml(v), 'TestInternalExternalMasquerade (written out)');
  const local = [...v.nodeIPs, '127.0.0.1'];
  let total = 0;
  const failures: string[] = [];
  for (const variant of v.variants) {
    const sync = generateIptables(objs, {
      style: '2023', nodeName: NODE_NAME, nodeIPs: v.nodeIPs, masqueradeAll: variant.masqueradeAll, markFormat: 'short', randomFully: false,
      ...(variant.clusterCIDR ? { clusterCIDR: variant.clusterCIDR } : { localDetector: null }),
    });
    total += variant.flows.length;
    failures.push(...runFlows(`TestInternalExternalMasquerade/${variant.name}`, sync, variant.flows, defaultHost(v.nodeIPs[0]!, '10.0.0.0/8'), (f, i) => flowPacket(f, local, i)));
  }
  console.log(`TestInternalExternalMasquerade: ${total - failures.length}/${total} flows as expected`);
  if (failures.length) console.log(failures.join('\n'));
  assert.is(failures.length, 0);
});

test.run();
