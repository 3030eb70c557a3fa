/**
 * Small numeric hashes for hash tables keyed by tuples. Leaf module: no imports here.
 */

/** Bob Jenkins' final mix of three words (the kernel's __jhash_final). */
export function jhashFinal(a: number, b: number, c: number): number {
  c ^= b; c = (c - rol32(b, 14)) | 0;
  a ^= c; a = (a - rol32(c, 11)) | 0;
  b ^= a; b = (b - rol32(a, 25)) | 0;
  c ^= b; c = (c - rol32(b, 16)) | 0;
  a ^= c; a = (a - rol32(c, 4)) | 0;
  b ^= a; b = (b - rol32(a, 14)) | 0;
  c ^= b; c = (c - rol32(b, 24)) | 0;
  return c >>> 0;
}

/** The kernel's jhash_3words(a, b, c, initval). */
export function jhash3(a: number, b: number, c: number, initval: number): number {
  const iv = (0xdeadbeef + (3 << 2) + initval) | 0;
  return jhashFinal((a + iv) | 0, (b + iv) | 0, (c + iv) | 0);
}

/** The kernel's jhash_2words / jhash_1word. */
export function jhash2(a: number, b: number, initval: number): number {
  const iv = (0xdeadbeef + (2 << 2) + initval) | 0;
  return jhashFinal((a + iv) | 0, (b + iv) | 0, iv);
}
export function jhash1(a: number, initval: number): number {
  const iv = (0xdeadbeef + (1 << 2) + initval) | 0;
  return jhashFinal((a + iv) | 0, iv, iv);
}

function rol32(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** A 32-bit FNV-1a over a string, for configuration-time keys (never per packet). */
export function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
