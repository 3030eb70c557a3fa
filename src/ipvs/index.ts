/**
 * ipvs: the kernel's IP Virtual Server (net/netfilter/ipvs) for one network namespace —
 * virtual services and real servers, the schedulers (rr, wrr, lc, wlc, sh, dh, sed, nq, mh)
 * as ops objects registered by name, persistence templates, the connection table with its
 * timeouts on the injected clock, and ipvsadm text in (ipvsadm-save -n) and out (-Ln, -Sn,
 * -Lnc). Imports core, packet, netfilter, conntrack and xtables.
 *
 * Where it sits in the packet path (DESIGN.md §1), by hook priority: LOCAL_IN after filter
 * INPUT (98 replies, 99 requests: DNAT to the real server and out through LOCAL_OUT and
 * POSTROUTING), LOCAL_OUT after nat OUTPUT (-99 replies, -98 requests from local clients),
 * FORWARD 100 (replies from real servers routed through this host). See engine.ts.
 */
export * from './types.ts';
export { hash32, hsiphashU32, hsiphashBytes, hsiphashKey, gcd, fls, addrFold, type HsiphashKey } from './hash.ts';
export { IpvsStats, RealServer, VirtualService, ServiceTable } from './service.ts';
export { ConnTable, IpvsConn } from './conn.ts';
export { TCP_TIMEOUTS_S, TCP_STATE_NAMES, UDP_TIMEOUT_S, tcpNextState, stateName } from './proto.ts';
export { Ipvs, type IpvsEnv, type IpvsOptions, type IpvsSysctls, type ServiceKey, type ServiceSpec, type DestSpec } from './engine.ts';
export * from './sched/index.ts';
export { parseIpvsadm, parseIpvsadmLine, applyIpvsadm, restoreIpvs, DEFAULT_SCHEDULER, DEFAULT_PERSISTENT_TIMEOUT, type IpvsCommand } from './parse.ts';
export { printList, printSave, printConnections, printTimeout, compareServices, compareDests, schedFlagsText, type ListOptions } from './print.ts';
