/**
 * `-m pkttype --pkt-type unicast|broadcast|multicast|otherhost` (libxt_pkttype.c,
 * xt_pkttype.c): the link-layer packet type (pkt.pktType, PACKET_*). `host` is accepted as
 * unicast. A looped-back packet (PACKET_LOOPBACK) counts as multicast when its IPv4
 * destination is multicast or it is IPv6, else as broadcast, as the kernel does.
 */
import type { Packet } from '../../../packet/index.ts';
import { PACKET_BROADCAST, PACKET_HOST, PACKET_MULTICAST, PACKET_OTHERHOST } from '../../../packet/index.ts';
import type { CompileEnv, Matcher, MatchExt, OptionUse, ParseEnv } from '../../ext.ts';
import { registerMatch } from '../../ext.ts';
import { X6Parser, x6OptionDefs, type X6Entry } from './common.ts';

/** PACKET_LOOPBACK (if_packet.h). */
const PACKET_LOOPBACK = 5;

export interface PkttypeData {
  readonly pktType: number;
  readonly invert: boolean;
}

/** Names in the kernel tool's order: the first name of a number is the one printed. */
const NAMES: ReadonlyArray<readonly [string, number]> = [
  ['unicast', PACKET_HOST], ['broadcast', PACKET_BROADCAST], ['multicast', PACKET_MULTICAST],
  ['otherhost', PACKET_OTHERHOST], ['host', PACKET_HOST],
];

const TABLE: readonly X6Entry[] = [{ id: 0, name: 'pkt-type', args: 1, invert: true, mand: true }];

function parse(opts: readonly OptionUse[], env: ParseEnv): PkttypeData {
  const x6 = new X6Parser('pkttype', TABLE, env);
  let d: PkttypeData = { pktType: PACKET_HOST, invert: false };
  for (const o of opts) {
    x6.use(o);
    const text = o.args[0]!;
    const n = NAMES.find(([name]) => name === text.toLowerCase());
    if (n === undefined) env.fail(`Bad packet type '${text}'`, o.token);
    d = { pktType: n[1], invert: o.invert };
  }
  x6.finish();
  return d;
}

function print(d: PkttypeData): string {
  const n = NAMES.find(([, v]) => v === d.pktType);
  return `${d.invert ? '! ' : ''}--pkt-type ${n ? n[0] : d.pktType}`;
}

class PkttypeMatcher implements Matcher {
  constructor(
    private readonly pktType: number,
    private readonly invert: boolean,
  ) {}

  match(pkt: Packet): boolean {
    let t = pkt.pktType;
    if (t === PACKET_LOOPBACK) {
      t = pkt.family === 6 || (pkt.daddr[0]! >>> 28) === 0xe ? PACKET_MULTICAST : PACKET_BROADCAST;
    }
    return (t === this.pktType) !== this.invert;
  }
}

export const pkttypeMatch: MatchExt<PkttypeData> = {
  name: 'pkttype',
  options: x6OptionDefs(TABLE),
  parse,
  print,
  compile: (d: PkttypeData, _env: CompileEnv) => new PkttypeMatcher(d.pktType, d.invert),
};

registerMatch(pkttypeMatch);
