/**
 * Source hashing (net/netfilter/ipvs/ip_vs_sh.c). A 256-bucket table filled by walking the
 * server list round and round, each server taking `weight` consecutive buckets (at least
 * one); the bucket of a packet is hash_32(sport + source address, 8), the port counting only
 * with the sh-port flag. With sh-fallback an unavailable server (weight ≤ 0 or overloaded)
 * is replaced by probing hash_32 at increasing offsets; without it the packet gets none.
 */
import { IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP, type Family } from '../../core/index.ts';
import type { Packet } from '../../packet/index.ts';
import { addrFold, hash32 } from '../hash.ts';
import type { RealServer, VirtualService } from '../service.ts';
import { IP_VS_SVC_F_SCHED_SH_FALLBACK, IP_VS_SVC_F_SCHED_SH_PORT } from '../types.ts';
import { registerScheduler, unavailable, type SchedulerOps } from './scheduler.ts';

export const IP_VS_SH_TAB_BITS = 8;
export const IP_VS_SH_TAB_SIZE = 1 << IP_VS_SH_TAB_BITS;

interface ShState {
  buckets: (RealServer | null)[];
}

/** ip_vs_sh_hashkey. */
export function shHashkey(_family: Family, addr: Uint32Array, port: number, offset: number): number {
  return (offset + hash32((port + addrFold(addr)) >>> 0, IP_VS_SH_TAB_BITS)) % IP_VS_SH_TAB_SIZE;
}

/** ip_vs_sh_reassign: weight-many consecutive buckets per server, round the list. */
function reassign(svc: VirtualService): void {
  const s = svc.schedData as ShState;
  const dests = svc.dests;
  let p = 0;
  let count = 0;
  for (let i = 0; i < IP_VS_SH_TAB_SIZE; i++) {
    if (dests.length === 0) {
      s.buckets[i] = null;
      continue;
    }
    if (p === dests.length) p = 0;
    const d = dests[p]!;
    s.buckets[i] = d;
    if (++count >= d.weight) {
      p++;
      count = 0;
    }
  }
}

/** The port sh and mh hash (ip_vs_sh_get_port): the source port of TCP, UDP and SCTP. */
export function hashPort(pkt: Packet): number {
  const p = pkt.proto;
  return p === IPPROTO_TCP || p === IPPROTO_UDP || p === IPPROTO_SCTP ? pkt.sport : 0;
}

export const shScheduler: SchedulerOps = {
  name: 'sh',
  initService(svc) {
    svc.schedData = { buckets: new Array<RealServer | null>(IP_VS_SH_TAB_SIZE).fill(null) } satisfies ShState;
    reassign(svc);
  },
  addDest: reassign,
  delDest: reassign,
  updDest: reassign,
  schedule(svc: VirtualService, pkt: Packet): RealServer | null {
    const s = svc.schedData as ShState;
    const port = (svc.flags & IP_VS_SVC_F_SCHED_SH_PORT) !== 0 ? hashPort(pkt) : 0;
    const addr = pkt.saddr;
    const ihash = shHashkey(svc.family, addr, port, 0);
    let d = s.buckets[ihash]!;
    if ((svc.flags & IP_VS_SVC_F_SCHED_SH_FALLBACK) === 0) return d === null || unavailable(d) ? null : d;
    // ip_vs_sh_get_fallback
    if (d === null) return null;
    if (!unavailable(d)) return d;
    for (let offset = 0; offset < IP_VS_SH_TAB_SIZE; offset++) {
      const roffset = (offset + ihash) % IP_VS_SH_TAB_SIZE;
      d = s.buckets[shHashkey(svc.family, addr, port, roffset)]!;
      if (d === null) break;
      if (!unavailable(d)) return d;
    }
    return null;
  },
  cloneData(data, map) {
    return { buckets: (data as ShState).buckets.map((d) => (d === null ? null : map(d))) };
  },
};

/** The bucket table, for tests (which server each of the 256 buckets holds). */
export function shBuckets(svc: VirtualService): readonly (RealServer | null)[] {
  return (svc.schedData as ShState).buckets;
}

registerScheduler(shScheduler);
