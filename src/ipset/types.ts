/**
 * ipset vocabulary: set types, the public `IpSet` contract, the parsed forms of `create`
 * options and of element extensions, and the ipset tool's error wording
 * (ipset lib/errcode.c, kernel include/uapi/linux/netfilter/ipset/ip_set*.h).
 */
import { NfemuError } from '../core/index.ts';
import type { Packet } from '../packet/index.ts';

/** Set types (closed set). */
export const TYPE_HASH_IP = 0;
export const TYPE_HASH_IPPORT = 1;
export const TYPE_HASH_IPPORTIP = 2;
export const TYPE_HASH_IPPORTNET = 3;
export const TYPE_HASH_NET = 4;
export const TYPE_HASH_NETPORT = 5;
export const TYPE_BITMAP_IP = 6;
export const TYPE_BITMAP_PORT = 7;
export const TYPE_LIST_SET = 8;
export const NUM_TYPES = 9;

/** Type names as `ipset save` prints them, indexed by TYPE_*. */
export const TYPE_NAMES: readonly string[] = [
  'hash:ip', 'hash:ip,port', 'hash:ip,port,ip', 'hash:ip,port,net', 'hash:net', 'hash:net,port',
  'bitmap:ip', 'bitmap:port', 'list:set',
];

/** Aliases the ipset tool accepts on `create` (old 4.x names). */
const TYPE_ALIASES: ReadonlyArray<readonly [string, number]> = [
  ['iphash', TYPE_HASH_IP], ['ipporthash', TYPE_HASH_IPPORT], ['ipportiphash', TYPE_HASH_IPPORTIP],
  ['ipportnethash', TYPE_HASH_IPPORTNET], ['nethash', TYPE_HASH_NET], ['netporthash', TYPE_HASH_NETPORT],
  ['ipmap', TYPE_BITMAP_IP], ['portmap', TYPE_BITMAP_PORT], ['setlist', TYPE_LIST_SET],
];

/** Number of dimensions of each type (the kernel's `.dimension`). */
export const TYPE_DIMS: readonly number[] = [1, 2, 3, 3, 1, 2, 1, 1, 1];

/** Kernel feature bits (IPSET_TYPE_*): `swap` requires equal features and family. */
export const FEATURE_IP = 0x01;
export const FEATURE_IP2 = 0x02;
export const FEATURE_IP3 = 0x04;
export const FEATURE_PORT = 0x08;
export const FEATURE_NAME = 0x40;
export const FEATURE_NOMATCH = 0x100;
export const TYPE_FEATURES: readonly number[] = [
  FEATURE_IP,
  FEATURE_IP | FEATURE_PORT,
  FEATURE_IP | FEATURE_PORT | FEATURE_IP2,
  FEATURE_IP | FEATURE_PORT | FEATURE_IP2 | FEATURE_NOMATCH,
  FEATURE_IP | FEATURE_NOMATCH,
  FEATURE_IP | FEATURE_PORT | FEATURE_NOMATCH,
  FEATURE_IP,
  FEATURE_PORT,
  FEATURE_NAME,
];

/** Whether the type stores prefixes (the IP_SET_HASH_WITH_NETS types, which honour nomatch). */
export function isNetType(type: number): boolean {
  return type === TYPE_HASH_IPPORTNET || type === TYPE_HASH_NET || type === TYPE_HASH_NETPORT;
}

export function isHashType(type: number): boolean {
  return type <= TYPE_HASH_NETPORT;
}

/** TYPE_* for a type name or alias; -1 when unknown. */
export function typeByName(name: string): number {
  const i = TYPE_NAMES.indexOf(name);
  if (i >= 0) return i;
  for (const [alias, t] of TYPE_ALIASES) if (alias === name) return t;
  return -1;
}

/** Kernel defaults (include/linux/netfilter/ipset/ip_set.h, ip_set_hash_gen.h, ip_set_list.h). */
export const IPSET_DEFAULT_HASHSIZE = 1024;
export const IPSET_MIMINAL_HASHSIZE = 64;
export const IPSET_DEFAULT_MAXELEM = 65536;
export const AHASH_INIT_SIZE = 2;
export const AHASH_MAX_SIZE = 12;
export const IP_SET_LIST_DEFAULT_SIZE = 8;
export const IP_SET_LIST_MIN_SIZE = 4;
export const IPSET_MAXNAMELEN = 32;
export const IPSET_MAX_COMMENT_SIZE = 255;
/** Largest timeout the kernel keeps: (UINT_MAX >> 1) / MSEC_PER_SEC seconds. */
export const IPSET_MAX_TIMEOUT = Math.floor(0x7fffffff / 1000);
/** Largest bitmap (IPSET_BITMAP_MAX_RANGE + 1 elements). */
export const IPSET_BITMAP_MAX_RANGE = 0x10000;
/** Largest number of elements one `add`/`del` range may expand to (IPSET_MAX_RANGE). */
export const IPSET_MAX_RANGE = 1 << 20;

/**
 * One IP set as the kernel keeps it, seen from the packet path.
 *
 * `dirs` holds one entry per dimension of the `--match-set`/`--add-set` flags: 1 = `src`,
 * 0 = `dst`. Like the kernel (ip_set_test), fewer flags than the set has dimensions never
 * match, and extra flags are ignored.
 */
export interface IpSet {
  readonly name: string;
  /** "hash:ip,port" etc. */
  readonly typeName: string;
  /** 4 or 6 for sets of one family; 0 for bitmap:port and list:set (NFPROTO_UNSPEC). */
  readonly family: 4 | 6 | 0;
  readonly dimensions: number;
  /**
   * Hot path, allocation-free: does the packet, read along `dirs`, match a member (nomatch
   * entries of net types and expired entries honoured, counters updated as the kernel does)?
   * list:set: any member set matches (with its own dimensions). False on a family mismatch.
   */
  test(pkt: Packet, dirs: Uint8Array, nowMs: number): boolean;
  /**
   * SET target `--add-set`: adds the element built from the packet. `timeoutSec` overrides the
   * set's default timeout (`--timeout`); `exist` is `--exist` (re-adding refreshes the
   * timeout and counters). Failures are silent, as in the kernel target.
   */
  add(pkt: Packet, dirs: Uint8Array, nowMs: number, timeoutSec?: number, exist?: boolean): void;
  /** SET target `--del-set`; silent when the element is not there. */
  del(pkt: Packet, dirs: Uint8Array, nowMs: number): void;
  /** Number of (unexpired) entries, at the registry's clock. */
  readonly size: number;
}

/** `create` options after parsing; -1 / false = not given. */
export interface CreateOptions {
  family: 4 | 6;
  hashsize: number;
  maxelem: number;
  /** Default timeout in seconds (0 = permanent but timeouts enabled), -1 = no timeout support. */
  timeout: number;
  counters: boolean;
  comment: boolean;
  forceadd: boolean;
  skbinfo: boolean;
  bucketsize: number;
  initval: number;
  /** hash:ip / bitmap:ip netmask (prefix length), -1 = host mask. */
  netmask: number;
  /** bitmap:ip range (host-order IPv4) / bitmap:port range. */
  rangeFrom: number;
  rangeTo: number;
  hasRange: boolean;
  /** list:set size. */
  size: number;
}

export function defaultCreateOptions(): CreateOptions {
  return {
    family: 4, hashsize: -1, maxelem: -1, timeout: -1, counters: false, comment: false,
    forceadd: false, skbinfo: false, bucketsize: -1, initval: -1, netmask: -1,
    rangeFrom: 0, rangeTo: 0, hasRange: false, size: -1,
  };
}

/** Element extensions given on `add` (IP_SET_INIT_UEXT); -1 / null = not given. */
export interface AdtExt {
  timeout: number;
  packets: number;
  bytes: number;
  comment: string | null;
  skbmark: number;
  skbmarkmask: number;
  hasSkbmark: boolean;
  skbprio: number;
  skbqueue: number;
  nomatch: boolean;
  /** list:set: 1 = before `ref`, -1 = after `ref`, 0 = append. */
  before: number;
  ref: string | null;
}

export function emptyAdtExt(): AdtExt {
  return {
    timeout: -1, packets: -1, bytes: -1, comment: null, skbmark: 0, skbmarkmask: 0,
    hasSkbmark: false, skbprio: -1, skbqueue: -1, nomatch: false, before: 0, ref: null,
  };
}

/** The ipset tool's messages for kernel error codes (lib/errcode.c). */
export const MSG = {
  noSet: 'The set with the given name does not exist',
  setExists: 'Set cannot be created: set with the same name already exists',
  invalidNetmask: 'The value of the netmask parameter is invalid',
  invalidFamily: 'Protocol family not supported by the set type',
  busy: 'Set cannot be destroyed: it is in use by a kernel component',
  renameExists: 'Set cannot be renamed: a set with the new name already exists',
  renameReferenced: 'Set cannot be renamed: it is in use by another system',
  swapNoSecond: 'Sets cannot be swapped: the second set does not exist',
  swapMismatch: 'The sets cannot be swapped: their type does not match',
  invalidCidr: 'The value of the CIDR parameter of the IP address is invalid',
  noTimeout: 'Timeout cannot be used: set was created without timeout support',
  noCounters: 'Packet/byte counters cannot be used: set was created without counter support',
  noComment: 'Comment cannot be used: set was created without comment support',
  noSkbinfo: 'Skbinfo mapping cannot be used: set was created without skbinfo support',
  addExists: "Element cannot be added to the set: it's already added",
  delMissing: "Element cannot be deleted from the set: it's not added",
  bitmapRange: 'Element is out of the range of the set',
  bitmapRangeSize: 'The range you specified exceeds the size limit of the set type',
  hashFull: 'Hash is full, cannot add more elements',
  hashElem: 'Null-valued element, cannot be stored in a hash type of set',
  invalidProto: 'Invalid protocol specified',
  missingProto: 'Protocol missing, but must be specified',
  rangeUnsupported: 'Range is not supported in the "net" component of the element',
  hashRange: 'Invalid range, covers the whole address space',
  listName: 'Set to be added/deleted/tested as element does not exist.',
  listLoop: 'Sets with list:set type cannot be added to the set.',
  listBefore: 'No reference set specified.',
  listNameref: "The set to which you referred with 'before' or 'after' does not exist.",
  listRefExist: "The set to which you referred with 'before' or 'after' is not added to the set.",
  erange: 'Kernel error received: Numerical result out of range',
} as const;

/** A userspace syntax error ("Syntax error: …" in the ipset tool). */
export function syntaxError(message: string, token?: string): NfemuError {
  return new NfemuError('PARSE', `Syntax error: ${message}`, token === undefined ? {} : { token });
}

/** A refusal by the kernel (the set exists, is full, …). */
export function kernelError(message: string, token?: string): NfemuError {
  return new NfemuError('VALIDATE', message, token === undefined ? {} : { token });
}
