/**
 * Time. Leaf module: no imports here.
 *
 * nfemu never reads the wall clock: conntrack timeouts, recent lists, limit buckets and
 * IPVS connection expiry all read a Clock passed in by the caller.
 */

/** Monotonic time in milliseconds. */
export interface Clock {
  /** Milliseconds since an arbitrary epoch; never decreases. */
  nowMs(): number;
}

/** A clock that moves only when told to. */
export class SimulatedClock implements Clock {
  private ms: number;
  constructor(startMs = 0) {
    this.ms = startMs;
  }
  nowMs(): number {
    return this.ms;
  }
  /** Move forward by `ms` milliseconds (must be ≥ 0). */
  advance(ms: number): void {
    if (!(ms >= 0)) throw new RangeError(`clock cannot move backwards (${ms} ms)`);
    this.ms += ms;
  }
  /** Move forward by `s` seconds. */
  advanceSeconds(s: number): void {
    this.advance(s * 1000);
  }
}
