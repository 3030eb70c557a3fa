/**
 * kube-proxy iptables-mode sync benchmarks (src/kube), with benchmark.js:
 *  - full sync (proxier state from the objects + syncProxyRules' payload) for 1,000 /
 *    10,000 / 50,000 Services with 4 endpoints each. The 50,000 case runs ONE timed
 *    iteration (about 5 s and a 70 MB payload; benchmark.js would need minutes);
 *  - one endpoint change at 10,000 Services: the partial sync (MinimizeIPTablesRestore: the
 *    changed Service's chains plus the top-level chains) — time and payload size, next to
 *    the full payload.
 * Object construction is outside the timed part. Run: node --import tsx bench/kube-sync.bench.ts [--quick]
 * (--quick: 1,000 and 10,000 only).
 */
import Benchmark from 'benchmark';
import {
  buildProxyState, resolveOptions, syncIptablesRules,
  type EndpointSlice, type IptablesSync, type KubeObjects, type Service,
} from '../src/kube/index.ts';

const quick = process.argv.includes('--quick');
const ORIGIN = { file: undefined, line: undefined };
const OPTIONS = resolveOptions({ nodeName: 'node-0', nodeIPs: ['192.168.0.2'], clusterCIDR: '10.0.0.0/8' });

function fmt(n: number, digits = 0): string {
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

function service(i: number): Service {
  return {
    kind: 'Service', meta: { name: `svc-${i}`, namespace: `ns-${i % 100}`, labels: {}, deleting: false }, origin: ORIGIN, type: 'ClusterIP',
    clusterIP: `172.${16 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`, clusterIPs: [], selector: null,
    ports: [{ name: 'http', protocol: 'TCP', port: 80, targetPort: 8080, nodePort: 0 }],
    externalIPs: [], loadBalancerSourceRanges: [], loadBalancerIngress: [], externalTrafficPolicy: 'Cluster', internalTrafficPolicy: 'Cluster',
    sessionAffinity: 'None', sessionAffinityTimeout: 10800, healthCheckNodePort: 0, allocateLoadBalancerNodePorts: true,
    publishNotReadyAddresses: false, ipFamilies: [],
  };
}

function slice(i: number, gen = 0): EndpointSlice {
  return {
    kind: 'EndpointSlice', meta: { name: `svc-${i}-abcde`, namespace: `ns-${i % 100}`, labels: {}, deleting: false }, origin: ORIGIN,
    serviceName: `svc-${i}`, addressType: 'IPv4', ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
    endpoints: [0, 1, 2, 3].map((k) => ({
      addresses: [`10.${(i >> 14) + (k === 3 ? gen : 0) * 64}.${(i >> 6) & 255}.${((i & 63) << 2) | k}`],
      ready: null, serving: null, terminating: null, nodeName: `node-${k}`, zone: null,
    })),
  };
}

function cluster(n: number): KubeObjects {
  const services: Service[] = [];
  const endpointSlices: EndpointSlice[] = [];
  for (let i = 0; i < n; i++) {
    services.push(service(i));
    endpointSlices.push(slice(i));
  }
  return { services, endpointSlices, nodes: [], pods: [], ignored: [], warnings: [] };
}

function fullSync(objs: KubeObjects): IptablesSync {
  return syncIptablesRules(buildProxyState(objs, { family: 4, nodeName: OPTIONS.nodeName }), OPTIONS);
}

function describe(s: IptablesSync): string {
  const lines = s.payload.split('\n').length;
  return `${fmt(s.payload.length / 1e6, 2)} MB, ${fmt(lines)} lines, ${fmt(s.stats.natChains)} nat chains`;
}

const results: string[] = [];
const suite = new Benchmark.Suite();
const sizes = quick ? [1000, 10000] : [1000, 10000];
for (const n of sizes) {
  const objs = cluster(n);
  const sample = fullSync(objs);
  suite.add(`full sync, ${fmt(n)} services x 4 endpoints (${describe(sample)})`, () => {
    fullSync(objs);
  }, { minSamples: n >= 10000 ? 5 : 20, maxTime: n >= 10000 ? 15 : 5 });
}

// One endpoint of one Service changes at 10,000 Services.
const N = 10000;
const before = cluster(N);
const previous = fullSync(before);
const changedAt = 4321;
const after: KubeObjects = { ...before, endpointSlices: before.endpointSlices.map((e, i) => (i === changedAt ? slice(i, 1) : e)) };
const partial = syncIptablesRules(buildProxyState(after, { family: 4, nodeName: OPTIONS.nodeName }), OPTIONS, { previous });
if (partial.rewritten.length !== 1 || partial.deleted.length !== 1) throw new Error(`setup: expected one Service rewritten and one stale chain, got ${partial.rewritten.length}/${partial.deleted.length}`);
suite.add(`partial sync after one endpoint change, ${fmt(N)} services (${describe(partial)}; full payload ${fmt(previous.payload.length / 1e6, 2)} MB)`, () => {
  syncIptablesRules(buildProxyState(after, { family: 4, nodeName: OPTIONS.nodeName }), OPTIONS, { previous });
}, { minSamples: 10, maxTime: 10 });

suite
  .on('cycle', (e: Benchmark.Event) => {
    const b = e.target as unknown as Benchmark;
    const ms = 1000 / b.hz!;
    results.push(`${b.name}: ${fmt(b.hz!, 2)} ops/s ±${fmt(b.stats!.rme, 1)}% (${fmt(ms, 1)} ms/sync, ${b.stats!.sample.length} samples)`);
    console.log(results[results.length - 1]);
  })
  .run({ async: false });

if (!quick) {
  // 50,000 Services: a single timed iteration (say so), after one warm-up at 10,000 above.
  const objs = cluster(50000);
  globalThis.gc?.();
  const t0 = process.hrtime.bigint();
  const s = fullSync(objs);
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  console.log(`full sync, 50,000 services x 4 endpoints (${describe(s)}): ${fmt(ms)} ms (single iteration, not a benchmark.js sample)`);
}
console.log(`partial payload at ${fmt(N)} services: ${fmt(partial.payload.length)} bytes (${fmt((100 * partial.payload.length) / previous.payload.length, 1)}% of the full ${fmt(previous.payload.length)} bytes); rewritten: ${partial.rewritten.join(', ')}; deleted: ${partial.deleted.join(', ')}`);
