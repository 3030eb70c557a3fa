/**
 * NAT bindings (nf_nat_core.c) and packet mangling (nf_nat_proto.c).
 *
 * nf_nat_setup_info chooses the tuple the connection will have after NAT and rewrites the
 * entry's reply tuple to its inverse; nf_nat_packet then makes every packet of the
 * connection look like the inverse of the other direction's tuple. Tuple selection follows
 * get_unique_tuple of Linux 6.18: keep the tuple when it is in range and unused (with the
 * reverse-clash exception of nf_nat_used_tuple_new), reuse an existing source mapping
 * (find_appropriate_src), pick the address with find_best_ips_proto (the kernel's jhash2,
 * so a connection maps to the address the real kernel picks), then search ports as
 * nf_nat_l4proto_unique_tuple does (random offset from the Rng, 128 attempts, halving
 * rounds, and in the last 32 attempts for a TCP SYN the eviction of a colliding SNAT'ed
 * entry in TIME_WAIT or CLOSE: nf_nat_used_tuple_harder).
 */
import { IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP, IPPROTO_UDPLITE, IPPROTO_GRE, type Rng } from '../core/index.ts';
import {
  NF_ACCEPT, NF_DROP, NF_INET_LOCAL_IN, NF_INET_POST_ROUTING, IP_CT_IS_REPLY, IP_CT_RELATED, IP_CT_RELATED_REPLY,
  IPS_CONFIRMED, IPS_DST_NAT, IPS_DST_NAT_DONE, IPS_SRC_NAT, IPS_SRC_NAT_DONE, IPS_SEQ_ADJUST, IPS_FIXED_TIMEOUT,
  IPS_DYING, IPS_OFFLOAD,
} from '../netfilter/index.ts';
import type { Packet } from '../packet/index.ts';
import { Conn, IP_CT_DIR_ORIGINAL, IP_CT_DIR_REPLY, TCP_CONNTRACK_SYN_SENT, TCP_CONNTRACK_TIME_WAIT } from './conn.ts';
import {
  addrEquals, bswap32, copyTuple, invertTuple, jhash2Words4, newTuple, reciprocalScale, tracksPorts, tupleEquals, type Tuple,
} from './tuple.ts';

/** enum nf_nat_manip_type. */
export const NF_NAT_MANIP_SRC = 0, NF_NAT_MANIP_DST = 1;

/** nf_nat_range2 flags (uapi/linux/netfilter/nf_nat.h). */
export const NF_NAT_RANGE_MAP_IPS = 1, NF_NAT_RANGE_PROTO_SPECIFIED = 2, NF_NAT_RANGE_PROTO_RANDOM = 4,
  NF_NAT_RANGE_PERSISTENT = 8, NF_NAT_RANGE_PROTO_RANDOM_FULLY = 16, NF_NAT_RANGE_PROTO_OFFSET = 32, NF_NAT_RANGE_NETMAP = 64;
export const NF_NAT_RANGE_PROTO_RANDOM_ALL = NF_NAT_RANGE_PROTO_RANDOM | NF_NAT_RANGE_PROTO_RANDOM_FULLY;

/**
 * nf_nat_range2: addresses as four host-order words (IPv4 in word 0, the rest 0), ports
 * (or the ICMP id range) in host order. NF_NAT_RANGE_NETMAP is the NETMAP target's own
 * business (it computes a single address before calling setupNat) and is ignored here.
 */
export interface NatRange {
  flags: number;
  minAddr: Uint32Array;
  maxAddr: Uint32Array;
  minProto: number;
  maxProto: number;
  baseProto: number;
}

/** A range (allocates; configuration time). Addresses are copied. */
export function makeNatRange(flags: number, minAddr: Uint32Array, maxAddr: Uint32Array, minProto = 0, maxProto = 0, baseProto = 0): NatRange {
  return { flags, minAddr: Uint32Array.from(minAddr), maxAddr: Uint32Array.from(maxAddr), minProto, maxProto, baseProto };
}

/** HOOK2MANIP: source NAT at POST_ROUTING and LOCAL_IN, destination NAT at PRE_ROUTING and LOCAL_OUT. */
export function hookToManip(hook: number): number {
  return hook !== NF_INET_POST_ROUTING && hook !== NF_INET_LOCAL_IN ? NF_NAT_MANIP_DST : NF_NAT_MANIP_SRC;
}

/** nf_nat_initialized: has a binding of this manip type been set up? */
export function natInitialized(ct: Conn, manip: number): boolean {
  return (ct.status & (manip === NF_NAT_MANIP_SRC ? IPS_SRC_NAT_DONE : IPS_DST_NAT_DONE)) !== 0;
}

const IPS_NAT_MASK = IPS_SRC_NAT | IPS_DST_NAT;
const IPS_NAT_DONE_MASK = IPS_SRC_NAT_DONE | IPS_DST_NAT_DONE;
/** Ports tried at most per round (NF_NAT_MAX_ATTEMPTS) and the destructive tail (NF_NAT_HARDER_THRESH). */
export const NF_NAT_MAX_ATTEMPTS = 128;
export const NF_NAT_HARDER_THRESH = NF_NAT_MAX_ATTEMPTS / 4;

/** What the connection table lends the NAT code. */
export interface NatContext {
  readonly rng: Rng;
  /** nf_conntrack_tuple_taken: is this tuple (either direction) used by a confirmed entry other than `ignored`? */
  tupleTaken(tuple: Tuple, ignored: Conn): boolean;
  /** nf_conntrack_find_get: node id (slot * 2 + direction) of the confirmed entry with this tuple, or -1. */
  findNode(tuple: Tuple, zone: number): number;
  /** The entry in a slot. */
  connAt(slot: number): Conn;
  /** nf_ct_kill. */
  kill(ct: Conn): void;
  /** First / next entry of the by-source chain that `t`'s original source hashes to (newest first). */
  bySourceFirst(t: Tuple, zone: number): Conn | null;
  bySourceNext(ct: Conn): Conn | null;
  /** Add an entry to the by-source index (done for every source manip, null bindings included). */
  addBySource(ct: Conn): void;
}

// Scratch tuples: NAT runs on the packet path and must not allocate.
const CURR = newTuple();
const NEWT = newTuple();
const INV = newTuple();
const INV2 = newTuple();
const TARGET = newTuple();

function allowClash(proto: number): boolean {
  return proto === IPPROTO_UDP || proto === IPPROTO_UDPLITE;
}

/** nf_nat_used_tuple: would this (original-direction) tuple's reply clash with another entry? */
function usedTuple(ctx: NatContext, tuple: Tuple, ct: Conn): boolean {
  invertTuple(INV, tuple);
  return ctx.tupleTaken(INV, ct);
}

/**
 * nf_nat_used_tuple_new (6.18, with "remove bogus direction check"): as usedTuple, but a
 * clash with a non-NAT entry that is this very flow seen the other way is not a clash.
 */
function usedTupleNew(ctx: NatContext, tuple: Tuple, ct: Conn): boolean {
  if (!usedTuple(ctx, tuple, ct)) return false;
  if (!allowClash(ct.orig.proto)) return true;
  const usesNat = IPS_NAT_MASK | IPS_SEQ_ADJUST;
  if ((ct.status & usesNat) !== 0) return true;
  let node = ctx.findNode(tuple, ct.zone);
  if (node < 0) {
    invertTuple(INV2, tuple);
    node = ctx.findNode(INV2, ct.zone);
    if (node < 0) return false;
  }
  const other = ctx.connAt(node >> 1);
  if ((other.status & usesNat) !== 0) return true;
  return !tupleEquals(other.orig, ct.reply);
}

/** nf_nat_may_kill: a SNAT'ed TCP entry in TIME_WAIT or later may be evicted. */
function mayKill(other: Conn): boolean {
  if (other.tcpState < TCP_CONNTRACK_TIME_WAIT) return false;
  if ((other.status & (IPS_FIXED_TIMEOUT | IPS_DYING)) !== 0) return false;
  return (other.status & IPS_SRC_NAT) !== 0;
}

/**
 * nf_nat_used_tuple_harder: in the last NF_NAT_HARDER_THRESH attempts for a new TCP
 * connection, a colliding SNAT'ed entry in TIME_WAIT/CLOSE is killed and its tuple reused.
 * The kernel also requires the new SYN's sequence number to be past the old entry's;
 * packets carry no sequence numbers, so that is taken as true.
 */
function usedTupleHarder(ctx: NatContext, tuple: Tuple, ct: Conn, attemptsLeft: number): boolean {
  invertTuple(INV, tuple);
  if (attemptsLeft > NF_NAT_HARDER_THRESH || tuple.proto !== IPPROTO_TCP || ct.tcpState !== TCP_CONNTRACK_SYN_SENT) {
    return ctx.tupleTaken(INV, ct);
  }
  const node = ctx.findNode(INV, ct.zone);
  if (node < 0) return false;
  if ((node & 1) === IP_CT_DIR_ORIGINAL) return true;
  const other = ctx.connAt(node >> 1);
  if (other === ct) return true;
  const flags = other.status;
  if (!mayKill(other)) return true;
  ctx.kill(other);
  return (flags & IPS_OFFLOAD) !== 0;
}

/** nf_nat_inet_in_range: is the tuple's source address inside the range? */
function inetInRange(t: Tuple, range: NatRange): boolean {
  if (t.family === 4) return t.src[0]! >= range.minAddr[0]! && t.src[0]! <= range.maxAddr[0]!;
  return compareAddr(t.src, range.minAddr) >= 0 && compareAddr(t.src, range.maxAddr) <= 0;
}

function compareAddr(a: Uint32Array, b: Uint32Array): number {
  for (let i = 0; i < 4; i++) if (a[i] !== b[i]) return a[i]! < b[i]! ? -1 : 1;
  return 0;
}

/** l4proto_in_range: is the manipulable part (port, or ICMP id) inside [min, max]? */
function l4protoInRange(t: Tuple, manip: number, min: number, max: number): boolean {
  switch (t.proto) {
    case IPPROTO_ICMP:
    case IPPROTO_ICMPV6:
      return t.sport >= min && t.sport <= max;
    case IPPROTO_GRE:
    case IPPROTO_TCP:
    case IPPROTO_UDP:
    case IPPROTO_UDPLITE:
    case IPPROTO_SCTP: {
      const port = manip === NF_NAT_MANIP_SRC ? t.sport : t.dport;
      return port >= min && port <= max;
    }
    default:
      return true;
  }
}

/** nf_in_range: would source-mapping to this tuple satisfy the range? */
function inRange(t: Tuple, range: NatRange): boolean {
  if ((range.flags & NF_NAT_RANGE_MAP_IPS) !== 0 && !inetInRange(t, range)) return false;
  if ((range.flags & NF_NAT_RANGE_PROTO_SPECIFIED) === 0) return true;
  return l4protoInRange(t, NF_NAT_MANIP_SRC, range.minProto, range.maxProto);
}

/** find_appropriate_src: reuse the mapping of another connection from the same source. */
function findAppropriateSrc(ctx: NatContext, zone: number, tuple: Tuple, result: Tuple, range: NatRange): boolean {
  for (let c = ctx.bySourceFirst(tuple, zone); c !== null; c = ctx.bySourceNext(c)) {
    const o = c.orig;
    if (o.proto === tuple.proto && o.sport === tuple.sport && addrEquals(o.src, tuple.src) && c.zone === zone) {
      invertTuple(result, c.reply);
      result.dst.set(tuple.dst);
      result.dport = tuple.dport;
      if (inRange(result, range)) return true;
    }
  }
  return false;
}

/**
 * find_best_ips_proto: the address inside the range, chosen by hashing the source address
 * (jhash2 over the four address words as the kernel reads them from memory, keyed by the
 * last destination word and the zone unless PERSISTENT) and scaling into the range word by
 * word. Exported for tests.
 */
export function findBestIpsProto(zone: number, tuple: Tuple, range: NatRange, manip: number): void {
  if ((range.flags & NF_NAT_RANGE_MAP_IPS) === 0) return;
  const v = manip === NF_NAT_MANIP_SRC ? tuple.src : tuple.dst;
  if (addrEquals(range.minAddr, range.maxAddr)) {
    v.set(range.minAddr);
    return;
  }
  const max = tuple.family === 4 ? 0 : 3;
  const persistent = (range.flags & NF_NAT_RANGE_PERSISTENT) !== 0;
  const s = tuple.src;
  let j = jhash2Words4(
    bswap32(s[0]!), bswap32(s[1]!), bswap32(s[2]!), bswap32(s[3]!),
    persistent ? 0 : (bswap32(tuple.dst[max]!) ^ zone) >>> 0,
  );
  let full = false;
  for (let i = 0; i <= max; i++) {
    let minip: number;
    let dist: number;
    if (!full) {
      minip = range.minAddr[i]!;
      dist = (range.maxAddr[i]! - minip + 1) >>> 0;
    } else {
      minip = 0;
      dist = 0xffffffff;
    }
    v[i] = (minip + reciprocalScale(j, dist)) >>> 0;
    if (v[i] !== range.maxAddr[i]) full = true;
    if (!persistent) j = (j ^ bswap32(tuple.dst[i]!)) >>> 0;
  }
}

/** nf_nat_l4proto_unique_tuple: search the port (or ICMP id) range for an unused tuple. */
function l4protoUniqueTuple(ctx: NatContext, tuple: Tuple, range: NatRange, manip: number, ct: Conn): void {
  const flags = range.flags;
  let min: number;
  let size: number;
  let keyIsDst = false;
  const p = tuple.proto;
  if (p === IPPROTO_ICMP || p === IPPROTO_ICMPV6) {
    // The id is the same for either direction.
    if ((flags & NF_NAT_RANGE_PROTO_SPECIFIED) === 0) {
      min = 0;
      size = 65536;
    } else {
      min = range.minProto;
      size = (range.maxProto - range.minProto + 1) >>> 0;
    }
  } else if (p === IPPROTO_UDP || p === IPPROTO_UDPLITE || p === IPPROTO_TCP || p === IPPROTO_SCTP) {
    keyIsDst = manip === NF_NAT_MANIP_DST;
    if ((flags & NF_NAT_RANGE_PROTO_SPECIFIED) === 0) {
      if (manip === NF_NAT_MANIP_DST) return; // a destination rewrite cannot change the port
      const port = tuple.sport;
      if (port < 1024) {
        // Loose convention: >> 512 is credential passing.
        if (port < 512) {
          min = 1;
          size = 511;
        } else {
          min = 600;
          size = 1023 - 600 + 1;
        }
      } else {
        min = 1024;
        size = 65535 - 1024 + 1;
      }
    } else {
      let lo = range.minProto;
      let hi = range.maxProto;
      if (hi < lo) {
        const t = lo;
        lo = hi;
        hi = t;
      }
      min = lo;
      size = hi - lo + 1;
    }
  } else {
    return; // GRE without a PPTP master and the rest: nothing to change
  }

  const key0 = keyIsDst ? tuple.dport : tuple.sport;
  let off: number;
  if ((flags & NF_NAT_RANGE_PROTO_OFFSET) !== 0) off = (key0 - range.baseProto) & 0xffff;
  else if ((flags & NF_NAT_RANGE_PROTO_RANDOM_ALL) !== 0 || manip !== NF_NAT_MANIP_DST) off = ctx.rng.nextU32() & 0xffff;
  else off = 0;

  let attempts = size > NF_NAT_MAX_ATTEMPTS ? NF_NAT_MAX_ATTEMPTS : size;
  for (;;) {
    for (let i = 0; i < attempts; i++, off = (off + 1) & 0xffff) {
      const key = (min + (off % size)) & 0xffff;
      if (keyIsDst) tuple.dport = key;
      else tuple.sport = key;
      if (!usedTupleHarder(ctx, tuple, ct, attempts - i)) return;
    }
    if (attempts >= size || attempts < 16) return;
    attempts = attempts >>> 1;
    off = ctx.rng.nextU32() & 0xffff;
  }
}

/** get_unique_tuple: the tuple the connection will have after this manip, written into `out`. */
function getUniqueTuple(ctx: NatContext, out: Tuple, orig: Tuple, range: NatRange, ct: Conn, manip: number): void {
  const flags = range.flags;
  // 1) Source NAT: keep the tuple if it fits and is free, or reuse this source's mapping.
  if (manip === NF_NAT_MANIP_SRC && (flags & NF_NAT_RANGE_PROTO_RANDOM_ALL) === 0) {
    if (inRange(orig, range)) {
      if (!usedTupleNew(ctx, orig, ct)) {
        copyTuple(out, orig);
        return;
      }
    } else if (findAppropriateSrc(ctx, ct.zone, orig, out, range)) {
      if (!usedTuple(ctx, out, ct)) return;
    }
  }
  // 2) The address, by hash.
  copyTuple(out, orig);
  findBestIpsProto(ct.zone, out, range, manip);
  // 3) The port, only if not already in range and unique.
  if ((flags & NF_NAT_RANGE_PROTO_RANDOM_ALL) === 0) {
    if ((flags & NF_NAT_RANGE_PROTO_SPECIFIED) !== 0) {
      if ((flags & NF_NAT_RANGE_PROTO_OFFSET) === 0 && l4protoInRange(out, manip, range.minProto, range.maxProto) &&
          (range.minProto === range.maxProto || !usedTuple(ctx, out, ct))) return;
    } else if (!usedTuple(ctx, out, ct)) {
      return;
    }
  }
  l4protoUniqueTuple(ctx, out, range, manip, ct);
}

/**
 * nf_nat_setup_info. A confirmed entry is left alone (NF_ACCEPT); a second binding of the
 * same manip type is refused (NF_DROP, the kernel WARNs). Like the kernel, a range with no
 * free tuple still yields NF_ACCEPT with a clashing tuple: the clash drops the packet at
 * confirmation.
 */
export function setupNat(ctx: NatContext, ct: Conn, range: NatRange, manip: number): number {
  if ((ct.status & IPS_CONFIRMED) !== 0) return NF_ACCEPT;
  if (natInitialized(ct, manip)) return NF_DROP;
  // What we have looks like the inverse of the reply (earlier manips included).
  invertTuple(CURR, ct.reply);
  getUniqueTuple(ctx, NEWT, CURR, range, ct, manip);
  if (!tupleEquals(NEWT, CURR)) {
    invertTuple(ct.reply, NEWT); // nf_conntrack_alter_reply
    ct.status |= manip === NF_NAT_MANIP_SRC ? IPS_SRC_NAT : IPS_DST_NAT;
  }
  if (manip === NF_NAT_MANIP_SRC) ctx.addBySource(ct);
  ct.status |= manip === NF_NAT_MANIP_DST ? IPS_DST_NAT_DONE : IPS_SRC_NAT_DONE;
  return NF_ACCEPT;
}

/** __nf_nat_alloc_null_binding: a binding to the address the entry already has. */
export function allocNullBinding(ctx: NatContext, ct: Conn, manip: number): number {
  const ip = manip === NF_NAT_MANIP_SRC ? ct.reply.dst : ct.reply.src;
  NULL_RANGE.flags = NF_NAT_RANGE_MAP_IPS;
  NULL_RANGE.minAddr.set(ip);
  NULL_RANGE.maxAddr.set(ip);
  return setupNat(ctx, ct, NULL_RANGE, manip);
}
const NULL_RANGE: NatRange = { flags: 0, minAddr: new Uint32Array(4), maxAddr: new Uint32Array(4), minProto: 0, maxProto: 0, baseProto: 0 };

/** ICMP types whose header carries an identifier the NAT rewrites (icmp_manip_pkt). */
function icmpHasId(proto: number, type: number): boolean {
  if (proto === IPPROTO_ICMP) return type === 0 || type === 8 || (type >= 13 && type <= 18);
  return type === 128 || type === 129;
}

/** l4proto_manip_pkt + the address rewrite, on the packet's own headers. */
function manipPacketHeaders(pkt: Packet, target: Tuple, manip: number): void {
  const p = target.proto;
  if (manip === NF_NAT_MANIP_SRC) {
    pkt.saddr.set(target.src);
    if (tracksPorts(p)) pkt.sport = target.sport;
  } else {
    pkt.daddr.set(target.dst);
    if (tracksPorts(p)) pkt.dport = target.dport;
  }
  if ((p === IPPROTO_ICMP || p === IPPROTO_ICMPV6) && icmpHasId(p, pkt.icmpType)) pkt.icmpId = target.sport;
}

/** The same rewrite on a quoted (inner) header held as a tuple. */
function manipQuoted(q: Tuple, target: Tuple, manip: number): void {
  const p = target.proto;
  if (manip === NF_NAT_MANIP_SRC) {
    q.src.set(target.src);
    if (tracksPorts(p)) q.sport = target.sport;
  } else {
    q.dst.set(target.dst);
    if (tracksPorts(p)) q.dport = target.dport;
  }
  if ((p === IPPROTO_ICMP || p === IPPROTO_ICMPV6) && icmpHasId(p, (q.dport >>> 8) & 0xff)) q.sport = target.sport;
}

/** nf_nat_manip_pkt: make the packet look like the inverse of the other direction's tuple. */
function manipPacket(pkt: Packet, ct: Conn, manip: number, dir: number): void {
  invertTuple(TARGET, dir === IP_CT_DIR_ORIGINAL ? ct.reply : ct.orig);
  manipPacketHeaders(pkt, TARGET, manip);
}

/**
 * nf_nat_icmp_reply_translation / nf_nat_icmpv6_reply_translation for an ICMP error
 * RELATED to `ct`: the quoted header gets the opposite manip (it travelled the other way),
 * the outer header the normal one. Redirects about NATed connections are dropped.
 */
function icmpReplyTranslation(pkt: Packet, ct: Conn, ctinfo: number, manip: number, quoted: Tuple | undefined): number {
  const dir = ctinfo >= IP_CT_IS_REPLY ? IP_CT_DIR_REPLY : IP_CT_DIR_ORIGINAL;
  if (pkt.icmpType === (pkt.family === 4 ? 5 : 137)) {
    if ((ct.status & IPS_NAT_DONE_MASK) !== IPS_NAT_DONE_MASK) return NF_DROP;
    if ((ct.status & IPS_NAT_MASK) !== 0) return NF_DROP;
  }
  let statusbit = manip === NF_NAT_MANIP_SRC ? IPS_SRC_NAT : IPS_DST_NAT;
  if (dir === IP_CT_DIR_REPLY) statusbit ^= IPS_NAT_MASK;
  if ((ct.status & statusbit) === 0) return NF_ACCEPT;
  const other = dir === IP_CT_DIR_ORIGINAL ? ct.reply : ct.orig;
  if (quoted !== undefined) manipQuoted(quoted, other, 1 - manip);
  invertTuple(TARGET, other);
  // The outer header is an ICMP error: only its address changes.
  if (manip === NF_NAT_MANIP_SRC) pkt.saddr.set(TARGET.src);
  else pkt.daddr.set(TARGET.dst);
  return NF_ACCEPT;
}

/**
 * nf_nat_packet at `hook`, with the ICMP error translation nf_nat_ipv4_fn /
 * nf_nat_ipv6_fn do first. Mangles `pkt` (and the quoted header of an ICMP error, when
 * given) if the entry has the NAT status bit for this hook and direction. Returns NF_ACCEPT,
 * or NF_DROP for an ICMP redirect about a NATed connection. Hot path: allocation-free.
 */
export function natPacket(pkt: Packet, hook: number, quoted?: Tuple): number {
  const ct = pkt.ct;
  if (!(ct instanceof Conn)) return NF_ACCEPT;
  const ctinfo = pkt.ctinfo;
  const manip = hookToManip(hook);
  if ((ctinfo === IP_CT_RELATED || ctinfo === IP_CT_RELATED_REPLY) &&
      ((pkt.family === 4 && pkt.proto === IPPROTO_ICMP) || (pkt.family === 6 && pkt.proto === IPPROTO_ICMPV6))) {
    return icmpReplyTranslation(pkt, ct, ctinfo, manip, quoted);
  }
  const dir = ctinfo >= IP_CT_IS_REPLY ? IP_CT_DIR_REPLY : IP_CT_DIR_ORIGINAL;
  let statusbit = manip === NF_NAT_MANIP_SRC ? IPS_SRC_NAT : IPS_DST_NAT;
  if (dir === IP_CT_DIR_REPLY) statusbit ^= IPS_NAT_MASK;
  if ((ct.status & statusbit) !== 0) manipPacket(pkt, ct, manip, dir);
  return NF_ACCEPT;
}
