/**
 * The deterministic cost model: for one packet, how many rules the host evaluated (every
 * rule looked at: the ones that matched and the ones passed over) and how many hash
 * lookups it made (conntrack, ipset, IPVS service and connection tables). Counted outside
 * any timed part: the counting tracer is a TraceCollector(why=true) that counts the rules
 * passed over instead of printing them, and the lookup counters wrap the table instances'
 * lookup methods (installed after the timed benchmarks, never removed: see worker.ts).
 */
import { TraceCollector, buildPacket, formatIp, NF_INET_PRE_ROUTING, type Host, type Packet, type PacketOutcome } from '../../src/index.ts';
import type { CompiledTable, XtContext } from '../../src/xtables/index.ts';
import { TABLE_NAMES } from '../../src/netfilter/index.ts';
import type { IpsetRegistry } from '../../src/ipset/index.ts';
import type { Ipvs } from '../../src/ipvs/index.ts';
import { CLIENT_POD_IP, POD_BRIDGE, SERVICE_PORT, serviceIp } from './cluster.ts';

/**
 * A TraceCollector that counts, per table, every rule the evaluator looks at: `rule` for a
 * rule that matched (kept as a trace entry), `miss` for one passed over (counted only).
 */
export class CountingTracer extends TraceCollector {
  /** Rules evaluated per table name. */
  readonly byTable: Record<string, number> = {};
  total = 0;

  constructor() {
    super(true);
  }

  private count(ct: CompiledTable): void {
    const t = TABLE_NAMES[ct.tableId] ?? String(ct.tableId);
    this.byTable[t] = (this.byTable[t] ?? 0) + 1;
    this.total++;
  }

  override miss(ct: CompiledTable, _k: number, _pkt: Packet, _ctx: XtContext): void {
    this.count(ct);
  }

  override rule(ct: CompiledTable, k: number, verdict: string, pkt: Packet): void {
    this.count(ct);
    super.rule(ct, k, verdict, pkt);
  }
}

/** Hash lookups by table. */
export interface LookupCounts {
  conntrack: number;
  ipset: number;
  ipvs: number;
}

/** The counters, and the installs that feed them. */
export class LookupCounter {
  readonly counts: LookupCounts = { conntrack: 0, ipset: 0, ipvs: 0 };

  reset(): void {
    this.counts.conntrack = 0;
    this.counts.ipset = 0;
    this.counts.ipvs = 0;
  }

  get total(): number {
    return this.counts.conntrack + this.counts.ipset + this.counts.ipvs;
  }

  /** Wraps `obj[name]` (an instance's own property now shadows the prototype's method) to count calls. */
  private wrap(obj: object, name: string, key: keyof LookupCounts): void {
    const o = obj as Record<string, unknown>;
    const orig = o[name];
    if (typeof orig !== 'function') throw new Error(`cost: no method ${name} to count`);
    const counts = this.counts;
    o[name] = function (this: unknown, ...args: unknown[]) {
      counts[key]++;
      return (orig as (...a: unknown[]) => unknown).apply(this, args);
    };
  }

  /**
   * Counts the host's table lookups: conntrack's hash chain walks (findNode, and the
   * by-source table SNAT consults), every ipset test, and IPVS's service table (address
   * and fwmark) and connection table (in, out, template) lookups.
   */
  install(host: Host, sets: IpsetRegistry | null, ipvs: Ipvs | null, setNames: readonly string[] = []): void {
    if (host.conntrack) {
      this.wrap(host.conntrack, 'findNode', 'conntrack');
      this.wrap(host.conntrack, 'bySourceFirst', 'conntrack');
    }
    if (sets) {
      for (const n of setNames) {
        const h = sets.get(n);
        if (h) this.wrap(h, 'test', 'ipset');
      }
    }
    if (ipvs) {
      this.wrap(ipvs.services, 'find', 'ipvs');
      this.wrap(ipvs.services, 'findFwmark', 'ipvs');
      this.wrap(ipvs.conns, 'findIn', 'ipvs');
      this.wrap(ipvs.conns, 'findOut', 'ipvs');
      this.wrap(ipvs.conns, 'findTemplate', 'ipvs');
    }
  }
}

/** The cost of one packet. */
export interface PacketCost {
  /** Rules evaluated, all tables and hooks. */
  readonly rules: number;
  readonly rulesByTable: Readonly<Record<string, number>>;
  /** Hash lookups, all tables. */
  readonly lookups: number;
  readonly lookupsByTable: Readonly<LookupCounts>;
  /** What happened to it (a sanity check: a first packet must be forwarded to an endpoint). */
  readonly fate: string;
  /** Destination after NAT (`ip:port`). */
  readonly to: string;
}

/** The client's first packet of a connection (TCP SYN from the pod on cni0) to service i. */
export function firstPacket(i: number, sport: number): Packet {
  return buildPacket({ hook: 'PREROUTING', in_iface: POD_BRIDGE, proto: 'tcp', src: CLIENT_POD_IP, sport, dst: serviceIp(i), dport: SERVICE_PORT, tcp_flags: 'SYN' });
}

/** The endpoint's answer to a forwarded packet (SYN-ACK arriving on eth0, addresses swapped). */
export function replyTo(forwarded: Packet): Packet {
  return buildPacket({
    hook: 'PREROUTING', in_iface: 'eth0', proto: 'tcp',
    src: formatIp({ family: 4, w: forwarded.daddr }), sport: forwarded.dport,
    dst: formatIp({ family: 4, w: forwarded.saddr }), dport: forwarded.sport, tcp_flags: 'SYN,ACK',
  });
}

/** The client's next packet of the same connection (ACK), once the reply was seen: ESTABLISHED. */
export function establishedPacket(i: number, sport: number): Packet {
  return buildPacket({ hook: 'PREROUTING', in_iface: POD_BRIDGE, proto: 'tcp', src: CLIENT_POD_IP, sport, dst: serviceIp(i), dport: SERVICE_PORT, tcp_flags: 'ACK' });
}

function costOf(host: Host, pkt: Packet, counter: LookupCounter): { cost: PacketCost; out: PacketOutcome } {
  const tracer = new CountingTracer();
  counter.reset();
  const out = host.inject(pkt, NF_INET_PRE_ROUTING, tracer);
  const cost: PacketCost = {
    rules: tracer.total,
    rulesByTable: { ...tracer.byTable },
    lookups: counter.total,
    lookupsByTable: { ...counter.counts },
    fate: out.fate,
    to: `${formatIp({ family: 4, w: out.packet.daddr })}:${out.packet.dport}`,
  };
  return { cost, out };
}

/** The cost model's probes for one node: first packets to three services, and an established packet. */
export interface CostProbes {
  readonly first: PacketCost;
  readonly middle: PacketCost;
  readonly last: PacketCost;
  readonly established: PacketCost;
}

/**
 * Measures the cost model on a programmed node whose lookups `counter` counts. Uses client
 * ports below 1024, which the timed benchmarks never use, so every probe is a new
 * connection. Throws if a first packet does not reach an endpoint (the harness would
 * otherwise measure a packet that went nowhere).
 */
export function measureCost(host: Host, counter: LookupCounter, probes: { first: number; middle: number; last: number }): CostProbes {
  const one = (i: number, sport: number): { cost: PacketCost; out: PacketOutcome } => {
    const r = costOf(host, firstPacket(i, sport), counter);
    if (r.out.fate !== 'forwarded' && r.out.fate !== 'sent') {
      throw new Error(`cost: first packet to service ${i} was ${r.out.fate}${r.out.reason ? ` (${r.out.reason})` : ''}, not forwarded to an endpoint`);
    }
    return r;
  };
  const first = one(probes.first, 901).cost;
  const middle = one(probes.middle, 902).cost;
  const lastRun = one(probes.last, 903);
  // Complete the handshake (uncounted), then count the client's ACK.
  const back = host.inject(replyTo(lastRun.out.packet), NF_INET_PRE_ROUTING, null);
  if (back.fate !== 'forwarded') throw new Error(`cost: the endpoint's reply was ${back.fate}${back.reason ? ` (${back.reason})` : ''}`);
  const established = costOf(host, establishedPacket(probes.last, 903), counter).cost;
  return { first, middle, last: lastRun.cost, established };
}
