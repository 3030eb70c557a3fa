/**
 * The kernel's jhash2() over an array of u32 words (include/linux/jhash.h), used by the
 * ipset hash types to pick a bucket: `jhash2(elem words, len, initval) & (2^bits - 1)`.
 *
 * Hot path: allocation-free, integer arithmetic only.
 */
import { jhashFinal } from '../core/index.ts';

const JHASH_INITVAL = 0xdeadbeef;

function rol32(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/**
 * jhash2(k + off, len, initval): Bob Jenkins' lookup3 over `len` words of `k` starting at
 * `off`, exactly as the kernel computes it (words are taken as the CPU reads them, so callers
 * pass the little-endian view of the element's memory).
 */
export function jhash2(k: Uint32Array, off: number, len: number, initval: number): number {
  let a = (JHASH_INITVAL + (len << 2) + initval) | 0;
  let b = a;
  let c = a;
  let i = off;
  while (len > 3) {
    a = (a + k[i]!) | 0;
    b = (b + k[i + 1]!) | 0;
    c = (c + k[i + 2]!) | 0;
    // __jhash_mix(a, b, c)
    a = (a - c) | 0; a ^= rol32(c, 4); c = (c + b) | 0;
    b = (b - a) | 0; b ^= rol32(a, 6); a = (a + c) | 0;
    c = (c - b) | 0; c ^= rol32(b, 8); b = (b + a) | 0;
    a = (a - c) | 0; a ^= rol32(c, 16); c = (c + b) | 0;
    b = (b - a) | 0; b ^= rol32(a, 19); a = (a + c) | 0;
    c = (c - b) | 0; c ^= rol32(b, 4); b = (b + a) | 0;
    len -= 3;
    i += 3;
  }
  if (len === 0) return c >>> 0;
  if (len === 3) c = (c + k[i + 2]!) | 0;
  if (len >= 2) b = (b + k[i + 1]!) | 0;
  a = (a + k[i]!) | 0;
  return jhashFinal(a, b, c);
}

/** Byte-swaps a 32-bit word (ntohl/htonl on a little-endian host). */
export function bswap32(x: number): number {
  return (((x & 0xff) << 24) | ((x & 0xff00) << 8) | ((x >>> 8) & 0xff00) | (x >>> 24)) >>> 0;
}

/** Byte-swaps a 16-bit value. */
export function bswap16(x: number): number {
  return ((x & 0xff) << 8) | ((x >>> 8) & 0xff);
}
