/**
 * Weighted least connection (net/netfilter/ipvs/ip_vs_wlc.c): the least overhead / weight,
 * compared as overhead1 * weight2 > overhead2 * weight1. The first server that is not
 * overloaded and has a positive weight starts; later servers replace it only when strictly
 * better (later overloaded ones are skipped; a later weight 0 never wins). Stateless.
 */
import type { Packet } from '../../packet/index.ts';
import type { RealServer, VirtualService } from '../service.ts';
import { IP_VS_DEST_F_OVERLOAD } from '../types.ts';
import { connOverhead, registerScheduler, type SchedulerOps } from './scheduler.ts';

/**
 * The shape wlc, sed share: the first available server, then strictly better ones.
 * `overhead` is the scheduler's cost of a server.
 */
export function weightedLeast(svc: VirtualService, overhead: (d: RealServer) => number): RealServer | null {
  const dests = svc.dests;
  let i = 0;
  let least: RealServer | null = null;
  for (; i < dests.length; i++) {
    const d = dests[i]!;
    if ((d.flags & IP_VS_DEST_F_OVERLOAD) === 0 && d.weight > 0) {
      least = d;
      break;
    }
  }
  if (least === null) return null;
  let loh = overhead(least);
  for (i++; i < dests.length; i++) {
    const d = dests[i]!;
    if ((d.flags & IP_VS_DEST_F_OVERLOAD) !== 0) continue;
    const doh = overhead(d);
    if (loh * d.weight > doh * least.weight) {
      least = d;
      loh = doh;
    }
  }
  return least;
}

export const wlcScheduler: SchedulerOps = {
  name: 'wlc',
  initService(svc) {
    svc.schedData = null;
  },
  schedule(svc: VirtualService, _pkt: Packet): RealServer | null {
    return weightedLeast(svc, connOverhead);
  },
  cloneData: () => null,
};

registerScheduler(wlcScheduler);
