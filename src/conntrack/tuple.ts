/**
 * Conntrack tuples (struct nf_conntrack_tuple) and the numeric hashing the table uses.
 *
 * A tuple is family, L4 protocol, the two addresses (four words each, IPv4 in word 0 and
 * the other three words 0) and two 16-bit "ports". What the ports hold depends on the
 * protocol, exactly as the kernel keys it:
 * - TCP, UDP, UDPLITE, SCTP: source and destination port;
 * - ICMP and ICMPv6: `sport` is the echo identifier (src.u.icmp.id) and `dport` is
 *   `(type << 8) | code` (dst.u.icmp.type / dst.u.icmp.code), so a tuple comparison
 *   compares id, type and code as the kernel's does;
 * - anything else (GRE, ESP, DCCP since Linux 6.16, ...): both 0, the generic tracker
 *   keys by addresses and protocol only.
 */
import { IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP, IPPROTO_UDPLITE, formatWords, jhashFinal, protoShort, type Family } from '../core/index.ts';

/** One direction of a connection (nf_conntrack_tuple). See the file comment for the port fields. */
export interface Tuple {
  family: Family;
  proto: number;
  src: Uint32Array;
  dst: Uint32Array;
  sport: number;
  dport: number;
}

/** A zeroed tuple (IPv4, protocol 0). */
export function newTuple(): Tuple {
  return { family: 4, proto: 0, src: new Uint32Array(4), dst: new Uint32Array(4), sport: 0, dport: 0 };
}

/** A tuple with copies of the given address words (configuration and tests; allocates). */
export function makeTuple(family: Family, proto: number, src: Uint32Array, sport: number, dst: Uint32Array, dport: number): Tuple {
  const t = newTuple();
  t.family = family;
  t.proto = proto;
  t.src.set(src);
  t.dst.set(dst);
  t.sport = sport;
  t.dport = dport;
  return t;
}

/** A deep copy (allocates). */
export function cloneTuple(t: Tuple): Tuple {
  return makeTuple(t.family, t.proto, t.src, t.sport, t.dst, t.dport);
}

/** Copies `from` into `to` in place. Hot path: allocation-free. */
export function copyTuple(to: Tuple, from: Tuple): void {
  to.family = from.family;
  to.proto = from.proto;
  to.src.set(from.src);
  to.dst.set(from.dst);
  to.sport = from.sport;
  to.dport = from.dport;
}

export function addrEquals(a: Uint32Array, b: Uint32Array): boolean {
  return a[0] === b[0] && a[1] === b[1] && a[2] === b[2] && a[3] === b[3];
}

/** nf_ct_tuple_equal: every field. Hot path. */
export function tupleEquals(a: Tuple, b: Tuple): boolean {
  return (
    a.proto === b.proto &&
    a.family === b.family &&
    a.sport === b.sport &&
    a.dport === b.dport &&
    addrEquals(a.src, b.src) &&
    addrEquals(a.dst, b.dst)
  );
}

/** Whether conntrack keys this protocol by ports (nf_ct_get_tuple's port protocols in 6.18). */
export function tracksPorts(proto: number): boolean {
  return proto === IPPROTO_TCP || proto === IPPROTO_UDP || proto === IPPROTO_UDPLITE || proto === IPPROTO_SCTP;
}

export function isIcmpProto(proto: number): boolean {
  return proto === IPPROTO_ICMP || proto === IPPROTO_ICMPV6;
}

/** The `dport` field of an ICMP tuple: `(type << 8) | code`. */
export function icmpKey(type: number, code: number): number {
  return ((type & 0xff) << 8) | (code & 0xff);
}

/**
 * ICMP types with an inverse (invmap of nf_conntrack_proto_icmp.c), stored as inverse + 1
 * so 0 means "none": echo, timestamp, info request and address mask, both ways.
 */
const ICMP_INVMAP = new Uint8Array(256);
ICMP_INVMAP[8] = 0 + 1;
ICMP_INVMAP[0] = 8 + 1;
ICMP_INVMAP[13] = 14 + 1;
ICMP_INVMAP[14] = 13 + 1;
ICMP_INVMAP[15] = 16 + 1;
ICMP_INVMAP[16] = 15 + 1;
ICMP_INVMAP[17] = 18 + 1;
ICMP_INVMAP[18] = 17 + 1;
/** The same for ICMPv6 (nf_conntrack_proto_icmpv6.c): echo and node information queries. */
const ICMPV6_INVMAP = new Uint8Array(256);
ICMPV6_INVMAP[128] = 129 + 1;
ICMPV6_INVMAP[129] = 128 + 1;
ICMPV6_INVMAP[139] = 140 + 1;
ICMPV6_INVMAP[140] = 139 + 1;

/**
 * nf_ct_invert_tuple: the tuple of the other direction, written into `out` (which must not
 * be `t`). False when the protocol cannot be inverted (an ICMP type without a reply type);
 * `out` is then unspecified. Hot path: allocation-free.
 */
export function invertTuple(out: Tuple, t: Tuple): boolean {
  out.family = t.family;
  out.proto = t.proto;
  out.src.set(t.dst);
  out.dst.set(t.src);
  if (t.proto === IPPROTO_ICMP || t.proto === IPPROTO_ICMPV6) {
    const inv = (t.proto === IPPROTO_ICMP ? ICMP_INVMAP : ICMPV6_INVMAP)[(t.dport >>> 8) & 0xff]!;
    if (inv === 0) return false;
    out.sport = t.sport;
    out.dport = ((inv - 1) << 8) | (t.dport & 0xff);
    return true;
  }
  out.sport = t.dport;
  out.dport = t.sport;
  return true;
}

/** `tcp 10.0.0.1:1000 -> 10.0.0.2:80`, `icmp 10.0.0.1 -> 10.0.0.2 type 8 code 0 id 7` (tests, traces). */
export function formatTuple(t: Tuple): string {
  const s = formatWords(t.family, t.src);
  const d = formatWords(t.family, t.dst);
  const p = protoShort(t.proto);
  if (isIcmpProto(t.proto)) return `${p} ${s} -> ${d} type ${t.dport >>> 8} code ${t.dport & 0xff} id ${t.sport}`;
  if (tracksPorts(t.proto)) {
    const ep = (a: string, port: number) => (t.family === 6 ? `[${a}]:${port}` : `${a}:${port}`);
    return `${p} ${ep(s, t.sport)} -> ${ep(d, t.dport)}`;
  }
  return `${p} ${s} -> ${d}`;
}

// ---------------------------------------------------------------------------------------
// Hashing. The kernel hashes tuples with siphash and a boot-time random key, so bucket
// positions are not reproducible; we use Jenkins' lookup3 (the kernel's jhash) with a fixed
// key, which keeps tables deterministic. find_best_ips_proto uses the kernel's real jhash2,
// implemented exactly below, because its result is visible (the chosen NAT address).

function rol32(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** The kernel's jhash2(k, 4, initval) over four 32-bit words (include/linux/jhash.h). */
export function jhash2Words4(k0: number, k1: number, k2: number, k3: number, initval: number): number {
  let a = (0xdeadbeef + (4 << 2) + initval) | 0;
  let b = a;
  let c = a;
  // while (length > 3): one round over k0..k2
  a = (a + k0) | 0;
  b = (b + k1) | 0;
  c = (c + k2) | 0;
  a = (a - c) | 0; a ^= rol32(c, 4); c = (c + b) | 0;
  b = (b - a) | 0; b ^= rol32(a, 6); a = (a + c) | 0;
  c = (c - b) | 0; c ^= rol32(b, 8); b = (b + a) | 0;
  a = (a - c) | 0; a ^= rol32(c, 16); c = (c + b) | 0;
  b = (b - a) | 0; b ^= rol32(a, 19); a = (a + c) | 0;
  c = (c - b) | 0; c ^= rol32(b, 4); b = (b + a) | 0;
  // case 1: a += k[3]; __jhash_final
  a = (a + k3) | 0;
  return jhashFinal(a, b, c);
}

/** Byte swap of a 32-bit word: what a host-order address word looks like when the
 * kernel reads the network-order bytes as a native little-endian u32 (x86). */
export function bswap32(x: number): number {
  return (((x & 0xff) << 24) | ((x & 0xff00) << 8) | ((x >>> 8) & 0xff00) | (x >>> 24)) >>> 0;
}

/** reciprocal_scale(val, n) = ((u64)val * n) >> 32, exact for all 32-bit inputs. */
export function reciprocalScale(val: number, n: number): number {
  const v = val >>> 0;
  const m = n >>> 0;
  const hiProd = (v >>> 16) * m; // < 2^48, exact
  const loProd = (v & 0xffff) * m; // < 2^48, exact
  const hiTop = Math.floor(hiProd / 65536);
  const hiLow = hiProd - hiTop * 65536;
  return (hiTop + Math.floor((hiLow * 65536 + loProd) / 4294967296)) >>> 0;
}

const TABLE_SEED = 0x5bd1e995;

function mixStep(a: number, b: number, c: number, out: Int32Array): void {
  a = (a - c) | 0; a ^= rol32(c, 4); c = (c + b) | 0;
  b = (b - a) | 0; b ^= rol32(a, 6); a = (a + c) | 0;
  c = (c - b) | 0; c ^= rol32(b, 8); b = (b + a) | 0;
  a = (a - c) | 0; a ^= rol32(c, 16); c = (c + b) | 0;
  b = (b - a) | 0; b ^= rol32(a, 19); a = (a + c) | 0;
  c = (c - b) | 0; c ^= rol32(b, 4); b = (b + a) | 0;
  out[0] = a;
  out[1] = b;
  out[2] = c;
}
const ABC = new Int32Array(3);

/** Hash of a tuple in a zone, for the connection table's buckets. Hot path: allocation-free. */
export function tupleHash(t: Tuple, zone: number): number {
  const iv = (0xdeadbeef + (12 << 2) + TABLE_SEED) | 0;
  mixStep((iv + t.src[0]!) | 0, (iv + t.src[1]!) | 0, (iv + t.src[2]!) | 0, ABC);
  mixStep((ABC[0]! + t.src[3]!) | 0, (ABC[1]! + t.dst[0]!) | 0, (ABC[2]! + t.dst[1]!) | 0, ABC);
  mixStep((ABC[0]! + t.dst[2]!) | 0, (ABC[1]! + t.dst[3]!) | 0, (ABC[2]! + ((t.sport << 16) | t.dport)) | 0, ABC);
  let a = (ABC[0]! + (t.proto | (t.family << 8))) | 0;
  let b = (ABC[1]! + zone) | 0;
  let c = ABC[2]!;
  return jhashFinal(a, b, c);
}

/** Hash of an original source (address, port, protocol, zone): the NAT by-source index. */
export function sourceHash(t: Tuple, zone: number): number {
  const iv = (0xdeadbeef + (7 << 2) + TABLE_SEED + 1) | 0;
  mixStep((iv + t.src[0]!) | 0, (iv + t.src[1]!) | 0, (iv + t.src[2]!) | 0, ABC);
  let a = (ABC[0]! + t.src[3]!) | 0;
  let b = (ABC[1]! + t.sport) | 0;
  let c = (ABC[2]! + ((t.proto << 16) ^ zone)) | 0;
  return jhashFinal(a, b, c);
}
