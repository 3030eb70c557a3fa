/**
 * Shared helpers for the packet-header match modules: the number and port parsers of
 * libxtables (strtoul semantics included), /etc/services look-ups, the option-table
 * engine of libxtables' "x6" API (once / invert / exclusion / mandatory checks with
 * its wording), the kernel's checkentry messages and iptables-save's string quoting.
 *
 * Everything here runs at configuration time; nothing is on the packet path.
 */
import { formatIpv6, type Family } from '../../../core/index.ts';
import { HOOK_NAMES, NUM_HOOKS } from '../../../netfilter/index.ts';
import type { CheckEnv, OptionDef, OptionUse, ParseEnv } from '../../ext.ts';
import { SERVICES_TEXT } from './services-data.ts';

// ---------------------------------------------------------------------------------------
// C number parsing

/** Result of a C `strtoul`: the value (mod 2^64 for negatives, as C does) and where it stopped. */
export interface StrtoulResult {
  /** Parsed value; `2^64 - v` for a leading '-', `2^64 - 1` on overflow (ERANGE). */
  readonly value: bigint;
  /** Index of the first character not consumed; equals `start` when no digits were read. */
  readonly end: number;
  readonly negative: boolean;
  readonly overflow: boolean;
}

const U64 = (1n << 64n) - 1n;

function isCSpace(c: number): boolean {
  return c === 0x20 || (c >= 0x09 && c <= 0x0d);
}

function digitValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x7a) return c - 0x61 + 10;
  if (c >= 0x41 && c <= 0x5a) return c - 0x41 + 10;
  return 99;
}

/** C `strtoul(s + start, &end, base)` (base 0: 0x prefix = hex, leading 0 = octal). */
export function strtoul(s: string, start: number, base: number): StrtoulResult {
  let i = start;
  while (i < s.length && isCSpace(s.charCodeAt(i))) i++;
  let negative = false;
  if (s[i] === '+' || s[i] === '-') {
    negative = s[i] === '-';
    i++;
  }
  let b = base;
  if ((b === 0 || b === 16) && s[i] === '0' && (s[i + 1] === 'x' || s[i + 1] === 'X') && digitValue(s.charCodeAt(i + 2)) < 16) {
    i += 2;
    b = 16;
  } else if (b === 0) {
    b = s[i] === '0' ? 8 : 10;
  }
  const digitsStart = i;
  let v = 0n;
  let overflow = false;
  const bb = BigInt(b);
  while (i < s.length) {
    const d = digitValue(s.charCodeAt(i));
    if (d >= b) break;
    v = v * bb + BigInt(d);
    if (v > U64) overflow = true;
    i++;
  }
  if (i === digitsStart) return { value: 0n, end: start, negative: false, overflow: false };
  if (overflow) v = U64;
  else if (negative && v !== 0n) v = (U64 + 1n - v) & U64;
  return { value: v, end: i, negative, overflow };
}

/**
 * libxtables' `xtables_strtoul` (base 0): no leading '-', value within [min, max]. With
 * `whole`, the entire string must be consumed; otherwise returns the stop index too.
 * Returns null when the kernel tool would reject the number.
 */
export function xtStrtoul(s: string, min: number, max: number, whole = true): { value: number; end: number } | null {
  let p = 0;
  while (p < s.length && isCSpace(s.charCodeAt(p))) p++;
  if (s[p] === '-') return null;
  const r = strtoul(s, 0, 0);
  if (r.end === 0) return null;
  if (r.overflow || r.value < BigInt(min) || r.value > BigInt(max)) return null;
  if (whole && r.end !== s.length) return null;
  return { value: Number(r.value), end: r.end };
}

/** C `atoi` / `atoll` as a uint32 (what libxt_limit's parse_rate does with it). */
export function atoiU32(s: string): number {
  const r = strtoul(s, 0, 10);
  if (r.end === 0) return 0;
  return Number(r.value & 0xffffffffn);
}

/** C `atoll` as an unsigned 64-bit value (bigint). */
export function atollU64(s: string): bigint {
  const r = strtoul(s, 0, 10);
  return r.end === 0 ? 0n : r.value;
}

// ---------------------------------------------------------------------------------------
// Services

interface ServiceEntry {
  readonly name: string;
  readonly port: number;
  readonly protos: readonly string[];
  readonly aliases: readonly string[];
}

let services: ServiceEntry[] | null = null;

function serviceTable(): ServiceEntry[] {
  if (services === null) {
    services = [];
    for (const line of SERVICES_TEXT.split('\n')) {
      const f = line.trim().split(/\s+/);
      if (f.length < 3) continue;
      services.push({ name: f[0]!, port: Number(f[1]), protos: f[2]!.split(','), aliases: f.slice(3) });
    }
  }
  return services;
}

/** `getservbyname(name, proto)` against the Debian /etc/services; -1 when unknown. Case-sensitive, as glibc is. */
export function serviceByName(name: string, proto: string): number {
  for (const e of serviceTable()) {
    if (!e.protos.includes(proto)) continue;
    if (e.name === name || e.aliases.includes(name)) return e.port;
  }
  return -1;
}

/**
 * `xtables_parse_port(text, proto)`: a number 0-65535 (base 0, whole string) or a service
 * name for that protocol; null when neither (the caller reports "invalid port/service").
 */
export function parsePortByProto(text: string, proto: string): number | null {
  const n = xtStrtoul(text, 0, 65535);
  if (n !== null) return n.value;
  const s = serviceByName(text, proto);
  return s < 0 ? null : s;
}

/**
 * libxtables' `xtables_getportbyname` (getaddrinfo with no hints), used by the x6 port
 * types (udp's --sport/--dport): a decimal number taken by glibc as an int and truncated to
 * 16 bits (so 65536 is 0), or a tcp/udp/sctp service name; null when it "does not resolve".
 */
export function parsePortAddrinfo(text: string): number | null {
  const r = strtoul(text, 0, 10);
  if (r.end === text.length && r.end !== 0) {
    const asInt = Number(BigInt.asIntN(32, r.value & 0xffffffffn));
    // glibc keeps the number in an int; a negative one is not a port (it falls back to a name look-up).
    if (asInt >= 0 && !r.overflow) return asInt & 0xffff;
  }
  for (const proto of ['tcp', 'udp', 'sctp']) {
    const s = serviceByName(text, proto);
    if (s >= 0) return s;
  }
  return null;
}

// ---------------------------------------------------------------------------------------
// Addresses as libxtables parses them

/** `xtables_numeric_to_ipaddr`: 1 to 4 dotted parts (base 0 each, 0-255), missing trailing parts 0. */
export function xtNumericToIpv4(text: string): number | null {
  const parts = text.split('.');
  if (parts.length > 4 || parts.length === 0) return null;
  const bytes = [0, 0, 0, 0];
  for (let i = 0; i < parts.length; i++) {
    const n = xtStrtoul(parts[i]!, 0, 255);
    if (n === null) return null;
    bytes[i] = n.value;
  }
  return ((bytes[0]! << 24) | (bytes[1]! << 16) | (bytes[2]! << 8) | bytes[3]!) >>> 0;
}

/** glibc's inet_ntop for IPv6 (core's formatter follows it). */
export const ntop6 = formatIpv6;

export function ntop(family: Family, w: Uint32Array): string {
  if (family === 4) {
    const v = w[0]!;
    return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
  }
  return ntop6(w);
}

// ---------------------------------------------------------------------------------------
// iptables-save quoting

const NO_QUOTE = /^[A-Za-z0-9_-]+$/;

/** `xtables_save_string`: bare when only [A-Za-z0-9_-] (and non-empty), else quoted with `"`, `\` and `'` escaped. */
export function saveString(value: string): string {
  if (NO_QUOTE.test(value)) return value;
  let out = '"';
  for (const ch of value) {
    if (ch === '"' || ch === '\\' || ch === "'") out += '\\';
    out += ch;
  }
  return out + '"';
}

// ---------------------------------------------------------------------------------------
// The x6 option engine

/** One row of an x6 option table (struct xt_option_entry), in the table's order. */
export interface X6Entry {
  readonly id: number;
  readonly name: string;
  /** 0: a flag; 1: one argument; 2: two (only old-style options). */
  readonly args: 0 | 1 | 2;
  readonly invert?: boolean;
  /** XTOPT_MULTI: may be repeated. */
  readonly multi?: boolean;
  /** XTOPT_MAND. */
  readonly mand?: boolean;
  /** Bit mask of ids this option cannot be combined with. */
  readonly excl?: number;
  /** Bit mask of ids this option requires. */
  readonly also?: number;
}

/**
 * The OptionDefs of an x6 table: one per id, named after the first entry with that id (the
 * name libxtables puts in its messages), the other spellings as aliases.
 */
export function x6OptionDefs(table: readonly X6Entry[]): OptionDef[] {
  const byId = new Map<number, { name: string; args: 0 | 1 | 2; invertible: boolean; aliases: string[] }>();
  for (const e of table) {
    const d = byId.get(e.id);
    if (d === undefined) byId.set(e.id, { name: e.name, args: e.args, invertible: !!e.invert, aliases: [] });
    else {
      d.aliases.push(e.name);
      d.invertible ||= !!e.invert;
    }
  }
  return [...byId.values()].map((d) =>
    d.aliases.length ? { name: d.name, args: d.args, invertible: d.invertible, aliases: d.aliases } : { name: d.name, args: d.args, invertible: d.invertible },
  );
}

/** Walks options the way xtables_option_parse does; call `use` per option, then `finish`. */
export class X6Parser {
  /** Bit set of ids seen (cb->xflags). */
  flags = 0;
  constructor(
    readonly ext: string,
    readonly table: readonly X6Entry[],
    readonly env: ParseEnv,
  ) {}

  /** The table entry for an id (the first row with it). */
  entry(id: number): X6Entry {
    const e = this.table.find((t) => t.id === id);
    if (e === undefined) throw new Error(`${this.ext}: no option id ${id}`);
    return e;
  }

  /** The table entry an OptionUse refers to (by canonical or alias name). */
  entryOf(use: OptionUse): X6Entry {
    const byName = this.table.find((t) => t.name === use.name);
    if (byName === undefined) this.env.fail(`unknown option "${use.token || `--${use.name}`}"`, use.token);
    return this.entry(byName.id);
  }

  /**
   * Once- and invert-checks for one option; returns its canonical entry (the one libxtables
   * names in messages). The invert check uses the spelling actually written (an old alias
   * may not allow `!` where the current name does).
   */
  use(use: OptionUse): X6Entry {
    const e = this.entryOf(use);
    const written = this.table.find((t) => `--${t.name}` === use.token) ?? e;
    const bit = 1 << e.id;
    if ((!e.multi || (e.excl ?? 0) & bit) && this.flags & bit) {
      this.env.fail(`${this.ext}: option "--${e.name}" can only be used once.`, use.token);
    }
    if (use.invert && !written.invert) this.env.fail(`${this.ext}: option "--${e.name}" cannot be inverted.`, use.token);
    if (use.args.length < e.args) this.env.fail(`option "${use.token || `--${e.name}`}" requires an argument`, use.token);
    this.flags |= bit;
    return e;
  }

  has(id: number): boolean {
    return (this.flags & (1 << id)) !== 0;
  }

  /** xtables_options_fcheck: mandatory, "also requires" and exclusion checks, in table order. */
  finish(): void {
    for (const e of this.table) {
      const ef = 1 << e.id;
      if (e.mand && !(this.flags & ef)) this.env.fail(`${this.ext}: option "--${e.name}" must be specified`);
      if (!(this.flags & ef)) continue;
      for (let i = 0; i < 32; i++) {
        if (i === e.id) continue;
        const other = this.table.find((t) => t.id === i);
        if (other === undefined) continue;
        const of = 1 << i;
        if ((e.also ?? 0) & of && !(this.flags & of)) {
          this.env.fail(`${this.ext}: option "--${e.name}" also requires "--${other.name}".`);
        }
        if (!((e.excl ?? 0) & of)) continue;
        if ((this.flags & (ef | of)) !== (ef | of)) continue;
        this.env.fail(`${this.ext}: option "--${e.name}" cannot be used together with "--${other.name}".`);
      }
    }
  }

  /** xtopt_parse_int's message for an out-of-range or malformed number. */
  badInt(e: X6Entry, min: number | bigint, max: number | bigint, token?: string): never {
    return this.env.fail(`${this.ext}: bad value for option "--${e.name}", or out of range (${min}-${max}).`, token);
  }

  /** XTTYPE_UINT8/16/32: a whole number in [min, max] (base 0). */
  uint(e: X6Entry, text: string, min: number, max: number, token?: string): number {
    const n = xtStrtoul(text, min, max);
    if (n === null) this.badInt(e, min, max, token);
    return n.value;
  }

  /**
   * XTTYPE_UINT*RC (xtopt_parse_mint): `a`, `a:b`, `:b`, `a:` (missing first = 0, missing
   * second = max). Returns the values given (1 or 2).
   */
  uintRange(e: X6Entry, text: string, max: number, token?: string): number[] {
    const vals: number[] = [];
    let p = 0;
    for (;;) {
      if (vals.length === 2) this.env.fail(`${this.ext}: Too many components for option "--${e.name}" (max: 2)`, token);
      let end: number;
      let value: number;
      if (p >= text.length || text[p] === ':') {
        end = p;
        value = vals.length === 1 ? max : 0;
      } else {
        const rest = text.slice(p);
        let q = 0;
        while (q < rest.length && isCSpace(rest.charCodeAt(q))) q++;
        const r = rest[q] === '-' ? null : strtoul(rest, 0, 0);
        if (r === null || r.end === 0 || r.overflow || r.value > BigInt(max)) {
          this.env.fail(`${this.ext}: bad value for option "--${e.name}" near "${rest}", or out of range (0-${max}).`, token);
        }
        end = p + r.end;
        value = Number(r.value);
        if (end < text.length && text[end] !== ':') {
          this.env.fail(`${this.ext}: Argument to "--${e.name}" has unexpected characters near "${text.slice(end)}".`, token);
        }
      }
      vals.push(value);
      if (end >= text.length) break;
      p = end + 1;
    }
    return vals;
  }
}

// ---------------------------------------------------------------------------------------
// Kernel checkentry messages (what the kernel logs; the tool itself only says "failed")

/** The family prefix x_tables uses in its log lines: `ip` / `ip6`. */
export function xtPrefix(family: Family): string {
  return family === 4 ? 'ip' : 'ip6';
}

/** textify_hooks: hook names of a mask joined by '/'. */
export function hookNames(mask: number): string {
  const out: string[] = [];
  for (let h = 0; h < NUM_HOOKS; h++) if (mask & (1 << h)) out.push(HOOK_NAMES[h]!);
  return out.join('/');
}

/**
 * xt_check_match's generic checks, in its order: table, hooks, protocol. `proto` is the
 * protocol the match requires (0: none); null when fine, else the kernel's log line.
 */
export function xtCheckMatch(
  env: CheckEnv,
  name: string,
  req: { readonly table?: string; readonly hooks?: number; readonly proto?: number },
): string | null {
  const pre = `x_tables: ${xtPrefix(env.family)}_tables: ${name} match:`;
  if (req.table !== undefined && env.table !== req.table) return `${pre} only valid in ${req.table} table, not ${env.table}`;
  if (req.hooks !== undefined && env.hooks & ~req.hooks) {
    return `${pre} used from hooks ${hookNames(env.hooks)}, but only valid from ${hookNames(req.hooks)}`;
  }
  if (req.proto) {
    const p = env.rule.proto;
    if (p === null || p.proto !== req.proto || p.invert) return `${pre} only valid for protocol ${req.proto}`;
  }
  return null;
}

// ---------------------------------------------------------------------------------------
// Small shared shapes

/** Formats `a` or `a:b` (iptables-save's form of a range). */
export function fmtRange(min: number, max: number): string {
  return min === max ? String(min) : `${min}:${max}`;
}

/** A compiled match that always says the same. */
export const ALWAYS = Object.freeze({ match: (): boolean => true });
export const NEVER = Object.freeze({ match: (): boolean => false });
