/**
 * iptables vs IPVS at a few scales: the same Services (ClusterIP, 4 endpoints each) on a
 * node whose kube-proxy runs in iptables mode, then in IPVS mode. For the first packet of a
 * connection to the last Service, how many iptables rules the kernel looks at (every rule
 * tested, matched or not, counted from a trace that records misses), and how much each mode
 * programs. iptables mode walks KUBE-SERVICES rule by rule, so the walk grows with the
 * number of Services; IPVS mode matches ipsets (hash lookups) and one IPVS hash lookup of
 * (protocol, VIP, port), so its walk stays the same.
 */
import { Cluster, runPacketBranches, printSave, type PacketSpec, type Scenario, type TraceEntry } from '../src/index.ts';

const SCALES = [10, 100, 1000] as const;
const ENDPOINTS = 4;

/** Service i: default/svc-NNNNN, ClusterIP 10.96.x.y, 4 endpoints on node2's pods. */
function manifests(n: number): string {
  const docs: string[] = [];
  for (let i = 0; i < n; i++) {
    const name = `svc-${String(i).padStart(5, '0')}`;
    const vip = `10.96.${(i + 1) >> 8}.${(i + 1) & 255}`;
    const eps: string[] = [];
    for (let j = 0; j < ENDPOINTS; j++) {
      const k = i * ENDPOINTS + j + 1;
      eps.push(`- {addresses: ["10.244.${128 + (k >> 8)}.${k & 255}"], nodeName: node2}`);
    }
    docs.push([
      'apiVersion: v1', 'kind: Service', `metadata: {name: ${name}, namespace: default}`, 'spec:',
      `  clusterIP: ${vip}`, '  ports: [{name: http, port: 80, protocol: TCP}]',
    ].join('\n'));
    docs.push([
      'apiVersion: discovery.k8s.io/v1', 'kind: EndpointSlice',
      `metadata: {name: ${name}-1, namespace: default, labels: {kubernetes.io/service-name: ${name}}}`,
      'addressType: IPv4', 'ports: [{name: http, port: 8080, protocol: TCP}]', 'endpoints:', ...eps,
    ].join('\n'));
  }
  return docs.join('\n---\n') + '\n';
}

interface Row {
  readonly services: number;
  readonly mode: 'iptables' | 'ipvs';
  readonly rules: number;
  readonly setMembers: number;
  readonly virtualServers: number;
  /** Rules looked at by the first packet, averaged over the random branches (iptables mode's statistic rules). */
  readonly walked: number;
  readonly walkedMin: number;
  readonly walkedMax: number;
  /** Where the packet went (the branches' destinations). */
  readonly dsts: readonly string[];
}

/** Rules a trace looked at: every rule that matched plus every rule passed over (recorded as skipped). */
function rulesLookedAt(trace: readonly TraceEntry[]): number {
  let n = 0;
  for (const e of trace) n += (e.rule_index !== null ? 1 : 0) + (e.skipped?.length ?? 0);
  return n;
}

function measure(n: number, mode: 'iptables' | 'ipvs', text: string, target: string): Row {
  const c = new Cluster({ seed: 3, kubeProxy: { mode } });
  c.addNetwork('nodes', '192.168.0.0/24');
  c.addNode({ name: 'node1', ip: '192.168.0.2', podCIDR: '10.244.1.0/24' });
  c.addNode({ name: 'node2', ip: '192.168.0.3', podCIDR: '10.244.128.0/17' });
  c.applyManifests(text, `scale-table ${n}`);
  const kp = c.kubeProxy('node1')!;
  const host = c.host('node1').host;
  const rules = printSave(host.currentRuleset()).split('\n').filter((l) => l.startsWith('-A ')).length;
  const setMembers = kp.mode === 'ipvs' ? kp.sync.ipsets.split('\n').filter((l) => l.startsWith('add ')).length : 0;
  const virtualServers = kp.mode === 'ipvs' ? kp.sync.ipvs.split('\n').filter((l) => l.startsWith('-A ')).length : 0;
  // A pod on node1 opens a connection to the last Service: its SYN arrives on cni0.
  const spec: PacketSpec = { hook: 'PREROUTING', in_iface: 'cni0', proto: 'tcp', src: '10.244.1.9', sport: 40000, dst: target, dport: 80, tcp_flags: 'SYN' };
  const branches = runPacketBranches(host, spec, { why: true });
  let walked = 0;
  let walkedMin = Infinity;
  let walkedMax = 0;
  const dsts: string[] = [];
  for (const b of branches) {
    const k = rulesLookedAt(b.outcome.trace?.entries ?? []);
    walked += b.probability * k;
    walkedMin = Math.min(walkedMin, k);
    walkedMax = Math.max(walkedMax, k);
    const p = b.outcome.packet;
    dsts.push(`${[24, 16, 8, 0].map((s) => (p.daddr[0]! >>> s) & 255).join('.')}:${p.dport}`);
  }
  return { services: n, mode, rules, setMembers, virtualServers, walked, walkedMin, walkedMax, dsts };
}

const scenario: Scenario = {
  name: 'scale-table',
  title: 'iptables vs IPVS at 10, 100 and 1,000 Services: rules walked by the first packet',
  run(io) {
    io.say(`One node (192.168.0.2, pods 10.244.1.0/24) and N ClusterIP Services with ${ENDPOINTS} endpoints each (all on another`);
    io.say('node). A pod sends the first packet (SYN) of a connection to the last Service. Every rule the kernel tests is');
    io.say('counted, matched or not; in IPVS mode add one IPVS service lookup, a hash of (protocol, VIP, port).');
    io.say('');
    const rows: Row[] = [];
    for (const n of SCALES) {
      const text = manifests(n);
      const vip = `10.96.${n >> 8}.${n & 255}`;
      for (const mode of ['iptables', 'ipvs'] as const) rows.push(measure(n, mode, text, vip));
    }
    const header = ['services', 'mode', 'rules walked', 'IPVS lookups', 'iptables rules', 'ipset members', 'virtual servers'];
    const cells = rows.map((r) => [
      String(r.services), r.mode,
      r.walkedMin === r.walkedMax ? String(r.walkedMin) : `${r.walked.toFixed(2)} (${r.walkedMin}–${r.walkedMax})`,
      r.mode === 'ipvs' ? '1' : '0', String(r.rules), String(r.setMembers), String(r.virtualServers),
    ]);
    const width = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
    const line = (c: string[]) => '  ' + c.map((x, i) => (i < 2 ? x.padEnd(width[i]!) : x.padStart(width[i]!))).join('  ');
    io.say(line(header));
    io.say('  ' + width.map((w) => '-'.repeat(w)).join('  '));
    for (const c of cells) io.say(line(c));
    io.say('');
    io.say('In iptables mode the walk depends on which endpoint the statistic rules pick; the mean over the four');
    io.say('equally likely branches is shown with the fewest and most rules.');

    const ipt = rows.filter((r) => r.mode === 'iptables');
    const ipvs = rows.filter((r) => r.mode === 'ipvs');
    const by = (rs: Row[], n: number) => rs.find((r) => r.services === n)!;
    io.check(ipt.every((r) => r.dsts.length === ENDPOINTS && r.dsts.every((d) => d.startsWith('10.244.') && d.endsWith(':8080'))),
      'iptables mode: the SYN is DNATed to one of the 4 endpoints, each a branch of its own');
    io.check(ipvs.every((r) => r.dsts.length === 1 && r.dsts[0]!.startsWith('10.244.') && r.dsts[0]!.endsWith(':8080')),
      'IPVS mode: the SYN is DNATed to an endpoint (the scheduler\'s choice, no random rule)');
    // KUBE-SERVICES holds one rule per Service port, tested in order: the last Service's rule
    // is reached after passing over every earlier one.
    for (let i = 1; i < SCALES.length; i++) {
      const a = SCALES[i - 1]!;
      const b = SCALES[i]!;
      io.check(by(ipt, b).walkedMin - by(ipt, a).walkedMin === b - a && by(ipt, b).walkedMax - by(ipt, a).walkedMax === b - a,
        `iptables mode, ${a} → ${b} Services: the walk grows by exactly ${b - a} rules, one per extra Service (linear)`);
    }
    io.check(ipvs.every((r) => r.walkedMin === ipvs[0]!.walkedMin && r.walkedMax === r.walkedMin),
      `IPVS mode: the walk is ${ipvs[0]!.walkedMin} rules at every scale (constant)`);
    io.check(ipvs.every((r) => r.rules === ipvs[0]!.rules), `IPVS mode: the same ${ipvs[0]!.rules} iptables rules whatever the number of Services`);
    // kube-proxy's iptables mode, per ClusterIP Service with 4 endpoints: 1 KUBE-SERVICES rule,
    // KUBE-SVC with the masquerade rule and 4 jumps, 4 KUBE-SEP chains of 2 rules.
    const perService = 1 + (1 + ENDPOINTS) + 2 * ENDPOINTS;
    io.check(by(ipt, 1000).rules - by(ipt, 100).rules === 900 * perService && by(ipt, 100).rules - by(ipt, 10).rules === 90 * perService,
      `iptables mode programs ${perService} rules per Service (1 in KUBE-SERVICES, ${1 + ENDPOINTS} in KUBE-SVC, ${2 * ENDPOINTS} in KUBE-SEPs)`);
    io.check(ipvs.every((r) => r.virtualServers === r.services && r.setMembers === 2 * r.services),
      'IPVS mode programs one virtual server per Service and two set members (KUBE-CLUSTER-IP, KUBE-IPVS-IPS) instead');
    io.check(by(ipt, 1000).walkedMin > 10 * by(ipvs, 1000).walkedMin, 'at 1,000 Services the iptables-mode walk is more than ten times the IPVS-mode one');
  },
};

export default scenario;
