/**
 * list:set (net/netfilter/ipset/ip_set_list_set.c): an ordered list of other sets. A packet
 * matches when any member set matches it, tried in list order, each with its own dimensions
 * and family; `add … before|after REF` places a member relative to another. Like current
 * kernels, `size` is kept and printed but not enforced.
 */
import type { Packet } from '../packet/index.ts';
import { ExtStore } from './ext.ts';
import { ADT_ADD, ADT_DEL, ADT_TEST, type SetImpl, type SetRef } from './impl.ts';
import {
  IP_SET_LIST_DEFAULT_SIZE, IP_SET_LIST_MIN_SIZE, MSG, TYPE_FEATURES, TYPE_LIST_SET, FEATURE_NAME,
  kernelError, syntaxError, type AdtExt, type CreateOptions,
} from './types.ts';

/** Looks a set up by name in the owning registry. */
export type SetResolver = (name: string) => SetRef | null;

interface Member {
  ref: SetRef;
  /** Entry id in the extension store. */
  id: number;
}

export class ListSet implements SetImpl {
  readonly type = TYPE_LIST_SET;
  readonly typeName = 'list:set';
  readonly family = 0;
  readonly dimensions = 1;
  readonly features = TYPE_FEATURES[TYPE_LIST_SET]!;
  readonly acceptsNomatch = false;
  members: Member[] = [];
  private nextId = 0;
  private freeIds: number[] = [];
  /** Set by the registry that owns this set. */
  resolve: SetResolver = () => null;

  private constructor(
    private readonly size: number,
    private readonly timeout: number,
    public ext: ExtStore,
  ) {}

  static create(o: CreateOptions): ListSet {
    let size = o.size >= 0 ? o.size : IP_SET_LIST_DEFAULT_SIZE;
    if (size < IP_SET_LIST_MIN_SIZE) size = IP_SET_LIST_MIN_SIZE;
    return new ListSet(size, o.timeout, new ExtStore(o.timeout >= 0, o.counters, o.comment, o.skbinfo, 8));
  }

  /** Whether this list holds `ref` (for the registry's reference counts). */
  references(ref: SetRef): boolean {
    for (const m of this.members) if (m.ref === ref) return true;
    return false;
  }

  test(pkt: Packet, dirs: Uint8Array, nowMs: number): boolean {
    const ms = this.members;
    for (let i = 0; i < ms.length; i++) {
      const m = ms[i]!;
      if (this.ext.expired(m.id, nowMs)) continue;
      const impl = m.ref.impl;
      if (impl === null || dirs.length < impl.dimensions) continue;
      if (impl.family !== 0 && impl.family !== pkt.family) continue;
      if (!impl.test(pkt, dirs, nowMs)) continue;
      if (this.ext.matchHit(m.id, nowMs, pkt.length)) return true;
    }
    return false;
  }

  kadd(pkt: Packet, dirs: Uint8Array, nowMs: number, timeoutSec: number, exist: boolean): boolean {
    for (const m of this.members) {
      if (this.ext.expired(m.id, nowMs)) continue;
      const impl = m.ref.impl;
      if (impl === null || dirs.length < impl.dimensions) continue;
      if (impl.family !== 0 && impl.family !== pkt.family) continue;
      if (impl.kadd(pkt, dirs, nowMs, timeoutSec, exist)) return true;
    }
    return false;
  }

  kdel(pkt: Packet, dirs: Uint8Array, nowMs: number): boolean {
    for (const m of this.members) {
      if (this.ext.expired(m.id, nowMs)) continue;
      const impl = m.ref.impl;
      if (impl === null || dirs.length < impl.dimensions) continue;
      if (impl.family !== 0 && impl.family !== pkt.family) continue;
      if (impl.kdel(pkt, dirs, nowMs)) return true;
    }
    return false;
  }

  uadt(adt: number, elem: string, ext: AdtExt, exist: boolean, nowMs: number): boolean {
    if (adt === ADT_ADD) this.ext.check(ext);
    if (elem.includes(',')) throw syntaxError(`Elem separator in ${elem}, but settype list:set supports none.`, elem);
    const ref = this.resolve(elem);
    if (ref === null || ref.impl === null) throw kernelError(MSG.listName, elem);
    if (ref.impl.features & FEATURE_NAME) throw kernelError(MSG.listLoop, elem);
    let before = ext.before;
    if (before !== 0 && ext.ref === null) throw kernelError(MSG.listBefore);
    let refSet: SetRef | null = null;
    if (ext.ref !== null) {
      refSet = this.resolve(ext.ref);
      if (refSet === null) throw kernelError(MSG.listNameref, ext.ref);
      if (before === 0) before = -1;
    }
    // Expired members are dropped first (set_cleanup_entries), except for tests.
    if (adt !== ADT_TEST && this.ext.withTimeout) {
      this.members = this.members.filter((m) => {
        if (!this.ext.expired(m.id, nowMs)) return true;
        this.freeIds.push(m.id);
        return false;
      });
    }
    if (adt === ADT_ADD) return this.uadd(ref, before, refSet, ext, exist, nowMs);
    if (adt === ADT_DEL) return this.udel(ref, before, refSet, exist, nowMs);
    return this.utest(ref, before, refSet, nowMs);
  }

  private live(i: number, nowMs: number): boolean {
    return !this.ext.expired(this.members[i]!.id, nowMs);
  }

  /** list_set_uadd. */
  private uadd(ref: SetRef, before: number, refSet: SetRef | null, ext: AdtExt, exist: boolean, nowMs: number): boolean {
    const ms = this.members;
    let n = -1;
    let prev = -1;
    let next = -1;
    for (let i = 0; i < ms.length; i++) {
      if (!this.live(i, nowMs)) continue;
      if (ms[i]!.ref === ref) n = i;
      else if (before === 0 || ms[i]!.ref !== refSet) continue;
      else if (before > 0) next = i;
      else prev = i;
    }
    if ((before > 0 && next < 0) || (before < 0 && prev < 0)) throw kernelError(MSG.listRefExist);
    if (n >= 0) {
      if (!exist) throw kernelError(MSG.addExists);
      this.ext.init(ms[n]!.id, ext, Math.max(0, this.timeout), nowMs, false);
      return true;
    }
    // A timed-out neighbour at the insertion point is replaced rather than kept.
    let victim = -1;
    if (before === 0) victim = ms.length - 1;
    else if (before > 0) victim = next + 1 < ms.length ? next + 1 : -1;
    else victim = prev - 1;
    if (victim >= 0 && !(this.ext.withTimeout && !this.live(victim, nowMs))) victim = -1;
    const id = this.freeIds.length > 0 ? this.freeIds.pop()! : this.nextId++;
    this.ext.ensure(id + 1);
    this.ext.init(id, ext, Math.max(0, this.timeout), nowMs, true);
    const member: Member = { ref, id };
    if (victim >= 0) {
      this.freeIds.push(ms[victim]!.id);
      ms[victim] = member;
    } else if (next >= 0) ms.splice(next, 0, member);
    else if (prev >= 0) ms.splice(prev + 1, 0, member);
    else ms.push(member);
    return true;
  }

  /** list_set_udel. */
  private udel(ref: SetRef, before: number, refSet: SetRef | null, exist: boolean, nowMs: number): boolean {
    const ms = this.members;
    let prev = -1;
    for (let i = 0; i < ms.length; i++) {
      if (!this.live(i, nowMs)) continue;
      if (ms[i]!.ref !== ref) {
        prev = i;
        continue;
      }
      if (before > 0) {
        if (i + 1 >= ms.length || ms[i + 1]!.ref !== refSet) throw kernelError(MSG.listRefExist);
      } else if (before < 0) {
        if (prev < 0 || ms[prev]!.ref !== refSet) throw kernelError(MSG.listRefExist);
      }
      this.freeIds.push(ms[i]!.id);
      ms.splice(i, 1);
      return true;
    }
    if (before !== 0) throw kernelError(MSG.listRefExist);
    if (!exist) throw kernelError(MSG.delMissing);
    return false;
  }

  /** list_set_utest. */
  private utest(ref: SetRef, before: number, refSet: SetRef | null, nowMs: number): boolean {
    const ms = this.members;
    let prev = -1;
    for (let i = 0; i < ms.length; i++) {
      if (!this.live(i, nowMs)) continue;
      if (ms[i]!.ref !== ref) {
        prev = i;
        continue;
      }
      if (before === 0) return true;
      if (before > 0) return i + 1 < ms.length && ms[i + 1]!.ref === refSet;
      return prev >= 0 && ms[prev]!.ref === refSet;
    }
    return false;
  }

  flush(): void {
    this.members = [];
    this.freeIds = [];
    this.nextId = 0;
  }

  count(nowMs: number): number {
    let n = 0;
    for (let i = 0; i < this.members.length; i++) if (this.live(i, nowMs)) n++;
    return n;
  }

  createOptions(): string {
    let s = ` size ${this.size}`;
    if (this.timeout >= 0) s += ` timeout ${this.timeout}`;
    if (this.ext.withCounters) s += ' counters';
    if (this.ext.withComment) s += ' comment';
    if (this.ext.withSkbinfo) s += ' skbinfo';
    return s;
  }

  saveMembers(name: string, nowMs: number, out: string[]): void {
    for (let i = 0; i < this.members.length; i++) {
      if (!this.live(i, nowMs)) continue;
      const m = this.members[i]!;
      out.push(`add ${name} ${m.ref.name}${this.ext.format(m.id, nowMs, false)}`);
    }
  }

  sameSet(other: SetImpl): boolean {
    return other instanceof ListSet && other.size === this.size && other.timeout === this.timeout &&
      other.ext.withCounters === this.ext.withCounters && other.ext.withComment === this.ext.withComment &&
      other.ext.withSkbinfo === this.ext.withSkbinfo;
  }

  clone(remap: (h: SetRef) => SetRef): SetImpl {
    const c = new ListSet(this.size, this.timeout, this.ext.clone());
    c.members = this.members.map((m) => ({ ref: remap(m.ref), id: m.id }));
    c.nextId = this.nextId;
    c.freeIds = this.freeIds.slice();
    c.resolve = this.resolve;
    return c;
  }
}
