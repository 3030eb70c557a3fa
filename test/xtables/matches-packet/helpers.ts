/**
 * Test helpers for the packet-header match modules: a small getopt-style option splitter
 * (the generic rule parser's job, done here just enough to feed ext.parse), fake parse /
 * check / compile environments and an XtContext with a settable clock.
 */
import { NfemuError, protoNumber, SeededRng } from '../../../src/core/index.ts';
import type { Family } from '../../../src/core/index.ts';
import { Packet } from '../../../src/packet/index.ts';
import { hookByName, tableByName } from '../../../src/netfilter/index.ts';
import type {
  CheckEnv, CompileEnv, ExtState, HostView, Matcher, MatchExt, OptionUse, ParseEnv, XtContext,
} from '../../../src/xtables/ext.ts';
import { getMatch } from '../../../src/xtables/ext.ts';
import type { Rule } from '../../../src/xtables/model.ts';
import { ZERO_COUNTERS } from '../../../src/xtables/model.ts';
import '../../../src/xtables/matches/packet/index.ts';

export function ext(name: string): MatchExt {
  const m = getMatch(name);
  if (m === undefined) throw new Error(`match ${name} not registered`);
  return m;
}

/** Splits module options as getopt would: `! --opt a`, `--opt a b` (by the option's arity). */
export function toOpts(m: MatchExt, tokens: readonly string[]): OptionUse[] {
  const out: OptionUse[] = [];
  let invert = false;
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (t === '!') {
      invert = true;
      continue;
    }
    if (!t.startsWith('--')) throw new NfemuError('PARSE', `Bad argument \`${t}'`);
    const name = t.slice(2);
    const def = m.options.find((o) => o.name === name || (o.aliases ?? []).includes(name));
    if (def === undefined) throw new NfemuError('PARSE', `unknown option "${t}"`);
    const args = tokens.slice(i + 1, i + 1 + def.args);
    i += def.args;
    out.push({ name: def.name, args, invert, token: t });
    invert = false;
  }
  return out;
}

export interface ParseCtx {
  family?: Family;
  table?: string;
  /** The rule's `-p` as written (`tcp`, `! tcp`), or '' for none. */
  proto?: string;
}

export function parseEnv(c: ParseCtx = {}): ParseEnv {
  const { proto, invert } = protoOf(c.proto ?? '');
  return {
    family: c.family ?? 4,
    table: c.table ?? 'filter',
    proto,
    protoInvert: invert,
    fail(message: string, token?: string): never {
      throw new NfemuError('PARSE', message, token === undefined ? {} : { token });
    },
  };
}

function protoOf(text: string): { proto: number | null; invert: boolean } {
  const t = text.trim();
  if (t === '') return { proto: null, invert: false };
  const invert = t.startsWith('!');
  const name = invert ? t.slice(1).trim() : t;
  const n = protoNumber(name);
  if (n === null) throw new Error(`bad proto ${name}`);
  return { proto: n, invert };
}

/** Parses `args` (tokens) for module `name`; returns the data or throws NfemuError. */
export function parseWith(name: string, tokens: readonly string[], c: ParseCtx = {}): unknown {
  const m = ext(name);
  return m.parse(toOpts(m, tokens), parseEnv(c));
}

/** The printed options after parse, as iptables-nft-save would (null when the match vanishes). */
export function roundTrip(name: string, tokens: readonly string[], c: ParseCtx = {}): string | null {
  const m = ext(name) as MatchExt & { omitted?: (d: unknown) => boolean };
  const d = m.parse(toOpts(m, tokens), parseEnv(c));
  if (m.omitted?.(d)) return null;
  return m.print(d, c.family ?? 4);
}

/** The parse error message, or null when it parses. */
export function parseError(name: string, tokens: readonly string[], c: ParseCtx = {}): string | null {
  try {
    parseWith(name, tokens, c);
    return null;
  } catch (e) {
    if (e instanceof NfemuError) return e.message;
    throw e;
  }
}

const HOOK_OF_CHAIN: Record<string, number> = { PREROUTING: 0, INPUT: 1, FORWARD: 2, OUTPUT: 3, POSTROUTING: 4 };

export function checkEnv(c: ParseCtx & { chain?: string }): CheckEnv {
  const { proto, invert } = protoOf(c.proto ?? '');
  const chain = c.chain ?? 'T';
  const hook = HOOK_OF_CHAIN[chain];
  const rule: Rule = {
    src: null, dst: null, inIface: null, outIface: null,
    proto: proto === null ? null : { proto, invert },
    fragment: null, matches: [], target: null, counters: ZERO_COUNTERS,
  };
  return { family: c.family ?? 4, table: c.table ?? 'filter', hooks: hook === undefined ? 0 : 1 << hook, rule, sets: null };
}

/** Runs the module's check(); null when fine. */
export function checkWith(name: string, tokens: readonly string[], c: ParseCtx & { chain?: string } = {}): string | null {
  const m = ext(name);
  const d = m.parse(toOpts(m, tokens), parseEnv(c));
  return m.check ? m.check(d, checkEnv(c)) : null;
}

/** Extension state, shared between compiles like the host's slots. */
export class States {
  readonly keys = new Map<string, number>();
  readonly states: ExtState[] = [];
  compileEnv(family: Family = 4, ruleKey = 'filter/T/1'): CompileEnv {
    return {
      family,
      table: tableByName('filter'),
      sets: { get: () => null },
      ruleKey,
      stateSlot: (key: string, create: () => ExtState): number => {
        let slot = this.keys.get(key);
        if (slot === undefined) {
          slot = this.states.length;
          this.states.push(create());
          this.keys.set(key, slot);
        }
        return slot;
      },
    };
  }
}

export const hostStub = (rp: boolean | ((pkt: Packet, loose: boolean, acceptLocal: boolean, validMark: boolean) => boolean) = true): HostView => ({
  addrType: () => 0,
  ifaceAddr: () => false,
  masqueradeAddr: () => false,
  reversePathOk: typeof rp === 'function' ? rp : () => rp,
  hasSocket: () => false,
});

/** A context with a clock the test moves (ms since the Unix epoch, UTC). */
export function context(states: States, nowMs = 0, host: HostView = hostStub()): XtContext {
  return {
    hook: hookByName('INPUT'),
    table: tableByName('filter'),
    family: 4,
    nowMs,
    rng: new SeededRng(1),
    chance: () => false,
    host,
    conntrack: null,
    states: states.states,
    emit: () => undefined,
    log: () => undefined,
  };
}

/** Compiles `-m name tokens` with its own state store; returns the matcher and a context. */
export function compiled(name: string, tokens: readonly string[], c: ParseCtx = {}, states = new States(), ruleKey = 'filter/T/1'): { m: Matcher; ctx: XtContext; states: States } {
  const e = ext(name);
  const d = e.parse(toOpts(e, tokens), parseEnv(c));
  const m = e.compile(d, states.compileEnv(c.family ?? 4, ruleKey));
  return { m, ctx: context(states), states };
}

export interface PacketSpec {
  family?: Family;
  proto?: number;
  src?: number | readonly number[];
  dst?: number | readonly number[];
  sport?: number;
  dport?: number;
  tcpFlags?: number;
  icmpType?: number;
  icmpCode?: number;
  ttl?: number;
  tos?: number;
  length?: number;
  fragment?: boolean;
  pktType?: number;
  macSource?: string;
  inIface?: string;
}

/** A packet with the given fields (addresses as an IPv4 number or four words). */
export function pkt(s: PacketSpec = {}): Packet {
  const p = new Packet();
  p.family = s.family ?? 4;
  p.proto = s.proto ?? 6;
  const put = (w: Uint32Array, a: number | readonly number[] | undefined): void => {
    if (a === undefined) return;
    if (typeof a === 'number') w[0] = a >>> 0;
    else for (let i = 0; i < 4; i++) w[i] = (a[i] ?? 0) >>> 0;
  };
  put(p.saddr, s.src);
  put(p.daddr, s.dst);
  p.sport = s.sport ?? 0;
  p.dport = s.dport ?? 0;
  p.tcpFlags = s.tcpFlags ?? 0;
  p.icmpType = s.icmpType ?? -1;
  p.icmpCode = s.icmpCode ?? -1;
  p.ttl = s.ttl ?? 64;
  p.tos = s.tos ?? 0;
  p.length = s.length ?? 60;
  p.fragment = s.fragment ?? false;
  p.pktType = s.pktType ?? 0;
  p.macSource = s.macSource ?? '';
  p.inIface = s.inIface ?? '';
  return p;
}

/** a.b.c.d → number. */
export function v4(text: string): number {
  return text.split('.').reduce((a, b) => a * 256 + Number(b), 0) >>> 0;
}

/** Splits an option string the way a shell would (double quotes, backslash escapes). */
export function words(text: string): string[] {
  const out: string[] = [];
  let cur = '';
  let inQ = false;
  let any = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (ch === '\\' && i + 1 < text.length) {
      cur += text[++i];
      any = true;
    } else if (ch === '"') {
      inQ = !inQ;
      any = true;
    } else if (!inQ && /\s/.test(ch)) {
      if (any) out.push(cur);
      cur = '';
      any = false;
    } else {
      cur += ch;
      any = true;
    }
  }
  if (any) out.push(cur);
  return out;
}

export { hookByName, tableByName };
