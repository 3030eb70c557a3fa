/**
 * Properties of the kube-proxy iptables generator, checked by tracing its rules through
 * nfemu's kernel model (fast-check, seeded; replay with FC_SEED=<seed>):
 * - a ClusterIP:port with n ready endpoints reaches exactly those, each with probability 1/n;
 * - externalTrafficPolicy Local never masquerades external traffic and never sends it to
 *   another node's endpoint;
 * - the generator never writes a jump to a missing chain, an unreachable rule, or a chain
 *   nothing reaches;
 * - a partial sync applied on top of the previous tables gives exactly what a full sync gives.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { NF_DROP, buildHost, packetJson, runPacketBranches, type CaseFile } from '../../src/index.ts';
import type { PacketSpec } from '../../src/packet/index.ts';
import { printSave, tokenizeRuleLine } from '../../src/xtables/index.ts';
import {
  generateIptables, iptablesHostRuleset,
  type EndpointSlice, type IptablesProxyOptions, type IptablesSync, type KubeObjects, type Service, type SliceEndpoint,
} from '../../src/kube/index.ts';
import { flowTokens } from './rebuild.ts';

const seed = Number(process.env.FC_SEED ?? Date.now() % 2 ** 31);
console.log(`kube generator properties seed: ${seed} (replay with FC_SEED=${seed})`);

const NODE = 'node1';
const NODE_IP = '192.168.0.2';
const POD_CIDR = '10.0.0.0/8';
const OPTS: IptablesProxyOptions = { nodeName: NODE, nodeIPs: [NODE_IP], clusterCIDR: POD_CIDR };
const HOST: CaseFile = {
  interfaces: [{ name: 'eth0', addrs: [`${NODE_IP}/24`] }, { name: 'cni0', addrs: [] }],
  routes: ['default via 192.168.0.1 dev eth0', `${POD_CIDR} dev cni0`],
  packets: [],
};

const ORIGIN = { file: undefined, line: undefined };

function mkService(name: string, p: Partial<Service> & { clusterIP: string }): Service {
  return {
    kind: 'Service', meta: { name, namespace: 'ns', labels: {}, deleting: false }, origin: ORIGIN, type: 'ClusterIP',
    clusterIPs: [p.clusterIP], ports: [{ name: 'p', protocol: 'TCP', port: 80, targetPort: null, nodePort: 0 }], selector: null,
    externalIPs: [], loadBalancerSourceRanges: [], loadBalancerIngress: [], externalTrafficPolicy: 'Cluster', internalTrafficPolicy: 'Cluster',
    sessionAffinity: 'None', sessionAffinityTimeout: 10800, healthCheckNodePort: 0, allocateLoadBalancerNodePorts: true,
    publishNotReadyAddresses: false, ipFamilies: [], ...p,
  };
}

function mkSlice(svc: string, endpoints: SliceEndpoint[], port = 8080): EndpointSlice {
  return {
    kind: 'EndpointSlice', meta: { name: `${svc}-x`, namespace: 'ns', labels: {}, deleting: false }, origin: ORIGIN, serviceName: svc,
    addressType: 'IPv4', ports: [{ name: 'p', port, protocol: 'TCP' }], endpoints,
  };
}

function objects(services: Service[], endpointSlices: EndpointSlice[]): KubeObjects {
  return { services, endpointSlices, nodes: [], pods: [], ignored: [], warnings: [] };
}

function hostFor(sync: IptablesSync): CaseFile {
  return { ...HOST, ruleset: printSave(iptablesHostRuleset(sync)), sysctls: { ...sync.sysctls } };
}

interface EpGen {
  local: boolean;
  /** 0 ready, 1 serving+terminating, 2 not serving */
  state: number;
}

const epState = (e: EpGen): Pick<SliceEndpoint, 'ready' | 'serving' | 'terminating'> =>
  e.state === 0 ? { ready: true, serving: true, terminating: false } : e.state === 1 ? { ready: false, serving: true, terminating: true } : { ready: false, serving: false, terminating: true };

function epIp(i: number): string {
  return `10.${100 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`;
}

test('a ClusterIP reaches exactly its ready endpoints, each with probability 1/n (n up to 1000)', () => {
  fc.assert(
    fc.property(
      fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 1, max: 12 }) }, { weight: 1, arbitrary: fc.integer({ min: 13, max: 1000 }) }),
      fc.array(fc.record({ local: fc.boolean(), state: fc.constantFrom(1, 2) }), { maxLength: 4 }),
      fc.boolean(),
      (n, others, fromPod) => {
        const eps: SliceEndpoint[] = [];
        for (let i = 0; i < n; i++) eps.push({ addresses: [epIp(i)], ready: true, serving: true, terminating: false, nodeName: i % 3 ? 'node2' : NODE, zone: null });
        // Endpoints that are not Ready (terminating, or not serving) must never be reached while Ready ones exist.
        others.forEach((o, j) => eps.push({ addresses: [`10.99.0.${j + 1}`], ...epState(o), nodeName: o.local ? NODE : 'node2', zone: null }));
        const sync = generateIptables(objects([mkService('web', { clusterIP: '172.30.0.10' })], [mkSlice('web', eps)]), OPTS);
        const host = buildHost(hostFor(sync), {});
        const src = fromPod ? '10.1.2.3' : '203.0.113.9';
        const branches = runPacketBranches(host, { hook: 'PREROUTING', in_iface: 'eth0', proto: 'tcp', src, sport: 40000, dst: '172.30.0.10', dport: 80, tcp_flags: 'SYN' } as PacketSpec, {});
        const p = new Map<string, number>();
        for (const b of branches) {
          const t = flowTokens(b.outcome.trace?.entries ?? [], b.outcome.by);
          assert.is(t.out.length, 1, 'exactly one DNAT per branch');
          assert.is(t.masq, !fromPod, 'masquerade iff the source is not a pod');
          p.set(t.out[0]!, (p.get(t.out[0]!) ?? 0) + b.probability);
        }
        const want = Array.from({ length: n }, (_, i) => `${epIp(i)}:8080`).sort();
        assert.equal([...p.keys()].sort(), want);
        // The kernel keeps each --probability as round(p·2^31) and compares it with a random
        // 31-bit number (xt_statistic: (prandom_u32() & 0x7FFFFFFF) < probability), and
        // kube-proxy prints p with ten decimals: each rule's probability is off by at most
        // 2^-32 + 5·10^-11 < 2^-31, and endpoint i's chance is a product of i+1 such factors,
        // so it is within n·2^-31 of 1/n (exactly 1/n without both roundings).
        const tol = n * 2 ** -31;
        for (const [ep, pr] of p) assert.ok(Math.abs(pr - 1 / n) <= tol, `${ep}: ${pr} vs 1/${n} (tolerance ${tol})`);
      },
    ),
    { seed, numRuns: 14, examples: [[1000, [], true]] },
  );
});

test('externalTrafficPolicy Local: external traffic is never masqueraded and never sent to another node', () => {
  const epArb = fc.record({ local: fc.boolean(), state: fc.constantFrom(0, 0, 1, 2) });
  fc.assert(
    fc.property(
      fc.array(epArb, { minLength: 0, maxLength: 6 }),
      fc.constantFrom('NodePort', 'LoadBalancer'),
      fc.constantFrom('nodePort', 'lb', 'externalIP'),
      fc.integer({ min: 1, max: 200 }),
      (gens, type, target, clientHost) => {
        const eps: SliceEndpoint[] = gens.map((g, i) => ({ addresses: [epIp(i)], ...epState(g), nodeName: g.local ? NODE : 'node2', zone: null }));
        const svc = mkService('web', {
          clusterIP: '172.30.0.10', type: type as Service['type'], externalTrafficPolicy: 'Local',
          ports: [{ name: 'p', protocol: 'TCP', port: 80, targetPort: null, nodePort: 30080 }],
          externalIPs: ['192.168.99.5'], healthCheckNodePort: type === 'LoadBalancer' ? 30999 : 0,
          loadBalancerIngress: type === 'LoadBalancer' ? [{ ip: '1.2.3.4', hostname: null, ipMode: null }] : [],
        });
        if (target === 'lb' && type !== 'LoadBalancer') return;
        const sync = generateIptables(objects([svc], [mkSlice('web', eps)]), OPTS);
        const host = buildHost(hostFor(sync), {});
        const [dst, dport] = target === 'nodePort' ? [NODE_IP, 30080] : target === 'lb' ? ['1.2.3.4', 80] : ['192.168.99.5', 80];
        const src = `203.0.113.${clientHost}`;
        const branches = runPacketBranches(host, { hook: 'PREROUTING', in_iface: 'eth0', proto: 'tcp', src, sport: 40000, dst, dport, tcp_flags: 'SYN' } as PacketSpec, {});
        // Local endpoints as CategorizeEndpoints picks them: local Ready ones, else local serving+terminating.
        const localReady = gens.map((g, i) => (g.local && g.state === 0 ? `${epIp(i)}:8080` : null)).filter((x): x is string => x !== null);
        const localTerm = gens.map((g, i) => (g.local && g.state === 1 ? `${epIp(i)}:8080` : null)).filter((x): x is string => x !== null);
        const local = localReady.length ? localReady : localTerm;
        for (const b of branches) {
          const t = flowTokens(b.outcome.trace?.entries ?? [], b.outcome.by);
          assert.not.ok(t.masq, 'masqueraded');
          if (b.outcome.fate === 'forwarded') assert.is(packetJson(b.outcome.packet).src, src, 'source address kept');
          const dnat = t.out.filter((x) => x.includes(':'));
          for (const d of dnat) assert.ok(local.includes(d), `sent to ${d}, not a local endpoint (${local.join(', ')})`);
          if (local.length === 0) assert.is(b.outcome.verdict, NF_DROP, 'without local endpoints the packet is dropped');
          else {
            assert.is(dnat.length, 1);
            assert.is(b.outcome.fate, 'forwarded');
          }
        }
        if (local.length) {
          const reached = new Set(branches.map((b) => flowTokens(b.outcome.trace?.entries ?? [], b.outcome.by).out[0]));
          assert.equal([...reached].sort(), [...local].sort());
        }
      },
    ),
    { seed, numRuns: 120 },
  );
});

/** Built-in targets: anything else after -j must be a chain of the same table. */
const TARGETS = new Set(['ACCEPT', 'DROP', 'RETURN', 'REJECT', 'DNAT', 'SNAT', 'MASQUERADE', 'MARK']);
const TERMINAL = new Set(['ACCEPT', 'DROP', 'REJECT', 'DNAT']);

interface Parsed {
  chain: string;
  target: string | null;
  unconditional: boolean;
}

function tables(text: string): Map<string, { declared: Set<string>; builtin: Set<string>; rules: Parsed[] }> {
  const out = new Map<string, { declared: Set<string>; builtin: Set<string>; rules: Parsed[] }>();
  let cur: { declared: Set<string>; builtin: Set<string>; rules: Parsed[] } | null = null;
  for (const line of text.split('\n')) {
    if (line.startsWith('*')) out.set(line.slice(1), (cur = { declared: new Set(), builtin: new Set(), rules: [] }));
    else if (line.startsWith(':') && cur) {
      const [name, policy] = line.slice(1).split(' ');
      cur.declared.add(name!);
      if (policy !== '-') cur.builtin.add(name!);
    } else if (line.startsWith('-A ') && cur) {
      const w = tokenizeRuleLine(line)!;
      const j = w.indexOf('-j');
      const target = j >= 0 ? w[j + 1]! : null;
      // Unconditional: nothing but a comment before the target.
      const before = w.slice(2, j >= 0 ? j : w.length);
      const unconditional = before.length === 0 || (before.length === 4 && before[0] === '-m' && before[1] === 'comment');
      cur.rules.push({ chain: w[1]!, target, unconditional });
    }
  }
  return out;
}

/** Structural checks of a host ruleset text; returns the problems found. */
function structuralProblems(text: string): string[] {
  const problems: string[] = [];
  for (const [tname, t] of tables(text)) {
    const byChain = new Map<string, Parsed[]>();
    for (const r of t.rules) {
      if (!byChain.has(r.chain)) byChain.set(r.chain, []);
      byChain.get(r.chain)!.push(r);
      if (r.target && !TARGETS.has(r.target) && !t.declared.has(r.target)) problems.push(`${tname}: jump to missing chain ${r.target}`);
    }
    // A chain always ends the walk if some unconditional rule in it is terminal.
    const terminal = new Map<string, boolean>();
    const isTerminal = (c: string, seen = new Set<string>()): boolean => {
      if (terminal.has(c)) return terminal.get(c)!;
      if (seen.has(c)) return false;
      seen.add(c);
      const v = (byChain.get(c) ?? []).some((r) => r.unconditional && r.target !== null && (TERMINAL.has(r.target) || (!TARGETS.has(r.target) && isTerminal(r.target, seen))));
      terminal.set(c, v);
      return v;
    };
    for (const [c, rules] of byChain) {
      const stop = rules.findIndex((r) => r.unconditional && r.target !== null && (TERMINAL.has(r.target) || (!TARGETS.has(r.target) && isTerminal(r.target))));
      if (stop >= 0 && stop < rules.length - 1) problems.push(`${tname}:${c}: rule ${stop + 2} is unreachable`);
    }
    // Every per-service chain is reached from a built-in chain.
    const reached = new Set<string>(t.builtin);
    const todo = [...t.builtin];
    while (todo.length) {
      const c = todo.pop()!;
      for (const r of byChain.get(c) ?? []) if (r.target && t.declared.has(r.target) && !reached.has(r.target)) {
        reached.add(r.target);
        todo.push(r.target);
      }
    }
    for (const c of t.declared) if (/^KUBE-(SVC|SVL|EXT|FW|SEP)-/.test(c) && !reached.has(c)) problems.push(`${tname}: ${c} is never jumped to`);
  }
  return problems;
}

const serviceArb = fc.record({
  type: fc.constantFrom('ClusterIP', 'NodePort', 'LoadBalancer'),
  eTP: fc.constantFrom('Cluster', 'Local'),
  iTP: fc.constantFrom('Cluster', 'Local'),
  externalIP: fc.boolean(),
  ranges: fc.boolean(),
  affinity: fc.boolean(),
  proxyMode: fc.boolean(),
  eps: fc.array(fc.record({ local: fc.boolean(), state: fc.constantFrom(0, 0, 1, 2) }), { maxLength: 5 }),
});
type ServiceGen = typeof serviceArb extends fc.Arbitrary<infer T> ? T : never;

function build(gens: ServiceGen[]): KubeObjects {
  const services: Service[] = [];
  const slices: EndpointSlice[] = [];
  gens.forEach((g, i) => {
    const name = `s${i}`;
    services.push(mkService(name, {
      clusterIP: `172.30.${i >> 8}.${i & 255}`, type: g.type as Service['type'], externalTrafficPolicy: g.eTP as 'Cluster', internalTrafficPolicy: g.iTP as 'Cluster',
      ports: [{ name: 'p', protocol: 'TCP', port: 80, targetPort: null, nodePort: g.type === 'ClusterIP' ? 0 : 30000 + i }],
      externalIPs: g.externalIP ? [`192.168.99.${i & 255}`] : [],
      loadBalancerSourceRanges: g.ranges ? ['203.0.113.0/25', '192.168.0.0/24'] : [],
      loadBalancerIngress: g.type === 'LoadBalancer' ? [{ ip: `1.2.${i >> 8}.${i & 255}`, hostname: null, ipMode: g.proxyMode ? 'Proxy' : null }] : [],
      sessionAffinity: g.affinity ? 'ClientIP' : 'None', healthCheckNodePort: g.type === 'LoadBalancer' && g.eTP === 'Local' ? 31000 + i : 0,
    }));
    slices.push(mkSlice(name, g.eps.map((e, j) => ({ addresses: [`10.${i & 255}.1.${j + 1}`], ...epState(e), nodeName: e.local ? NODE : 'node2', zone: null }))));
  });
  return objects(services, slices);
}

test('no jump to a missing chain, no unreachable rule, no orphan per-service chain', () => {
  fc.assert(
    fc.property(fc.array(serviceArb, { minLength: 1, maxLength: 8 }), fc.constantFrom<'current' | '2023'>('current', '2023'), fc.boolean(), fc.boolean(), (gens, style, detector, masqAll) => {
      const sync = generateIptables(build(gens), { ...OPTS, style, masqueradeAll: masqAll, ...(detector ? {} : { clusterCIDR: null }) });
      const text = printSave(iptablesHostRuleset(sync)); // restore itself refuses jumps to missing chains
      assert.equal(structuralProblems(text), []);
    }),
    { seed, numRuns: 300 },
  );
  // The checker itself finds what it looks for.
  assert.equal(structuralProblems('*nat\n:PREROUTING ACCEPT [0:0]\n:KUBE-SEP-A - [0:0]\n-A PREROUTING -j KUBE-SEP-A\n-A PREROUTING -j KUBE-X\n-A KUBE-SEP-A -j DNAT --to-destination 1.1.1.1\n-A KUBE-SEP-A -j ACCEPT\nCOMMIT\n'), [
    'nat: jump to missing chain KUBE-X', 'nat:PREROUTING: rule 2 is unreachable', 'nat:KUBE-SEP-A: rule 2 is unreachable',
  ]);
});

test('a partial sync applied on the previous tables equals a full sync (model-based)', () => {
  const change = fc.oneof(
    fc.record({ kind: fc.constant('replace' as const), at: fc.nat(), svc: serviceArb }),
    fc.record({ kind: fc.constant('add' as const), svc: serviceArb }),
    fc.record({ kind: fc.constant('remove' as const), at: fc.nat() }),
    fc.record({ kind: fc.constant('none' as const) }),
  );
  fc.assert(
    fc.property(fc.array(serviceArb, { minLength: 1, maxLength: 5 }), fc.array(change, { minLength: 1, maxLength: 6 }), (initial, changes) => {
      let gens = [...initial];
      let sync = generateIptables(build(gens), OPTS);
      let tables = iptablesHostRuleset(sync);
      for (const c of changes) {
        const before = gens.map((g) => JSON.stringify(g));
        if (c.kind === 'replace' && gens.length) gens[c.at % gens.length] = c.svc;
        else if (c.kind === 'add') gens.push(c.svc);
        else if (c.kind === 'remove' && gens.length) gens = gens.filter((_, i) => i !== c.at % gens.length);
        const next = generateIptables(build(gens), OPTS, { previous: sync });
        assert.not.ok(next.full);
        tables = iptablesHostRuleset(next, tables);
        const full = generateIptables(build(gens), OPTS);
        assert.is(printSave(tables), printSave(iptablesHostRuleset(full)), `after ${c.kind}`);
        // A Service whose input did not change is not rewritten (Service s<i> is built from gens[i]).
        const after = gens.map((g) => JSON.stringify(g));
        for (const name of next.rewritten) {
          const i = Number(name.slice('ns/s'.length));
          assert.ok(i >= before.length || i >= after.length || before[i] !== after[i], `${name} rewritten without a change`);
        }
        sync = next;
      }
    }),
    { seed, numRuns: 80 },
  );
});

test.run();
