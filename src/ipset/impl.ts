/**
 * The contract between the registry and one set type's implementation (hash, bitmap,
 * list): packet-path test/add/del, userspace add/del/test of element text, flush, save
 * lines, cloning. The registry wraps each implementation in a stable handle (`SetHandle`)
 * so `swap` can exchange contents under names the packet path already holds.
 */
import type { Packet } from '../packet/index.ts';
import type { AdtExt } from './types.ts';

/** Userspace commands on elements. */
export const ADT_ADD = 0;
export const ADT_DEL = 1;
export const ADT_TEST = 2;

export interface SetImpl {
  readonly type: number;
  readonly typeName: string;
  readonly family: 4 | 6 | 0;
  readonly dimensions: number;
  /** IPSET_TYPE_* feature bits (swap compatibility). */
  readonly features: number;
  /** Hot path: see IpSet.test. `dirs.length` ≥ dimensions and the family were not checked yet. */
  test(pkt: Packet, dirs: Uint8Array, nowMs: number): boolean;
  /** SET target add; returns false when nothing was added. */
  kadd(pkt: Packet, dirs: Uint8Array, nowMs: number, timeoutSec: number, exist: boolean): boolean;
  kdel(pkt: Packet, dirs: Uint8Array, nowMs: number): boolean;
  /**
   * Userspace add/del/test of one element text (the part after the set name). Throws
   * NfemuError with the tool's wording; returns the test result for ADT_TEST.
   */
  uadt(adt: number, elem: string, ext: AdtExt, exist: boolean, nowMs: number): boolean;
  /** Whether `add … nomatch` is accepted (net types). */
  readonly acceptsNomatch: boolean;
  flush(): void;
  /** Unexpired entries at `nowMs`. */
  count(nowMs: number): number;
  /** The options part of the `create` line (after "create NAME TYPE"). */
  createOptions(): string;
  /** The `add NAME …` lines in the kernel's listing order. */
  saveMembers(name: string, nowMs: number, out: string[]): void;
  /** Same type and same create parameters (the kernel's same_set, for `create -exist`). */
  sameSet(other: SetImpl): boolean;
  /** A deep copy; list:set members are mapped through `remap`. */
  clone(remap: (h: SetRef) => SetRef): SetImpl;
}

/** What a list:set holds for a member: the registry slot of a set, resolved on use. */
export interface SetRef {
  readonly name: string;
  impl: SetImpl | null;
}
