/**
 * The hashes the IPVS schedulers use, bit for bit: hash_32 (include/linux/hash.h, sh and
 * dh), hsiphash as a 64-bit kernel computes it (lib/siphash.c: on BITS_PER_LONG == 64,
 * "HalfSipHash" is SipHash-1-3 over 64-bit words, truncated to 32 bits; mh), gcd and fls.
 * Leaf module of src/ipvs: imports nothing.
 */

/** GOLDEN_RATIO_32. */
const GOLDEN_RATIO_32 = 0x61c88647;

/** hash_32(val, bits): the top `bits` bits of val * GOLDEN_RATIO_32 (mod 2^32). */
export function hash32(val: number, bits: number): number {
  return Math.imul(val >>> 0, GOLDEN_RATIO_32) >>> (32 - bits);
}

/** A 128-bit hsiphash key on a 64-bit kernel: two unsigned longs, each as [high, low] words. */
export interface HsiphashKey {
  readonly k0hi: number;
  readonly k0lo: number;
  readonly k1hi: number;
  readonly k1lo: number;
}

/** A key from two 64-bit values given as BigInt (configuration and tests only). */
export function hsiphashKey(k0: bigint, k1: bigint): HsiphashKey {
  const m = 0xffffffffn;
  return { k0hi: Number((k0 >> 32n) & m), k0lo: Number(k0 & m), k1hi: Number((k1 >> 32n) & m), k1lo: Number(k1 & m) };
}

// SipHash state: v0..v3 as (hi, lo) word pairs. Module-level so hashing allocates nothing.
const S = new Uint32Array(8);

function add(d: number, s: number): void {
  const lo = (S[d + 1]! + S[s + 1]!) >>> 0;
  const carry = lo < S[d + 1]! ? 1 : 0;
  S[d] = (S[d]! + S[s]! + carry) >>> 0;
  S[d + 1] = lo;
}

function rotl(d: number, k: number): void {
  let hi = S[d]!;
  let lo = S[d + 1]!;
  if (k >= 32) {
    const t = hi;
    hi = lo;
    lo = t;
    k -= 32;
  }
  if (k > 0) {
    const nh = ((hi << k) | (lo >>> (32 - k))) >>> 0;
    const nl = ((lo << k) | (hi >>> (32 - k))) >>> 0;
    hi = nh;
    lo = nl;
  }
  S[d] = hi;
  S[d + 1] = lo;
}

function xorInto(d: number, s: number): void {
  S[d] = (S[d]! ^ S[s]!) >>> 0;
  S[d + 1] = (S[d + 1]! ^ S[s + 1]!) >>> 0;
}

const V0 = 0;
const V1 = 2;
const V2 = 4;
const V3 = 6;

/** SIPROUND (SIPHASH_PERMUTATION). */
function sipround(): void {
  add(V0, V1); rotl(V1, 13); xorInto(V1, V0); rotl(V0, 32);
  add(V2, V3); rotl(V3, 16); xorInto(V3, V2);
  add(V0, V3); rotl(V3, 21); xorInto(V3, V0);
  add(V2, V1); rotl(V1, 17); xorInto(V1, V2); rotl(V2, 32);
}

function preamble(key: HsiphashKey): void {
  S[0] = (0x736f6d65 ^ key.k0hi) >>> 0; S[1] = (0x70736575 ^ key.k0lo) >>> 0;
  S[2] = (0x646f7261 ^ key.k1hi) >>> 0; S[3] = (0x6e646f6d ^ key.k1lo) >>> 0;
  S[4] = (0x6c796765 ^ key.k0hi) >>> 0; S[5] = (0x6e657261 ^ key.k0lo) >>> 0;
  S[6] = (0x74656462 ^ key.k1hi) >>> 0; S[7] = (0x79746573 ^ key.k1lo) >>> 0;
}

/** v3 ^= m; SIPROUND; v0 ^= m (one compression round, m = [hi, lo]). */
function compress(mhi: number, mlo: number): void {
  S[6] = (S[6]! ^ mhi) >>> 0; S[7] = (S[7]! ^ mlo) >>> 0;
  sipround();
  S[0] = (S[0]! ^ mhi) >>> 0; S[1] = (S[1]! ^ mlo) >>> 0;
}

/** HPOSTAMBLE on 64-bit: the last block, three finalisation rounds, the low 32 bits of the xor. */
function postamble(bhi: number, blo: number): number {
  compress(bhi, blo);
  S[5] = (S[5]! ^ 0xff) >>> 0;
  sipround();
  sipround();
  sipround();
  return (S[1]! ^ S[3]! ^ S[5]! ^ S[7]!) >>> 0;
}

/**
 * hsiphash(&v, 4, key) for one u32 `v` (stored little-endian, as on x86): what ip_vs_mh.c
 * hashes. Hot path: allocation-free.
 */
export function hsiphashU32(v: number, key: HsiphashKey): number {
  preamble(key);
  // b = (len << 56) | le32(v)
  return postamble((4 << 24) >>> 0, v >>> 0);
}

/** hsiphash over arbitrary bytes (the general form; tests check it against lib/siphash_kunit.c). */
export function hsiphashBytes(data: Uint8Array, key: HsiphashKey): number {
  const len = data.length;
  preamble(key);
  const full = len - (len % 8);
  for (let i = 0; i < full; i += 8) {
    const lo = (data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24)) >>> 0;
    const hi = (data[i + 4]! | (data[i + 5]! << 8) | (data[i + 6]! << 16) | (data[i + 7]! << 24)) >>> 0;
    compress(hi, lo);
  }
  let lo = 0;
  let hi = ((len & 0xff) << 24) >>> 0;
  for (let j = 0; j < len - full; j++) {
    const byte = data[full + j]!;
    if (j < 4) lo = (lo | (byte << (8 * j))) >>> 0;
    else hi = (hi | (byte << (8 * (j - 4)))) >>> 0;
  }
  return postamble(hi, lo);
}

/** gcd (lib/math/gcd.c), for positive integers. */
export function gcd(a: number, b: number): number {
  while (b !== 0) {
    const t = a % b;
    a = b;
    b = t;
  }
  return a;
}

/** fls: position of the most significant set bit, 1-based; 0 for 0. */
export function fls(x: number): number {
  return x === 0 ? 0 : 32 - Math.clz32(x);
}

/** The xor fold of an address's words sh, dh and mh hash (addr_fold; IPv4 uses word 0). */
export function addrFold(w: Uint32Array): number {
  return (w[0]! ^ w[1]! ^ w[2]! ^ w[3]!) >>> 0;
}
