/**
 * A host: one network namespace with interfaces, routes, sysctls, a ruleset, ipsets and
 * conntrack. It calls the netfilter hooks at the kernel's points and in the kernel's
 * priority order (DESIGN.md §1), makes the routing decisions, and reports each packet's
 * fate with an optional rule-by-rule trace.
 */
import { NfemuError, type Clock, type Family, type Rng } from '../core/index.ts';
import {
  NF_ACCEPT, NF_DROP, NF_QUEUE, NF_STOLEN, NF_INET_FORWARD, NF_INET_LOCAL_IN, NF_INET_LOCAL_OUT, NF_INET_POST_ROUTING,
  NF_INET_PRE_ROUTING, NUM_TABLES, TABLE_MANGLE, TABLE_NAT, TABLE_NAMES, HOOK_NAMES, tableHasHook, tablePriority,
  NF_IP_PRI_CONNTRACK, NF_IP_PRI_CONNTRACK_CONFIRM, IP_CT_NEW, IP_CT_RELATED, IP_CT_RELATED_REPLY,
} from '../netfilter/index.ts';
import { PACKET_MULTICAST, Packet, formatPacket } from '../packet/index.ts';
import { ConntrackTable, NF_NAT_MANIP_DST, NF_NAT_MANIP_SRC, type Conn, type ConntrackOptions } from '../conntrack/index.ts';
import {
  RTN_LOCAL, RTN_BROADCAST, RTN_UNICAST, emptyRuleset,
  CompiledTable, StateRegistry, evaluate, type Decision, type ExtState, type HostView, type IpsetView, type LogRecord, type Ruleset, type XtContext, type Table,
} from '../xtables/index.ts';
import { Ipvs } from '../ipvs/index.ts';
import { Routing, type RouteResult } from './routing.ts';
import { TraceCollector } from './trace.ts';

export type Fate = 'forwarded' | 'sent' | 'local' | 'dropped' | 'stack_drop';

/** What happened to one packet. */
export interface PacketOutcome {
  /** NF_ACCEPT unless a rule (or policy) dropped it. */
  verdict: number;
  fate: Fate;
  /** Why the stack dropped it (fate stack_drop), in words. */
  reason: string;
  /** The rule that decided a DROP/REJECT/ACCEPT, if a rule did. */
  by: { table: string; chain: string; rule_index: number | null; target: string } | null;
  /** The packet as it left (or was delivered / dropped). */
  packet: Packet;
  /** Packets the host sent in response (REJECT), as they left it. */
  emitted: Packet[];
  logs: LogRecord[];
  trace: TraceCollector | null;
}

interface HookEntry {
  readonly priority: number;
  /** table id, or -1 conntrack in, -2 confirm */
  readonly what: number;
}

const CT_IN = -1;
/** runHook's answer when re-routing after mangle/nat OUTPUT failed (a stack drop). */
const REROUTE_FAILED = -100;
const CT_CONFIRM = -2;
/** IPVS hook functions (ip_vs_core.c nf_hook_ops): ip_vs_in_hook and ip_vs_out_hook. */
const IPVS_IN = -3;
const IPVS_OUT = -4;

const NO_SETS: IpsetView = { get: () => null };

/** Sysctls nfemu reads, with the values a case's host starts with (a node: forwarding on). */
export const DEFAULT_SYSCTLS: Readonly<Record<string, number>> = {
  'net.ipv4.ip_forward': 1,
  'net.ipv6.conf.all.forwarding': 1,
  'net.ipv4.conf.all.route_localnet': 0,
  'net.ipv4.conf.all.accept_local': 0,
  'net.ipv4.conf.all.rp_filter': 0,
  'net.netfilter.nf_conntrack_max': 262144,
  'net.netfilter.nf_conntrack_tcp_loose': 1,
  'net.netfilter.nf_conntrack_tcp_be_liberal': 0,
};

export interface HostOptions {
  readonly clock: Clock;
  readonly rng: Rng;
  readonly name?: string;
}

class Ctx implements XtContext {
  hook = 0;
  table = 0;
  family: Family = 4;
  nowMs = 0;
  conntrack: ConntrackTable | null = null;
  states: ExtState[] = [];
  /** Outcome enumeration: decisions taken so far, and the script to follow. */
  script: boolean[] | null = null;
  taken: { p: number; took: boolean }[] = [];
  emitted: Packet[] = [];
  logs: LogRecord[] = [];
  constructor(public rng: Rng, public host: HostView) {}
  chance(p: number): boolean {
    if (p <= 0) return false;
    if (p >= 1) return true;
    if (this.script !== null) {
      const i = this.taken.length;
      const took = i < this.script.length ? this.script[i]! : true;
      this.taken.push({ p, took });
      return took;
    }
    return (this.rng.nextU32() & 0x7fffffff) / 2147483648 < p;
  }
  emit(pkt: Packet): void {
    this.emitted.push(pkt);
  }
  log(record: LogRecord): void {
    this.logs.push(record);
  }
}

export class Host implements HostView {
  readonly name: string;
  readonly routing: Routing;
  readonly sysctls: Map<string, number>;
  private ruleset: Ruleset;
  private sets: IpsetView = NO_SETS;
  private states: StateRegistry;
  private compiled: (CompiledTable | undefined)[] = new Array(NUM_TABLES).fill(undefined);
  private compiledFrom: (Table | undefined)[] = new Array(NUM_TABLES).fill(undefined);
  private hooks: HookEntry[][] = [[], [], [], [], []];
  conntrack: ConntrackTable | null = null;
  /** IPVS of this namespace (null: the ip_vs module is not loaded). */
  ipvs: Ipvs | null = null;
  private readonly ctx: Ctx;
  private readonly decision: Decision = { rule: -1, chain: -1 };
  private ctOptions: ConntrackOptions = {};
  private pendingEmit: Packet[] = [];

  constructor(readonly opts: HostOptions, family: Family = 4) {
    this.name = opts.name ?? 'host';
    this.routing = new Routing();
    this.sysctls = new Map(Object.entries(DEFAULT_SYSCTLS));
    this.ruleset = emptyRuleset(family);
    this.states = new StateRegistry();
    this.ctx = new Ctx(opts.rng, this);
    this.rebuildHooks();
  }

  get family(): Family {
    return this.ruleset.family;
  }

  currentRuleset(): Ruleset {
    return this.ruleset;
  }

  setSysctl(key: string, value: number): void {
    this.sysctls.set(key, value);
    this.forward4 = this.sysctl('net.ipv4.ip_forward') === 1;
    this.forward6 = this.sysctl('net.ipv6.conf.all.forwarding') === 1;
    this.ipvs?.setSysctl(key, value);
  }

  /**
   * Loads IPVS into this host (null unloads it): its hook functions join LOCAL_IN,
   * LOCAL_OUT and FORWARD at the kernel's priorities; the host's net.ipv4.vs.* sysctls
   * apply, and net.ipv4.vs.conntrack=1 turns connection tracking on.
   */
  setIpvs(ipvs: Ipvs | null): void {
    this.ipvs = ipvs;
    if (ipvs !== null) {
      for (const [k, v] of this.sysctls) ipvs.setSysctl(k, v);
      if (ipvs.sysctls.conntrack !== 0 && !this.conntrack) this.enableConntrack(this.ctOptions);
    }
    this.rebuildHooks();
  }

  /** ip_forward / IPv6 forwarding, cached from the sysctls (read per forwarded packet). */
  private forward4 = true;
  private forward6 = true;

  sysctl(key: string): number {
    return this.sysctls.get(key) ?? 0;
  }

  /** Whether route_localnet is on for a device (all or the device's own setting). */
  private routeLocalnet(dev: string): boolean {
    return this.sysctl('net.ipv4.conf.all.route_localnet') === 1 || this.sysctl(`net.ipv4.conf.${dev}.route_localnet`) === 1;
  }

  /** Loads a ruleset (and the sets it refers to). Tables whose object is unchanged keep their compiled form. */
  load(ruleset: Ruleset, sets?: IpsetView): void {
    if (sets) this.sets = sets;
    this.ruleset = ruleset;
    for (let t = 0; t < NUM_TABLES; t++) {
      const table = ruleset.tables[t];
      if (!table) {
        this.compiled[t] = undefined;
        this.compiledFrom[t] = undefined;
        continue;
      }
      if (this.compiledFrom[t] === table) continue;
      this.compiled[t] = new CompiledTable(table, t, ruleset.family, this.sets, this.states);
      this.compiledFrom[t] = table;
    }
    this.ctx.states = this.states.slots;
    if (!this.conntrack && needsConntrack(ruleset)) {
      this.conntrack = new ConntrackTable(this.opts.clock, this.opts.rng, this.conntrackOptions());
    }
    this.ctx.conntrack = this.conntrack;
    this.rebuildHooks();
  }

  private conntrackOptions(): ConntrackOptions {
    return {
      ...this.ctOptions,
      max: this.sysctl('net.netfilter.nf_conntrack_max'),
      tcpLoose: this.sysctl('net.netfilter.nf_conntrack_tcp_loose') === 1,
      tcpBeLiberal: this.sysctl('net.netfilter.nf_conntrack_tcp_be_liberal') === 1,
    };
  }

  /** Turns connection tracking on even without rules that need it. */
  enableConntrack(options: ConntrackOptions = {}): void {
    this.ctOptions = options;
    if (!this.conntrack) this.conntrack = new ConntrackTable(this.opts.clock, this.opts.rng, this.conntrackOptions());
    this.ctx.conntrack = this.conntrack;
    this.rebuildHooks();
  }

  /** The hook functions in priority order (nf_hook_entries). */
  private rebuildHooks(): void {
    for (let h = 0; h < 5; h++) {
      const list: HookEntry[] = [];
      for (let t = 0; t < NUM_TABLES; t++) {
        const ct = this.compiled[t];
        if (!ct || !tableHasHook(t, h)) continue;
        // nf_nat registers its hook functions at all four nat hooks once any nat base chain
        // exists (null bindings, un-NAT); other tables only where they have a base chain.
        if (t === TABLE_NAT ? ct.hookChain.some((c) => c >= 0) : ct.hookChain[h]! >= 0) list.push({ priority: tablePriority(t, h), what: t });
      }
      if (this.ipvs) {
        // ip_vs_ops4 / ip_vs_ops6: NF_IP_PRI_NAT_SRC - 2 / - 1 at LOCAL_IN, NF_IP_PRI_NAT_DST + 1 / + 2
        // at LOCAL_OUT, 100 at FORWARD (ip_vs_forward_icmp at 99 handles ICMP only: not modelled).
        if (h === NF_INET_LOCAL_IN) list.push({ priority: 98, what: IPVS_OUT }, { priority: 99, what: IPVS_IN });
        if (h === NF_INET_LOCAL_OUT) list.push({ priority: -99, what: IPVS_OUT }, { priority: -98, what: IPVS_IN });
        if (h === NF_INET_FORWARD) list.push({ priority: 100, what: IPVS_OUT });
      }
      if (this.conntrack) {
        if (h === NF_INET_PRE_ROUTING || h === NF_INET_LOCAL_OUT) list.push({ priority: NF_IP_PRI_CONNTRACK, what: CT_IN });
        if (h === NF_INET_POST_ROUTING || h === NF_INET_LOCAL_IN) list.push({ priority: NF_IP_PRI_CONNTRACK_CONFIRM, what: CT_CONFIRM });
      }
      list.sort((a, b) => a.priority - b.priority);
      this.hooks[h] = list;
    }
  }

  // ---- HostView (for matches and targets) ----
  addrType(family: Family, w: Uint32Array, iface: string | null): number {
    return this.routing.addrType(family, w, iface);
  }
  ifaceAddr(family: Family, iface: string, out: Uint32Array): boolean {
    return this.routing.selectAddr(family, iface, null, out);
  }
  masqueradeAddr(pkt: Packet, out: Uint32Array): boolean {
    const r = this.routing.lookup(pkt.family, pkt.daddr);
    const near = r.via ?? pkt.daddr;
    return this.routing.selectSourceAddr(pkt.family, pkt.outIface, near, out);
  }
  reversePathOk(pkt: Packet, loose: boolean, acceptLocal: boolean, _validMark: boolean): boolean {
    const t = this.routing.addrType(pkt.family, pkt.saddr, null);
    if (t === RTN_LOCAL) return acceptLocal;
    const r = this.routing.lookup(pkt.family, pkt.saddr);
    if (r.type !== RTN_UNICAST) return false;
    return loose || r.dev === pkt.inIface;
  }
  hasSocket(_pkt: Packet, _transparentOnly: boolean, _nowildcard: boolean): boolean {
    return false;
  }

  /** Deep copy of everything a packet can change (conntrack, extension state, sets are shared read-only). */
  clone(): Host {
    const h = Object.create(Host.prototype) as Host;
    Object.assign(h, this);
    (h as unknown as { states: StateRegistry }).states = this.states.clone();
    (h as unknown as { ctx: Ctx }).ctx = new Ctx(this.opts.rng, h);
    h.conntrack = this.conntrack ? this.conntrack.clone() : null;
    h.ipvs = this.ipvs ? this.ipvs.clone() : null;
    h.ctx.conntrack = h.conntrack;
    h.ctx.states = h.states.slots;
    (h as unknown as { decision: Decision }).decision = { rule: -1, chain: -1 };
    (h as unknown as { pendingEmit: Packet[] }).pendingEmit = [];
    return h;
  }

  /** Sets the random-branch script for outcome enumeration (null: draw from the Rng). */
  setScript(script: boolean[] | null): void {
    this.ctx.script = script;
    this.ctx.taken = [];
  }

  decisions(): { p: number; took: boolean }[] {
    return this.ctx.taken;
  }

  // ---- the packet path ----

  /**
   * Runs one packet through the host. `hook` is where it enters: PREROUTING (arrives on
   * pkt.inIface) or OUTPUT (sent by a local process). The packet is changed in place.
   */
  inject(pkt: Packet, hook: number, trace: TraceCollector | null, reuse?: PacketOutcome): PacketOutcome {
    if (pkt.family !== this.family) throw new NfemuError('USAGE', `IPv${pkt.family} packet sent into an IPv${this.family} host`);
    const ctx = this.ctx;
    ctx.nowMs = this.opts.clock.nowMs();
    ctx.family = pkt.family;
    // Hot path: with `reuse`, nothing is allocated for a packet that emits nothing.
    const out: PacketOutcome = reuse ?? { verdict: NF_ACCEPT, fate: 'local', reason: '', by: null, packet: pkt, emitted: [], logs: [], trace };
    if (reuse) {
      out.verdict = NF_ACCEPT;
      out.fate = 'local';
      out.reason = '';
      out.by = null;
      out.packet = pkt;
      out.trace = trace;
      if (out.emitted.length) out.emitted.length = 0;
      if (out.logs.length) out.logs.length = 0;
    }
    ctx.logs = out.logs;
    if (trace !== null) trace.conntrackOn = this.conntrack !== null;
    const pending = this.pendingEmit;
    if (pending.length) pending.length = 0;
    ctx.emitted = pending;
    if (this.ipvs !== null) this.ipvs.unmark();
    if (hook === NF_INET_PRE_ROUTING) this.receive(pkt, out, trace, false);
    else if (hook === NF_INET_LOCAL_OUT) this.send(pkt, out, trace, undefined, pkt.outIface !== '' ? pkt.outIface : null);
    else throw new NfemuError('USAGE', `packets enter at PREROUTING or OUTPUT, not ${HOOK_NAMES[hook]}`);
    if (pending.length === 0) return out;
    // Packets generated in response (REJECT) leave through OUTPUT after this one is done.
    const emitted = pending.slice();
    pending.length = 0;
    for (const e of emitted) {
      const sub: PacketOutcome = { verdict: NF_ACCEPT, fate: 'sent', reason: '', by: null, packet: e, emitted: [], logs: out.logs, trace: null };
      ctx.logs = out.logs;
      this.send(e, sub, null);
      if (sub.fate === 'sent' || sub.fate === 'local') out.emitted.push(e);
    }
    pending.length = 0;
    return out;
  }

  private drop(out: PacketOutcome, verdict: number): void {
    out.verdict = verdict;
    out.fate = 'dropped';
  }

  private stackDrop(out: PacketOutcome, reason: string): void {
    out.fate = 'stack_drop';
    out.reason = reason;
  }

  /** Runs every hook function at `hook`; returns the verdict. */
  private runHook(hook: number, pkt: Packet, out: PacketOutcome, trace: TraceCollector | null): number {
    const ctx = this.ctx;
    ctx.hook = hook;
    if (trace !== null) trace.startHook(hook);
    const list = this.hooks[hook]!;
    for (let i = 0; i < list.length; i++) {
      const e = list[i]!;
      let v: number;
      if (e.what === CT_IN) {
        v = this.conntrack!.in(pkt, hook);
      } else if (e.what === CT_CONFIRM) {
        v = this.conntrack!.confirm(pkt);
      } else if (e.what === IPVS_IN || e.what === IPVS_OUT) {
        v = e.what === IPVS_IN ? this.ipvs!.inHook(hook, pkt, ctx) : this.ipvs!.outHook(hook, pkt, ctx);
        if (v === NF_STOLEN) return NF_STOLEN;
      } else if (e.what === TABLE_NAT) {
        v = this.natHook(hook, pkt, trace);
      } else {
        ctx.table = e.what;
        v = evaluate(this.compiled[e.what]!, pkt, ctx, trace, this.decision);
        if (v !== NF_ACCEPT) this.noteDecision(e.what, v, out);
      }
      if (v === NF_ACCEPT && hook === NF_INET_LOCAL_OUT && (e.what === TABLE_NAT || e.what === TABLE_MANGLE) && !this.rerouteOut(pkt, out)) {
        // ip_route_me_harder failed inside the table's hook function: the stack drops it
        // (no rule did; the socket gets the error).
        return REROUTE_FAILED;
      }
      if (v !== NF_ACCEPT) {
        if (out.by === null && e.what < 0) {
          out.reason = e.what === CT_IN ? 'conntrack dropped it (table full or invalid)' : e.what === CT_CONFIRM ? 'conntrack confirm failed (clash)' : this.ipvs!.lastReason;
        }
        return v === NF_QUEUE ? NF_QUEUE : NF_DROP;
      }
    }
    return NF_ACCEPT;
  }

  private noteDecision(table: number, v: number, out: PacketOutcome): void {
    const ct = this.compiled[table]!;
    const d = this.decision;
    if (d.rule >= 0) {
      const r = ct.rules[d.rule]!;
      out.by = { table: TABLE_NAMES[table]!, chain: ct.chainNames[ct.ruleChain[d.rule]!]!, rule_index: ct.rulePos[d.rule]!, target: r.target?.name ?? '' };
    } else {
      out.by = { table: TABLE_NAMES[table]!, chain: ct.chainNames[d.chain]!, rule_index: null, target: v === NF_DROP ? 'policy:DROP' : 'policy:ACCEPT' };
    }
  }

  /** nf_nat_inet_fn: the nat table runs only for the first packet of a connection. */
  private natHook(hook: number, pkt: Packet, trace: TraceCollector | null): number {
    const ctt = this.conntrack;
    const ct = pkt.ct as Conn | null;
    if (ctt === null || ct === null) return NF_ACCEPT;
    const manip = hook === NF_INET_PRE_ROUTING || hook === NF_INET_LOCAL_OUT ? NF_NAT_MANIP_DST : NF_NAT_MANIP_SRC;
    const ci = pkt.ctinfo;
    if ((ci === IP_CT_NEW || ci === IP_CT_RELATED || ci === IP_CT_RELATED_REPLY) && !ctt.natInitialized(ct, manip)) {
      const before = trace !== null ? formatPacket(pkt) : '';
      this.ctx.table = TABLE_NAT;
      const nat = this.compiled[TABLE_NAT]!;
      if (nat.hookChain[hook]! >= 0) {
        const v = evaluate(nat, pkt, this.ctx, trace, this.decision);
        if (v !== NF_ACCEPT) return v;
      }
      if (!ctt.natInitialized(ct, manip)) {
        const r = ctt.allocNullBinding(ct, manip, hook);
        if (r !== NF_ACCEPT) return r;
      }
      ctt.natPacket(pkt, hook);
      if (trace !== null) trace.noteNat(before, formatPacket(pkt));
      return NF_ACCEPT;
    }
    ctt.natPacket(pkt, hook);
    return NF_ACCEPT;
  }

  /** From the wire (or looped back on lo): PREROUTING, routing, then INPUT or FORWARD. */
  private receive(pkt: Packet, out: PacketOutcome, trace: TraceCollector | null, loopback: boolean): void {
    if (!loopback) {
      if (!this.routing.ifaces.has(pkt.inIface)) throw new NfemuError('USAGE', `no interface "${pkt.inIface}" on ${this.name}`, { token: pkt.inIface });
      // Martian sources never get as far as netfilter's later hooks, but PREROUTING runs first.
    }
    let v = this.runHook(NF_INET_PRE_ROUTING, pkt, out, trace);
    if (v !== NF_ACCEPT) return this.drop(out, v);
    // Routing decision (ip_route_input_noref → ip_route_input_slow), in the kernel's order.
    const fam = pkt.family;
    const s0 = pkt.saddr[0]!;
    const d0 = pkt.daddr[0]!;
    const v4 = fam === 4;
    const toMulticast = v4 ? d0 >>> 28 === 0xe : d0 >>> 24 === 0xff;
    let broadcast = false;
    if (toMulticast) {
      // ip_route_input_mc: only groups the host has joined; every IPv4 interface is in
      // 224.0.0.1 (all hosts), IPv6 in ff02::1. nfemu hosts join nothing else.
      const allHosts = v4 ? d0 === 0xe0000001 : d0 === 0xff020000 && pkt.daddr[1] === 0 && pkt.daddr[2] === 0 && pkt.daddr[3] === 1;
      if (v4 && (s0 >>> 28 === 0xe || s0 === 0xffffffff)) return this.stackDrop(out, 'martian source (multicast or broadcast source)');
      if (!allHosts) return this.stackDrop(out, 'multicast group not joined');
      if (v4 && !loopback) {
        // ip_mc_validate_source: loopback (without route_localnet), 0.0.0.0/8 (except to
        // 224.0.0.0/24 or IGMP), and our own addresses (fib_validate_source) are martians.
        if (this.routing.isLoopbackV4(pkt.saddr) && !this.routeLocalnet(pkt.inIface)) return this.stackDrop(out, 'martian source (loopback address from outside)');
        if (s0 >>> 24 === 0) {
          if (d0 >>> 8 !== 0xe00000 && pkt.proto !== 2) return this.stackDrop(out, 'martian source (0.0.0.0/8)');
        } else if (this.routing.addrType(fam, pkt.saddr, null) === RTN_LOCAL && this.sysctl('net.ipv4.conf.all.accept_local') !== 1) {
          return this.stackDrop(out, 'martian source (one of our own addresses from outside)');
        }
      }
      broadcast = true;
    } else if (v4 && !loopback) {
      if (s0 >>> 28 === 0xe || s0 === 0xffffffff) return this.stackDrop(out, 'martian source (multicast or broadcast source)');
      if (d0 === 0xffffffff || (s0 === 0 && d0 === 0)) broadcast = true; // limited broadcast: brd_input
      else {
        if (s0 >>> 24 === 0) return this.stackDrop(out, 'martian source (0.0.0.0/8)');
        if (d0 >>> 24 === 0) return this.stackDrop(out, 'martian destination (0.0.0.0/8)');
        if (this.routing.isLoopbackV4(pkt.daddr)) {
          if (!this.routeLocalnet(pkt.inIface)) return this.stackDrop(out, 'martian destination (127.0.0.0/8 from outside, route_localnet=0)');
        } else if (this.routing.isLoopbackV4(pkt.saddr) && !this.routeLocalnet(pkt.inIface)) {
          return this.stackDrop(out, 'martian source (loopback address from outside)');
        }
        const st = this.routing.addrType(fam, pkt.saddr, null);
        if (st === RTN_LOCAL && this.sysctl('net.ipv4.conf.all.accept_local') !== 1 && !this.routing.isLoopbackV4(pkt.saddr)) {
          return this.stackDrop(out, 'martian source (one of our own addresses from outside)');
        }
      }
    }
    if (broadcast) {
      v = this.runHook(NF_INET_LOCAL_IN, pkt, out, trace);
      if (v !== NF_ACCEPT) return this.drop(out, v);
      out.fate = 'local';
      return;
    }
    const r = this.routing.lookup(fam, pkt.daddr);
    if (r.type === RTN_LOCAL || r.type === RTN_BROADCAST) {
      v = this.runHook(NF_INET_LOCAL_IN, pkt, out, trace);
      if (v === NF_STOLEN) return this.ipvsXmit(pkt, out, trace, 'forwarded');
      if (v !== NF_ACCEPT) return this.drop(out, v);
      out.fate = 'local';
      return;
    }
    if (r.type !== RTN_UNICAST || r.dev === null) return this.stackDrop(out, `no route to ${formatPacket(pkt).split(' -> ')[1]?.split(' ')[0] ?? 'destination'}`);
    if (!(fam === 4 ? this.forward4 : this.forward6)) return this.stackDrop(out, 'forwarding is off (ip_forward=0)');
    if (pkt.ttl <= 1) return this.stackDrop(out, 'TTL expired in transit');
    pkt.ttl--;
    pkt.outIface = r.dev;
    v = this.runHook(NF_INET_FORWARD, pkt, out, trace);
    if (v !== NF_ACCEPT) return this.drop(out, v);
    v = this.runHook(NF_INET_POST_ROUTING, pkt, out, trace);
    if (v !== NF_ACCEPT) return this.drop(out, v);
    out.fate = 'forwarded';
  }

  /**
   * IPVS sent the packet on (ip_vs_nat_send_or_cont / ip_vs_send_or_cont): NF_HOOK(LOCAL_OUT)
   * from the start, then POSTROUTING, routed to the real server.
   */
  private ipvsXmit(pkt: Packet, out: PacketOutcome, trace: TraceCollector | null, fate: Fate): void {
    pkt.outIface = '';
    this.send(pkt, out, trace, this.ipvs!.xmitNextHop);
    if (out.fate === 'sent') out.fate = fate;
  }

  /** From a local socket: routing, OUTPUT, reroute after NAT, POSTROUTING, then the wire or lo. `via`: the next hop IPVS chose. */
  /** Route of the packet being sent, and what it was decided on (for ip_route_me_harder). */
  private outRoute: RouteResult | null = null;
  private outBound: string | null = null;
  private readonly outDst = new Uint32Array(4);
  private outMark = 0;

  /** The route for a packet sent by a local socket, bound to a device or not. */
  private routeOut(fam: Family, dst: Uint32Array): RouteResult {
    return this.outBound !== null ? this.routing.lookupVia(fam, dst, this.outBound) : this.routing.lookup(fam, dst);
  }

  /**
   * ip_route_me_harder after mangle or nat OUTPUT changed the destination or the mark:
   * route again (still through a bound device). False when the new route is refused —
   * no route, or a loopback source that would leave the host without route_localnet
   * (the kernel's EINVAL).
   */
  private rerouteOut(pkt: Packet, out: PacketOutcome): boolean {
    const d = pkt.daddr;
    const o = this.outDst;
    if (d[0] === o[0] && d[1] === o[1] && d[2] === o[2] && d[3] === o[3] && pkt.mark === this.outMark) return true;
    o.set(d);
    this.outMark = pkt.mark;
    const r = this.routeOut(pkt.family, d);
    if (r.type !== RTN_LOCAL && r.type !== RTN_BROADCAST && (r.type !== RTN_UNICAST || r.dev === null)) {
      out.reason = 'no route after the destination changed (ip_route_me_harder)';
      return false;
    }
    if (r.type !== RTN_LOCAL && pkt.family === 4 && this.routing.isLoopbackV4(pkt.saddr) && !this.routeLocalnet(r.dev ?? '')) {
      out.reason = 'loopback source would leave the host (ip_route_me_harder: EINVAL, route_localnet=0)';
      return false;
    }
    // The rest of LOCAL_OUT still sees the device the hook was entered with (nf_hook's
    // state->out); the new route applies from POSTROUTING on (see send()).
    this.outRoute = r;
    return true;
  }

  /**
   * From a local socket: routing, OUTPUT (re-routed after mangle/nat changes), POSTROUTING,
   * then the wire or lo. `bound`: the socket is bound to that device (SO_BINDTODEVICE).
   * The socket is a raw one, as the kernel runner's: its source address is not checked.
   */
  private send(pkt: Packet, out: PacketOutcome, trace: TraceCollector | null, via?: Uint32Array, bound: string | null = null): void {
    const fam = pkt.family;
    this.outBound = bound;
    let r = via ? this.routing.lookup(fam, via) : this.routeOut(fam, pkt.daddr);
    if (r.type !== RTN_LOCAL && r.type !== RTN_BROADCAST && (r.type !== RTN_UNICAST || r.dev === null)) return this.stackDrop(out, 'no route (sendmsg fails with ENETUNREACH)');
    if (!pkt.outIface) pkt.outIface = r.type === RTN_LOCAL ? 'lo' : r.dev!;
    this.outRoute = r;
    this.outDst.set(pkt.daddr);
    this.outMark = pkt.mark;
    let v = this.runHook(NF_INET_LOCAL_OUT, pkt, out, trace);
    if (v === NF_STOLEN) return this.ipvsXmit(pkt, out, trace, 'sent');
    if (v === REROUTE_FAILED) return this.stackDrop(out, out.reason);
    if (v !== NF_ACCEPT) return this.drop(out, v);
    if (this.outRoute !== r) {
      r = this.outRoute;
      pkt.outIface = r.type === RTN_LOCAL ? 'lo' : r.dev!;
    }
    if (fam === 4 && pkt.daddr[0]! === 0xe0000001 && r.type !== RTN_LOCAL) {
      // ip_mc_output with IP_MULTICAST_LOOP (on by default) for a group the host is in
      // (224.0.0.1, all hosts): a clone goes through POSTROUTING first and comes back in
      // (dev_loopback_xmit: PACKET_LOOPBACK, which -m pkttype reads as multicast), then the
      // packet itself goes through POSTROUTING; with TTL 0 it stays on the host.
      const copy = pkt.clone();
      // skb_clone does not carry the socket: -m owner sees no owner on the copy.
      copy.uid = -1;
      copy.gid = -1;
      const sub: PacketOutcome = { verdict: NF_ACCEPT, fate: 'local', reason: '', by: null, packet: copy, emitted: [], logs: out.logs, trace };
      if (this.runHook(NF_INET_POST_ROUTING, copy, sub, trace) === NF_ACCEPT) {
        copy.inIface = copy.outIface;
        copy.pktType = PACKET_MULTICAST;
        this.receive(copy, sub, trace, true);
      }
      if (pkt.ttl === 0) return this.stackDrop(out, 'multicast with TTL 0 stays on the host');
    }
    v = this.runHook(NF_INET_POST_ROUTING, pkt, out, trace);
    if (v !== NF_ACCEPT) return this.drop(out, v);
    if (r.type === RTN_LOCAL) {
      // Looped back: in again on lo, conntrack kept, then local delivery.
      pkt.inIface = 'lo';
      const outIface = pkt.outIface;
      this.receive(pkt, out, trace, true);
      if (out.fate === 'local') pkt.outIface = outIface;
      return;
    }
    out.fate = 'sent';
  }
}

/**
 * Whether anything in the ruleset turns connection tracking on in the namespace: the
 * extensions whose checkentry/init calls nf_ct_netns_get — NAT targets, conntrack-reading
 * matches, CONNMARK, CT (but not CT --notrack) — the way the kernel loads it on demand. A
 * nat table alone does not: without conntrack its chains are never traversed
 * (nf_nat_inet_fn returns early without a conntrack entry), as the kernel shows.
 */
export function needsConntrack(rs: Ruleset): boolean {
  for (const t of rs.tables) {
    if (!t) continue;
    for (const c of t.chains) for (const r of c.rules) {
      if (r.matches.some((m) => CT_MATCHES.has(m.name))) return true;
      if (!r.target) continue;
      if (CT_TARGETS.has(r.target.name)) return true;
      if (r.target.name === 'CT' && ((r.target.data as { flags?: number } | null)?.flags ?? 0) & XT_CT_NOTRACK) continue;
      if (r.target.name === 'CT') return true;
    }
  }
  return false;
}

const CT_MATCHES = new Set(['conntrack', 'state', 'connmark', 'connlimit', 'helper', 'connbytes', 'connlabel', 'cluster']);
const CT_TARGETS = new Set(['CONNMARK', 'CONNSECMARK', 'MASQUERADE', 'SNAT', 'DNAT', 'REDIRECT', 'NETMAP']);
/** XT_CT_NOTRACK (xt_CT.h). */
const XT_CT_NOTRACK = 1;
