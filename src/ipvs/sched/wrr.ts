/**
 * Weighted round robin (net/netfilter/ipvs/ip_vs_wrr.c). The state is the mark: the list
 * position of the last pick (`cl`), the current weight `cw`, the maximum weight less
 * (gcd - 1) `mw`, and the step `di` = gcd of the positive weights. Each pass over the list
 * takes servers whose weight is ≥ cw; cw then drops by di, and restarts at mw below 1.
 * Adding, removing or changing a server recomputes di and mw, sends the cursor back to the
 * list head and adjusts cw (ip_vs_wrr_dest_changed); a pick only walks the mark.
 */
import type { Packet } from '../../packet/index.ts';
import { gcd } from '../hash.ts';
import type { RealServer, VirtualService } from '../service.ts';
import { IP_VS_DEST_F_OVERLOAD } from '../types.ts';
import { registerScheduler, type SchedulerOps } from './scheduler.ts';

/** struct ip_vs_wrr_mark, with the list position as an index into svc.dests (-1: the head). */
export interface WrrMark {
  cl: number;
  cw: number;
  mw: number;
  di: number;
}

/** ip_vs_wrr_gcd_weight: gcd of the positive weights, 1 when there are none. */
function gcdWeight(svc: VirtualService): number {
  let g = 0;
  for (const d of svc.dests) {
    const w = d.weight;
    if (w > 0) g = g > 0 ? gcd(w, g) : w;
  }
  return g || 1;
}

/** ip_vs_wrr_max_weight. */
function maxWeight(svc: VirtualService): number {
  let w = 0;
  for (const d of svc.dests) if (d.weight > w) w = d.weight;
  return w;
}

function destChanged(svc: VirtualService): void {
  const m = svc.schedData as WrrMark;
  m.cl = -1;
  m.di = gcdWeight(svc);
  m.mw = maxWeight(svc) - (m.di - 1);
  if (m.cw > m.mw || m.cw === 0) m.cw = m.mw;
  else if (m.di > 1) m.cw = Math.trunc(m.cw / m.di) * m.di + 1;
}

export const wrrScheduler: SchedulerOps = {
  name: 'wrr',
  initService(svc) {
    const di = gcdWeight(svc);
    const mw = maxWeight(svc) - (di - 1);
    svc.schedData = { cl: -1, di, mw, cw: mw } satisfies WrrMark;
  },
  addDest: destChanged,
  delDest: destChanged,
  updDest: destChanged,
  schedule(svc: VirtualService, _pkt: Packet): RealServer | null {
    const m = svc.schedData as WrrMark;
    const dests = svc.dests;
    const n = dests.length;
    let dest = m.cl;
    if (m.mw === 0) {
      m.cl = dest;
      return null;
    }
    const last = dest;
    let stop = -2; // none (-1 is the list head)
    let lastPass = false;
    let restarted = false;
    for (;;) {
      for (let i = dest + 1; i < n; i++) {
        const d = dests[i]!;
        if ((d.flags & IP_VS_DEST_F_OVERLOAD) === 0 && d.weight >= m.cw) {
          m.cl = i;
          return d;
        }
        if (i === stop) {
          m.cl = i;
          return null;
        }
      }
      dest = -1;
      m.cw -= m.di;
      if (m.cw <= 0) {
        m.cw = m.mw;
        // Stop if the last pass (all servers for weight ≥ 1) started from the head.
        if (lastPass || last === -1) {
          m.cl = -1;
          return null;
        }
        restarted = true;
      }
      lastPass = m.cw <= m.di;
      if (lastPass && restarted && last !== -1) stop = last;
    }
  },
  cloneData(data) {
    return { ...(data as WrrMark) };
  },
};

registerScheduler(wrrScheduler);
