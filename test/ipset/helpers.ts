/** Shared fixtures for the ipset tests: a registry on a simulated clock and packet builders. */
import { SimulatedClock } from '../../src/core/index.ts';
import { IpsetRegistry, type IpSet } from '../../src/ipset/index.ts';
import { buildPacket, type Packet, type PacketSpec } from '../../src/packet/index.ts';

export function registry(text?: string): { reg: IpsetRegistry; clock: SimulatedClock } {
  const clock = new SimulatedClock(1_000_000);
  const reg = new IpsetRegistry(clock);
  if (text !== undefined) reg.restore(text, 'test.ipset');
  return { reg, clock };
}

export function pkt(spec: PacketSpec): Packet {
  return buildPacket(spec);
}

/** `--match-set` flags as the xtables match passes them: "src,dst" → [1, 0]. */
export function dirs(flags: string): Uint8Array {
  return Uint8Array.from(flags.split(',').map((f) => (f === 'src' ? 1 : 0)));
}

export function mustGet(reg: IpsetRegistry, name: string): IpSet {
  const s = reg.get(name);
  if (!s) throw new Error(`set ${name} missing`);
  return s;
}
