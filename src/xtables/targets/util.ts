/**
 * Helpers shared by the target modules: libxtables' option engine (once-only options,
 * mandatory options, exclusions, dependencies, with its wording), C number parsing as
 * xtables_strtoui() does it, ports and service names, addresses as getaddrinfo() reads
 * them, xtables_save_string() quoting, and the kernel's x_tables checkentry messages.
 * Configuration time only: nothing here runs per packet.
 */
import { parseIpv4, parseIpv6, type Family } from '../../core/index.ts';
import type { CheckEnv, OptionDef, OptionUse, ParseEnv } from '../ext.ts';
import { textifyHooks } from '../validate.ts';

/**
 * One entry of an extension's option table (struct xt_option_entry): the OptionDef the
 * generic parser sees plus the flags libxtables checks. Table order matters: it is the
 * order xtables_options_fcheck() reports missing and conflicting options in.
 */
export interface XtOption extends OptionDef {
  /** XTOPT_MAND: must be given. */
  readonly mand?: boolean;
  /** XTOPT_MULTI: may be given more than once. */
  readonly multi?: boolean;
  /** Options that may not be combined with this one (`.excl`). */
  readonly excl?: readonly string[];
  /** Options this one needs (`.also`). */
  readonly also?: readonly string[];
}

/**
 * Runs the options in order through libxtables' generic checks and `each` (the
 * extension's x6_parse), then the final checks (xtables_options_fcheck). Returns the set of
 * option names given. Throws through env.fail with xtables' wording.
 */
export function xtParse(
  ext: string,
  table: readonly XtOption[],
  opts: readonly OptionUse[],
  env: ParseEnv,
  each: (use: OptionUse) => void,
): Set<string> {
  const seen = new Set<string>();
  const byName = new Map(table.map((o) => [o.name, o] as const));
  for (const use of opts) {
    const def = byName.get(use.name);
    if (def === undefined) env.fail(`unknown option "${use.token}"`, use.token);
    if (seen.has(use.name) && !def!.multi) env.fail(`${ext}: option "--${use.name}" can only be used once.`, use.token);
    if (use.invert && !def!.invertible) env.fail(`${ext}: option "--${use.name}" cannot be inverted.`, use.token);
    each(use);
    seen.add(use.name);
  }
  for (const entry of table) {
    if (entry.mand && !seen.has(entry.name)) env.fail(`${ext}: option "--${entry.name}" must be specified`);
    if (!seen.has(entry.name)) continue;
    for (const other of table) {
      if (other === entry) continue;
      if (entry.excl?.includes(other.name) && seen.has(other.name)) {
        env.fail(`${ext}: option "--${entry.name}" cannot be used together with "--${other.name}".`);
      }
      if (entry.also?.includes(other.name) && !seen.has(other.name)) {
        env.fail(`${ext}: option "--${entry.name}" also requires "--${other.name}".`);
      }
    }
  }
  return seen;
}

/** Result of strtoul(): the value and the index just past the digits. */
export { strtoul, parseUint, type Strtoul } from '../cnum.ts';
import { strtoul, parseUint } from '../cnum.ts';

/** XTTYPE_UINT8/16/32: a number in [min, max] or xtables' error. */
export function uintOption(ext: string, use: OptionUse, env: ParseEnv, min: number, max: number): number {
  const v = parseUint(use.args[0]!, min, max);
  if (v === null) env.fail(`${ext}: bad value for option "--${use.name}", or out of range (${min}-${max}).`, use.token);
  return v!;
}

/** A value with a mask (XTTYPE_MARKMASK32). */
export interface MarkMask {
  readonly value: number;
  /** 0xffffffff when no mask was written. */
  readonly mask: number;
}

/** XTTYPE_MARKMASK32: `value[/mask]` (base 0 numbers), with xtables' errors. */
export function markMaskOption(ext: string, use: OptionUse, env: ParseEnv): MarkMask {
  const s = use.args[0]!;
  const bad = () => env.fail(`${ext}: bad integer value for option "--${use.name}", or out of range.`, use.token);
  const v = strtoul(s);
  if (v === null || v.value > 0xffffffff) bad();
  let end = v!.end;
  let mask = 0xffffffff;
  if (s[end] === '/') {
    const m = strtoul(s, end + 1);
    if (m === null || m.value > 0xffffffff) bad();
    mask = m!.value;
    end = m!.end;
  }
  if (end !== s.length) env.fail(`${ext}: trailing garbage after value for option "--${use.name}".`, use.token);
  return { value: v!.value >>> 0, mask: mask >>> 0 };
}

/** `0x…` lower-case hex, as iptables prints marks (`0x%x`). */
export function hex(n: number): string {
  return `0x${(n >>> 0).toString(16)}`;
}

/** `0x%02x`: two hex digits at least (TOS, DSCP). */
export function hex2(n: number): string {
  return `0x${(n >>> 0).toString(16).padStart(2, '0')}`;
}

/**
 * xtables_save_string(): bare when the text is only `[A-Za-z0-9_-]` (and not empty),
 * otherwise in double quotes with `"`, `\` and `'` escaped by a backslash.
 */
export function saveString(s: string): string {
  if (/^[A-Za-z0-9_-]+$/.test(s)) return s;
  return `"${s.replace(/["\\']/g, (c) => `\\${c}`)}"`;
}

/**
 * Service names getservbyname() finds in a Debian /etc/services (any protocol), for the
 * names rules use. A number is not looked up here.
 */
const SERVICES: ReadonlyMap<string, number> = new Map([
  ['tcpmux', 1], ['echo', 7], ['discard', 9], ['daytime', 13], ['ftp-data', 20], ['ftp', 21], ['ssh', 22],
  ['telnet', 23], ['smtp', 25], ['time', 37], ['whois', 43], ['tacacs', 49], ['domain', 53], ['bootps', 67],
  ['bootpc', 68], ['tftp', 69], ['gopher', 70], ['finger', 79], ['http', 80], ['www', 80], ['kerberos', 88],
  ['pop3', 110], ['sunrpc', 111], ['auth', 113], ['nntp', 119], ['ntp', 123], ['epmap', 135],
  ['netbios-ns', 137], ['netbios-dgm', 138], ['netbios-ssn', 139], ['imap2', 143], ['imap', 143],
  ['snmp', 161], ['snmp-trap', 162], ['xdmcp', 177], ['bgp', 179], ['irc', 194], ['ldap', 389],
  ['https', 443], ['microsoft-ds', 445], ['kpasswd', 464], ['submissions', 465], ['ssmtp', 465],
  ['syslog', 514], ['printer', 515], ['talk', 517], ['ntalk', 518], ['route', 520], ['uucp', 540],
  ['dhcpv6-client', 546], ['dhcpv6-server', 547], ['rtsp', 554], ['nntps', 563], ['submission', 587],
  ['ipp', 631], ['ldaps', 636], ['rsync', 873], ['ftps-data', 989], ['ftps', 990], ['telnets', 992],
  ['imaps', 993], ['pop3s', 995], ['socks', 1080], ['openvpn', 1194], ['ms-sql-s', 1433],
  ['ms-sql-m', 1434], ['ingreslock', 1524], ['l2f', 1701], ['l2tp', 1701], ['radius', 1812],
  ['radius-acct', 1813], ['nfs', 2049], ['mysql', 3306], ['ms-wbt-server', 3389], ['svn', 3690],
  ['sip', 5060], ['sip-tls', 5061], ['xmpp-client', 5222], ['xmpp-server', 5269], ['postgresql', 5432],
  ['x11', 6000], ['ircd', 6667], ['http-alt', 8080], ['webcache', 8080],
]);

/** getservbyname(name, NULL): the port of a service name, or null. */
export function serviceToPort(name: string): number | null {
  return SERVICES.get(name) ?? null;
}

/**
 * A numeric IPv4 address as inet_aton() (and so getaddrinfo()) reads it: one to four parts
 * separated by dots, each decimal, octal (leading 0) or hex (0x); the last part fills the
 * remaining bytes (`10.1` is 10.0.0.1). Null when malformed.
 */
export function inetAton(text: string): number | null {
  const parts = text.split('.');
  if (parts.length > 4 || parts.some((p) => p === '')) return null;
  const vals: number[] = [];
  for (const p of parts) {
    const r = strtoul(p);
    if (r === null || r.end !== p.length || /^\s|^\+/.test(p)) return null;
    vals.push(r.value);
  }
  const last = vals.length - 1;
  for (let i = 0; i < last; i++) if (vals[i]! > 255) return null;
  if (vals[last]! >= 2 ** (8 * (4 - last))) return null;
  let v = 0;
  for (let i = 0; i < last; i++) v = v * 256 + vals[i]!;
  return (v * 2 ** (8 * (4 - last)) + vals[last]!) >>> 0;
}

/**
 * The wording libxtables prints when getaddrinfo() cannot read a host. nfemu resolves no
 * names; a text that could be a host name gets the answer of a resolver that cannot be
 * reached (what the reference machine answers), anything else "Name or service not known".
 */
export function hostNotFound(family: Family, text: string): string {
  if (family === 6 && inetAton(text) !== null) return 'getaddrinfo: Address family for hostname not supported';
  if (family === 4 && parseIpv6(text) !== null) return 'getaddrinfo: Address family for hostname not supported';
  if (/^[A-Za-z0-9.-]+$/.test(text)) return 'getaddrinfo: Temporary failure in name resolution';
  return 'getaddrinfo: Name or service not known';
}

/**
 * A numeric host as getaddrinfo() reads it for the family (XTTYPE_HOST): IPv4 in
 * inet_aton() form, IPv6 in inet_pton() form. Four words, or null.
 */
export function parseHost(family: Family, text: string): Uint32Array | null {
  if (family === 4) {
    const v = inetAton(text);
    if (v === null) return null;
    const w = new Uint32Array(4);
    w[0] = v;
    return w;
  }
  return parseIpv6(text);
}

/** inet_pton() for the family: IPv4 strictly dotted-quad decimal, no leading zeros. Four words, or null. */
export function parsePton(family: Family, text: string): Uint32Array | null {
  if (family === 4) {
    if (/(^|\.)0[0-9]/.test(text)) return null;
    const v = parseIpv4(text);
    if (v === null) return null;
    const w = new Uint32Array(4);
    w[0] = v;
    return w;
  }
  return parseIpv6(text);
}

/** Whether a port-carrying protocol was given as NAT targets require it (portok in libxt_NAT). */
export function natPortOk(proto: number | null): boolean {
  return proto === 6 || proto === 17 || proto === 132 || proto === 33 || proto === 1;
}

/** The x_tables module prefix of kernel messages: `x_tables: ip_tables: ` or `…ip6_tables: `. */
function xtPrefix(family: Family): string {
  return `x_tables: ${family === 4 ? 'ip' : 'ip6'}_tables: `;
}

/**
 * xt_check_target()'s generic part, with the kernel's log text: the target's table (null
 * for any), its hooks (0 for any), and the protocol it needs (0 for any).
 */
export function checkTarget(
  name: string,
  env: CheckEnv,
  table: string | null,
  hooks: number,
  proto = 0,
): string | null {
  if (table !== null && env.table !== table) {
    return `${xtPrefix(env.family)}${name} target: only valid in ${table} table, not ${env.table}`;
  }
  if (hooks !== 0 && (env.hooks & ~hooks) !== 0) {
    return `${xtPrefix(env.family)}${name} target: used from hooks ${textifyHooks(env.hooks)}, but only usable from ${textifyHooks(hooks)}`;
  }
  if (proto !== 0) {
    const p = env.rule.proto;
    if (p === null || p.proto !== proto || p.invert) return `${xtPrefix(env.family)}${name} target: only valid for protocol ${proto}`;
  }
  return null;
}

/** The rule's `-p` as a positive protocol number, or 0 when absent or inverted. */
export function ruleProto(env: CheckEnv): number {
  const p = env.rule.proto;
  return p === null || p.invert ? 0 : p.proto;
}
