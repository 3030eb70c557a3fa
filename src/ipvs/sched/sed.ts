/**
 * Shortest expected delay (net/netfilter/ipvs/ip_vs_sed.c): like wlc with the overhead
 * activeconns + 1 (the job being placed counts; inactive connections do not). Stateless.
 */
import type { Packet } from '../../packet/index.ts';
import type { RealServer, VirtualService } from '../service.ts';
import { registerScheduler, type SchedulerOps } from './scheduler.ts';
import { weightedLeast } from './wlc.ts';

/** ip_vs_sed_dest_overhead. */
export function sedOverhead(d: RealServer): number {
  return d.activeConns + 1;
}

export const sedScheduler: SchedulerOps = {
  name: 'sed',
  initService(svc) {
    svc.schedData = null;
  },
  schedule(svc: VirtualService, _pkt: Packet): RealServer | null {
    return weightedLeast(svc, sedOverhead);
  },
  cloneData: () => null,
};

registerScheduler(sedScheduler);
