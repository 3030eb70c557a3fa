/**
 * Virtual services and real servers (struct ip_vs_service, struct ip_vs_dest) and the
 * service table (ip_vs_ctl.c): services keyed by (family, protocol, address, port) and,
 * separately, by (family, fwmark), in numeric hash tables.
 *
 * We differ from the kernel on purpose in one place: its service tables have a fixed 256
 * buckets (IP_VS_SVC_TAB_BITS) and a per-boot random hash; ours grow with the number of
 * services and use a fixed seed, so lookups stay O(1) at 50,000 services and are
 * deterministic. Which service a lookup finds is the same.
 */
import { jhash3, type Family } from '../core/index.ts';
import type { SchedulerOps } from './sched/scheduler.ts';
import { IP_VS_DEST_F_AVAILABLE, IP_VS_CONN_F_FWD_MASK } from './types.ts';

/** Counters of `ipvsadm -L --stats` (struct ip_vs_kstats: conns, packets and bytes each way). */
export class IpvsStats {
  conns = 0;
  inpkts = 0;
  outpkts = 0;
  inbytes = 0;
  outbytes = 0;

  copyFrom(o: IpvsStats): void {
    this.conns = o.conns;
    this.inpkts = o.inpkts;
    this.outpkts = o.outpkts;
    this.inbytes = o.inbytes;
    this.outbytes = o.outbytes;
  }

  zero(): void {
    this.conns = this.inpkts = this.outpkts = this.inbytes = this.outbytes = 0;
  }
}

/** A real server (struct ip_vs_dest). Counters are updated by the connection table. */
export class RealServer {
  readonly family: Family;
  readonly addr: Uint32Array;
  readonly port: number;
  /** Current weight; 0 quiesces the server. */
  weight = 1;
  /** The latest non-zero weight (dest->last_weight; the mh scheduler builds its table from it). */
  lastWeight = 1;
  /** Forwarding method and the flags new connections inherit (dest->conn_flags). */
  connFlags = 0;
  /** IP_VS_DEST_F_AVAILABLE, IP_VS_DEST_F_OVERLOAD. */
  flags = 0;
  /** Upper and lower connection thresholds (0: not set). */
  uThreshold = 0;
  lThreshold = 0;
  activeConns = 0;
  inactConns = 0;
  persistConns = 0;
  /** Connections (and templates) still bound to this server (ip_vs_dest refcnt). */
  refs = 0;
  readonly stats = new IpvsStats();
  /** The service it belongs (or last belonged) to. */
  svc: VirtualService;

  constructor(svc: VirtualService, family: Family, addr: Uint32Array, port: number) {
    this.svc = svc;
    this.family = family;
    this.addr = Uint32Array.from(addr);
    this.port = port;
  }

  /** IP_VS_DFWD_METHOD. */
  get fwdMethod(): number {
    return this.connFlags & IP_VS_CONN_F_FWD_MASK;
  }

  get available(): boolean {
    return (this.flags & IP_VS_DEST_F_AVAILABLE) !== 0;
  }

  /** ip_vs_dest_totalconns. */
  get totalConns(): number {
    return this.activeConns + this.inactConns;
  }
}

/** A virtual service (struct ip_vs_service). */
export class VirtualService {
  readonly family: Family;
  /** IPPROTO_TCP / UDP / SCTP; 0 for a fwmark service. */
  readonly protocol: number;
  readonly addr: Uint32Array;
  readonly port: number;
  /** Firewall mark (0: an address service). */
  readonly fwmark: number;
  /** IP_VS_SVC_F_*. */
  flags = 0;
  /** Persistence timeout in seconds. */
  timeout = 300;
  /** Persistence granularity: IPv4 mask (host order), or the IPv6 prefix length. */
  netmask: number;
  /** Persistence engine name ('' for none; only recorded, not modelled). */
  pe = '';
  scheduler: SchedulerOps;
  /** Per-service scheduler state (svc->sched_data), owned by the scheduler. */
  schedData: unknown = null;
  /**
   * Real servers in the kernel's list order (svc->destinations): list_add_rcu puts a new
   * server at the head, so the last one added comes first.
   */
  dests: RealServer[] = [];
  readonly stats = new IpvsStats();
  /** Slot in the service table. */
  slot = -1;

  constructor(family: Family, protocol: number, addr: Uint32Array, port: number, fwmark: number, scheduler: SchedulerOps) {
    this.family = family;
    this.protocol = protocol;
    this.addr = Uint32Array.from(addr);
    this.port = port;
    this.fwmark = fwmark;
    this.scheduler = scheduler;
    this.netmask = family === 4 ? 0xffffffff : 128;
  }

  /** The server with this address and port (ip_vs_lookup_dest). */
  findDest(family: Family, addr: Uint32Array, port: number): RealServer | null {
    for (const d of this.dests) {
      if (d.family === family && d.port === port && d.addr[0] === addr[0] && d.addr[1] === addr[1] && d.addr[2] === addr[2] && d.addr[3] === addr[3]) return d;
    }
    return null;
  }
}

const NIL = -1;
const SVC_SEED = 0x1f3d5b79;

function svcHash(family: number, protocol: number, a: Uint32Array, port: number): number {
  return jhash3((a[0]! ^ a[1]!) >>> 0, (a[2]! ^ a[3]!) >>> 0, ((protocol << 16) | port | (family << 24)) >>> 0, SVC_SEED);
}

function fwmHash(family: number, fwmark: number): number {
  return jhash3(fwmark >>> 0, family, 0x9e3779b9, SVC_SEED);
}

/**
 * The service table: services by (family, protocol, address, port) and by (family,
 * fwmark), chained through Int32Arrays so a lookup compares numbers and allocates nothing.
 */
export class ServiceTable {
  /** Services by slot (null: free). */
  private slots: (VirtualService | null)[] = [];
  private free: number[] = [];
  private mask = 63;
  private heads = new Int32Array(64).fill(NIL);
  private next = new Int32Array(64).fill(NIL);
  private fwmHeads = new Int32Array(64).fill(NIL);
  private fwmNext = new Int32Array(64).fill(NIL);
  private count = 0;
  /** Services on port 0 (nullsvc_counter) and on the FTP port (ftpsvc_counter). */
  nullSvcCount = 0;
  ftpSvcCount = 0;

  get size(): number {
    return this.count;
  }

  /** Every service, in slot order. */
  all(): VirtualService[] {
    const out: VirtualService[] = [];
    for (const s of this.slots) if (s !== null) out.push(s);
    return out;
  }

  add(svc: VirtualService, ftpPort: number): void {
    if (this.count + 1 > this.heads.length) this.resize(this.heads.length * 2);
    const slot = this.free.length ? this.free.pop()! : this.slots.length;
    if (slot === this.slots.length) this.slots.push(null);
    if (slot >= this.next.length) this.growSlots();
    this.slots[slot] = svc;
    svc.slot = slot;
    this.link(slot);
    this.count++;
    if (svc.fwmark === 0) {
      if (svc.port === 0) this.nullSvcCount++;
      if (svc.port === ftpPort) this.ftpSvcCount++;
    }
  }

  remove(svc: VirtualService, ftpPort: number): void {
    const slot = svc.slot;
    if (slot < 0 || this.slots[slot] !== svc) return;
    this.unlink(slot);
    this.slots[slot] = null;
    this.free.push(slot);
    svc.slot = -1;
    this.count--;
    if (svc.fwmark === 0) {
      if (svc.port === 0) this.nullSvcCount--;
      if (svc.port === ftpPort) this.ftpSvcCount--;
    }
  }

  /** __ip_vs_service_find: the address service. Hot path: allocation-free. */
  find(family: Family, protocol: number, addr: Uint32Array, port: number): VirtualService | null {
    const h = svcHash(family, protocol, addr, port) & this.mask;
    for (let s = this.heads[h]!; s !== NIL; s = this.next[s]!) {
      const v = this.slots[s]!;
      if (v.port === port && v.protocol === protocol && v.family === family && v.fwmark === 0 &&
          v.addr[0] === addr[0] && v.addr[1] === addr[1] && v.addr[2] === addr[2] && v.addr[3] === addr[3]) return v;
    }
    return null;
  }

  /** __ip_vs_svc_fwm_find. Hot path: allocation-free. */
  findFwmark(family: Family, fwmark: number): VirtualService | null {
    const h = fwmHash(family, fwmark) & this.mask;
    for (let s = this.fwmHeads[h]!; s !== NIL; s = this.fwmNext[s]!) {
      const v = this.slots[s]!;
      if (v.fwmark === fwmark && v.family === family) return v;
    }
    return null;
  }

  private link(slot: number): void {
    const v = this.slots[slot]!;
    if (v.fwmark !== 0) {
      const h = fwmHash(v.family, v.fwmark) & this.mask;
      this.fwmNext[slot] = this.fwmHeads[h]!;
      this.fwmHeads[h] = slot;
    } else {
      const h = svcHash(v.family, v.protocol, v.addr, v.port) & this.mask;
      this.next[slot] = this.heads[h]!;
      this.heads[h] = slot;
    }
  }

  private unlink(slot: number): void {
    const v = this.slots[slot]!;
    const fw = v.fwmark !== 0;
    const heads = fw ? this.fwmHeads : this.heads;
    const next = fw ? this.fwmNext : this.next;
    const h = (fw ? fwmHash(v.family, v.fwmark) : svcHash(v.family, v.protocol, v.addr, v.port)) & this.mask;
    if (heads[h] === slot) {
      heads[h] = next[slot]!;
      return;
    }
    for (let s = heads[h]!; s !== NIL; s = next[s]!) {
      if (next[s] === slot) {
        next[s] = next[slot]!;
        return;
      }
    }
  }

  private growSlots(): void {
    const n = this.next.length * 2;
    const a = new Int32Array(n).fill(NIL);
    a.set(this.next);
    this.next = a;
    const b = new Int32Array(n).fill(NIL);
    b.set(this.fwmNext);
    this.fwmNext = b;
  }

  private resize(buckets: number): void {
    this.mask = buckets - 1;
    this.heads = new Int32Array(buckets).fill(NIL);
    this.fwmHeads = new Int32Array(buckets).fill(NIL);
    while (this.next.length < buckets) this.growSlots();
    for (let s = 0; s < this.slots.length; s++) if (this.slots[s] !== null) this.link(s);
  }
}

/** Marks a server available (set when it is added to a service). */
export function markAvailable(d: RealServer): void {
  d.flags |= IP_VS_DEST_F_AVAILABLE;
}
