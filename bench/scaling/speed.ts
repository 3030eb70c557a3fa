/**
 * nfemu's own speed on a programmed node, with benchmark.js: packets per second (± relative
 * margin of error) for the first packet of a connection to the first and to the last
 * service, and for a packet of an established connection. Setup (packets, the handshake)
 * is outside the timed function; the timed function copies a prepared packet and injects
 * it with a reused outcome object, as bench/engine.bench.ts does.
 */
import Benchmark from 'benchmark';
import { NF_INET_PRE_ROUTING, type PacketOutcome } from '../../src/index.ts';
import { establishedPacket, firstPacket, replyTo } from './cost.ts';
import type { ModeInstance } from './modes.ts';

/** One benchmark.js result. */
export interface SpeedResult {
  /** Operations (packets) per second. */
  readonly hz: number;
  /** Relative margin of error, percent. */
  readonly rme: number;
  /** Mean time per packet, ns. */
  readonly nsPerPacket: number;
  readonly samples: number;
}

export interface SpeedProbes {
  readonly firstToFirst: SpeedResult;
  readonly firstToLast: SpeedResult;
  readonly established: SpeedResult;
}

/** benchmark.js options: full runs sample longer than --quick ones. */
export interface SpeedOptions {
  /** Seconds each benchmark may run (benchmark.js maxTime). */
  readonly maxTime: number;
  readonly minSamples: number;
}

/** Client ports the first-packet benchmarks cycle through (each one a new connection). */
const PORT_LO = 1024;
const PORT_HI = 65000;

/**
 * Forgets every connection: conntrack flushed, the clock moved past IPVS's timeouts (its
 * connections expire on the next packet, as the kernel's timers would fire).
 */
function forgetConnections(m: ModeInstance): void {
  m.host.conntrack?.flush();
  if (m.ipvs) {
    m.clock.advance(24 * 3600 * 1000);
    m.ipvs.expire();
  }
}

function firstPacketBench(m: ModeInstance, service: number): () => void {
  const reuse: PacketOutcome = { verdict: 1, fate: 'local', reason: '', by: null, packet: null as never, emitted: [], logs: [], trace: null };
  const pkt = firstPacket(service, PORT_LO);
  const snap = pkt.clone();
  const host = m.host;
  let sport = PORT_LO;
  return () => {
    pkt.copyFrom(snap);
    pkt.sport = sport;
    if (++sport > PORT_HI) {
      sport = PORT_LO;
      forgetConnections(m);
    }
    host.inject(pkt, NF_INET_PRE_ROUTING, null, reuse);
  };
}

function establishedBench(m: ModeInstance, service: number): () => void {
  const reuse: PacketOutcome = { verdict: 1, fate: 'local', reason: '', by: null, packet: null as never, emitted: [], logs: [], trace: null };
  // A port outside the first-packet range: this connection survives their flushes.
  const sport = 999;
  const syn = firstPacket(service, sport);
  const o = m.host.inject(syn, NF_INET_PRE_ROUTING, null);
  if (o.fate !== 'forwarded') throw new Error(`speed: setup SYN was ${o.fate} (${o.reason})`);
  const back = m.host.inject(replyTo(o.packet), NF_INET_PRE_ROUTING, null);
  if (back.fate !== 'forwarded') throw new Error(`speed: setup SYN-ACK was ${back.fate} (${back.reason})`);
  const pkt = establishedPacket(service, sport);
  const snap = pkt.clone();
  const check = m.host.inject(pkt.clone(), NF_INET_PRE_ROUTING, null);
  if (check.fate !== 'forwarded') throw new Error(`speed: setup ACK was ${check.fate} (${check.reason})`);
  const host = m.host;
  return () => {
    pkt.copyFrom(snap);
    host.inject(pkt, NF_INET_PRE_ROUTING, null, reuse);
  };
}

/** Calls `fn` for about `ms` milliseconds (at least 10 times), so the JIT has compiled the path before it is timed. */
function warmUp(fn: () => void, ms: number): void {
  const end = performance.now() + ms;
  for (let i = 0; i < 10 || performance.now() < end; i++) fn();
}

function runOne(name: string, fn: () => void, opts: SpeedOptions): SpeedResult {
  warmUp(fn, Math.min(300, opts.maxTime * 200));
  const b = new Benchmark(name, fn, { maxTime: opts.maxTime, minSamples: opts.minSamples, async: false } as Benchmark.Options);
  b.run({ async: false } as Benchmark.Options);
  const r = b as unknown as { hz: number; stats: { rme: number; sample: number[] }; error?: unknown };
  if (r.error) throw r.error instanceof Error ? r.error : new Error(String(r.error));
  return { hz: r.hz, rme: r.stats.rme, nsPerPacket: 1e9 / r.hz, samples: r.stats.sample.length };
}

/**
 * Runs the three benchmarks on `m` (first service, last service, established to the last
 * service). `step` is called before each one (progress).
 */
export function measureSpeed(m: ModeInstance, opts: SpeedOptions, step: (what: string) => void = () => {}): SpeedProbes {
  const last = m.shape.services - 1;
  step('established');
  const established = runOne('established', establishedBench(m, last), opts);
  forgetConnections(m);
  step('first packet → first service');
  const firstToFirst = runOne('first→first', firstPacketBench(m, 0), opts);
  forgetConnections(m);
  step('first packet → last service');
  const firstToLast = runOne('first→last', firstPacketBench(m, last), opts);
  forgetConnections(m);
  return { firstToFirst, firstToLast, established };
}
