/**
 * The IPVS connection table (ip_vs_conn.c): connections and persistence templates, hashed
 * by (protocol, client address, client port) the way ip_vs_conn_hashkey does, so that the
 * client-to-virtual lookup (ip_vs_conn_in_get), the template lookup (ip_vs_ct_in_get) and
 * the real-server-to-client lookup (ip_vs_conn_out_get) all land in the same chain.
 *
 * Timers run on the caller's clock. Each entry has one slot in an indexed binary heap keyed
 * by a time no later than its expiry: re-arming a timer later (every packet does) only
 * changes the entry, and the heap re-files it when it comes up; bringing a timer earlier
 * moves it up at once. So a packet costs O(1) unless something is due.
 *
 * We differ from the kernel on purpose: its table has 4096 chains and a random hash seed;
 * ours grows and uses a fixed seed (deterministic, same lookups).
 */
import { jhash3, type Family } from '../core/index.ts';
import type { RealServer } from './service.ts';
import { IP_VS_CONN_F_FWD_MASK, IP_VS_CONN_F_MASQ, IP_VS_CONN_F_NO_CPORT, IP_VS_CONN_F_TEMPLATE } from './types.ts';

/** One connection or persistence template (struct ip_vs_conn). */
export class IpvsConn {
  /** Creation order (and the -c listing order). */
  id: number;
  family: Family = 4;
  /** Family of the real server address (cp->daf). */
  daf: Family = 4;
  /** L4 protocol; IPPROTO_IP (0) for a fwmark template. */
  protocol = 0;
  readonly caddr = new Uint32Array(4);
  cport = 0;
  /** Virtual address; a fwmark template holds the mark in word 0. */
  readonly vaddr = new Uint32Array(4);
  vport = 0;
  readonly daddr = new Uint32Array(4);
  dport = 0;
  /** IP_VS_CONN_F_*. */
  flags = 0;
  /** Protocol state (IP_VS_TCP_S_*, IP_VS_UDP_S_NORMAL, IP_VS_CTPL_S_* for templates). */
  state = 0;
  /** Current timeout in ms (cp->timeout). */
  timeoutMs = 3000;
  /** When the timer fires, ms on the table's clock. */
  expiresAt = 0;
  /** Firewall mark of the first packet (cp->fwmark). */
  fwmark = 0;
  dest: RealServer | null = null;
  /** The template controlling this connection (persistence), and how many this one controls. */
  control: IpvsConn | null = null;
  nControl = 0;
  /** Packets in the client-to-server direction. */
  inPkts = 0;
  /** Slot in the table; -1 once gone. */
  slot = -1;

  constructor(id: number) {
    this.id = id;
  }

  /** Back to a fresh entry with a new id (the table recycles expired entries). */
  reinit(id: number): void {
    this.id = id;
    this.family = 4;
    this.daf = 4;
    this.protocol = 0;
    this.caddr.fill(0);
    this.cport = 0;
    this.vaddr.fill(0);
    this.vport = 0;
    this.daddr.fill(0);
    this.dport = 0;
    this.flags = 0;
    this.state = 0;
    this.timeoutMs = 3000;
    this.expiresAt = 0;
    this.fwmark = 0;
    this.dest = null;
    this.control = null;
    this.nControl = 0;
    this.inPkts = 0;
    this.slot = -1;
  }

  get isTemplate(): boolean {
    return (this.flags & IP_VS_CONN_F_TEMPLATE) !== 0;
  }

  /** IP_VS_FWD_METHOD. */
  get fwdMethod(): number {
    return this.flags & IP_VS_CONN_F_FWD_MASK;
  }
}

const NIL = -1;
const CONN_SEED = 0x2545f491;

function connHash(protocol: number, a: Uint32Array, port: number): number {
  return jhash3((a[0]! ^ a[3]!) >>> 0, (a[1]! ^ a[2]!) >>> 0, ((protocol << 16) | port) >>> 0, CONN_SEED);
}

function addrEq(a: Uint32Array, b: Uint32Array): boolean {
  return a[0] === b[0] && a[1] === b[1] && a[2] === b[2] && a[3] === b[3];
}

/** The connection table: hash chains over slots plus the timer heap. */
export class ConnTable {
  private conns: (IpvsConn | null)[] = [];
  private freeSlots: number[] = [];
  private mask = 255;
  private heads = new Int32Array(256).fill(NIL);
  private next = new Int32Array(256).fill(NIL);
  private hashOf = new Uint32Array(256);
  /** Timer heap: slots ordered by (key, template last); keys per slot; heap index per slot. */
  private heap = new Int32Array(256);
  private heapLen = 0;
  private heapKey = new Float64Array(256);
  private heapPos = new Int32Array(256).fill(NIL);
  private nextId = 1;
  /** Entries without a client port (ip_vs_conn_no_cport_cnt). */
  noCportCount = 0;
  /** Entries in the table (ipvs->conn_count). */
  count = 0;

  /** Expired entries kept for reuse, so a steady stream of connections allocates nothing. */
  private pool: IpvsConn[] = [];

  /** A new entry with the next id (not yet in the table). */
  create(): IpvsConn {
    const c = this.pool.pop();
    if (c === undefined) return new IpvsConn(this.nextId++);
    c.reinit(this.nextId++);
    return c;
  }

  /** An entry that is out of the table and referenced by nothing may be reused by create(). */
  recycle(c: IpvsConn): void {
    if (c.slot < 0 && this.pool.length < 4096) this.pool.push(c);
  }

  /** ip_vs_conn_hash plus arming the timer at `c.expiresAt`. */
  insert(c: IpvsConn): void {
    if (this.count + 1 > this.heads.length) this.rehashAll(this.heads.length * 2);
    const slot = this.freeSlots.length ? this.freeSlots.pop()! : this.conns.length;
    if (slot === this.conns.length) this.conns.push(null);
    if (slot >= this.next.length) this.growSlots(this.next.length * 2);
    this.conns[slot] = c;
    c.slot = slot;
    this.link(slot);
    this.count++;
    if ((c.flags & IP_VS_CONN_F_NO_CPORT) !== 0) this.noCportCount++;
    this.heapKey[slot] = c.expiresAt;
    this.heapPush(slot);
  }

  /** ip_vs_conn_unlink: out of the hash and the timer heap. */
  remove(c: IpvsConn): void {
    const slot = c.slot;
    if (slot < 0 || this.conns[slot] !== c) return;
    this.unlink(slot);
    this.heapRemove(slot);
    this.conns[slot] = null;
    this.freeSlots.push(slot);
    c.slot = -1;
    this.count--;
    if ((c.flags & IP_VS_CONN_F_NO_CPORT) !== 0) this.noCportCount--;
  }

  /** Re-hash after the client or virtual port of an entry changed (ip_vs_conn_rehash). */
  rehash(c: IpvsConn): void {
    if (c.slot < 0) return;
    this.unlink(c.slot);
    this.link(c.slot);
  }

  /** mod_timer: the entry now expires at `t` (ms). Hot path: allocation-free. */
  setExpiry(c: IpvsConn, t: number): void {
    c.expiresAt = t;
    const slot = c.slot;
    if (slot < 0) return;
    if (t < this.heapKey[slot]!) {
      this.heapKey[slot] = t;
      this.siftUp(this.heapPos[slot]!);
    }
  }

  /**
   * The next entry whose timer is due at `now`, or null. Entries whose timer was moved later
   * are re-filed on the way. The caller must remove or re-arm the entry it gets.
   */
  due(now: number): IpvsConn | null {
    while (this.heapLen > 0) {
      const slot = this.heap[0]!;
      const key = this.heapKey[slot]!;
      if (key > now) return null;
      const c = this.conns[slot]!;
      if (c.expiresAt > key) {
        this.heapKey[slot] = c.expiresAt;
        this.siftDown(0);
        continue;
      }
      return c;
    }
    return null;
  }

  /**
   * __ip_vs_conn_in_get: the connection of a client-to-virtual packet (not templates; an
   * entry without client port matches a lookup with cport 0). Hot path.
   */
  findIn(family: Family, protocol: number, caddr: Uint32Array, cport: number, vaddr: Uint32Array, vport: number): IpvsConn | null {
    const h = connHash(protocol, caddr, cport) & this.mask;
    for (let s = this.heads[h]!; s !== NIL; s = this.next[s]!) {
      const c = this.conns[s]!;
      if (c.cport === cport && c.vport === vport && c.family === family && addrEq(c.caddr, caddr) && addrEq(c.vaddr, vaddr) &&
          ((cport === 0) !== ((c.flags & IP_VS_CONN_F_NO_CPORT) === 0)) && c.protocol === protocol) return c;
    }
    return null;
  }

  /** ip_vs_ct_in_get: the persistence template (cport is always 0 for templates). Hot path. */
  findTemplate(family: Family, protocol: number, caddr: Uint32Array, cport: number, vaddr: Uint32Array, vport: number): IpvsConn | null {
    const h = connHash(protocol, caddr, cport) & this.mask;
    for (let s = this.heads[h]!; s !== NIL; s = this.next[s]!) {
      const c = this.conns[s]!;
      if ((c.flags & IP_VS_CONN_F_TEMPLATE) !== 0 && c.family === family && addrEq(c.caddr, caddr) && addrEq(c.vaddr, vaddr) &&
          c.vport === vport && c.cport === cport && c.protocol === protocol) return c;
    }
    return null;
  }

  /**
   * ip_vs_conn_out_get: the connection a real-server-to-client packet belongs to (`saddr`,
   * `sport` the packet's source, `daddr`, `dport` its destination, i.e. the client). For
   * masquerading the source must be the real server; otherwise the virtual address. Hot path.
   */
  findOut(family: Family, protocol: number, saddr: Uint32Array, sport: number, daddr: Uint32Array, dport: number): IpvsConn | null {
    const h = connHash(protocol, daddr, dport) & this.mask;
    for (let s = this.heads[h]!; s !== NIL; s = this.next[s]!) {
      const c = this.conns[s]!;
      if (c.cport !== dport) continue;
      const masq = (c.flags & IP_VS_CONN_F_FWD_MASK) === IP_VS_CONN_F_MASQ;
      if (sport === (masq ? c.dport : c.vport) && c.family === family && addrEq(c.caddr, daddr) &&
          addrEq(masq ? c.daddr : c.vaddr, saddr) && c.protocol === protocol) return c;
    }
    return null;
  }

  /** Every entry, in creation order. */
  entries(): IpvsConn[] {
    const out: IpvsConn[] = [];
    for (const c of this.conns) if (c !== null) out.push(c);
    return out.sort((a, b) => a.id - b.id);
  }

  /**
   * A deep copy: entries are copied with `mapDest` applied to their servers, and control
   * links re-pointed into the copy.
   */
  clone(mapDest: (d: RealServer) => RealServer): ConnTable {
    const t = new ConnTable();
    const byId = new Map<number, IpvsConn>();
    t.conns = this.conns.map((c) => {
      if (c === null) return null;
      const k = new IpvsConn(c.id);
      k.family = c.family;
      k.daf = c.daf;
      k.protocol = c.protocol;
      k.caddr.set(c.caddr);
      k.cport = c.cport;
      k.vaddr.set(c.vaddr);
      k.vport = c.vport;
      k.daddr.set(c.daddr);
      k.dport = c.dport;
      k.flags = c.flags;
      k.state = c.state;
      k.timeoutMs = c.timeoutMs;
      k.expiresAt = c.expiresAt;
      k.fwmark = c.fwmark;
      k.dest = c.dest === null ? null : mapDest(c.dest);
      k.nControl = c.nControl;
      k.inPkts = c.inPkts;
      k.slot = c.slot;
      byId.set(c.id, k);
      return k;
    });
    for (const c of this.conns) if (c !== null && c.control !== null) byId.get(c.id)!.control = byId.get(c.control.id) ?? null;
    t.freeSlots = this.freeSlots.slice();
    t.mask = this.mask;
    t.heads = this.heads.slice();
    t.next = this.next.slice();
    t.hashOf = this.hashOf.slice();
    t.heap = this.heap.slice();
    t.heapLen = this.heapLen;
    t.heapKey = this.heapKey.slice();
    t.heapPos = this.heapPos.slice();
    t.nextId = this.nextId;
    t.noCportCount = this.noCportCount;
    t.count = this.count;
    return t;
  }

  // ---- internals ----

  private link(slot: number): void {
    const c = this.conns[slot]!;
    const h = connHash(c.protocol, c.caddr, c.cport);
    this.hashOf[slot] = h;
    const b = h & this.mask;
    this.next[slot] = this.heads[b]!;
    this.heads[b] = slot;
  }

  private unlink(slot: number): void {
    const b = this.hashOf[slot]! & this.mask;
    if (this.heads[b] === slot) {
      this.heads[b] = this.next[slot]!;
      return;
    }
    for (let s = this.heads[b]!; s !== NIL; s = this.next[s]!) {
      if (this.next[s] === slot) {
        this.next[s] = this.next[slot]!;
        return;
      }
    }
  }

  private growSlots(n: number): void {
    const grow32 = (a: Int32Array, fill: number) => {
      const b = new Int32Array(n).fill(fill);
      b.set(a);
      return b;
    };
    this.next = grow32(this.next, NIL);
    this.heap = grow32(this.heap, 0);
    this.heapPos = grow32(this.heapPos, NIL);
    const hk = new Float64Array(n);
    hk.set(this.heapKey);
    this.heapKey = hk;
    const ho = new Uint32Array(n);
    ho.set(this.hashOf);
    this.hashOf = ho;
  }

  private rehashAll(buckets: number): void {
    this.mask = buckets - 1;
    this.heads = new Int32Array(buckets).fill(NIL);
    if (this.next.length < buckets) this.growSlots(buckets);
    for (let s = 0; s < this.conns.length; s++) {
      if (this.conns[s] === null) continue;
      const b = this.hashOf[s]! & this.mask;
      this.next[s] = this.heads[b]!;
      this.heads[b] = s;
    }
  }

  /** Heap order: earlier key first; on equal keys templates after connections. */
  private less(a: number, b: number): boolean {
    const ka = this.heapKey[a]!;
    const kb = this.heapKey[b]!;
    if (ka !== kb) return ka < kb;
    const ta = (this.conns[a]!.flags & IP_VS_CONN_F_TEMPLATE) !== 0 ? 1 : 0;
    const tb = (this.conns[b]!.flags & IP_VS_CONN_F_TEMPLATE) !== 0 ? 1 : 0;
    return ta < tb;
  }

  private place(i: number, slot: number): void {
    this.heap[i] = slot;
    this.heapPos[slot] = i;
  }

  private heapPush(slot: number): void {
    this.place(this.heapLen++, slot);
    this.siftUp(this.heapLen - 1);
  }

  private heapRemove(slot: number): void {
    const i = this.heapPos[slot]!;
    if (i < 0) return;
    const last = this.heap[--this.heapLen]!;
    this.heapPos[slot] = NIL;
    if (i === this.heapLen) return;
    this.place(i, last);
    this.siftDown(i);
    this.siftUp(this.heapPos[last]!);
  }

  private siftUp(i: number): void {
    const slot = this.heap[i]!;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const ps = this.heap[p]!;
      if (!this.less(slot, ps)) break;
      this.place(i, ps);
      i = p;
    }
    this.place(i, slot);
  }

  private siftDown(i: number): void {
    const n = this.heapLen;
    const slot = this.heap[i]!;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && this.less(this.heap[r]!, this.heap[l]!) ? r : l;
      if (!this.less(this.heap[c]!, slot)) break;
      this.place(i, this.heap[c]!);
      i = c;
    }
    this.place(i, slot);
  }
}
