/**
 * Address parts of ipset elements as the ipset tool reads them (lib/parse.c parse_ip):
 * `IP`, `IP/cidr` and, for IPv4, `IP-IP`, with the tool's error wording; plus the kernel's
 * range helpers (ip_set_range_to_cidr, ip_set_mask_from_to) and prefix masks.
 */
import { parseIpOf, formatWords, type Family } from '../core/index.ts';
import { syntaxError } from './types.ts';

/** What an address part may be (the ipset_parse_* variant the type uses). */
export const ADDR_ANY = 0; // IP, IP/cidr, IP-IP (ipset_parse_ip4_single6 / ip4_net6 for IPv4)
export const ADDR_PLAIN = 1; // a single address (IP/32 allowed)
export const ADDR_IPNET = 2; // IP or IP/cidr, no range

export interface AddrPart {
  /** Address words (IPv4 in word 0, host order). */
  ip: Uint32Array;
  /** End of an `IP-IP` range, or null. */
  ipTo: Uint32Array | null;
  /** Prefix length after `/`, or -1 when none was given. */
  cidr: number;
}

/** Parses one address part for a set of `family`. Throws NfemuError('PARSE'). */
export function parseAddrPart(text: string, family: Family, mode: number): AddrPart {
  const max = family === 4 ? 32 : 128;
  const slash = sepIndex(text, '/');
  const dash = family === 4 ? sepIndex(text, '-') : -1;
  if (mode === ADDR_PLAIN && (dash >= 0 || (slash >= 0 && text.slice(slash) !== `/${max}`))) {
    throw syntaxError(`plain IP address must be supplied: ${text}`, text);
  }
  if (mode === ADDR_IPNET && dash >= 0 && slash < 0) {
    throw syntaxError(`IP address or IP/cidr must be specified: ${text}`, text);
  }
  // IPv6 single-address types take a plain address only (ipset_parse_ip4_single6).
  let cidr = -1;
  let ipText = text;
  let toText: string | null = null;
  if (slash >= 0) {
    ipText = text.slice(0, slash);
    const c = text.slice(slash + 1);
    if (!/^[0-9]+$/.test(c) || Number(c) > 255) throw syntaxError(`'${c}' is invalid as number`, c);
    if (Number(c) > max) throw syntaxError(`'${c}' is out of range 0-${max}`, c);
    cidr = Number(c);
  } else if (dash >= 0) {
    ipText = text.slice(0, dash);
    toText = text.slice(dash + 1);
  }
  const ip = parseAddr(ipText, family);
  const ipTo = toText === null ? null : parseAddr(toText, family);
  return { ip, ipTo, cidr };
}

function parseAddr(text: string, family: Family): Uint32Array {
  const ip = parseIpOf(family, text);
  if (ip === null) {
    throw syntaxError(`cannot parse ${text}: resolving to ${family === 4 ? 'IPv4' : 'IPv6'} address failed`, text);
  }
  return Uint32Array.from(ip.w);
}

/** ipset_strchr: a separator that is neither the first nor the last character. */
function sepIndex(text: string, sep: string): number {
  const i = text.indexOf(sep);
  if (i <= 0 || text.endsWith(sep)) return -1;
  return i;
}

/** Host-order prefix masks: `PREFIX_MASKS[p * 4 + i]` is word i of the /p mask (p ≤ 128). */
export const PREFIX_MASKS: Uint32Array = (() => {
  const m = new Uint32Array(129 * 4);
  for (let p = 0; p <= 128; p++) {
    let left = p;
    for (let i = 0; i < 4; i++) {
      const bits = Math.max(0, Math.min(32, left));
      m[p * 4 + i] = bits === 0 ? 0 : bits === 32 ? 0xffffffff : (0xffffffff << (32 - bits)) >>> 0;
      left -= 32;
    }
  }
  return m;
})();

/** The IPv4 /p mask (ip_set_hostmask). */
export function mask4(p: number): number {
  return PREFIX_MASKS[p * 4]!;
}

/**
 * ip_set_range_to_cidr: the largest prefix block starting at `from` that ends at or before
 * `to`. Returns [last address of the block, its prefix length].
 */
export function rangeToCidr(from: number, to: number): [number, number] {
  for (let i = 1; i < 32; i++) {
    const m = mask4(i);
    if (((from & m) >>> 0) !== from) continue;
    const last = (from | ~m) >>> 0;
    if (last <= to) return [last, i];
  }
  return [from, 32];
}

/** Formats address words, with `/cidr` unless it is the host prefix (ipset_print_ip). */
export function formatAddr(family: Family, w: Uint32Array, cidr: number): string {
  const s = formatWords(family, w);
  return cidr === (family === 4 ? 32 : 128) ? s : `${s}/${cidr}`;
}
