/**
 * IPv4 and IPv6 addresses and prefixes. Leaf module: no imports here.
 *
 * An address is four unsigned 32-bit words, most significant first; IPv4 uses word 0 only
 * (the other three are 0). This keeps the packet and the compiled rule columns numeric and
 * the same shape for both families.
 */

export type Family = 4 | 6;

/** An address: family plus four words (IPv4 in word 0). Immutable by convention. */
export interface Ip {
  readonly family: Family;
  readonly w: Uint32Array;
}

/** An address with a mask (contiguous or not, as iptables allows dotted masks). */
export interface Cidr {
  readonly family: Family;
  /** Network address (already masked). */
  readonly addr: Uint32Array;
  readonly mask: Uint32Array;
  /** Prefix length, or -1 when the mask is not contiguous. */
  readonly prefix: number;
}

/** Parses dotted-quad IPv4 (exactly four decimal octets); null when malformed. */
export function parseIpv4(text: string): number | null {
  const parts = text.split('.');
  if (parts.length !== 4) return null;
  let v = 0;
  for (const p of parts) {
    if (!/^[0-9]{1,3}$/.test(p)) return null;
    const n = Number(p);
    if (n > 255) return null;
    v = v * 256 + n;
  }
  return v >>> 0;
}

export function formatIpv4(v: number): string {
  return `${(v >>> 24) & 255}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
}

/** Parses IPv6 text (with :: and an optional trailing dotted quad); null when malformed. */
export function parseIpv6(text: string): Uint32Array | null {
  if (text.length === 0 || text.length > 45) return null;
  let s = text;
  const groups: number[] = [];
  let tail: number[] = [];
  const v4 = s.lastIndexOf('.') >= 0 ? s.slice(s.lastIndexOf(':') + 1) : null;
  if (v4 !== null) {
    const n = parseIpv4(v4);
    if (n === null) return null;
    tail = [n >>> 16, n & 0xffff];
    s = s.slice(0, s.length - v4.length);
    if (s.endsWith(':') && !s.endsWith('::')) s = s.slice(0, -1);
    if (s === '') return null;
  }
  const dbl = s.indexOf('::');
  if (dbl !== s.lastIndexOf('::') && dbl >= 0) return null;
  const parseGroups = (part: string): number[] | null => {
    if (part === '') return [];
    const out: number[] = [];
    for (const g of part.split(':')) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  let head: number[] | null;
  let rest: number[] | null = [];
  if (dbl >= 0) {
    head = parseGroups(s.slice(0, dbl));
    rest = parseGroups(s.slice(dbl + 2));
    if (head === null || rest === null) return null;
    const fill = 8 - head.length - rest.length - tail.length;
    if (fill < 1) return null;
    groups.push(...head, ...new Array<number>(fill).fill(0), ...rest, ...tail);
  } else {
    head = parseGroups(s);
    if (head === null) return null;
    groups.push(...head, ...tail);
    if (groups.length !== 8) return null;
  }
  if (groups.length !== 8) return null;
  const w = new Uint32Array(4);
  for (let i = 0; i < 4; i++) w[i] = ((groups[2 * i]! << 16) | groups[2 * i + 1]!) >>> 0;
  return w;
}

/** Formats IPv6 the way inet_ntop does (longest run of ≥2 zero groups compressed, lower case). */
export function formatIpv6(w: Uint32Array): string {
  const g: number[] = [];
  for (let i = 0; i < 4; i++) g.push(w[i]! >>> 16, w[i]! & 0xffff);
  // glibc prints an embedded IPv4 address when the longest zero run is words 0-5 (::a.b.c.d
  // with a non-zero word 6) or words 0-4 followed by ffff (::ffff:a.b.c.d).
  let lead = 0;
  while (lead < 8 && g[lead] === 0) lead++;
  if (lead === 6 || (lead === 5 && g[5] === 0xffff)) {
    const v4 = formatIpv4(w[3]!);
    return lead === 5 ? `::ffff:${v4}` : `::${v4}`;
  }
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (bestLen < 2) bestStart = -1;
  const hex = (n: number) => n.toString(16);
  if (bestStart < 0) return g.map(hex).join(':');
  const left = g.slice(0, bestStart).map(hex).join(':');
  const right = g.slice(bestStart + bestLen).map(hex).join(':');
  return `${left}::${right}`;
}

/** Parses an address of either family; null when malformed. */
export function parseIp(text: string): Ip | null {
  const v4 = parseIpv4(text);
  if (v4 !== null) return ipv4(v4);
  const v6 = parseIpv6(text);
  if (v6 !== null) return { family: 6, w: v6 };
  return null;
}

/** Parses an address of the given family; null when malformed. */
export function parseIpOf(family: Family, text: string): Ip | null {
  if (family === 4) {
    const v = parseIpv4(text);
    return v === null ? null : ipv4(v);
  }
  const w = parseIpv6(text);
  return w === null ? null : { family: 6, w };
}

export function ipv4(v: number): Ip {
  const w = new Uint32Array(4);
  w[0] = v >>> 0;
  return { family: 4, w };
}

export function formatIp(ip: Ip): string {
  return ip.family === 4 ? formatIpv4(ip.w[0]!) : formatIpv6(ip.w);
}

/** Formats four words of the given family. */
export function formatWords(family: Family, w: Uint32Array): string {
  return family === 4 ? formatIpv4(w[0]!) : formatIpv6(w);
}

export function ipEquals(a: Ip, b: Ip): boolean {
  return a.family === b.family && a.w[0] === b.w[0] && a.w[1] === b.w[1] && a.w[2] === b.w[2] && a.w[3] === b.w[3];
}

/** The mask words of a prefix length for a family. */
export function prefixMask(family: Family, prefix: number): Uint32Array {
  const m = new Uint32Array(4);
  const words = family === 4 ? 1 : 4;
  let left = prefix;
  for (let i = 0; i < words; i++) {
    const bits = Math.max(0, Math.min(32, left));
    m[i] = bits === 0 ? 0 : bits === 32 ? 0xffffffff : (0xffffffff << (32 - bits)) >>> 0;
    left -= 32;
  }
  return m;
}

/** Prefix length of a contiguous mask, or -1. */
export function maskPrefix(family: Family, mask: Uint32Array): number {
  const words = family === 4 ? 1 : 4;
  let n = 0;
  let ended = false;
  for (let i = 0; i < words; i++) {
    const m = mask[i]!;
    for (let b = 31; b >= 0; b--) {
      const bit = (m >>> b) & 1;
      if (bit && ended) return -1;
      if (bit) n++;
      else ended = true;
    }
  }
  return n;
}

export function makeCidr(family: Family, addr: Uint32Array, mask: Uint32Array): Cidr {
  const a = new Uint32Array(4);
  for (let i = 0; i < 4; i++) a[i] = (addr[i]! & mask[i]!) >>> 0;
  return { family, addr: a, mask: Uint32Array.from(mask), prefix: maskPrefix(family, mask) };
}

/**
 * Parses `addr`, `addr/len` or (IPv4) `addr/dotted-mask` the way iptables does: the
 * address is masked. Null when malformed.
 */
export function parseCidr(family: Family, text: string): Cidr | null {
  const slash = text.indexOf('/');
  const addrText = slash < 0 ? text : text.slice(0, slash);
  const ip = parseIpOf(family, addrText);
  if (ip === null) return null;
  const max = family === 4 ? 32 : 128;
  let mask: Uint32Array;
  if (slash < 0) {
    mask = prefixMask(family, max);
  } else {
    const m = text.slice(slash + 1);
    if (/^[0-9]{1,3}$/.test(m)) {
      const p = Number(m);
      if (p > max) return null;
      mask = prefixMask(family, p);
    } else {
      const mi = parseIpOf(family, m);
      if (mi === null) return null;
      mask = Uint32Array.from(mi.w);
    }
  }
  return makeCidr(family, ip.w, mask);
}

/** `addr/len`, or `addr/mask` for a non-contiguous mask, as iptables-save prints. */
export function formatCidr(c: Cidr): string {
  const a = formatWords(c.family, c.addr);
  if (c.prefix >= 0) return `${a}/${c.prefix}`;
  return `${a}/${formatWords(c.family, c.mask)}`;
}

/** Whether the address words fall inside the prefix. */
export function cidrContains(c: Cidr, w: Uint32Array): boolean {
  return (
    ((w[0]! & c.mask[0]!) >>> 0) === c.addr[0] &&
    ((w[1]! & c.mask[1]!) >>> 0) === c.addr[1] &&
    ((w[2]! & c.mask[2]!) >>> 0) === c.addr[2] &&
    ((w[3]! & c.mask[3]!) >>> 0) === c.addr[3]
  );
}

/** Whether a prefix is the whole address space (matches everything). */
export function cidrIsAny(c: Cidr): boolean {
  return c.mask[0] === 0 && c.mask[1] === 0 && c.mask[2] === 0 && c.mask[3] === 0;
}

/** 0.0.0.0/0 or ::/0. */
export function anyCidr(family: Family): Cidr {
  return makeCidr(family, new Uint32Array(4), new Uint32Array(4));
}
