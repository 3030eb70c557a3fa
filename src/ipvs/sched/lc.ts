/**
 * Least connection (net/netfilter/ipvs/ip_vs_lc.c): the server with the least
 * (activeconns << 8) + inactconns, first in list order on a tie; overloaded servers and
 * servers of weight 0 are skipped. Stateless.
 */
import type { Packet } from '../../packet/index.ts';
import type { RealServer, VirtualService } from '../service.ts';
import { IP_VS_DEST_F_OVERLOAD } from '../types.ts';
import { connOverhead, registerScheduler, type SchedulerOps } from './scheduler.ts';

export const lcScheduler: SchedulerOps = {
  name: 'lc',
  initService(svc) {
    svc.schedData = null;
  },
  schedule(svc: VirtualService, _pkt: Packet): RealServer | null {
    let least: RealServer | null = null;
    let loh = 0;
    for (const d of svc.dests) {
      if ((d.flags & IP_VS_DEST_F_OVERLOAD) !== 0 || d.weight === 0) continue;
      const doh = connOverhead(d);
      if (least === null || doh < loh) {
        least = d;
        loh = doh;
      }
    }
    return least;
  },
  cloneData: () => null,
};

registerScheduler(lcScheduler);
