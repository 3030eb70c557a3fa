/**
 * Test support for the state and host match modules: a small getopt that turns option text
 * into OptionUse lists for one module, fake parse/compile environments, and a fake packet
 * context whose host answers are set per test.
 */
import { NfemuError, parseIp, type Family, type Rng } from '../../../src/core/index.ts';
import { Packet } from '../../../src/packet/index.ts';
import { Conn, makeTuple, type ConntrackTable } from '../../../src/conntrack/index.ts';
import type {
  CompileEnv, ExtState, HostView, IpsetView, Matcher, MatchExt, OptionUse, ParseEnv, XtContext,
} from '../../../src/xtables/ext.ts';
import '../../../src/xtables/matches/state/index.ts';

/** Splits like a shell: white space separates, double quotes group (with \" and \\ escapes). */
export function words(text: string): string[] {
  const out: string[] = [];
  let cur = '';
  let inWord = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '"') {
      inWord = true;
      for (i++; i < text.length && text[i] !== '"'; i++) {
        if (text[i] === '\\' && i + 1 < text.length) i++;
        cur += text[i];
      }
    } else if (/\s/.test(c)) {
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

/** getopt for one module: `[!] --opt args…` in order, aliases resolved to the canonical name. */
export function optionUses(ext: MatchExt, text: string): OptionUse[] {
  const toks = words(text);
  const out: OptionUse[] = [];
  let invert = false;
  for (let i = 0; i < toks.length; i++) {
    const t = toks[i]!;
    if (t === '!') {
      invert = true;
      continue;
    }
    const name = t.replace(/^--/, '');
    const def = ext.options.find((o) => o.name === name || (o.aliases ?? []).includes(name));
    if (!def) throw new Error(`test: ${ext.name} has no option ${t}`);
    if (invert && !def.invertible) throw new NfemuError('PARSE', `${ext.name}: option "--${def.name}" cannot be inverted.`, { token: t });
    const args = toks.slice(i + 1, i + 1 + def.args);
    i += def.args;
    out.push({ name: def.name, args, invert, token: t });
    invert = false;
  }
  return out;
}

export function parseEnv(family: Family = 4): ParseEnv {
  return {
    family,
    table: 'filter',
    proto: null,
    protoInvert: false,
    fail(message: string, token?: string): never {
      throw new NfemuError('PARSE', message, { token });
    },
  };
}

export function parse<D>(ext: MatchExt<D>, text: string, family: Family = 4): D {
  return ext.parse(optionUses(ext, text), parseEnv(family));
}

/** print(parse(text)): what iptables-nft-save prints back. */
export function roundTrip(ext: MatchExt, text: string, family: Family = 4): string {
  return ext.print(parse(ext, text, family), family);
}

/** The message parse() throws, or null when it accepts the text. */
export function parseError(ext: MatchExt, text: string, family: Family = 4): string | null {
  try {
    parse(ext, text, family);
    return null;
  } catch (e) {
    if (e instanceof NfemuError) return e.message;
    throw e;
  }
}

/** A registry like the compiler's: one state per key, kept across compiles. */
export class States {
  readonly slots: ExtState[] = [];
  private readonly byKey = new Map<string, number>();
  slot(key: string, create: () => ExtState): number {
    let s = this.byKey.get(key);
    if (s === undefined) {
      s = this.slots.length;
      this.slots.push(create());
      this.byKey.set(key, s);
    }
    return s;
  }
}

const NO_SETS: IpsetView = { get: () => null };

export function compileEnv(states: States, ruleKey = 'filter/INPUT/1', family: Family = 4, sets: IpsetView = NO_SETS): CompileEnv {
  return { family, table: 3, sets, stateSlot: (k, c) => states.slot(k, c), ruleKey };
}

/** A host whose answers tests set directly. */
export class FakeHost implements HostView {
  /** addrType answers by `addr` or `addr%iface`; default RTN_UNICAST (1). */
  types = new Map<string, number>();
  socket = false;
  lastSocketQuery: [boolean, boolean] | null = null;
  addrType(family: Family, w: Uint32Array, iface: string | null): number {
    const a = family === 4 ? `${w[0]! >>> 24}.${(w[0]! >>> 16) & 255}.${(w[0]! >>> 8) & 255}.${w[0]! & 255}` : Array.from(w).join(':');
    return this.types.get(iface ? `${a}%${iface}` : a) ?? this.types.get(a) ?? 1;
  }
  ifaceAddr(): boolean {
    return false;
  }
  masqueradeAddr(): boolean {
    return false;
  }
  reversePathOk(): boolean {
    return true;
  }
  hasSocket(_pkt: Packet, transparentOnly: boolean, nowildcard: boolean): boolean {
    this.lastSocketQuery = [transparentOnly, nowildcard];
    return this.socket;
  }
}

const ZERO_RNG: Rng = { nextU32: () => 0 };

export interface Ctx extends XtContext {
  host: FakeHost;
  /** Probabilities passed to chance(), in order. */
  chances: number[];
  /** What chance() answers. */
  chanceAnswer: boolean;
}

export function makeCtx(states: States, conntrack: ConntrackTable | null = null): Ctx {
  const ctx: Ctx = {
    hook: 1,
    table: 3,
    family: 4,
    nowMs: 0,
    rng: ZERO_RNG,
    chances: [],
    chanceAnswer: true,
    chance(p: number): boolean {
      ctx.chances.push(p);
      return ctx.chanceAnswer;
    },
    host: new FakeHost(),
    conntrack,
    states: states.slots,
    emit() {},
    log() {},
  };
  return ctx;
}

/** Compiles `text` for module `ext` with fresh (or given) states. */
export function matcher(ext: MatchExt, text: string, states = new States(), ruleKey?: string, family: Family = 4): Matcher {
  return ext.compile(parse(ext, text, family), compileEnv(states, ruleKey, family));
}

/** A packet from `src` to `dst` (either family), protocol `proto`. */
export function packet(src: string, dst: string, proto = 6, sport = 40000, dport = 80): Packet {
  const p = new Packet();
  const s = parseIp(src)!;
  const d = parseIp(dst)!;
  p.family = s.family;
  p.proto = proto;
  p.saddr.set(s.w);
  p.daddr.set(d.w);
  p.sport = sport;
  p.dport = dport;
  return p;
}

let nextId = 1;

/** A conntrack entry: original src:sport -> dst:dport, reply as given (defaults to the inverse). */
export function conn(
  orig: [string, number, string, number],
  opts: { proto?: number; reply?: [string, number, string, number]; status?: number; mark?: number; zone?: number; timeoutAt?: number } = {},
): Conn {
  const proto = opts.proto ?? 6;
  const [os, osp, od, odp] = orig;
  const [rs, rsp, rd, rdp] = opts.reply ?? [od, odp, os, osp];
  const o = parseIp(os)!;
  const c = new Conn(
    nextId++,
    opts.zone ?? 0,
    makeTuple(o.family, proto, o.w, osp, parseIp(od)!.w, odp),
    makeTuple(o.family, proto, parseIp(rs)!.w, rsp, parseIp(rd)!.w, rdp),
  );
  c.status = opts.status ?? 0;
  c.mark = opts.mark ?? 0;
  c.timeoutAt = opts.timeoutAt ?? 0;
  return c;
}
