/**
 * Helpers shared by the state and host match modules: libxtables' number, address and mask
 * parsing (xtables_strtoui, XTTYPE_HOSTMASK, XTTYPE_PLENMASK), its generic option checks
 * with their wording, and the view of a conntrack entry the matches read.
 */
import { formatWords, maskPrefix, parseIpOf, parseIpv4, prefixMask, type Family } from '../../../core/index.ts';
import type { Packet } from '../../../packet/index.ts';
import { HOOK_NAMES, IP_CT_UNTRACKED, NUM_HOOKS } from '../../../netfilter/index.ts';
import type { Conn } from '../../../conntrack/index.ts';
import type { OptionUse, ParseEnv } from '../../ext.ts';

/**
 * What -m helper reads of an entry: the master connection of an expected connection and
 * the helper assigned to it. nfemu's Conn has neither yet (no expectations are created), so
 * both are optional and read structurally.
 */
export interface HelperView {
  readonly helper?: string | null;
  readonly master?: (Conn & HelperView) | null;
}

/**
 * The packet's conntrack entry as nf_ct_get() returns it: null when the packet has none
 * (INVALID) and for untracked packets (since Linux 4.15 untracked skbs carry no entry).
 * Hot path.
 */
export function connOf(pkt: Packet): Conn | null {
  if (pkt.ct === null || pkt.ctinfo === IP_CT_UNTRACKED) return null;
  return pkt.ct as Conn;
}

/** Result of strtoul(): the value and the index just past the digits, or null when no digits. */
export { strtoul, parseUint, type Strtoul } from '../../cnum.ts';
import { strtoul, parseUint } from '../../cnum.ts';

/** `0x…` lower-case hex of an unsigned 32-bit value, as iptables prints marks. */
export function hex(n: number): string {
  return `0x${(n >>> 0).toString(16)}`;
}

/**
 * libxtables' generic per-option checks: an option may be given once (unless listed in
 * `multi`). Throws with xtables' wording.
 */
export function checkOnce(ext: string, opts: readonly OptionUse[], env: ParseEnv, multi: readonly string[] = []): void {
  for (let i = 0; i < opts.length; i++) {
    const o = opts[i]!;
    if (multi.includes(o.name)) continue;
    for (let j = 0; j < i; j++) {
      if (opts[j]!.name === o.name) env.fail(`${ext}: option "--${o.name}" can only be used once.`, o.token);
    }
  }
}

/** An entry of an extension's xt_option_entry table, for the generic final checks. */
export interface OptionRule {
  readonly name: string;
  /** XTOPT_MAND. */
  readonly mand?: boolean;
  /** Options this one cannot be used with (.excl), in table order. */
  readonly excl?: readonly string[];
  /** Options this one needs (.also), in table order. */
  readonly also?: readonly string[];
}

/**
 * xtables_options_fcheck: walks the option table in order and reports the first missing
 * mandatory option, exclusion or missing companion, with xtables' wording. (It runs after
 * the module's own final check, so call it after those.)
 */
export function optionsFcheck(ext: string, table: readonly OptionRule[], opts: readonly OptionUse[], env: ParseEnv): void {
  for (const e of table) {
    const given = opts.find((o) => o.name === e.name);
    if (e.mand && given === undefined) env.fail(`${ext}: option "--${e.name}" must be specified`);
    if (given === undefined) continue;
    for (const x of e.excl ?? []) {
      if (has(opts, x)) env.fail(`${ext}: option "--${e.name}" cannot be used together with "--${x}".`, given.token);
    }
    for (const a of e.also ?? []) {
      if (!has(opts, a)) env.fail(`${ext}: option "--${e.name}" also requires "--${a}".`, given.token);
    }
  }
}

/** Whether an option was given. */
export function has(opts: readonly OptionUse[], name: string): boolean {
  for (const o of opts) if (o.name === name) return true;
  return false;
}

/** An address with a mask, as XTTYPE_HOSTMASK stores it (the address is not masked). */
export interface HostMask {
  readonly addr: Uint32Array;
  readonly mask: Uint32Array;
}

/**
 * Parses a mask written after `/` the way xtopt_parse_plen does: a prefix length in range,
 * or else a mask written as an address. A non-contiguous mask (or a number read as one,
 * like `33`, which inet_aton reads as 0.0.0.33) leaves all bits set, as iptables 1.8.9 does
 * (checked against iptables-nft-restore: `1.2.3.4/255.0.255.0` and `/33` save as `/32`).
 * Returns the prefix length, or null when the text is neither.
 */
export function parsePlen(family: Family, text: string): number | null {
  const max = family === 4 ? 32 : 128;
  const n = parseUint(text, 0, max);
  if (n !== null) return n;
  let w: Uint32Array | null = null;
  if (family === 4) {
    let v = parseIpv4(text);
    if (v === null) {
      const r = strtoul(text);
      if (r !== null && r.end === text.length && r.value <= 0xffffffff) v = r.value;
    }
    if (v !== null) {
      w = new Uint32Array(4);
      w[0] = v;
    }
  } else {
    const ip = parseIpOf(6, text);
    if (ip !== null) w = ip.w;
  }
  if (w === null) return null;
  const p = maskPrefix(family, w);
  return p < 0 ? max : p;
}

/**
 * XTTYPE_HOSTMASK: `addr[/mask]` with a numeric address. nfemu resolves no host names.
 * Throws with iptables' wording.
 */
export function parseHostMask(family: Family, text: string, ext: string, opt: OptionUse, env: ParseEnv): HostMask {
  const slash = text.indexOf('/');
  const host = slash < 0 ? text : text.slice(0, slash);
  let prefix = family === 4 ? 32 : 128;
  if (slash >= 0) {
    const p = parsePlen(family, text.slice(slash + 1));
    if (p === null) {
      env.fail(
        `${ext}: bad value for option "--${opt.name}", neither a valid network mask nor valid CIDR (0-${family === 4 ? 32 : 128}).`,
        opt.token,
      );
    }
    prefix = p!;
  }
  const ip = parseIpOf(family, host);
  if (ip === null) env.fail(`host/network \`${host}' not found`, host);
  return { addr: Uint32Array.from(ip!.w), mask: prefixMask(family, prefix) };
}

/** `addr` plus xtables_ipmask_to_numeric(): nothing for a full mask, `/len` otherwise. */
export function formatHostMask(family: Family, hm: HostMask): string {
  const p = maskPrefix(family, hm.mask);
  const max = family === 4 ? 32 : 128;
  const a = formatWords(family, hm.addr);
  if (p === max) return a;
  if (p < 0) return `${a}/${formatWords(family, hm.mask)}`;
  return `${a}/${p}`;
}

/** ((a ^ b) & mask) == 0 over the family's words. Hot path. */
export function maskedEqual(family: Family, a: Uint32Array, b: Uint32Array, mask: Uint32Array): boolean {
  if (((a[0]! ^ b[0]!) & mask[0]!) !== 0) return false;
  if (family === 4) return true;
  return ((a[1]! ^ b[1]!) & mask[1]!) === 0 && ((a[2]! ^ b[2]!) & mask[2]!) === 0 && ((a[3]! ^ b[3]!) & mask[3]!) === 0;
}

/**
 * Service names xtables_getportbyname() finds in a Debian /etc/services (tcp), for the few
 * options here that take a port. nfemu has no services database of the emulated host.
 */
const SERVICES: ReadonlyMap<string, number> = new Map([
  ['ftp-data', 20], ['ftp', 21], ['ssh', 22], ['telnet', 23], ['smtp', 25], ['domain', 53],
  ['bootps', 67], ['bootpc', 68], ['tftp', 69], ['http', 80], ['www', 80], ['kerberos', 88],
  ['pop3', 110], ['sunrpc', 111], ['ntp', 123], ['imap2', 143], ['imap', 143], ['snmp', 161],
  ['ldap', 389], ['https', 443], ['microsoft-ds', 445], ['submission', 587], ['ldaps', 636],
  ['imaps', 993], ['pop3s', 995], ['mysql', 3306], ['postgresql', 5432],
]);

/**
 * One port as XTTYPE_PORTRC reads it: a service name, or a number whose low 16 bits are
 * kept (iptables 1.8.9 saves `--ctorigsrcport 70000` as 4464). Null when neither.
 */
export function parsePortNumber(text: string): number | null {
  const s = SERVICES.get(text);
  if (s !== undefined) return s;
  const n = parseUint(text, 0, 0xffffffff);
  return n === null ? null : n & 0xffff;
}

/**
 * XTTYPE_PORTRC: `port`, `lo:hi`, `:hi` (from 0) or `lo:` (to 65535). Throws with
 * iptables' wording.
 */
export function parsePortRange(text: string, ext: string, opt: OptionUse, env: ParseEnv): readonly [number, number] {
  const parts = text.split(':');
  if (parts.length > 2) env.fail(`${ext}: Too many components for option "--${opt.name}" (max: 2)`, opt.token);
  const lo = parts[0] === '' ? 0 : parsePortNumber(parts[0]!);
  if (lo === null) env.fail(`Port "${parts[0]}" does not resolve to anything.`, parts[0]);
  if (parts.length === 1) return [lo!, lo!];
  const hi = parts[1] === '' ? 0xffff : parsePortNumber(parts[1]!);
  if (hi === null) env.fail(`Port "${parts[1]}" does not resolve to anything.`, parts[1]);
  return [lo!, hi!];
}

/**
 * strncasecmp(word, name, word.length) == 0: libxtables' list parsers accept any prefix of a
 * name, in any case (`est` for ESTABLISHED). An empty word matches nothing.
 */
export function isPrefixOf(word: string, name: string): boolean {
  return word.length > 0 && word.length <= name.length && name.slice(0, word.length).toUpperCase() === word.toUpperCase();
}

/** Names of the hooks in a mask, `/`-separated (as xt_check_match logs them). */
export function hookList(mask: number): string {
  const out: string[] = [];
  for (let h = 0; h < NUM_HOOKS; h++) if (mask & (1 << h)) out.push(HOOK_NAMES[h]!);
  return out.join('/');
}

/** Checks the hooks a rule is reached from against the ones the extension is registered for. */
export function checkHooks(ext: string, kind: 'match' | 'target', hooks: number, allowed: number): string | null {
  if (hooks & ~allowed) return `${ext} ${kind}: used from hooks ${hookList(hooks)}, but only valid from ${hookList(allowed)}`;
  return null;
}
