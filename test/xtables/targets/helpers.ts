/**
 * Helpers for the target module tests (not a test file itself): a fake ParseEnv /
 * CheckEnv / CompileEnv / XtContext, an option splitter for `--opt arg` text, and packet
 * builders. Expected values in the tests come from the kernel and iptables 1.8.9, never
 * from these helpers.
 */
import { formatWords, parseIp, SimulatedClock, SeededRng, type Family } from '../../../src/core/index.ts';
import { NF_ACCEPT, tableByName } from '../../../src/netfilter/index.ts';
import { buildPacket, type Packet, type PacketSpec } from '../../../src/packet/index.ts';
import { ConntrackTable, type NatRange } from '../../../src/conntrack/index.ts';
import {
  getTarget, ZERO_COUNTERS, RTN_UNICAST, RTN_LOCAL,
  type CheckEnv, type CompileEnv, type ExtState, type HostView, type IpsetView, type LogRecord, type OptionUse,
  type ParseEnv, type Rule, type Target, type TargetExt, type XtContext,
} from '../../../src/xtables/index.ts';
import '../../../src/xtables/targets/index.ts';

export class ParseFailure extends Error {}

export interface ParseOpts {
  family?: Family;
  table?: string;
  proto?: number | null;
  protoInvert?: boolean;
}

export function parseEnv(o: ParseOpts = {}): ParseEnv {
  return {
    family: o.family ?? 4,
    table: o.table ?? 'filter',
    proto: o.proto ?? null,
    protoInvert: o.protoInvert ?? false,
    fail(message: string): never {
      throw new ParseFailure(message);
    },
  };
}

export function ext(name: string): TargetExt {
  const e = getTarget(name);
  if (!e) throw new Error(`target ${name} is not registered`);
  return e;
}

/** Shell-like words: double quotes group, `\"` and `\\` escape inside them. */
function words(text: string): string[] {
  const out: string[] = [];
  let cur = '';
  let inWord = false;
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '\\' && i + 1 < text.length) cur += text[++i];
      else if (c === '"') quoted = false;
      else cur += c;
    } else if (c === '"') {
      quoted = true;
      inWord = true;
    } else if (c === ' ') {
      if (inWord) out.push(cur);
      cur = '';
      inWord = false;
    } else {
      cur += c;
      inWord = true;
    }
  }
  if (inWord) out.push(cur);
  return out;
}

/** `--to-destination 1.2.3.4 --random` → OptionUse[] using the module's option table (no abbreviations). */
export function uses(e: TargetExt, text: string): OptionUse[] {
  const w = words(text);
  const out: OptionUse[] = [];
  for (let i = 0; i < w.length; i++) {
    let invert = false;
    if (w[i] === '!') {
      invert = true;
      i++;
    }
    const token = w[i]!;
    const name = token.replace(/^--/, '');
    const def = e.options.find((d) => d.name === name || d.aliases?.includes(name));
    if (!def) throw new Error(`test: ${e.name} has no option ${token}`);
    const args = w.slice(i + 1, i + 1 + def.args);
    i += def.args;
    out.push({ name: def.name, args, invert, token });
  }
  return out;
}

export function parse(name: string, text: string, o: ParseOpts = {}): unknown {
  const e = ext(name);
  return e.parse(uses(e, text), parseEnv(o));
}

/** print(parse(text)): the options as iptables-nft-save prints them back. */
export function roundTrip(name: string, text: string, o: ParseOpts = {}): string {
  return ext(name).print(parse(name, text, o), o.family ?? 4);
}

/** The parse error message, or '' when the options parse. */
export function parseError(name: string, text: string, o: ParseOpts = {}): string {
  try {
    parse(name, text, o);
    return '';
  } catch (e) {
    if (e instanceof ParseFailure) return e.message;
    throw e;
  }
}

export function rule(proto: number | null = null, invert = false): Rule {
  return {
    src: null, dst: null, inIface: null, outIface: null,
    proto: proto === null ? null : { proto, invert },
    fragment: null, matches: [], target: null, counters: ZERO_COUNTERS,
  };
}

export interface CheckOpts extends ParseOpts {
  /** Mask of hooks (1 << NF_INET_*). */
  hooks?: number;
  sets?: IpsetView | null;
}

/** parse then check: the kernel's checkentry message, or null. */
export function check(name: string, text: string, o: CheckOpts = {}): string | null {
  const e = ext(name);
  const data = e.parse(uses(e, text), parseEnv(o));
  const env: CheckEnv = {
    family: o.family ?? 4,
    table: o.table ?? 'filter',
    hooks: o.hooks ?? 0,
    rule: rule(o.proto ?? null, o.protoInvert ?? false),
    sets: o.sets ?? null,
  };
  return e.check ? e.check(data, env) : null;
}

export function hooks(...h: number[]): number {
  return h.reduce((m, x) => m | (1 << x), 0);
}

export function w(addr: string): Uint32Array {
  const ip = parseIp(addr);
  if (ip === null) throw new Error(`bad address ${addr}`);
  return Uint32Array.from(ip.w);
}

/** A host for the tests: local addresses, interface addresses and sockets are given. */
export class FakeHost implements HostView {
  local = new Set<string>();
  broadcast = new Set<string>();
  ifaces = new Map<string, string>();
  masq: string | null = null;
  /** Sockets as `addr:port` with a transparent flag, and whether they are established for the packet's own tuple. */
  established: { transparent: boolean } | null = null;
  listeners = new Map<string, { transparent: boolean }>();
  addrType(family: Family, addr: Uint32Array): number {
    const key = fmt(family, addr);
    if (this.local.has(key)) return RTN_LOCAL;
    if (this.broadcast.has(key)) return 3;
    return RTN_UNICAST;
  }
  ifaceAddr(family: Family, iface: string, out: Uint32Array): boolean {
    const a = this.ifaces.get(iface);
    if (a === undefined) return false;
    out.set(w(a));
    return true;
  }
  /** Sources whose route back does not leave by the interface they came in on. */
  asymmetric = new Set<string>();
  /** inet_select_addr as the host does it: `masq` when set, else the outgoing interface's address, else the first interface's. */
  masqueradeAddr(pkt: Packet, out: Uint32Array): boolean {
    if (this.masq !== null) {
      out.set(w(this.masq));
      return true;
    }
    const a = this.ifaces.get(pkt.outIface) ?? this.ifaces.values().next().value;
    if (a === undefined) return false;
    out.set(w(a));
    return true;
  }
  reversePathOk(pkt: Packet): boolean {
    return !this.asymmetric.has(fmt(pkt.family, pkt.saddr));
  }
  hasSocket(pkt: Packet, transparentOnly: boolean, nowildcard: boolean): boolean {
    if (nowildcard) return this.established !== null && (!transparentOnly || this.established.transparent);
    const l = this.listeners.get(`${fmt(pkt.family, pkt.daddr)}:${pkt.dport}`);
    return l !== undefined && (!transparentOnly || l.transparent);
  }
}

function fmt(family: Family, a: Uint32Array): string {
  return formatWords(family, a);
}

/** What setupNat was called with (copied at the call). */
export interface NatCall {
  flags: number;
  minAddr: string;
  maxAddr: string;
  minProto: number;
  maxProto: number;
  baseProto: number;
  manip: number;
}

export interface TestCtx extends XtContext {
  emitted: Packet[];
  logs: LogRecord[];
  natCalls: NatCall[];
  host: FakeHost;
}

/** A context; `conntrack`: 'stub' records setupNat calls, 'real' is a ConntrackTable, 'none' is null. */
export function makeCtx(hook: number, table: string, family: Family = 4, conntrack: 'stub' | 'real' | 'none' = 'stub'): TestCtx {
  const host = new FakeHost();
  const natCalls: NatCall[] = [];
  const stub = {
    setupNat(_ct: unknown, r: NatRange, manip: number): number {
      natCalls.push({
        flags: r.flags, minAddr: fmt(family, r.minAddr), maxAddr: fmt(family, r.maxAddr),
        minProto: r.minProto, maxProto: r.maxProto, baseProto: r.baseProto, manip,
      });
      return NF_ACCEPT;
    },
    attachRelated: ConntrackTable.prototype.attachRelated,
  };
  const ct = conntrack === 'none' ? null : conntrack === 'real'
    ? new ConntrackTable(new SimulatedClock(1_000_000), new SeededRng(1))
    : (stub as unknown as ConntrackTable);
  const ctx: TestCtx = {
    hook, table: tableByName(table), family, nowMs: 1_000_000, rng: new SeededRng(7),
    chance: () => true, host, conntrack: ct, states: [] as ExtState[],
    emitted: [], logs: [], natCalls,
    emit(p: Packet) { this.emitted.push(p); },
    log(r: LogRecord) { this.logs.push(r); },
  };
  return ctx;
}

export function compileEnv(family: Family = 4, table = 'filter', sets: IpsetView = { get: () => null }): CompileEnv {
  return {
    family, table: tableByName(table), sets, ruleKey: `${table}/TEST/1`,
    stateSlot: () => {
      throw new Error('targets keep no state');
    },
  };
}

/** parse + compile. */
export function compileTarget(name: string, text: string, o: ParseOpts = {}, sets?: IpsetView): Target {
  const e = ext(name);
  const data = e.parse(uses(e, text), parseEnv(o));
  return e.compile(data, compileEnv(o.family ?? 4, o.table ?? 'filter', sets));
}

export function packet(spec: PacketSpec): Packet {
  return buildPacket(spec);
}

