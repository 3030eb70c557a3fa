/**
 * Extension points: match and target modules, registered by name (STYLE.md "plugins").
 * An extension parses its own options, prints them in iptables-nft-save's canonical form,
 * checks them with the kernel's rules, and compiles to a small ops object the evaluator
 * calls per packet. Adding a match or target is adding one file under matches/ or targets/.
 */
import type { Family, Rng } from '../core/index.ts';
import type { Packet } from '../packet/index.ts';
import type { ConntrackTable } from '../conntrack/index.ts';
import type { Rule } from './model.ts';

/** A long option an extension accepts. */
export interface OptionDef {
  /** Name without the leading dashes, e.g. `dport`. */
  readonly name: string;
  /** Number of arguments that follow (2 only for --tcp-flags style options). */
  readonly args: 0 | 1 | 2;
  /** Whether `! --opt` (and the old `--opt ! x`) is allowed. */
  readonly invertible?: boolean;
  /** Other spellings that mean the same option (`destination-port` for `dport`). */
  readonly aliases?: readonly string[];
}

/** One use of an option on a rule, in the order written. */
export interface OptionUse {
  /** Canonical option name (OptionDef.name). */
  readonly name: string;
  readonly args: readonly string[];
  readonly invert: boolean;
  /** The option as written, e.g. `--destination-port`, for messages. */
  readonly token: string;
}

/** What an extension's parse() can see of the rule being parsed. */
export interface ParseEnv {
  readonly family: Family;
  readonly table: string;
  /** The rule's `-p` so far (null when none). */
  readonly proto: number | null;
  readonly protoInvert: boolean;
  /** Throws a located parse error naming the token. */
  fail(message: string, token?: string): never;
}

/** What an extension's check() sees: the kernel's checkentry inputs. */
export interface CheckEnv {
  readonly family: Family;
  readonly table: string;
  /** Mask of hooks (1 << NF_INET_*) from which the rule's chain is reachable; 0 if none. */
  readonly hooks: number;
  readonly rule: Rule;
  /** The ipsets loaded with the ruleset, or null when none were given (existence is then not checked). */
  readonly sets: IpsetView | null;
}

/** Host-wide extension state (recent lists, limit buckets, nth counters): cloned with the host. */
export interface ExtState {
  clone(): ExtState;
}

/** An IP set as the set match and SET target see it (implemented by src/ipset). */
export interface IpsetHandle {
  readonly name: string;
  readonly typeName: string;
  readonly family: 4 | 6 | 0;
  readonly dimensions: number;
  /** Hot path: does the packet, read along dirs (1 = source, 0 = destination, per dimension), match? */
  test(pkt: Packet, dirs: Uint8Array, nowMs: number): boolean;
  add(pkt: Packet, dirs: Uint8Array, nowMs: number, timeoutSec?: number): void;
  del(pkt: Packet, dirs: Uint8Array, nowMs: number): void;
}

/** Resolves set names (at compile time). */
export interface IpsetView {
  get(name: string): IpsetHandle | null;
}

/** Route types (RTN_*), as addrtype tests them. */
export const RTN_UNSPEC = 0;
export const RTN_UNICAST = 1;
export const RTN_LOCAL = 2;
export const RTN_BROADCAST = 3;
export const RTN_ANYCAST = 4;
export const RTN_MULTICAST = 5;
export const RTN_BLACKHOLE = 6;
export const RTN_UNREACHABLE = 7;
export const RTN_PROHIBIT = 8;
export const RTN_THROW = 9;
export const RTN_NAT = 10;
export const RTN_XRESOLVE = 11;

/** What matches and targets may ask of the host they run on (implemented by src/host). */
export interface HostView {
  /** Route type of an address in this host's routing tables; with `iface`, as seen on that device (addrtype --limit-iface-*). */
  addrType(family: Family, w: Uint32Array, iface: string | null): number;
  /** First address of `iface` of the family into `out`; false if it has none. */
  ifaceAddr(family: Family, iface: string, out: Uint32Array): boolean;
  /** Source address MASQUERADE picks for the packet leaving by pkt.outIface (inet_select_addr); false if none. */
  masqueradeAddr(pkt: Packet, out: Uint32Array): boolean;
  /** rpfilter: would a packet from pkt.saddr arriving on pkt.inIface route back out the same way? */
  reversePathOk(pkt: Packet, loose: boolean, acceptLocal: boolean, validMark: boolean): boolean;
  /** -m socket: is there a local socket this packet belongs to (established, or listening unless nowildcard)? transparentOnly: only IP_TRANSPARENT sockets. */
  hasSocket(pkt: Packet, transparentOnly: boolean, nowildcard: boolean): boolean;
}

/** A log line produced by LOG, NFLOG or TRACE (kept in the result, like the kernel's log). */
export interface LogRecord {
  readonly kind: 'LOG' | 'NFLOG' | 'TRACE';
  readonly text: string;
}

/**
 * Everything a compiled match or target may use while a packet is evaluated. One object is
 * reused for all packets of a host (hot path: no allocation).
 */
export interface XtContext {
  hook: number;
  table: number;
  family: Family;
  /** The clock reading for this packet, in ms. */
  nowMs: number;
  rng: Rng;
  /** Random decision with exact probability p (statistic --mode random). Outcome enumeration overrides it. */
  chance(p: number): boolean;
  host: HostView;
  /** The host's conntrack table (NAT targets set up bindings on pkt.ct through it); null if conntrack is off. */
  conntrack: ConntrackTable | null;
  /** Extension state by slot (see CompileEnv.stateSlot). */
  states: ExtState[];
  /** Sends a packet the host generates in response (REJECT's RST or ICMP error). */
  emit(pkt: Packet): void;
  log(record: LogRecord): void;
}

/** What compile() gets: resolve names and reserve state, once per configuration. */
export interface CompileEnv {
  readonly family: Family;
  readonly table: number;
  readonly sets: IpsetView;
  /** A slot in XtContext.states for state named `key`, created by `create` on first use and kept across recompiles. */
  stateSlot(key: string, create: () => ExtState): number;
  /** Unique key of the rule being compiled (`table/chain/index`), for per-rule state. */
  readonly ruleKey: string;
}

/** A compiled match: one small object per rule use. Hot path: allocation-free. */
export interface Matcher {
  match(pkt: Packet, ctx: XtContext): boolean;
}

/**
 * A compiled target. Returns NF_ACCEPT / NF_DROP / NF_QUEUE (terminal), XT_CONTINUE
 * (go on with the next rule) or XT_RETURN. Hot path: allocation-free except where it
 * must create a packet (REJECT).
 */
export interface Target {
  run(pkt: Packet, ctx: XtContext): number;
}

interface ExtBase<D> {
  /** Name as written after -m / -j. */
  readonly name: string;
  /** Other names for the same module (e.g. `icmpv6` for `icmp6`). */
  readonly aliases?: readonly string[];
  /** Only for this family (undefined: both). */
  readonly family?: Family;
  readonly options: readonly OptionDef[];
  /** Builds the data from the options as written, in order (may be empty). Throws via env.fail. */
  parse(opts: readonly OptionUse[], env: ParseEnv): D;
  /** The options as iptables-nft-save prints them (no `-m NAME` / `-j NAME` prefix); '' when none. */
  print(data: D, family: Family): string;
  /** Kernel checkentry: an error message in the kernel tool's wording, or null when fine. */
  check?(data: D, env: CheckEnv): string | null;
}

export interface MatchExt<D = any> extends ExtBase<D> {
  compile(data: D, env: CompileEnv): Matcher;
  /** Why it did not match (for `--why`); defaults to the printed options. */
  explain?(data: D, pkt: Packet): string;
}

export interface TargetExt<D = any> extends ExtBase<D> {
  compile(data: D, env: CompileEnv): Target;
}

const matches = new Map<string, MatchExt>();
const targets = new Map<string, TargetExt>();

/** Registers a match module under its name and aliases. */
export function registerMatch(ext: MatchExt): void {
  for (const n of [ext.name, ...(ext.aliases ?? [])]) {
    if (matches.has(n)) throw new Error(`match ${n} registered twice`);
    matches.set(n, ext);
  }
}

export function registerTarget(ext: TargetExt): void {
  for (const n of [ext.name, ...(ext.aliases ?? [])]) {
    if (targets.has(n)) throw new Error(`target ${n} registered twice`);
    targets.set(n, ext);
  }
}

export function getMatch(name: string): MatchExt | undefined {
  return matches.get(name);
}

export function getTarget(name: string): TargetExt | undefined {
  return targets.get(name);
}

export function matchNames(): string[] {
  return [...new Set([...matches.values()].map((m) => m.name))].sort();
}

export function targetNames(): string[] {
  return [...new Set([...targets.values()].map((m) => m.name))].sort();
}
