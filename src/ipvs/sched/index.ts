/**
 * The IPVS schedulers, one file each, registered by name on import: rr, wrr, lc, wlc, sh,
 * dh, sed, nq, mh (the kernel's ip_vs_*.c of the same names).
 */
export * from './scheduler.ts';
export { rrScheduler } from './rr.ts';
export { wrrScheduler, type WrrMark } from './wrr.ts';
export { lcScheduler } from './lc.ts';
export { wlcScheduler, weightedLeast } from './wlc.ts';
export { sedScheduler } from './sed.ts';
export { nqScheduler } from './nq.ts';
export { shScheduler, shHashkey, shBuckets, hashPort, IP_VS_SH_TAB_SIZE } from './sh.ts';
export { dhScheduler, dhHashkey, IP_VS_DH_TAB_SIZE } from './dh.ts';
export { mhScheduler, mhHashkey, mhLookup, IP_VS_MH_TAB_SIZE } from './mh.ts';
