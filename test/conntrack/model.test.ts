/**
 * Model-based test (fast-check commands): requests, replies, clock advances, expiry and
 * flushes run against the table and against a plain Map keyed by the original tuple that
 * states the kernel's rules directly: an entry lives until `timeout <= now`; UDP starts at
 * 30 s; once a reply was seen, a packet more than 2 s after the first one gives 120 s and
 * ASSURED, earlier ones 30 s; ICMP echo always 30 s, never ASSURED; a reply to nothing
 * starts its own connection. Every packet's ctinfo is checked; `list()` commands and the end
 * of each run compare `conntrack -L` with the model; `expire()` must reap as many entries.
 *
 * Replay a failure with FC_SEED=<seed printed below>.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { formatWords, type SimulatedClock } from '../../src/core/index.ts';
import { IP_CT_ESTABLISHED, IP_CT_ESTABLISHED_REPLY, IP_CT_NEW, IPS_ASSURED, IPS_SEEN_REPLY } from '../../src/netfilter/index.ts';
import type { Packet } from '../../src/packet/index.ts';
import type { ConntrackTable } from '../../src/conntrack/index.ts';
import { forward, icmp, table, udp } from './helpers.ts';

const seed = Number(process.env.FC_SEED ?? Date.now() % 2 ** 31);
console.log(`conntrack model test: FC_SEED=${seed}`);

const CLIENTS = ['10.0.0.1', '10.0.0.2'];
const SERVER = '192.0.2.1';
const PORTS = [1000, 1001];

interface Flow {
  proto: 'udp' | 'icmp';
  client: string;
  port: number;
}
interface Entry {
  /** Original-direction key: `proto src sport dst dport`. */
  key: string;
  proto: 'udp' | 'icmp';
  expiresAt: number;
  firstAt: number;
  replied: boolean;
  assured: boolean;
  order: number;
}
interface Model {
  entries: Map<string, Entry>;
  now: number;
  order: number;
}
interface Real {
  ct: ConntrackTable;
  clock: SimulatedClock;
}

/** The packet, its tuple key and the key of its inverse. */
function packet(f: Flow, fromClient: boolean): { p: Packet; key: string; inverse: string } {
  const [s, sp, d, dp] = fromClient ? [f.client, f.port, SERVER, 53] : [SERVER, 53, f.client, f.port];
  if (f.proto === 'udp') {
    return { p: udp(s, sp, d, dp), key: `udp ${s} ${sp} ${d} ${dp}`, inverse: `udp ${d} ${dp} ${s} ${sp}` };
  }
  // ICMP: the client pings (type 8), the server answers (type 0); id = port.
  const type = fromClient ? 8 : 0;
  const inv = fromClient ? 0 : 8;
  return { p: icmp(s, d, type, 0, f.port), key: `icmp ${s} ${d} ${type} ${f.port}`, inverse: `icmp ${d} ${s} ${inv} ${f.port}` };
}

function live(m: Model, key: string): Entry | undefined {
  const e = m.entries.get(key);
  return e !== undefined && e.expiresAt > m.now ? e : undefined;
}

function reap(m: Model): number {
  let n = 0;
  for (const [k, e] of m.entries) if (e.expiresAt <= m.now) { m.entries.delete(k); n++; }
  return n;
}

class Send implements fc.Command<Model, Real> {
  constructor(readonly flow: Flow, readonly fromClient: boolean) {}
  check(): boolean {
    return true;
  }
  run(m: Model, r: Real): void {
    const { p, key, inverse } = packet(this.flow, this.fromClient);
    forward(r.ct, p);
    let e = live(m, key);
    let reply = false;
    if (e === undefined) {
      e = live(m, inverse);
      reply = e !== undefined;
    }
    if (e === undefined) {
      if (this.flow.proto === 'icmp' && !this.fromClient) {
        // An echo reply cannot create an entry.
        assert.is(p.ct, null, `${this}: INVALID`);
        return;
      }
      m.entries.set(key, { key, proto: this.flow.proto, expiresAt: m.now + 30_000, firstAt: m.now, replied: false, assured: false, order: m.order++ });
      assert.is(p.ctinfo, IP_CT_NEW, `${this}: NEW`);
      return;
    }
    assert.is(p.ctinfo, reply ? IP_CT_ESTABLISHED_REPLY : e.replied ? IP_CT_ESTABLISHED : IP_CT_NEW, `${this}: ctinfo`);
    if (e.proto === 'icmp') {
      e.expiresAt = m.now + 30_000;
    } else if (!e.replied) {
      e.expiresAt = m.now + 30_000;
    } else if (m.now > e.firstAt + 2000) {
      e.expiresAt = m.now + 120_000;
      e.assured = true;
    } else {
      e.expiresAt = m.now + 30_000;
    }
    if (reply) e.replied = true;
  }
  toString(): string {
    return `${this.fromClient ? 'request' : 'reply'}(${this.flow.proto} ${this.flow.client}:${this.flow.port})`;
  }
}

class Advance implements fc.Command<Model, Real> {
  constructor(readonly ms: number) {}
  check(): boolean {
    return true;
  }
  run(m: Model, r: Real): void {
    m.now += this.ms;
    r.clock.advance(this.ms);
  }
  toString(): string {
    return `advance(${this.ms})`;
  }
}

class Expire implements fc.Command<Model, Real> {
  check(): boolean {
    return true;
  }
  run(m: Model, r: Real): void {
    const n = r.ct.expire();
    // Lookups may already have reaped entries they met (as the kernel's do), so expire()
    // returns at most what the model reaps; the list afterwards must agree exactly.
    const want = reap(m);
    assert.ok(n <= want, `expire() reaped ${n}, model ${want}`);
    compare(m, r);
  }
  toString(): string {
    return 'expire()';
  }
}

class Flush implements fc.Command<Model, Real> {
  check(): boolean {
    return true;
  }
  run(m: Model, r: Real): void {
    r.ct.flush();
    m.entries.clear();
  }
  toString(): string {
    return 'flush()';
  }
}

/** conntrack -L (which reaps expired entries, as the kernel's dump does) must equal the live model entries. */
class List implements fc.Command<Model, Real> {
  check(): boolean {
    return true;
  }
  run(m: Model, r: Real): void {
    compare(m, r);
  }
  toString(): string {
    return 'list()';
  }
}

function compare(m: Model, r: Real): void {
  const got = r.ct.entries().map((c) => {
    const o = c.orig;
    const key = o.proto === 17
      ? `udp ${formatWords(4, o.src)} ${o.sport} ${formatWords(4, o.dst)} ${o.dport}`
      : `icmp ${formatWords(4, o.src)} ${formatWords(4, o.dst)} ${o.dport >>> 8} ${o.sport}`;
    return `${key} t=${c.timeoutAt - r.clock.nowMs()} replied=${(c.status & IPS_SEEN_REPLY) !== 0} assured=${(c.status & IPS_ASSURED) !== 0}`;
  });
  const want = [...m.entries.values()]
    .filter((e) => e.expiresAt > m.now)
    .sort((a, b) => a.order - b.order)
    .map((e) => `${e.key} t=${e.expiresAt - m.now} replied=${e.replied} assured=${e.assured}`);
  reap(m);
  assert.equal(got, want);
}

test('the table behaves like the model over random command sequences', () => {
  const flowArb = fc.record({
    proto: fc.constantFrom<'udp' | 'icmp'>('udp', 'icmp'),
    client: fc.constantFrom(...CLIENTS),
    port: fc.constantFrom(...PORTS),
  });
  const commands = [
    fc.tuple(flowArb, fc.boolean()).map(([f, c]) => new Send(f, c)),
    fc.oneof(fc.constantFrom(1, 999, 1000, 1001, 2000, 2001), fc.integer({ min: 0, max: 130_000 })).map((ms) => new Advance(ms)),
    fc.constant(new Expire()),
    fc.constant(new Flush()),
    fc.constant(new List()),
  ];
  fc.assert(
    fc.property(fc.commands(commands, { maxCommands: 80, size: 'max' }), (cmds) => {
      const { ct, clock } = table();
      const model: Model = { entries: new Map(), now: clock.nowMs(), order: 0 };
      const real: Real = { ct, clock };
      fc.modelRun(() => ({ model, real }), cmds);
      compare(model, real);
    }),
    { seed, numRuns: 1000 },
  );
});

test.run();
