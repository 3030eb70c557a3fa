/**
 * The connection table of one network namespace (nf_conntrack_core.c): lookup in both
 * directions in one hash table, creation of unconfirmed entries, confirmation with clash
 * resolution, timeouts on the injected clock, the size limit with early drop, and the NAT
 * entry points (setupNat / natPacket) over the same table.
 *
 * Storage is numeric: entries live in slots; each slot has two hash nodes (node id =
 * slot * 2 + direction) chained through Int32Arrays, so a lookup compares numbers and
 * allocates nothing. The kernel hashes with siphash and a random key; the hash here is
 * fixed (see tuple.ts), so bucket contents (and therefore which entries early drop finds)
 * are deterministic but not the kernel's. The physical chain array grows with the number
 * of entries; a node's logical bucket is reciprocal_scale(hash, buckets) as in the kernel,
 * which is what early drop walks.
 *
 * Model of entry lifetime. The kernel frees an unconfirmed entry when its packet is freed;
 * here the host calls release() for a packet that dies before confirmation (when it does
 * not, at most UNCONFIRMED_KEPT such entries are remembered). Expired entries are treated as
 * gone wherever they are met (lookups, clash checks, the table limit), standing in for the
 * kernel's garbage-collection worker. The table limit counts confirmed entries plus the
 * new one (the kernel also counts other in-flight unconfirmed entries; a sequential host
 * has none).
 */
import { NfemuError, IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP, IPPROTO_UDPLITE, type Clock, type Rng } from '../core/index.ts';
import {
  NF_ACCEPT, NF_DROP, NF_INET_LOCAL_OUT, NF_INET_PRE_ROUTING, IP_CT_ESTABLISHED, IP_CT_ESTABLISHED_REPLY, IP_CT_INVALID,
  IP_CT_IS_REPLY, IP_CT_NEW, IP_CT_RELATED, IP_CT_RELATED_REPLY, IP_CT_UNTRACKED, IPS_ASSURED, IPS_CONFIRMED, IPS_DYING,
  IPS_EXPECTED, IPS_FIXED_TIMEOUT, IPS_NAT_CLASH, IPS_SEEN_REPLY,
} from '../netfilter/index.ts';
import type { Packet } from '../packet/index.ts';
import { Conn, IP_CT_DIR_ORIGINAL, IP_CT_DIR_REPLY, TCP_CONNTRACK_TIMEOUT_MAX } from './conn.ts';
import {
  allocNullBinding, hookToManip, natInitialized, natPacket, setupNat, NF_NAT_MANIP_DST, NF_NAT_MANIP_SRC,
  type NatContext, type NatRange,
} from './nat.ts';
import { CT_INVALID, CT_REPEAT, defaultTcpTimeoutsSeconds, tcpPacket, type TcpConfig, type TrackerContext } from './tcp.ts';
import {
  genericPacket, icmpIsError, icmpPacket, icmpv6Untracked, udpPacket, udplitePacket, ICMPV6_REDIRECT, NR_ICMP_TYPES, type L4Timeouts,
} from './trackers.ts';
import {
  addrEquals, cloneTuple, icmpKey, invertTuple, newTuple, reciprocalScale, sourceHash, tracksPorts, tupleEquals,
  tupleHash, type Tuple,
} from './tuple.ts';

/** TCP timeout sysctls (nf_conntrack_tcp_timeout_*), in seconds. */
export interface TcpTimeoutOptions {
  syn_sent?: number;
  syn_recv?: number;
  established?: number;
  fin_wait?: number;
  close_wait?: number;
  last_ack?: number;
  time_wait?: number;
  close?: number;
  max_retrans?: number;
  unacknowledged?: number;
}

/** Table settings: the net.netfilter.nf_conntrack_* sysctls. Timeouts are in seconds. */
export interface ConntrackOptions {
  /** nf_conntrack_max; 0 means no limit. Default 262144. */
  max?: number;
  /** nf_conntrack_buckets (hash table size). Default 262144, the kernel's on a 64-bit host with ≥ 4 GiB. */
  buckets?: number;
  /** nf_conntrack_tcp_be_liberal. Accepted for completeness: window tracking is not modelled, so every segment is in window anyway. */
  tcpBeLiberal?: boolean;
  /** nf_conntrack_tcp_loose: pick up established connections from a non-SYN first packet. Default true. */
  tcpLoose?: boolean;
  /** nf_conntrack_udp_timeout. Default 30. */
  udpTimeout?: number;
  /** nf_conntrack_udp_timeout_stream. Default 120. */
  udpTimeoutStream?: number;
  /** nf_conntrack_icmp_timeout. Default 30. */
  icmpTimeout?: number;
  /** nf_conntrack_icmpv6_timeout. Default 30. */
  icmpv6Timeout?: number;
  /** nf_conntrack_generic_timeout. Default 600. */
  genericTimeout?: number;
  /** nf_conntrack_tcp_timeout_*. */
  tcpTimeouts?: TcpTimeoutOptions;
}

/** Counters of conntrack -S (the ones this model can produce). */
export interface ConntrackStats {
  /** nf_conntrack_tuple_taken found the tuple in use (NAT clash avoidance). */
  found: number;
  /** Packets that are not a valid part of a connection (ct = null, INVALID). */
  invalid: number;
  /** Entries confirmed. (Kernel 6.x counts only ctnetlink-created entries here; this model counts confirmations.) */
  insert: number;
  /** Confirmations refused: clash not resolvable, or the entry died first. */
  insertFailed: number;
  /** Packets dropped by conntrack (table full, clash). */
  drop: number;
  /** Entries evicted by early drop. */
  earlyDrop: number;
  /** Clashes resolved without a drop. */
  clashResolve: number;
  /** ICMP(v6) errors that quote no tracked connection, unknown ICMP types. */
  error: number;
}

const NIL = -1;
/** NF_CT_EVICTION_RANGE: buckets early drop looks at. */
const NF_CT_EVICTION_RANGE = 8;
/** Unconfirmed entries remembered when the host does not release() dead packets. */
const UNCONFIRMED_KEPT = 64;
/** Initial capacity (slots) and physical chain count. */
const INITIAL_SLOTS = 64;
const INITIAL_CHAINS = 64;

interface Config {
  max: number;
  buckets: number;
  tcp: TcpConfig;
  l4: L4Timeouts;
  beLiberal: boolean;
}

function resolveOptions(o: ConntrackOptions): Config {
  const num = (v: number | undefined, d: number, name: string): number => {
    if (v === undefined) return d;
    if (!(Number.isFinite(v) && v >= 0)) throw new NfemuError('VALIDATE', `conntrack option ${name}: bad value ${v}`);
    return v;
  };
  const max = num(o.max, 262144, 'max');
  const buckets = num(o.buckets, 262144, 'buckets');
  if (buckets < 1 || !Number.isInteger(buckets)) throw new NfemuError('VALIDATE', `conntrack option buckets: bad value ${buckets}`);
  const secs = defaultTcpTimeoutsSeconds();
  const tt = o.tcpTimeouts ?? {};
  const setT = (idx: number, v: number | undefined, name: string) => { secs[idx] = num(v, secs[idx]!, `tcpTimeouts.${name}`); };
  setT(1, tt.syn_sent, 'syn_sent');
  setT(2, tt.syn_recv, 'syn_recv');
  setT(3, tt.established, 'established');
  setT(4, tt.fin_wait, 'fin_wait');
  setT(5, tt.close_wait, 'close_wait');
  setT(6, tt.last_ack, 'last_ack');
  setT(7, tt.time_wait, 'time_wait');
  setT(8, tt.close, 'close');
  setT(12, tt.max_retrans, 'max_retrans');
  setT(13, tt.unacknowledged, 'unacknowledged');
  secs[0] = secs[1]!;
  const timeouts = new Float64Array(TCP_CONNTRACK_TIMEOUT_MAX);
  for (let i = 0; i < TCP_CONNTRACK_TIMEOUT_MAX; i++) timeouts[i] = secs[i]! * 1000;
  return {
    max,
    buckets,
    beLiberal: o.tcpBeLiberal ?? false,
    tcp: { loose: o.tcpLoose ?? true, timeouts },
    l4: {
      udp: num(o.udpTimeout, 30, 'udpTimeout') * 1000,
      udpStream: num(o.udpTimeoutStream, 120, 'udpTimeoutStream') * 1000,
      icmp: num(o.icmpTimeout, 30, 'icmpTimeout') * 1000,
      icmpv6: num(o.icmpv6Timeout, 30, 'icmpv6Timeout') * 1000,
      generic: num(o.genericTimeout, 600, 'genericTimeout') * 1000,
    },
  };
}

/**
 * The connection tracker of one network namespace, driven by a Clock; random choices (NAT
 * port offsets) come from the Rng. Not thread-safe by design: one packet at a time.
 */
export class ConntrackTable implements NatContext, TrackerContext {
  readonly stats: ConntrackStats = { found: 0, invalid: 0, insert: 0, insertFailed: 0, drop: 0, earlyDrop: 0, clashResolve: 0, error: 0 };
  readonly rng: Rng;
  private readonly clock: Clock;
  private readonly options: ConntrackOptions;
  private readonly cfg: Config;

  /** Entries by slot (null = free). */
  private conns: (Conn | null)[] = [];
  private freeSlots: Int32Array;
  private freeTop = 0;
  private capacity = 0;
  /** Hash chains: node ids, heads per physical chain, next per node, raw hash per node. */
  private chains = INITIAL_CHAINS;
  private heads: Int32Array;
  private nodeNext: Int32Array;
  private nodeHash: Uint32Array;
  private nodeBucket: Uint32Array;
  /** By-source index (nf_nat_bysource): slot chains. */
  private srcHeads: Int32Array;
  private srcNext: Int32Array;
  private srcPrev: Int32Array;
  private srcChain: Int32Array;
  private confirmedCount = 0;
  private nextId = 1;
  private unconfirmed: Conn[] = [];
  private now = 0;

  private readonly key = newTuple();
  private readonly inv = newTuple();

  constructor(clock: Clock, rng: Rng, opts: ConntrackOptions = {}) {
    this.clock = clock;
    this.rng = rng;
    this.options = opts;
    this.cfg = resolveOptions(opts);
    this.heads = new Int32Array(this.chains).fill(NIL);
    this.srcHeads = new Int32Array(this.chains).fill(NIL);
    this.freeSlots = new Int32Array(0);
    this.nodeNext = new Int32Array(0);
    this.nodeHash = new Uint32Array(0);
    this.nodeBucket = new Uint32Array(0);
    this.srcNext = new Int32Array(0);
    this.srcPrev = new Int32Array(0);
    this.srcChain = new Int32Array(0);
    this.grow(INITIAL_SLOTS);
  }

  // ------------------------------------------------------------------------------------
  // Packet path

  /**
   * nf_conntrack_in at PRE_ROUTING or LOCAL_OUT (priority -200). Leaves alone a packet that
   * already has an entry (loopback, REJECT's attached replies) or is UNTRACKED (raw
   * NOTRACK / CT --notrack). Otherwise finds the entry in either direction, or creates an
   * unconfirmed one for a valid first packet, runs the protocol tracker, and sets pkt.ct /
   * pkt.ctinfo: IP_CT_NEW, ESTABLISHED, RELATED or their *_REPLY forms; ct = null with
   * IP_CT_INVALID for a packet the tracker rejects; ct = null with IP_CT_UNTRACKED for the
   * ICMPv6 types conntrack never tracks. Uses pkt.ctZone.
   *
   * An ICMP(v6) error is RELATED when the packet it quotes belongs to a tracked connection;
   * the Packet has no inner header, so the quoted header is passed as `quoted` (its tuple as
   * it appears inside the error, e.g. the original request for a port unreachable).
   *
   * Returns NF_ACCEPT, or NF_DROP when the table is full and nothing could be early-dropped.
   * Hot path: allocates only when it creates an entry.
   */
  in(pkt: Packet, hook: number, quoted?: Tuple): number {
    if (hook !== NF_INET_PRE_ROUTING && hook !== NF_INET_LOCAL_OUT) {
      throw new NfemuError('INTERNAL', `conntrack in() runs at PRE_ROUTING or LOCAL_OUT, not hook ${hook}`);
    }
    if (pkt.ct !== null || pkt.ctinfo === IP_CT_UNTRACKED) return NF_ACCEPT;
    pkt.ctinfo = IP_CT_INVALID;
    this.now = this.clock.nowMs();

    if (pkt.family === 4 && pkt.proto === IPPROTO_ICMP) {
      const type = pkt.icmpType;
      if (type < 0 || type > NR_ICMP_TYPES) {
        this.stats.error++;
        return NF_ACCEPT;
      }
      if (icmpIsError(type)) return this.icmpError(pkt, quoted);
    } else if (pkt.family === 6 && pkt.proto === IPPROTO_ICMPV6) {
      const type = pkt.icmpType;
      if (icmpv6Untracked(type)) {
        pkt.ctinfo = IP_CT_UNTRACKED;
        return NF_ACCEPT;
      }
      if (type === ICMPV6_REDIRECT) {
        // nf_conntrack_icmpv6_redirect: code 0 from a link-local router with hop limit 255
        // quoting a header is an error message; otherwise it is tracked like any packet.
        if (pkt.icmpCode === 0) {
          if (pkt.ttl !== 255 || (pkt.saddr[0]! >>> 22) !== (0xfe80 >>> 6)) {
            this.stats.error++;
            return NF_ACCEPT;
          }
          if (quoted !== undefined) return this.icmpError(pkt, quoted);
        }
      } else if (type >= 0 && type < 128) {
        return this.icmpError(pkt, quoted);
      }
    }

    const zone = pkt.ctZone;
    for (;;) {
      const t = this.key;
      tupleFromPacket(t, pkt);
      let ct: Conn;
      let ctinfo: number;
      let created = false;
      const node = this.findNode(t, zone);
      if (node === NIL) {
        if (!invertTuple(this.inv, t)) {
          this.stats.invalid++;
          return NF_ACCEPT;
        }
        if (!this.makeRoom(t, zone)) {
          this.stats.drop++;
          return NF_DROP;
        }
        ct = new Conn(this.nextId++, zone, cloneTuple(t), cloneTuple(this.inv));
        this.allocSlot(ct);
        this.trackUnconfirmed(ct);
        created = true;
        ctinfo = IP_CT_NEW;
      } else {
        ct = this.conns[node >> 1]!;
        if ((node & 1) === IP_CT_DIR_REPLY) ctinfo = IP_CT_ESTABLISHED_REPLY;
        else if ((ct.status & IPS_SEEN_REPLY) !== 0) ctinfo = IP_CT_ESTABLISHED;
        else if ((ct.status & IPS_EXPECTED) !== 0) ctinfo = IP_CT_RELATED;
        else ctinfo = IP_CT_NEW;
      }
      pkt.ct = ct;
      pkt.ctinfo = ctinfo;
      const ret = this.l4Packet(ct, pkt, ctinfo);
      if (ret <= 0) {
        pkt.ct = null;
        pkt.ctinfo = IP_CT_INVALID;
        if (created) this.discard(ct);
        if (ret === CT_REPEAT) continue;
        this.stats.invalid++;
        if (ret === NF_DROP) {
          this.stats.drop++;
          return NF_DROP;
        }
        return NF_ACCEPT;
      }
      if (ctinfo === IP_CT_ESTABLISHED_REPLY) ct.status |= IPS_SEEN_REPLY;
      return NF_ACCEPT;
    }
  }

  /**
   * __nf_conntrack_confirm at the last hook (POST_ROUTING or LOCAL_IN, priority INT_MAX):
   * inserts the packet's unconfirmed entry in both directions and starts its timeout. A
   * clash with an entry inserted meanwhile is resolved as nf_ct_resolve_clash does (UDP
   * only: the packet adopts an identical entry, or the new entry is inserted in the reply
   * direction alone with a 1 s fixed timeout) or the packet is dropped. No-op (NF_ACCEPT)
   * for confirmed entries, reply-direction packets and packets without an entry.
   */
  confirm(pkt: Packet): number {
    const ct = pkt.ct;
    if (!(ct instanceof Conn) || (ct.status & IPS_CONFIRMED) !== 0) return NF_ACCEPT;
    if (pkt.ctinfo >= IP_CT_IS_REPLY) return NF_ACCEPT;
    this.now = this.clock.nowMs();
    if ((ct.status & IPS_DYING) !== 0 || ct.slot < 0) {
      this.stats.insertFailed++;
      return NF_DROP;
    }
    this.checkOwn(ct);
    let clash = this.findNode(ct.orig, ct.zone);
    if (clash === NIL) clash = this.findNode(ct.reply, ct.zone);
    if (clash !== NIL) return this.resolveClash(pkt, ct, clash);
    this.dropUnconfirmed(ct);
    ct.timeoutAt = this.now + ct.timeoutRel;
    this.insertNode(ct, IP_CT_DIR_ORIGINAL);
    this.insertNode(ct, IP_CT_DIR_REPLY);
    ct.status |= IPS_CONFIRMED;
    this.confirmedCount++;
    this.stats.insert++;
    this.maybeRehash();
    return NF_ACCEPT;
  }

  /**
   * The packet will not reach confirm (dropped, or stolen): free the unconfirmed entry it
   * created, as the kernel does when the packet is freed. Safe to call for any packet.
   */
  release(pkt: Packet): void {
    const ct = pkt.ct;
    if (ct instanceof Conn && (ct.status & IPS_CONFIRMED) === 0 && ct.slot >= 0 && this.conns[ct.slot] === ct) this.discard(ct);
  }

  /**
   * nf_conntrack_attach (used by REJECT): `reply` is generated in answer to `orig` and
   * belongs to its connection, RELATED in the other direction.
   */
  attachRelated(reply: Packet, orig: Packet): void {
    reply.ct = orig.ct;
    reply.ctinfo = orig.ct === null ? IP_CT_INVALID : orig.ctinfo >= IP_CT_IS_REPLY ? IP_CT_RELATED : IP_CT_RELATED_REPLY;
  }

  // ------------------------------------------------------------------------------------
  // NAT

  /** nf_nat_initialized: has a binding of this manip type (NF_NAT_MANIP_*) been set up? */
  natInitialized(ct: Conn, manip: number): boolean {
    return natInitialized(ct, manip);
  }

  /**
   * nf_nat_setup_info: choose the tuple inside `range` (see nat.ts), rewrite ct.reply, set
   * IPS_SRC_NAT / IPS_DST_NAT when the tuple changed and the *_DONE bit. Returns NF_ACCEPT;
   * NF_DROP only for a second binding of the same type. As in the kernel, when no free
   * tuple exists the entry keeps a clashing one and confirm() drops the packet.
   */
  setupNat(ct: Conn, range: NatRange, manip: number): number {
    checkManip(manip);
    this.checkOwn(ct);
    this.now = this.clock.nowMs();
    return setupNat(this, ct, range, manip);
  }

  /**
   * nf_nat_alloc_null_binding: a binding that keeps the address, set up by the nat hook when
   * the nat table chose none. `manip` must be HOOK2MANIP(hook).
   */
  allocNullBinding(ct: Conn, manip: number, hook: number): number {
    checkManip(manip);
    if (hookToManip(hook) !== manip) throw new NfemuError('INTERNAL', `null binding: manip ${manip} does not belong to hook ${hook}`);
    this.checkOwn(ct);
    this.now = this.clock.nowMs();
    return allocNullBinding(this, ct, manip);
  }

  /**
   * nf_nat_packet at `hook`: rewrites the packet's addresses, ports or ICMP id as the
   * entry's NAT bindings require for this hook and direction (replies are un-NATed). For an
   * ICMP error RELATED to a NATed connection, the outer address and the quoted header
   * (`quoted`, modified in place) are translated as nf_nat_icmp_reply_translation does; the
   * nat table is never consulted for such packets. Returns NF_ACCEPT, or NF_DROP for an ICMP
   * redirect about a NATed connection. Hot path: allocation-free.
   */
  natPacket(pkt: Packet, hook: number, quoted?: Tuple): number {
    return natPacket(pkt, hook, quoted);
  }

  // ------------------------------------------------------------------------------------
  // Table maintenance and inspection

  /** Confirmed, visible entries (conntrack -L) in creation order; expired entries are reaped first. */
  entries(): Conn[] {
    this.expire();
    const out: Conn[] = [];
    for (const c of this.conns) if (c !== null && (c.status & IPS_CONFIRMED) !== 0 && c.inOrigHash) out.push(c);
    out.sort((a, b) => a.id - b.id);
    return out;
  }

  /** Number of confirmed entries (nf_conntrack_count), including hidden NAT clash entries. */
  get count(): number {
    return this.confirmedCount;
  }

  /** Removes expired entries; returns how many. (Lookups also ignore and reap them.) */
  expire(): number {
    this.now = this.clock.nowMs();
    let n = 0;
    for (const c of this.conns) {
      if (c !== null && (c.status & IPS_CONFIRMED) !== 0 && c.timeoutAt <= this.now) {
        this.kill(c);
        n++;
      }
    }
    return n;
  }

  /** conntrack -F: delete every confirmed entry. */
  flush(): void {
    for (const c of this.conns) if (c !== null && (c.status & IPS_CONFIRMED) !== 0) this.kill(c);
  }

  /** The entry with this id (confirmed or still unconfirmed), e.g. to re-point a packet at a clone's copy. */
  connById(id: number): Conn | null {
    for (const c of this.conns) if (c !== null && c.id === id) return c;
    return null;
  }

  /**
   * A deep copy sharing the clock and the rng, for exploring random branches. Unconfirmed
   * entries are copied too; re-point a packet with `pkt.ct = clone.connById(pkt.ct.id)`.
   */
  clone(): ConntrackTable {
    const t = new ConntrackTable(this.clock, this.rng, this.options);
    Object.assign(t.stats, this.stats);
    t.capacity = this.capacity;
    t.conns = this.conns.map((c) => (c === null ? null : c.copy()));
    t.freeSlots = this.freeSlots.slice();
    t.freeTop = this.freeTop;
    t.chains = this.chains;
    t.heads = this.heads.slice();
    t.nodeNext = this.nodeNext.slice();
    t.nodeHash = this.nodeHash.slice();
    t.nodeBucket = this.nodeBucket.slice();
    t.srcHeads = this.srcHeads.slice();
    t.srcNext = this.srcNext.slice();
    t.srcPrev = this.srcPrev.slice();
    t.srcChain = this.srcChain.slice();
    t.confirmedCount = this.confirmedCount;
    t.nextId = this.nextId;
    t.unconfirmed = this.unconfirmed.map((c) => t.conns[c.slot]!);
    t.now = this.now;
    return t;
  }

  // ------------------------------------------------------------------------------------
  // TrackerContext / NatContext

  /** nf_ct_refresh: restart the timeout (not for FIXED_TIMEOUT entries). */
  refresh(ct: Conn, ms: number): void {
    if ((ct.status & IPS_FIXED_TIMEOUT) !== 0) return;
    if ((ct.status & IPS_CONFIRMED) !== 0) {
      ct.timeoutAt = this.now + ms;
    } else {
      ct.timeoutRel = ms;
      ct.timeoutAt = this.now + ms;
    }
  }

  /** nf_ct_kill / nf_ct_delete: take the entry out of the table (packets may still hold it). */
  kill(ct: Conn): void {
    if (ct.slot < 0 || this.conns[ct.slot] !== ct) {
      ct.status |= IPS_DYING;
      return;
    }
    if (ct.inOrigHash) this.unlinkNode(ct.slot * 2 + IP_CT_DIR_ORIGINAL);
    if (ct.inReplyHash) this.unlinkNode(ct.slot * 2 + IP_CT_DIR_REPLY);
    if ((ct.status & IPS_CONFIRMED) !== 0) this.confirmedCount--;
    else this.dropUnconfirmed(ct);
    ct.inOrigHash = ct.inReplyHash = false;
    ct.status |= IPS_DYING;
    this.freeSlot(ct);
  }

  tupleTaken(tuple: Tuple, ignored: Conn): boolean {
    const zone = ignored.zone;
    const h = tupleHash(tuple, zone);
    const chain = this.chainOf(h);
    for (let n = this.heads[chain]!; n !== NIL;) {
      const c = this.conns[n >> 1]!;
      if (this.nodeHash[n] === h && c !== ignored) {
        if (c.timeoutAt <= this.now) {
          this.kill(c); // reap and rescan: the chain changed
          n = this.heads[chain]!;
          continue;
        }
        if (c.zone === zone && tupleEquals(tuple, (n & 1) === IP_CT_DIR_ORIGINAL ? c.orig : c.reply) &&
            !tupleEquals(ignored.orig, c.orig)) {
          // (An entry with the same original tuple is the same flow: left to clash resolution.)
          this.stats.found++;
          return true;
        }
      }
      n = this.nodeNext[n]!;
    }
    return false;
  }

  findNode(tuple: Tuple, zone: number): number {
    const h = tupleHash(tuple, zone);
    const chain = this.chainOf(h);
    for (let n = this.heads[chain]!; n !== NIL;) {
      if (this.nodeHash[n] === h) {
        const c = this.conns[n >> 1]!;
        if (c.timeoutAt <= this.now) {
          this.kill(c); // reap and rescan: the chain changed
          n = this.heads[chain]!;
          continue;
        }
        if (c.zone === zone && tupleEquals(tuple, (n & 1) === IP_CT_DIR_ORIGINAL ? c.orig : c.reply)) return n;
      }
      n = this.nodeNext[n]!;
    }
    return NIL;
  }

  connAt(slot: number): Conn {
    return this.conns[slot]!;
  }

  bySourceFirst(t: Tuple, zone: number): Conn | null {
    const s = this.srcHeads[sourceHash(t, zone) & (this.chains - 1)]!;
    return s === NIL ? null : this.conns[s]!;
  }

  bySourceNext(ct: Conn): Conn | null {
    const s = this.srcNext[ct.slot]!;
    return s === NIL ? null : this.conns[s]!;
  }

  addBySource(ct: Conn): void {
    const slot = ct.slot;
    if (slot < 0 || this.srcChain[slot] !== NIL) return;
    const chain = sourceHash(ct.orig, ct.zone) & (this.chains - 1);
    this.linkSource(slot, chain);
  }

  // ------------------------------------------------------------------------------------
  // Internals

  /** Misuse guard: an entry of another table (e.g. the original of a clone) must not be modified here. */
  private checkOwn(ct: Conn): void {
    if (ct.slot >= 0 && this.conns[ct.slot] !== ct) {
      throw new NfemuError('INTERNAL', `conntrack entry ${ct.id} belongs to another table (after clone(), re-point the packet with connById)`);
    }
  }

  private l4Packet(ct: Conn, pkt: Packet, ctinfo: number): number {
    switch (ct.orig.proto) {
      case IPPROTO_TCP: return tcpPacket(this, this.cfg.tcp, ct, pkt, ctinfo);
      case IPPROTO_UDP: return udpPacket(this, this.cfg.l4, ct, this.now);
      case IPPROTO_UDPLITE: return udplitePacket(this, this.cfg.l4, ct);
      case IPPROTO_ICMP: return icmpPacket(this, this.cfg.l4.icmp, ct, pkt.family, false);
      case IPPROTO_ICMPV6: return icmpPacket(this, this.cfg.l4.icmpv6, ct, pkt.family, true);
      default: return genericPacket(this, this.cfg.l4.generic, ct);
    }
  }

  /** nf_conntrack_inet_error: RELATED if the quoted packet belongs to a tracked connection. */
  private icmpError(pkt: Packet, quoted: Tuple | undefined): number {
    if (quoted === undefined || quoted.family !== pkt.family || !invertTuple(this.inv, quoted)) {
      this.stats.error++;
      return NF_ACCEPT;
    }
    const node = this.findNode(this.inv, pkt.ctZone);
    if (node === NIL) {
      this.stats.error++;
      return NF_ACCEPT;
    }
    const ct = this.conns[node >> 1]!;
    const dir = node & 1;
    // The error must be addressed where the quoted connection's packets go.
    if (!addrEquals(pkt.daddr, dir === IP_CT_DIR_ORIGINAL ? ct.orig.dst : ct.reply.dst)) {
      this.stats.error++;
      return NF_ACCEPT;
    }
    pkt.ct = ct;
    pkt.ctinfo = dir === IP_CT_DIR_REPLY ? IP_CT_RELATED_REPLY : IP_CT_RELATED;
    return NF_ACCEPT;
  }

  /** The table limit (__nf_conntrack_alloc): true when a new entry may be created. */
  private makeRoom(t: Tuple, zone: number): boolean {
    const max = this.cfg.max;
    if (max === 0 || this.confirmedCount + 1 <= max) return true;
    // The kernel's gc worker would have reaped expired entries by now.
    this.expire();
    if (this.confirmedCount + 1 <= max) return true;
    return this.earlyDrop(tupleHash(t, zone));
  }

  /** early_drop: evict the non-ASSURED entries of the first of 8 buckets that has any. */
  private earlyDrop(hash: number): boolean {
    const buckets = this.cfg.buckets;
    let bucket = reciprocalScale(hash, buckets);
    const victims: Conn[] = [];
    for (let i = 0; i < NF_CT_EVICTION_RANGE; i++) {
      if (i > 0) bucket = (bucket + 1) % buckets;
      for (let n = this.heads[bucket & (this.chains - 1)]!; n !== NIL; n = this.nodeNext[n]!) {
        if (this.nodeBucket[n] !== bucket) continue;
        const c = this.conns[n >> 1]!;
        if (c.timeoutAt <= this.now) {
          if (!victims.includes(c)) victims.push(c); // reaped, not counted
          continue;
        }
        if ((c.status & (IPS_ASSURED | IPS_DYING)) !== 0 || (c.status & IPS_CONFIRMED) === 0) continue;
        if (!victims.includes(c)) victims.push(c);
      }
      let drops = 0;
      for (const c of victims) {
        const expired = c.timeoutAt <= this.now;
        this.kill(c);
        if (!expired) drops++;
      }
      victims.length = 0;
      if (drops > 0) {
        this.stats.earlyDrop += drops;
        return true;
      }
    }
    return false;
  }

  /** __nf_ct_resolve_clash / nf_ct_resolve_clash_harder at confirmation. */
  private resolveClash(pkt: Packet, loser: Conn, clashNode: number): number {
    const proto = loser.orig.proto;
    if (proto === IPPROTO_UDP || proto === IPPROTO_UDPLITE) {
      const winner = this.conns[clashNode >> 1]!;
      if (canMerge(winner, loser)) return this.merge(pkt, loser, winner);
      // Harder: the reply direction must not clash, unless with an identical entry.
      const replyNode = this.findNode(loser.reply, loser.zone);
      if (replyNode !== NIL) {
        const other = this.conns[replyNode >> 1]!;
        if (canMerge(other, loser)) return this.merge(pkt, loser, other);
      } else {
        // Insert for the reply direction only, expiring in 1 s; hidden from conntrack -L.
        this.dropUnconfirmed(loser);
        loser.timeoutAt = this.now + 1000;
        loser.status |= IPS_FIXED_TIMEOUT | IPS_NAT_CLASH;
        this.insertNode(loser, IP_CT_DIR_REPLY);
        loser.status |= IPS_CONFIRMED;
        this.confirmedCount++;
        this.stats.clashResolve++;
        this.maybeRehash();
        return NF_ACCEPT;
      }
    }
    this.stats.drop++;
    this.stats.insertFailed++;
    this.discard(loser);
    return NF_DROP;
  }

  private merge(pkt: Packet, loser: Conn, winner: Conn): number {
    this.discard(loser);
    pkt.ct = winner;
    this.stats.clashResolve++;
    return NF_ACCEPT;
  }

  /** Free an entry that never made it into the table. */
  private discard(ct: Conn): void {
    if (ct.slot < 0 || this.conns[ct.slot] !== ct) return;
    this.dropUnconfirmed(ct);
    this.freeSlot(ct);
  }

  private trackUnconfirmed(ct: Conn): void {
    this.unconfirmed.push(ct);
    if (this.unconfirmed.length > UNCONFIRMED_KEPT) {
      const old = this.unconfirmed.shift()!;
      old.status |= IPS_DYING;
      this.freeSlot(old);
    }
  }

  private dropUnconfirmed(ct: Conn): void {
    const i = this.unconfirmed.indexOf(ct);
    if (i >= 0) this.unconfirmed.splice(i, 1);
  }

  private allocSlot(ct: Conn): void {
    if (this.freeTop === 0) this.grow(this.capacity * 2);
    const slot = this.freeSlots[--this.freeTop]!;
    this.conns[slot] = ct;
    ct.slot = slot;
    this.srcChain[slot] = NIL;
  }

  private freeSlot(ct: Conn): void {
    const slot = ct.slot;
    if (slot < 0) return;
    if (this.srcChain[slot] !== NIL) this.unlinkSource(slot);
    this.conns[slot] = null;
    this.freeSlots[this.freeTop++] = slot;
    ct.slot = -1;
  }

  private grow(newCap: number): void {
    const old = this.capacity;
    const resize32 = (a: Int32Array, n: number): Int32Array => {
      const b = new Int32Array(n).fill(NIL);
      b.set(a);
      return b;
    };
    this.nodeNext = resize32(this.nodeNext, newCap * 2);
    const nh = new Uint32Array(newCap * 2);
    nh.set(this.nodeHash);
    this.nodeHash = nh;
    const nb = new Uint32Array(newCap * 2);
    nb.set(this.nodeBucket);
    this.nodeBucket = nb;
    this.srcNext = resize32(this.srcNext, newCap);
    this.srcPrev = resize32(this.srcPrev, newCap);
    this.srcChain = resize32(this.srcChain, newCap);
    const free = new Int32Array(newCap);
    free.set(this.freeSlots.subarray(0, this.freeTop));
    let top = this.freeTop;
    for (let s = newCap - 1; s >= old; s--) free[top++] = s;
    this.freeSlots = free;
    this.freeTop = top;
    for (let s = old; s < newCap; s++) this.conns.push(null);
    this.capacity = newCap;
  }

  /** Physical chain of a hash: its logical bucket (reciprocal_scale over `buckets`, as the kernel) masked to the chain count. */
  private chainOf(h: number): number {
    return reciprocalScale(h, this.cfg.buckets) & (this.chains - 1);
  }

  private insertNode(ct: Conn, dir: number): void {
    const n = ct.slot * 2 + dir;
    const h = tupleHash(dir === IP_CT_DIR_ORIGINAL ? ct.orig : ct.reply, ct.zone);
    this.nodeHash[n] = h;
    this.nodeBucket[n] = reciprocalScale(h, this.cfg.buckets);
    const chain = this.nodeBucket[n]! & (this.chains - 1);
    this.nodeNext[n] = this.heads[chain]!;
    this.heads[chain] = n;
    if (dir === IP_CT_DIR_ORIGINAL) ct.inOrigHash = true;
    else ct.inReplyHash = true;
  }

  private unlinkNode(n: number): void {
    const chain = this.nodeBucket[n]! & (this.chains - 1);
    let p = this.heads[chain]!;
    if (p === n) {
      this.heads[chain] = this.nodeNext[n]!;
      return;
    }
    while (p !== NIL) {
      const next = this.nodeNext[p]!;
      if (next === n) {
        this.nodeNext[p] = this.nodeNext[n]!;
        return;
      }
      p = next;
    }
  }

  private linkSource(slot: number, chain: number): void {
    const head = this.srcHeads[chain]!;
    this.srcNext[slot] = head;
    this.srcPrev[slot] = NIL;
    if (head !== NIL) this.srcPrev[head] = slot;
    this.srcHeads[chain] = slot;
    this.srcChain[slot] = chain;
  }

  private unlinkSource(slot: number): void {
    const prev = this.srcPrev[slot]!;
    const next = this.srcNext[slot]!;
    if (prev === NIL) this.srcHeads[this.srcChain[slot]!] = next;
    else this.srcNext[prev] = next;
    if (next !== NIL) this.srcPrev[next] = prev;
    this.srcChain[slot] = NIL;
  }

  /** Doubles the physical chain count when entries outnumber chains (order within a chain is kept). */
  private maybeRehash(): void {
    if (this.confirmedCount <= this.chains || this.chains >= this.cfg.buckets) return;
    const chains = this.chains * 2;
    const mask = chains - 1;
    const heads = new Int32Array(chains).fill(NIL);
    const tails = new Int32Array(chains).fill(NIL);
    for (let c = 0; c < this.chains; c++) {
      for (let n = this.heads[c]!; n !== NIL;) {
        const next = this.nodeNext[n]!;
        const d = this.nodeBucket[n]! & mask;
        this.nodeNext[n] = NIL;
        if (tails[d] === NIL) heads[d] = n;
        else this.nodeNext[tails[d]!] = n;
        tails[d] = n;
        n = next;
      }
    }
    // By-source chains: walk each old chain from its tail so head insertion keeps the order.
    const srcHeads = new Int32Array(chains).fill(NIL);
    const oldSrcHeads = this.srcHeads;
    this.srcHeads = srcHeads;
    for (let c = 0; c < this.chains; c++) {
      let last = oldSrcHeads[c]!;
      if (last === NIL) continue;
      while (this.srcNext[last] !== NIL) last = this.srcNext[last]!;
      for (let s = last; s !== NIL;) {
        const prev = this.srcPrev[s]!;
        const ct = this.conns[s]!;
        this.linkSource(s, sourceHash(ct.orig, ct.zone) & mask);
        s = prev;
      }
    }
    this.heads = heads;
    this.chains = chains;
  }
}

function checkManip(manip: number): void {
  if (manip !== NF_NAT_MANIP_SRC && manip !== NF_NAT_MANIP_DST) throw new NfemuError('INTERNAL', `bad NAT manip type ${manip}`);
}

/** nf_ct_can_merge: the same flow (nf_ct_match) or the same flow seen the other way (nf_ct_match_reverse). */
function canMerge(a: Conn, b: Conn): boolean {
  if (a.zone !== b.zone) return false;
  return (tupleEquals(a.orig, b.orig) && tupleEquals(a.reply, b.reply)) ||
    (tupleEquals(a.orig, b.reply) && tupleEquals(a.reply, b.orig));
}

/** nf_ct_get_tuple: the original-direction tuple of a packet. Hot path. */
export function tupleFromPacket(t: Tuple, pkt: Packet): void {
  t.family = pkt.family;
  t.proto = pkt.proto;
  t.src.set(pkt.saddr);
  t.dst.set(pkt.daddr);
  if (tracksPorts(pkt.proto)) {
    t.sport = pkt.sport;
    t.dport = pkt.dport;
  } else if (pkt.proto === IPPROTO_ICMP || pkt.proto === IPPROTO_ICMPV6) {
    t.sport = pkt.icmpId & 0xffff;
    t.dport = icmpKey(pkt.icmpType, pkt.icmpCode);
  } else {
    t.sport = 0;
    t.dport = 0;
  }
}

/** A tuple from a packet (allocates): e.g. the quoted header of an ICMP error built from the packet it answers. */
export function packetTuple(pkt: Packet): Tuple {
  const t = newTuple();
  tupleFromPacket(t, pkt);
  return t;
}
