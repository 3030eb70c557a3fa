/**
 * Never queue (net/netfilter/ipvs/ip_vs_nq.c): the first idle server (no active
 * connections) in list order; when none is idle, shortest expected delay
 * ((activeconns + 1) / weight, first on a tie). Overloaded servers and weight 0 are skipped.
 * Stateless.
 */
import type { Packet } from '../../packet/index.ts';
import type { RealServer, VirtualService } from '../service.ts';
import { IP_VS_DEST_F_OVERLOAD } from '../types.ts';
import { registerScheduler, type SchedulerOps } from './scheduler.ts';

export const nqScheduler: SchedulerOps = {
  name: 'nq',
  initService(svc) {
    svc.schedData = null;
  },
  schedule(svc: VirtualService, _pkt: Packet): RealServer | null {
    let least: RealServer | null = null;
    let loh = 0;
    for (const d of svc.dests) {
      if ((d.flags & IP_VS_DEST_F_OVERLOAD) !== 0 || d.weight === 0) continue;
      const doh = d.activeConns + 1;
      if (d.activeConns === 0) return d;
      if (least === null || loh * d.weight > doh * least.weight) {
        least = d;
        loh = doh;
      }
    }
    return least;
  },
  cloneData: () => null,
};

registerScheduler(nqScheduler);
