/**
 * Seeded randomness. Leaf module: no imports here.
 *
 * nfemu never reads ambient randomness: every random choice (statistic --mode random, NAT
 * port selection with --random, IPVS tie breaks) draws from an Rng passed in by the caller.
 */

/** A source of uniformly distributed 32-bit words. */
export interface Rng {
  /** Next uniformly distributed unsigned 32-bit integer. Hot path: allocation-free. */
  nextU32(): number;
}

/**
 * xoshiro128** seeded through splitmix32: fast, small state, good statistical quality.
 * The same seed always yields the same sequence.
 */
export class SeededRng implements Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    let s = seed >>> 0;
    const next = (): number => {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = next();
    this.b = next();
    this.c = next();
    this.d = next();
    if ((this.a | this.b | this.c | this.d) === 0) this.a = 1;
  }

  nextU32(): number {
    const result = Math.imul(rotl(Math.imul(this.b, 5), 7), 9) >>> 0;
    const t = this.b << 9;
    this.c ^= this.a;
    this.d ^= this.b;
    this.b ^= this.c;
    this.a ^= this.d;
    this.c ^= t;
    this.d = rotl(this.d, 11);
    return result;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/**
 * An Rng that returns a fixed script of words, then repeats the last one. Used to force
 * a particular branch of a random rule (outcome enumeration) and in tests.
 */
export class ScriptedRng implements Rng {
  private i = 0;
  constructor(private readonly words: readonly number[]) {
    if (words.length === 0) throw new Error('ScriptedRng needs at least one word');
  }
  nextU32(): number {
    const w = this.words[Math.min(this.i, this.words.length - 1)]!;
    this.i++;
    return w >>> 0;
  }
}

/** Uniform integer in [0, n) from one word (n ≤ 2^32), as the kernel's reciprocal_scale does. */
export function scaleU32(word: number, n: number): number {
  return Math.floor(((word >>> 0) * n) / 4294967296);
}
