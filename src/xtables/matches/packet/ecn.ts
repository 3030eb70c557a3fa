/**
 * `-m ecn --ecn-tcp-cwr --ecn-tcp-ece --ecn-ip-ect N` (libxt_ecn.c, xt_ecn.c): the ECN field of
 * the IP header (pkt.tos & 3) and the CWR/ECE bits of the TCP header (pkt.tcpFlags). The TCP
 * bits need `-p tcp` (not negated); the kernel refuses the rule otherwise.
 *
 * nfemu deviation: on a non-first fragment the kernel reads payload bytes where it expects the
 * TCP header; nfemu has no payload, so the TCP bits never match there.
 */
import { IPPROTO_TCP } from '../../../core/index.ts';
import type { Packet } from '../../../packet/index.ts';
import { TCP_CWR, TCP_ECE } from '../../../packet/index.ts';
import type { CheckEnv, CompileEnv, Matcher, MatchExt, OptionUse, ParseEnv } from '../../ext.ts';
import { registerMatch } from '../../ext.ts';
import { X6Parser, x6OptionDefs, type X6Entry } from './common.ts';

export const XT_ECN_OP_MATCH_IP = 0x01;
export const XT_ECN_OP_MATCH_ECE = 0x10;
export const XT_ECN_OP_MATCH_CWR = 0x20;

export interface EcnData {
  /** XT_ECN_OP_MATCH_* bits given. */
  readonly operation: number;
  readonly invert: number;
  readonly ipEct: number;
}

const O_CWR = 0;
const O_ECE = 1;
const O_ECT = 2;
const TABLE: readonly X6Entry[] = [
  { id: O_CWR, name: 'ecn-tcp-cwr', args: 0, invert: true },
  { id: O_ECE, name: 'ecn-tcp-ece', args: 0, invert: true },
  { id: O_ECT, name: 'ecn-ip-ect', args: 1, invert: true },
];

function parse(opts: readonly OptionUse[], env: ParseEnv): EcnData {
  const x6 = new X6Parser('ecn', TABLE, env);
  let operation = 0;
  let invert = 0;
  let ipEct = 0;
  for (const o of opts) {
    const e = x6.use(o);
    const bit = e.id === O_CWR ? XT_ECN_OP_MATCH_CWR : e.id === O_ECE ? XT_ECN_OP_MATCH_ECE : XT_ECN_OP_MATCH_IP;
    if (e.id === O_ECT) ipEct = x6.uint(e, o.args[0]!, 0, 3, o.token);
    operation |= bit;
    if (o.invert) invert |= bit;
  }
  if (operation === 0) env.fail('ECN match: some option required');
  x6.finish();
  return { operation, invert, ipEct };
}

function print(d: EcnData): string {
  const out: string[] = [];
  const inv = (bit: number): string => (d.invert & bit ? '! ' : '');
  if (d.operation & XT_ECN_OP_MATCH_ECE) out.push(`${inv(XT_ECN_OP_MATCH_ECE)}--ecn-tcp-ece`);
  if (d.operation & XT_ECN_OP_MATCH_CWR) out.push(`${inv(XT_ECN_OP_MATCH_CWR)}--ecn-tcp-cwr`);
  if (d.operation & XT_ECN_OP_MATCH_IP) out.push(`${inv(XT_ECN_OP_MATCH_IP)}--ecn-ip-ect ${d.ipEct}`);
  return out.join(' ');
}

function check(d: EcnData, env: CheckEnv): string | null {
  const p = env.rule.proto;
  if (d.operation & (XT_ECN_OP_MATCH_ECE | XT_ECN_OP_MATCH_CWR) && (p === null || p.proto !== IPPROTO_TCP || p.invert)) {
    return 'xt_ecn: cannot match TCP bits for non-tcp packets';
  }
  return null;
}

class EcnMatcher implements Matcher {
  constructor(private readonly d: EcnData) {}

  match(pkt: Packet): boolean {
    const d = this.d;
    if (d.operation & XT_ECN_OP_MATCH_IP && ((pkt.tos & 3) === d.ipEct) === ((d.invert & XT_ECN_OP_MATCH_IP) !== 0)) return false;
    if (d.operation & (XT_ECN_OP_MATCH_ECE | XT_ECN_OP_MATCH_CWR)) {
      if (pkt.fragment) return false;
      if (d.operation & XT_ECN_OP_MATCH_ECE && ((pkt.tcpFlags & TCP_ECE) !== 0) === ((d.invert & XT_ECN_OP_MATCH_ECE) !== 0)) return false;
      if (d.operation & XT_ECN_OP_MATCH_CWR && ((pkt.tcpFlags & TCP_CWR) !== 0) === ((d.invert & XT_ECN_OP_MATCH_CWR) !== 0)) return false;
    }
    return true;
  }
}

export const ecnMatch: MatchExt<EcnData> = {
  name: 'ecn',
  options: x6OptionDefs(TABLE),
  parse,
  print,
  check,
  compile: (d: EcnData, _env: CompileEnv) => new EcnMatcher(d),
};

registerMatch(ecnMatch);
