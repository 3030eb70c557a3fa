/**
 * The scheduler hashes against the kernel: hsiphash against lib/siphash_kunit.c's 64-bit
 * vectors (test_vectors_hsiphash, key 00..0f), hash_32 against include/linux/hash.h worked
 * by hand.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { fls, gcd, hash32, hsiphashBytes, hsiphashKey, hsiphashU32 } from '../../src/ipvs/index.ts';

const KEY = hsiphashKey(0x0706050403020100n, 0x0f0e0d0c0b0a0908n);
// lib/siphash_kunit.c, BITS_PER_LONG == 64: hsiphash(in, i) for in = 00 01 .. (i-1).
const VECTORS = [
  0x050fc4dc, 0x7d57ca93, 0x4dc7d44d, 0xe7ddf7fb, 0x88d38328, 0x49533b67, 0xc59f22a7, 0x9bb11140, 0x8d299a8e,
  0x6c063de4, 0x92ff097f, 0xf94dc352, 0x57b4d9a2, 0x1229ffa7, 0xc0f95d34, 0x2a519956, 0x7d908b66, 0x63dbd80c,
];

test('hsiphash matches the kernel self-test vectors (lengths 0..17)', () => {
  VECTORS.forEach((v, n) => {
    const d = Uint8Array.from({ length: n }, (_, i) => i);
    assert.is(hsiphashBytes(d, KEY), v, `length ${n}`);
  });
});

test('hsiphash of one u32 equals the 4-byte little-endian input (what ip_vs_mh.c hashes)', () => {
  assert.is(hsiphashU32(0x03020100, KEY), 0x88d38328);
});

test('hash_32 is the top bits of val * 0x61C88647', () => {
  // 0x0A000001 * 0x61C88647 mod 2^32 = 0x61C88647 + 0xC6000000 = 0x27C88647 -> top byte 0x27.
  assert.is(hash32(0x0a000001, 8), 0x27);
  // 0xC0A80101 * 0x61C88647 mod 2^32 = 0x2A4ECD47 + 0x5E980000 = 0x88E6CD47 -> 0x88.
  assert.is(hash32(0xc0a80101, 8), 0x88);
  assert.is(hash32(1, 32), 0x61c88647);
});

test('gcd and fls', () => {
  assert.is(gcd(12, 18), 6);
  assert.is(gcd(7, 3), 1);
  assert.is(fls(0), 0);
  assert.is(fls(1), 1);
  assert.is(fls(64), 7);
});

test.run();
