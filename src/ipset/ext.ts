/**
 * Element extensions (the kernel's ip_set_ext: timeout, counters, comment, skbinfo), kept in
 * columns indexed by entry id so the packet path reads numbers only.
 *
 * Timeouts are absolute expiry times in ms on the caller's clock; PERMANENT never expires.
 * Like ip_set_timeout_expired(), an entry is expired once `now > expiry`; `ipset save` prints
 * the whole seconds left, and 1 rather than 0 (ip_set_timeout_get).
 */
import { IPSET_MAX_TIMEOUT, MSG, kernelError, type AdtExt } from './types.ts';

export const PERMANENT = -1;

export class ExtStore {
  expires: Float64Array;
  packets: Float64Array;
  bytes: Float64Array;
  comments: (string | null)[];
  skbmark: Uint32Array;
  skbmarkmask: Uint32Array;
  skbprio: Uint32Array;
  skbqueue: Uint32Array;

  constructor(
    readonly withTimeout: boolean,
    readonly withCounters: boolean,
    readonly withComment: boolean,
    readonly withSkbinfo: boolean,
    cap: number,
  ) {
    this.expires = new Float64Array(cap);
    this.packets = new Float64Array(cap);
    this.bytes = new Float64Array(cap);
    this.comments = new Array<string | null>(cap).fill(null);
    this.skbmark = new Uint32Array(cap);
    this.skbmarkmask = new Uint32Array(cap);
    this.skbprio = new Uint32Array(cap);
    this.skbqueue = new Uint32Array(cap);
  }

  /** Grows the columns to hold at least `cap` entries. */
  ensure(cap: number): void {
    if (cap <= this.expires.length) return;
    let n = Math.max(8, this.expires.length);
    while (n < cap) n *= 2;
    this.expires = growF64(this.expires, n);
    this.packets = growF64(this.packets, n);
    this.bytes = growF64(this.bytes, n);
    while (this.comments.length < n) this.comments.push(null);
    this.skbmark = growU32(this.skbmark, n);
    this.skbmarkmask = growU32(this.skbmarkmask, n);
    this.skbprio = growU32(this.skbprio, n);
    this.skbqueue = growU32(this.skbqueue, n);
  }

  /**
   * Rejects extensions the set was not created for, with the kernel's wording
   * (ip_set_get_extensions).
   */
  check(ext: AdtExt): void {
    if (ext.timeout >= 0 && !this.withTimeout) throw kernelError(MSG.noTimeout);
    if ((ext.packets >= 0 || ext.bytes >= 0) && !this.withCounters) throw kernelError(MSG.noCounters);
    if (ext.comment !== null && !this.withComment) throw kernelError(MSG.noComment);
    if ((ext.hasSkbmark || ext.skbprio >= 0 || ext.skbqueue >= 0) && !this.withSkbinfo) throw kernelError(MSG.noSkbinfo);
  }

  /**
   * Sets the extensions of entry `id` for a userspace add; `fresh` is false for an `-exist`
   * re-add of an entry already there, whose counters ip_set_init_counter() keeps unless given.
   */
  init(id: number, ext: AdtExt, defaultTimeout: number, nowMs: number, fresh: boolean): void {
    if (this.withCounters) {
      if (ext.packets >= 0) this.packets[id] = ext.packets;
      else if (fresh) this.packets[id] = 0;
      if (ext.bytes >= 0) this.bytes[id] = ext.bytes;
      else if (fresh) this.bytes[id] = 0;
    }
    if (this.withComment) this.comments[id] = ext.comment;
    if (this.withSkbinfo) {
      this.skbmark[id] = ext.hasSkbmark ? ext.skbmark : 0;
      this.skbmarkmask[id] = ext.hasSkbmark ? ext.skbmarkmask : 0;
      this.skbprio[id] = ext.skbprio >= 0 ? ext.skbprio : 0;
      this.skbqueue[id] = ext.skbqueue >= 0 ? ext.skbqueue : 0;
    }
    if (this.withTimeout) this.setTimeout(id, ext.timeout >= 0 ? ext.timeout : defaultTimeout, nowMs);
  }

  /** Extensions of an entry added by the SET target (IP_SET_INIT_KEXT: packets 1, bytes len). */
  initFromPacket(id: number, length: number, timeoutSec: number, nowMs: number): void {
    if (this.withCounters) {
      this.packets[id] = 1;
      this.bytes[id] = length;
    }
    if (this.withComment) this.comments[id] = null;
    if (this.withSkbinfo) {
      this.skbmark[id] = 0;
      this.skbmarkmask[id] = 0;
      this.skbprio[id] = 0;
      this.skbqueue[id] = 0;
    }
    if (this.withTimeout) this.setTimeout(id, timeoutSec, nowMs);
  }

  /** ip_set_timeout_set: 0 = permanent, otherwise now + seconds (capped as the kernel does). */
  setTimeout(id: number, seconds: number, nowMs: number): void {
    const s = Math.min(seconds, IPSET_MAX_TIMEOUT);
    this.expires[id] = s === 0 ? PERMANENT : nowMs + s * 1000;
  }

  /** Whether entry `id` has timed out at `nowMs`. Hot path. */
  expired(id: number, nowMs: number): boolean {
    if (!this.withTimeout) return false;
    const t = this.expires[id]!;
    return t !== PERMANENT && nowMs > t;
  }

  /**
   * ip_set_match_extensions for a test hit: false when expired, otherwise updates the
   * counters by one packet of `length` bytes and returns true. Hot path.
   */
  matchHit(id: number, nowMs: number, length: number): boolean {
    if (this.withTimeout) {
      const t = this.expires[id]!;
      if (t !== PERMANENT && nowMs > t) return false;
    }
    if (this.withCounters) {
      this.packets[id] = this.packets[id]! + 1;
      this.bytes[id] = this.bytes[id]! + length;
    }
    return true;
  }

  /** Seconds left as `ipset save` prints them (0 for permanent entries). */
  remaining(id: number, nowMs: number): number {
    const t = this.expires[id]!;
    if (t === PERMANENT) return 0;
    const s = Math.floor((t - nowMs) / 1000);
    return s <= 0 ? 1 : s;
  }

  /**
   * The extension part of an `add` line, in the ipset tool's order (type ADD args: timeout,
   * [nomatch], packets, bytes, comment, skbmark, skbprio, skbqueue). Config-time only.
   */
  format(id: number, nowMs: number, nomatch: boolean): string {
    let s = '';
    if (this.withTimeout) s += ` timeout ${this.remaining(id, nowMs)}`;
    if (nomatch) s += ' nomatch';
    if (this.withCounters) s += ` packets ${this.packets[id]} bytes ${this.bytes[id]}`;
    if (this.withComment && this.comments[id] !== null) s += ` comment "${this.comments[id]}"`;
    if (this.withSkbinfo) {
      const mark = this.skbmark[id]!;
      const mask = this.skbmarkmask[id]!;
      // ip_set_put_skbinfo sends non-zero parameters only.
      if (mark !== 0 || mask !== 0) {
        s += mask === 0xffffffff ? ` skbmark 0x${mark.toString(16)}` : ` skbmark 0x${mark.toString(16)}/0x${mask.toString(16)}`;
      }
      const prio = this.skbprio[id]!;
      if (prio !== 0) s += ` skbprio ${(prio >>> 16).toString(16)}:${(prio & 0xffff).toString(16)}`;
      const queue = this.skbqueue[id]!;
      if (queue !== 0) s += ` skbqueue ${queue}`;
    }
    return s;
  }

  /** Copies every column of entry `src` of `from` into entry `dst` of this store. */
  copyEntry(dst: number, from: ExtStore, src: number): void {
    this.expires[dst] = from.expires[src]!;
    this.packets[dst] = from.packets[src]!;
    this.bytes[dst] = from.bytes[src]!;
    this.comments[dst] = from.comments[src]!;
    this.skbmark[dst] = from.skbmark[src]!;
    this.skbmarkmask[dst] = from.skbmarkmask[src]!;
    this.skbprio[dst] = from.skbprio[src]!;
    this.skbqueue[dst] = from.skbqueue[src]!;
  }

  clone(): ExtStore {
    const c = new ExtStore(this.withTimeout, this.withCounters, this.withComment, this.withSkbinfo, 0);
    c.expires = this.expires.slice();
    c.packets = this.packets.slice();
    c.bytes = this.bytes.slice();
    c.comments = this.comments.slice();
    c.skbmark = this.skbmark.slice();
    c.skbmarkmask = this.skbmarkmask.slice();
    c.skbprio = this.skbprio.slice();
    c.skbqueue = this.skbqueue.slice();
    return c;
  }
}

function growF64(a: Float64Array, n: number): Float64Array {
  const b = new Float64Array(n);
  b.set(a);
  return b;
}

function growU32(a: Uint32Array, n: number): Uint32Array {
  const b = new Uint32Array(n);
  b.set(a);
  return b;
}
