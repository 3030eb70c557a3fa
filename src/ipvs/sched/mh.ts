/**
 * Maglev hashing (net/netfilter/ipvs/ip_vs_mh.c). Each server gets a permutation of the
 * 4093 lookup-table positions from two hsiphash values of its address and port (offset and
 * skip); servers take turns claiming their next free preferred position, each taking
 * (last_weight / gcd) >> rshift turns in a row, until the table is full. The table is
 * rebuilt when servers change and only read per packet: position hsiphash(sport + source
 * address) % 4093, the port counting only with mh-port. With mh-fallback an unavailable
 * server is replaced by probing at increasing offsets.
 */
import { NfemuError } from '../../core/index.ts';
import type { Packet } from '../../packet/index.ts';
import { addrFold, fls, gcd, hsiphashU32, type HsiphashKey } from '../hash.ts';
import type { RealServer, VirtualService } from '../service.ts';
import { IP_VS_SVC_F_SCHED_MH_FALLBACK, IP_VS_SVC_F_SCHED_MH_PORT } from '../types.ts';
import { registerScheduler, unavailable, type SchedulerOps } from './scheduler.ts';
import { hashPort } from './sh.ts';

/** primes[CONFIG_IP_VS_MH_TAB_INDEX - 8] with the default index 12. */
export const IP_VS_MH_TAB_SIZE = 4093;
/** CONFIG_IP_VS_MH_TAB_INDEX / 2. */
export const IP_VS_MH_TAB_BITS = 6;

/** generate_hash_secret: fixed keys (each half an unsigned long holding a 32-bit constant). */
const HASH1: HsiphashKey = { k0hi: 0, k0lo: 2654435761, k1hi: 0, k1lo: 2654435761 };
const HASH2: HsiphashKey = { k0hi: 0, k0lo: 2654446892, k1hi: 0, k1lo: 2654446892 };

interface MhState {
  lookup: (RealServer | null)[];
  gcd: number;
  rshift: number;
}

/** ip_vs_mh_hashkey: hsiphash of the u32 offset + port + address fold. */
export function mhHashkey(addr: Uint32Array, port: number, key: HsiphashKey, offset: number): number {
  return hsiphashU32((offset + port + addrFold(addr)) >>> 0, key);
}

/** ip_vs_mh_gcd_weight: gcd of the positive last weights, 0 when none. */
function gcdWeight(svc: VirtualService): number {
  let g = 0;
  for (const d of svc.dests) {
    const w = d.lastWeight;
    if (w > 0) g = g > 0 ? gcd(w, g) : w;
  }
  return g;
}

/** ip_vs_mh_shift_weight: keep (max weight / gcd) within IP_VS_MH_TAB_BITS bits. */
function shiftWeight(svc: VirtualService, g: number): number {
  if (g < 1) return 0;
  let w = 0;
  for (const d of svc.dests) if (d.lastWeight > w) w = d.lastWeight;
  const shift = fls(Math.trunc(w / g)) - IP_VS_MH_TAB_BITS;
  return shift >= 0 ? shift : 0;
}

/** ip_vs_mh_permutate + ip_vs_mh_populate. */
function reassign(svc: VirtualService): void {
  const s = svc.schedData as MhState;
  const n = svc.dests.length;
  if (n > IP_VS_MH_TAB_SIZE) throw new NfemuError('VALIDATE', `mh: more than ${IP_VS_MH_TAB_SIZE} real servers (EINVAL)`);
  if (s.gcd < 1) {
    s.lookup.fill(null);
    return;
  }
  const offset = new Uint32Array(n);
  const skip = new Uint32Array(n);
  const perm = new Uint32Array(n);
  const turns = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const d = svc.dests[i]!;
    offset[i] = mhHashkey(d.addr, d.port, HASH1, 0) % IP_VS_MH_TAB_SIZE;
    skip[i] = (mhHashkey(d.addr, d.port, HASH2, 0) % (IP_VS_MH_TAB_SIZE - 1)) + 1;
    perm[i] = offset[i]!;
    const lw = d.lastWeight;
    turns[i] = (Math.trunc(lw / s.gcd) >> s.rshift) || (lw !== 0 ? 1 : 0);
  }
  const taken = new Uint8Array(IP_VS_MH_TAB_SIZE);
  let filled = 0;
  let dtCount = 0;
  let p = 0;
  while (filled < IP_VS_MH_TAB_SIZE) {
    if (p === n) p = 0;
    while (p < n) {
      if (turns[p]! < 1) {
        p++; // a server whose weight was always 0 takes no position
        continue;
      }
      let c = perm[p]!;
      while (taken[c]) {
        c = perm[p]! + skip[p]!;
        if (c >= IP_VS_MH_TAB_SIZE) c -= IP_VS_MH_TAB_SIZE;
        perm[p] = c;
      }
      taken[c] = 1;
      s.lookup[c] = svc.dests[p]!;
      if (++filled === IP_VS_MH_TAB_SIZE) return;
      if (++dtCount >= turns[p]!) {
        dtCount = 0;
        p++;
      }
    }
  }
}

function destChanged(svc: VirtualService): void {
  const s = svc.schedData as MhState;
  s.gcd = gcdWeight(svc);
  s.rshift = shiftWeight(svc, s.gcd);
  reassign(svc);
}

export const mhScheduler: SchedulerOps = {
  name: 'mh',
  initService(svc) {
    const g = gcdWeight(svc);
    svc.schedData = { lookup: new Array<RealServer | null>(IP_VS_MH_TAB_SIZE).fill(null), gcd: g, rshift: shiftWeight(svc, g) } satisfies MhState;
    reassign(svc);
  },
  addDest: destChanged,
  delDest: destChanged,
  updDest: destChanged,
  schedule(svc: VirtualService, pkt: Packet): RealServer | null {
    const s = svc.schedData as MhState;
    const port = (svc.flags & IP_VS_SVC_F_SCHED_MH_PORT) !== 0 ? hashPort(pkt) : 0;
    const addr = pkt.saddr;
    const ihash = mhHashkey(addr, port, HASH1, 0) % IP_VS_MH_TAB_SIZE;
    let d = s.lookup[ihash]!;
    if ((svc.flags & IP_VS_SVC_F_SCHED_MH_FALLBACK) === 0) return d === null || unavailable(d) ? null : d;
    // ip_vs_mh_get_fallback
    if (d === null) return null;
    if (!unavailable(d)) return d;
    for (let offset = 0; offset < IP_VS_MH_TAB_SIZE; offset++) {
      const roffset = (offset + ihash) % IP_VS_MH_TAB_SIZE;
      d = s.lookup[mhHashkey(addr, port, HASH1, roffset) % IP_VS_MH_TAB_SIZE]!;
      if (d === null) break;
      if (!unavailable(d)) return d;
    }
    return null;
  },
  cloneData(data, map) {
    const s = data as MhState;
    return { lookup: s.lookup.map((d) => (d === null ? null : map(d))), gcd: s.gcd, rshift: s.rshift };
  },
};

/** The lookup table, for tests (which server each of the 4093 positions holds). */
export function mhLookup(svc: VirtualService): readonly (RealServer | null)[] {
  return (svc.schedData as MhState).lookup;
}

registerScheduler(mhScheduler);
