/**
 * Destination hashing (net/netfilter/ipvs/ip_vs_dh.c). A 256-bucket table filled by walking
 * the server list round and round, one bucket per server (weights do not count); the bucket
 * of a packet is hash_32(destination address, 8). A server that is unavailable, of weight
 * ≤ 0 or overloaded gives no server. The kernel has no upd_dest for dh: a weight change does
 * not rebuild the table.
 */
import type { Packet } from '../../packet/index.ts';
import { addrFold, hash32 } from '../hash.ts';
import type { RealServer, VirtualService } from '../service.ts';
import { IP_VS_DEST_F_AVAILABLE, IP_VS_DEST_F_OVERLOAD } from '../types.ts';
import { registerScheduler, type SchedulerOps } from './scheduler.ts';

export const IP_VS_DH_TAB_BITS = 8;
export const IP_VS_DH_TAB_SIZE = 1 << IP_VS_DH_TAB_BITS;

interface DhState {
  buckets: (RealServer | null)[];
}

/** ip_vs_dh_hashkey. */
export function dhHashkey(addr: Uint32Array): number {
  return hash32(addrFold(addr), IP_VS_DH_TAB_BITS);
}

function reassign(svc: VirtualService): void {
  const s = svc.schedData as DhState;
  const dests = svc.dests;
  for (let i = 0; i < IP_VS_DH_TAB_SIZE; i++) s.buckets[i] = dests.length === 0 ? null : dests[i % dests.length]!;
}

export const dhScheduler: SchedulerOps = {
  name: 'dh',
  initService(svc) {
    svc.schedData = { buckets: new Array<RealServer | null>(IP_VS_DH_TAB_SIZE).fill(null) } satisfies DhState;
    reassign(svc);
  },
  addDest: reassign,
  delDest: reassign,
  schedule(svc: VirtualService, pkt: Packet): RealServer | null {
    const d = (svc.schedData as DhState).buckets[dhHashkey(pkt.daddr)]!;
    if (d === null || (d.flags & IP_VS_DEST_F_AVAILABLE) === 0 || d.weight <= 0 || (d.flags & IP_VS_DEST_F_OVERLOAD) !== 0) return null;
    return d;
  },
  cloneData(data, map) {
    return { buckets: (data as DhState).buckets.map((d) => (d === null ? null : map(d))) };
  },
};

registerScheduler(dhScheduler);
