/**
 * IPVS mode: cost of one new connection (the first SYN through ip_vs_in_hook: service
 * lookup, rr scheduling, connection creation, DNAT) at 100, 1,000, 10,000 and 50,000
 * virtual services. Lookups are hash tables, so the cost should stay flat. The clock moves
 * 1 ms per connection, so SYN_RECV connections (60 s) expire and the table stays at its
 * steady size (60,000). Traffic goes to 100 services spread evenly over the table, the same
 * number at every size, so what grows is only the table the lookups search (touching every
 * one of 50,000 services in turn would measure the CPU cache instead). Setup (services,
 * servers) is outside the timed part.
 *
 *   node --import tsx bench/ipvs.bench.ts [--quick]
 */
import Benchmark from 'benchmark';
import { SimulatedClock } from '../src/core/index.ts';
import { NF_INET_LOCAL_IN } from '../src/netfilter/index.ts';
import { Packet, TCP_SYN } from '../src/packet/index.ts';
import { RTN_UNICAST } from '../src/xtables/index.ts';
import { Ipvs, type IpvsEnv } from '../src/ipvs/index.ts';

const SIZES = [100, 1000, 10000, 50000];
const quick = process.argv.includes('--quick');
/** Services that receive traffic, at every size. */
const HOT = 100;

/** A VIP per service: 10.96.x.y; two real servers each. */
function build(n: number): { ipvs: Ipvs; clock: SimulatedClock } {
  const clock = new SimulatedClock(0);
  const ipvs = new Ipvs({ clock });
  for (let i = 0; i < n; i++) {
    const addr = new Uint32Array([(0x0a600000 + i) >>> 0, 0, 0, 0]);
    const key = { family: 4 as const, protocol: 6, addr, port: 80, fwmark: 0 };
    ipvs.addService({ ...key, scheduler: 'rr', flags: 0, timeout: 300, netmask: 0xffffffff });
    for (let k = 1; k <= 2; k++) {
      ipvs.addDest(key, { family: 4, addr: new Uint32Array([(0x0af40000 + i * 4 + k) >>> 0, 0, 0, 0]), port: 8080, fwd: 0, weight: 1, uThreshold: 0, lThreshold: 0 });
    }
  }
  return { ipvs, clock };
}

const env: IpvsEnv = { conntrack: null, host: { addrType: () => RTN_UNICAST }, emit: () => {} };

const suite = new Benchmark.Suite('ipvs new connection');
let created = 0;
const results: { n: number; ns: number }[] = [];
for (const n of SIZES) {
  const { ipvs, clock } = build(n);
  const p = new Packet();
  const stride = Math.floor(n / HOT);
  let i = 0;
  suite.add(`new connection, ${n} services`, () => {
    // A fresh client port each time; services picked round the table.
    p.family = 4;
    p.proto = 6;
    p.tcpFlags = TCP_SYN;
    p.saddr[0] = 0xc0a80000 + (i & 0xffff);
    p.sport = 1024 + ((i >>> 16) & 0x7fff);
    p.daddr[0] = 0x0a600000 + (i % HOT) * stride;
    p.dport = 80;
    p.length = 60;
    i++;
    clock.advance(1);
    ipvs.unmark(); // a new packet (the host does this per inject)
    ipvs.inHook(NF_INET_LOCAL_IN, p, env);
  }, {
    minSamples: quick ? 5 : 20,
    maxTime: quick ? 0.5 : 3,
    onComplete(this: Benchmark) {
      created += ipvs.totalStats.conns;
      results.push({ n, ns: this.stats.mean * 1e9 });
    },
  });
}

suite
  .on('cycle', (ev: Benchmark.Event) => console.log(String(ev.target)))
  .on('complete', () => {
    if (created === 0) throw new Error('no connection was created: the benchmark measures nothing');
    const base = results[0]!.ns;
    for (const r of results) console.log(`${String(r.n).padStart(6)} services: ${r.ns.toFixed(0).padStart(6)} ns per new connection (x${(r.ns / base).toFixed(2)})`);
  })
  .run();
