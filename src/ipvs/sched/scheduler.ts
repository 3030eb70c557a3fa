/**
 * The scheduler ops table (struct ip_vs_scheduler) and the registry of schedulers by name.
 * A scheduler keeps its per-service state in `svc.schedData`: rebuilt when servers are
 * added, removed or changed, only read (or advanced, for the round-robin cursors) per
 * packet.
 */
import { NfemuError } from '../../core/index.ts';
import type { Packet } from '../../packet/index.ts';
import type { RealServer, VirtualService } from '../service.ts';

/** One scheduler. Hooks other than `schedule` run at configuration time only. */
export interface SchedulerOps {
  readonly name: string;
  /** init_service: build the state for the service's current servers. */
  initService(svc: VirtualService): void;
  /** done_service: the service is deleted or changes scheduler. */
  doneService?(svc: VirtualService): void;
  /** add_dest: `dest` was just put at the head of svc.dests. */
  addDest?(svc: VirtualService, dest: RealServer): void;
  /** del_dest: `dest` was just removed from svc.dests, where it was at `index`. */
  delDest?(svc: VirtualService, dest: RealServer, index: number): void;
  /** upd_dest: `dest`'s weight, flags or thresholds changed. */
  updDest?(svc: VirtualService, dest: RealServer): void;
  /** schedule: pick a server for a new connection, or null. Hot path: allocation-free. */
  schedule(svc: VirtualService, pkt: Packet): RealServer | null;
  /** A deep copy of `svc.schedData` whose server references point into `dests` (Host.clone). */
  cloneData(data: unknown, map: (d: RealServer) => RealServer): unknown;
}

const REGISTRY = new Map<string, SchedulerOps>();

/** register_ip_vs_scheduler. */
export function registerScheduler(ops: SchedulerOps): void {
  REGISTRY.set(ops.name, ops);
}

/** The scheduler of this name; NfemuError with the kernel's answer (ENOENT) if there is none. */
export function schedulerByName(name: string): SchedulerOps {
  const s = REGISTRY.get(name);
  if (!s) throw new NfemuError('UNSUPPORTED', `Scheduler not found: ${name}`, { token: name });
  return s;
}

/** Names of the registered schedulers. */
export function schedulerNames(): string[] {
  return [...REGISTRY.keys()];
}

/** The flags every scheduler reads: overloaded or weight ≤ 0 means "not for new connections". */
export function unavailable(d: RealServer): boolean {
  return d.weight <= 0 || (d.flags & 0x0002) !== 0;
}

/** ip_vs_dest_conn_overhead: active connections weigh 256 times an inactive one. */
export function connOverhead(d: RealServer): number {
  return d.activeConns * 256 + d.inactConns;
}
