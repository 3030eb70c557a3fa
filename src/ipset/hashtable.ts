/**
 * The storage of the ipset hash types, modelled on net/netfilter/ipset/ip_set_hash_gen.h as of
 * Linux 6.x (before the rhashtable rewrite): 2^bits buckets chosen by
 * `jhash2(elem, initval) & mask`, each bucket an array grown by AHASH_INIT_SIZE up to
 * `bucketsize` slots with holes left by deletions, a doubling resize when a bucket is full,
 * the per-region element limits, and the list of stored prefix lengths for the net types.
 *
 * Why this model: `ipset save` lists elements in bucket order, so reproducing the kernel's
 * bucket and slot choices is what makes `save()` print the same lines in the same order as
 * the real tool (checked against a real kube-router dump). Keys are the element's memory as
 * the kernel hashes it, read as little-endian u32 words; lookups hash numbers only and
 * compare words, so the packet path allocates nothing.
 *
 * Not modelled: the kernel's periodic garbage collector (only the gc run that `add` does when
 * the set is full); it can change which hole a later add reuses, never what matches.
 */
import { jhash2 } from './jhash.ts';
import { ExtStore } from './ext.ts';
import { AHASH_INIT_SIZE, type AdtExt } from './types.ts';

export const HT_OK = 0;
export const HT_EXIST = 1;
export const HT_FULL = 2;
/** A bucket is full: the caller resizes (userspace) or gives up (SET target). */
export const HT_AGAIN = 3;

const HTABLE_REGION_BITS = 10;
/** Slots of a bucket live in arrays of this length; `size` is the kernel's allocation. */
const AHASH_MAX_TUNED = 64;

class Bucket {
  size: number;
  pos = 0;
  /** Entry id per position, -1 for an unused position. */
  readonly slot = new Int32Array(AHASH_MAX_TUNED).fill(-1);
  constructor(size: number) {
    this.size = size;
  }
  copy(): Bucket {
    const b = new Bucket(this.size);
    b.pos = this.pos;
    b.slot.set(this.slot);
    return b;
  }
}

/** Where the prefix length of a net type lives in its key: word, shift, mask, bias. */
export interface CidrSpec {
  readonly word: number;
  readonly shift: number;
  readonly mask: number;
  readonly bias: number;
}

export class HashTable {
  bits: number;
  /** 2^bits - 1. */
  private hmask: number;
  buckets: (Bucket | null)[];
  regionElements: Int32Array;
  /** Key words per entry id. */
  keys: Uint32Array;
  /** nomatch flag per entry id (net types). */
  nomatch: Uint8Array;
  /** 1 while the entry id is stored in a bucket. */
  live: Uint8Array;
  private freeIds: number[] = [];
  private nextId = 0;
  /** Stored prefix lengths, largest first (the kernel's h->nets[].cidr), and their counts. */
  netCidrs: Int32Array = new Int32Array(130);
  netLen = 0;
  netCount: Int32Array = new Int32Array(130);

  constructor(
    readonly kw: number,
    bits: number,
    readonly initval: number,
    readonly bucketsize: number,
    readonly maxelem: number,
    readonly forceadd: boolean,
    readonly ext: ExtStore,
    readonly cidr: CidrSpec | null,
  ) {
    this.bits = bits;
    this.hmask = (2 ** bits - 1) | 0;
    this.buckets = new Array<Bucket | null>(2 ** bits).fill(null);
    this.regionElements = new Int32Array(numLocks(bits));
    const cap = 16;
    this.keys = new Uint32Array(cap * kw);
    this.nomatch = new Uint8Array(cap);
    this.live = new Uint8Array(cap);
    ext.ensure(cap);
  }

  /** Number of buckets (what `ipset save` prints as hashsize). */
  get hashsize(): number {
    return 2 ** this.bits;
  }

  /** Bucket index of a key. Hot path. */
  bucketOf(k: Uint32Array, off: number): number {
    return (jhash2(k, off, this.kw, this.initval) & this.hmask) >>> 0;
  }

  private keyEquals(id: number, k: Uint32Array, off: number): boolean {
    const kw = this.kw;
    const base = id * kw;
    for (let i = 0; i < kw; i++) if (this.keys[base + i] !== k[off + i]) return false;
    return true;
  }

  /** Entry id of the element with this key (expired or not), or -1. Hot path. */
  lookup(k: Uint32Array, off: number): number {
    const b = this.buckets[this.bucketOf(k, off)];
    if (!b) return -1;
    for (let i = 0; i < b.pos; i++) {
      const id = b.slot[i]!;
      if (id >= 0 && this.keyEquals(id, k, off)) return id;
    }
    return -1;
  }

  /** The prefix length stored in an entry's key (net types). */
  cidrOf(id: number): number {
    const c = this.cidr!;
    return ((this.keys[id * this.kw + c.word]! >>> c.shift) & c.mask) + c.bias;
  }

  /**
   * mtype_add. `ext` null means a kernel-side add (SET target: counters start at one packet
   * of `length` bytes, timeout `timeoutSec`); otherwise a userspace add with `ext` and the
   * set's default `timeoutSec`.
   */
  add(k: Uint32Array, off: number, nomatch: boolean, exist: boolean, nowMs: number,
    ext: AdtExt | null, timeoutSec: number, length: number): number {
    const key = this.bucketOf(k, off);
    const locks = numLocks(this.bits);
    const r = key % locks;
    let elements = this.regionElements[r]!;
    let maxelem = Math.floor(this.maxelem / locks);
    let forceadd = false;
    if (elements >= maxelem) {
      if (this.ext.withTimeout) this.gcRegion(r, nowMs);
      maxelem = this.maxelem;
      elements = 0;
      for (let e = 0; e < locks; e++) elements += this.regionElements[e]!;
      if (elements >= maxelem && this.forceadd) forceadd = true;
    }
    let b = this.buckets[key] ?? null;
    let j = -1;
    if (b === null) {
      if (forceadd || elements >= maxelem) return HT_FULL;
      b = new Bucket(AHASH_INIT_SIZE);
      this.buckets[key] = b;
      j = b.pos++;
    } else {
      let deleted = false;
      let reuse = false;
      for (let i = 0; i < b.pos; i++) {
        const id = b.slot[i]!;
        if (id < 0) {
          if (j === -1) {
            deleted = reuse = true;
            j = i;
          }
          continue;
        }
        if (this.keyEquals(id, k, off)) {
          if (exist || this.ext.expired(id, nowMs)) {
            // Just the extensions are overwritten.
            this.nomatch[id] = nomatch ? 1 : 0;
            this.initExt(id, ext, timeoutSec, length, nowMs, false);
            return HT_OK;
          }
          return HT_EXIST;
        }
        if (j === -1 && this.ext.expired(id, nowMs)) {
          j = i;
          reuse = true;
        }
      }
      if (reuse || forceadd) {
        if (j === -1) j = 0;
        if (!deleted) {
          const old = b.slot[j]!;
          if (this.cidr) this.delCidr(this.cidrOf(old));
          this.freeId(old);
          b.slot[j] = -1;
          this.regionElements[r]!--;
        }
      } else {
        if (elements >= maxelem) return HT_FULL;
        if (b.pos >= b.size) {
          if (b.size >= this.bucketsize) return HT_AGAIN;
          b.size += AHASH_INIT_SIZE;
        }
        j = b.pos++;
      }
    }
    this.regionElements[r]!++;
    const id = this.allocId();
    this.keys.set(k.subarray(off, off + this.kw), id * this.kw);
    this.nomatch[id] = nomatch ? 1 : 0;
    this.live[id] = 1;
    if (this.cidr) this.addCidr(this.cidrOf(id));
    this.initExt(id, ext, timeoutSec, length, nowMs, true);
    b.slot[j] = id;
    return HT_OK;
  }

  private initExt(id: number, ext: AdtExt | null, timeoutSec: number, length: number, nowMs: number, fresh: boolean): void {
    if (ext === null) this.ext.initFromPacket(id, length, timeoutSec, nowMs);
    else this.ext.init(id, ext, timeoutSec, nowMs, fresh);
  }

  /** mtype_del: HT_OK, or HT_EXIST when the element is missing or expired. */
  del(k: Uint32Array, off: number, nowMs: number): number {
    const key = this.bucketOf(k, off);
    const b = this.buckets[key];
    if (!b) return HT_EXIST;
    const r = key % numLocks(this.bits);
    let unused = 0;
    for (let i = 0; i < b.pos; i++) {
      const id = b.slot[i]!;
      if (id < 0) {
        unused++;
        continue;
      }
      if (!this.keyEquals(id, k, off)) continue;
      if (this.ext.expired(id, nowMs)) return HT_EXIST;
      b.slot[i] = -1;
      if (i + 1 === b.pos) b.pos--;
      this.regionElements[r]!--;
      if (this.cidr) this.delCidr(this.cidrOf(id));
      this.freeId(id);
      for (; i < b.pos; i++) if (b.slot[i]! < 0) unused++;
      if (b.pos === 0 && unused === 0) {
        this.buckets[key] = null;
      } else if (unused >= AHASH_INIT_SIZE) {
        this.compact(b);
      }
      return HT_OK;
    }
    return HT_EXIST;
  }

  /** Drops the holes of a bucket and shrinks it by AHASH_INIT_SIZE (mtype_del / gc). */
  private compact(b: Bucket): void {
    let k = 0;
    for (let j = 0; j < b.pos; j++) {
      const id = b.slot[j]!;
      if (id >= 0) b.slot[k++] = id;
    }
    for (let j = k; j < b.slot.length; j++) b.slot[j] = -1;
    b.pos = k;
    b.size -= AHASH_INIT_SIZE;
  }

  /** mtype_gc_do for one region: removes expired entries, compacting buckets as it goes. */
  gcRegion(r: number, nowMs: number): void {
    const start = this.bits < HTABLE_REGION_BITS ? 0 : r * 2 ** HTABLE_REGION_BITS;
    const end = this.bits < HTABLE_REGION_BITS ? 2 ** this.bits : (r + 1) * 2 ** HTABLE_REGION_BITS;
    for (let i = start; i < end; i++) {
      const b = this.buckets[i];
      if (!b) continue;
      let d = 0;
      for (let j = 0; j < b.pos; j++) {
        const id = b.slot[j]!;
        if (id < 0) {
          d++;
          continue;
        }
        if (!this.ext.expired(id, nowMs)) continue;
        b.slot[j] = -1;
        if (this.cidr) this.delCidr(this.cidrOf(id));
        this.regionElements[r]!--;
        this.freeId(id);
        d++;
      }
      if (d >= AHASH_INIT_SIZE) {
        if (d >= b.size) this.buckets[i] = null;
        else this.compact(b);
      }
    }
  }

  /**
   * mtype_resize: doubles the table (again while a bucket would overflow) and rehashes the
   * unexpired entries in bucket order. False when the table cannot grow further.
   */
  resize(nowMs: number): boolean {
    let bits = this.bits;
    for (;;) {
      bits++;
      if (bits > 31) return false;
      const size = 2 ** bits;
      const locks = numLocks(bits);
      const nb = new Array<Bucket | null>(size).fill(null);
      const regions = new Int32Array(locks);
      let ok = true;
      outer: for (let i = 0; i < this.buckets.length; i++) {
        const b = this.buckets[i];
        if (!b) continue;
        for (let j = 0; j < b.pos; j++) {
          const id = b.slot[j]!;
          if (id < 0 || this.ext.expired(id, nowMs)) continue;
          const key = (jhash2(this.keys, id * this.kw, this.kw, this.initval) & (size - 1)) >>> 0;
          let m = nb[key];
          if (!m) {
            m = new Bucket(AHASH_INIT_SIZE);
            nb[key] = m;
          } else if (m.pos >= m.size) {
            if (m.size >= this.bucketsize) {
              ok = false;
              break outer;
            }
            m.size += AHASH_INIT_SIZE;
          }
          m.slot[m.pos++] = id;
          regions[key % locks]!++;
        }
      }
      if (!ok) continue;
      // Expired entries are dropped; like the kernel, their prefix lengths stay counted.
      for (const b of this.buckets) {
        if (!b) continue;
        for (let j = 0; j < b.pos; j++) {
          const id = b.slot[j]!;
          if (id >= 0 && this.ext.expired(id, nowMs)) this.freeId(id);
        }
      }
      this.bits = bits;
      this.hmask = (size - 1) | 0;
      this.buckets = nb;
      this.regionElements = regions;
      return true;
    }
  }

  /** Visits stored, unexpired entries in the kernel's listing order (mtype_list). */
  forEach(nowMs: number, visit: (id: number) => void): void {
    for (const b of this.buckets) {
      if (!b) continue;
      for (let j = 0; j < b.pos; j++) {
        const id = b.slot[j]!;
        if (id >= 0 && !this.ext.expired(id, nowMs)) visit(id);
      }
    }
  }

  /** Unexpired entries. */
  count(nowMs: number): number {
    let n = 0;
    this.forEach(nowMs, () => n++);
    return n;
  }

  /** mtype_flush: all buckets and prefix bookkeeping cleared; the size stays. */
  flush(): void {
    this.buckets.fill(null);
    this.regionElements.fill(0);
    this.live.fill(0);
    this.freeIds = [];
    this.nextId = 0;
    this.netLen = 0;
    this.netCount.fill(0);
    this.netCidrs.fill(0);
  }

  clone(ext: ExtStore): HashTable {
    const t = new HashTable(this.kw, this.bits, this.initval, this.bucketsize, this.maxelem, this.forceadd, ext, this.cidr);
    t.buckets = this.buckets.map((b) => (b ? b.copy() : null));
    t.regionElements = this.regionElements.slice();
    t.keys = this.keys.slice();
    t.nomatch = this.nomatch.slice();
    t.live = this.live.slice();
    t.freeIds = this.freeIds.slice();
    t.nextId = this.nextId;
    t.netCidrs = this.netCidrs.slice();
    t.netLen = this.netLen;
    t.netCount = this.netCount.slice();
    return t;
  }

  /** mtype_add_cidr: keeps the prefix lengths sorted, largest first. */
  private addCidr(c: number): void {
    if (this.netCount[c]! > 0) {
      this.netCount[c]!++;
      return;
    }
    let i = 0;
    while (i < this.netLen && this.netCidrs[i]! > c) i++;
    for (let j = this.netLen; j > i; j--) this.netCidrs[j] = this.netCidrs[j - 1]!;
    this.netCidrs[i] = c;
    this.netLen++;
    this.netCount[c] = 1;
  }

  private delCidr(c: number): void {
    if (this.netCount[c]! <= 0) return;
    if (--this.netCount[c]! > 0) return;
    let i = 0;
    while (i < this.netLen && this.netCidrs[i] !== c) i++;
    for (let j = i; j < this.netLen - 1; j++) this.netCidrs[j] = this.netCidrs[j + 1]!;
    this.netLen--;
  }

  private allocId(): number {
    const id = this.freeIds.length > 0 ? this.freeIds.pop()! : this.nextId++;
    if (id >= this.live.length) {
      const n = this.live.length * 2;
      const keys = new Uint32Array(n * this.kw);
      keys.set(this.keys);
      this.keys = keys;
      const nm = new Uint8Array(n);
      nm.set(this.nomatch);
      this.nomatch = nm;
      const lv = new Uint8Array(n);
      lv.set(this.live);
      this.live = lv;
      this.ext.ensure(n);
    }
    return id;
  }

  private freeId(id: number): void {
    this.live[id] = 0;
    this.freeIds.push(id);
  }
}

/** ahash_numof_locks: one region per 2^10 buckets. */
function numLocks(bits: number): number {
  return bits < HTABLE_REGION_BITS ? 1 : 2 ** (bits - HTABLE_REGION_BITS);
}
