/**
 * Round robin (net/netfilter/ipvs/ip_vs_rr.c). The state is the list position of the last
 * pick (svc->sched_data, the list head at first); a pick walks on from there, once round,
 * taking the first server that is neither overloaded nor of weight 0.
 */
import type { Packet } from '../../packet/index.ts';
import type { RealServer, VirtualService } from '../service.ts';
import { registerScheduler, unavailable, type SchedulerOps } from './scheduler.ts';

/** The cursor: index in svc.dests of the last server picked, -1 for the list head. */
interface RrState {
  cursor: number;
}

export const rrScheduler: SchedulerOps = {
  name: 'rr',
  initService(svc) {
    svc.schedData = { cursor: -1 } satisfies RrState;
  },
  addDest(svc) {
    // The kernel's cursor is a list node: a server added at the head shifts our index.
    const s = svc.schedData as RrState;
    if (s.cursor >= 0) s.cursor++;
  },
  delDest(svc, _dest, index) {
    // ip_vs_rr_del_dest: a cursor on the removed server moves back to its predecessor.
    const s = svc.schedData as RrState;
    if (s.cursor >= index) s.cursor--;
  },
  schedule(svc: VirtualService, _pkt: Packet): RealServer | null {
    const s = svc.schedData as RrState;
    const dests = svc.dests;
    const n = dests.length;
    for (let k = 0; k < n; k++) {
      const i = (s.cursor + 1 + k) % n;
      const d = dests[i]!;
      if (!unavailable(d)) {
        s.cursor = i;
        return d;
      }
    }
    return null;
  },
  cloneData(data) {
    return { ...(data as RrState) };
  },
};

registerScheduler(rrScheduler);
