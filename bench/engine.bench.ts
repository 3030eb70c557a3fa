/**
 * Engine benchmarks (issue: rulesets as data; the netfilter engine), with benchmark.js:
 *  - parse + validate + compile a kube-proxy-style dump of 10,000 services × 4 endpoints;
 *  - packets/s on the established-flow fast path (conntrack hit);
 *  - the first packet of a connection to the last service through 100 / 1,000 / 10,000
 *    services, and nanoseconds per rule walked.
 * Run: node --import tsx bench/engine.bench.ts [--quick]
 */
import Benchmark from 'benchmark';
import { Host, SimulatedClock, SeededRng, restore, buildPacket, NF_INET_PRE_ROUTING, TraceCollector, type PacketOutcome } from '../src/index.ts';
import { kubeDump, serviceIp } from './kube-dump.ts';

const quick = process.argv.includes('--quick');

function fmt(n: number, digits = 0): string {
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

function makeHost(services: number): Host {
  const host = new Host({ clock: new SimulatedClock(), rng: new SeededRng(1) });
  host.routing.addAddr('eth0', '192.168.0.2/24');
  host.routing.addAddr('cni0', '10.244.0.1/16');
  host.routing.addRoute({ family: 4, dst: { family: 4, addr: new Uint32Array(4), mask: new Uint32Array(4), prefix: 0 }, type: 1, dev: 'eth0', via: null, src: null, metric: 0, local: false });
  host.load(restore(kubeDump({ services, endpoints: 4 }), { family: 4 }));
  return host;
}

// 1. parse + validate + compile.
{
  const n = quick ? 1000 : 10000;
  const text = kubeDump({ services: n, endpoints: 4 });
  const lines = text.split('\n').length;
  const times: number[] = [];
  let heap = 0;
  for (let i = 0; i < (quick ? 2 : 3); i++) {
    globalThis.gc?.();
    const before = process.memoryUsage().heapUsed;
    const t0 = process.hrtime.bigint();
    const rs = restore(text, { family: 4 });
    const host = new Host({ clock: new SimulatedClock(), rng: new SeededRng(1) });
    host.load(rs);
    const t1 = process.hrtime.bigint();
    times.push(Number(t1 - t0) / 1e6);
    heap = Math.max(heap, process.memoryUsage().heapUsed - before);
    void host;
  }
  times.sort((a, b) => a - b);
  console.log(`parse+validate+compile ${fmt(n)} services x 4 endpoints (${fmt(lines)} lines, ${fmt(text.length / 1e6, 1)} MB): median ${fmt(times[Math.floor(times.length / 2)]!)} ms, heap +${fmt(heap / 1e6, 1)} MB`);
}

// 2 and 3: per-packet costs.
const suite = new Benchmark.Suite();
const sizes = quick ? [100, 1000] : [100, 1000, 10000];
const reuse: PacketOutcome = { verdict: 1, fate: 'local', reason: '', by: null, packet: null as never, emitted: [], logs: [], trace: null };
const results: string[] = [];

{
  const host = makeHost(100);
  const spec = { hook: 'PREROUTING' as const, in_iface: 'eth0', proto: 'tcp', src: '192.168.0.50', sport: 40000, dst: serviceIp(99), dport: 80, tcp_flags: 'SYN' };
  const first = buildPacket(spec);
  const o = host.inject(first, NF_INET_PRE_ROUTING, null);
  if (o.fate !== 'forwarded') throw new Error(`setup: first packet ${o.fate}`);
  const pkt = buildPacket({ ...spec, tcp_flags: 'ACK' });
  const snap = pkt.clone();
  suite.add('established packet (conntrack hit, DNAT + MASQUERADE un/re-applied)', () => {
    pkt.copyFrom(snap);
    host.inject(pkt, NF_INET_PRE_ROUTING, null, reuse);
  });
}

for (const n of sizes) {
  const host = makeHost(n);
  const spec = { hook: 'PREROUTING' as const, in_iface: 'eth0', proto: 'tcp', src: '192.168.0.50', sport: 1024, dst: serviceIp(n - 1), dport: 80, tcp_flags: 'SYN' };
  const pkt = buildPacket(spec);
  const snap = pkt.clone();
  // Rules walked by one first packet (outside the timed part): every rule looked at.
  let walked = 0;
  {
    const t = new TraceCollector(true);
    const p = buildPacket(spec);
    host.inject(p, NF_INET_PRE_ROUTING, t);
    for (const e of t.entries) walked += 1 + (e.skipped?.length ?? 0);
    host.conntrack!.flush();
  }
  let sport = 1024;
  suite.add(`first packet to the last of ${fmt(n)} services (${fmt(walked)} rules walked)`, () => {
    pkt.copyFrom(snap);
    pkt.sport = sport;
    if (++sport > 65000) {
      sport = 1024;
      host.conntrack!.flush();
    }
    host.inject(pkt, NF_INET_PRE_ROUTING, null, reuse);
  });
  (suite as unknown as { walked: Record<string, number> }).walked ??= {};
  (suite as unknown as { walked: Record<string, number> }).walked[String(n)] = walked;
}

suite
  .on('cycle', (e: Benchmark.Event) => {
    const b = e.target as unknown as Benchmark & { name: string; hz: number; stats: { rme: number } };
    const m = /of ([\d,]+) services \(([\d,]+) rules walked\)/.exec(b.name);
    let extra = '';
    if (m) {
      const walkedRules = Number(m[2]!.replace(/,/g, ''));
      extra = `, ${fmt(1e9 / b.hz / walkedRules, 2)} ns per rule walked`;
    }
    results.push(`${b.name}: ${fmt(b.hz)} packets/s ±${fmt(b.stats.rme, 1)}% (${fmt(1e9 / b.hz)} ns/packet${extra})`);
    console.log(results[results.length - 1]);
  })
  .run({ async: false, ...(quick ? { minSamples: 5, maxTime: 1 } : {}) } as Benchmark.Options);
