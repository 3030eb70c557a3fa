/**
 * An entry as the result JSON shows it: the shape the recorded kernel answers give to
 * `conntrack -L` lines (see /work/shared/conformance/kernel-answers, field "conntrack").
 */
import { formatWords, IPPROTO_GRE, IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP, IPPROTO_UDPLITE } from '../core/index.ts';
import { IPS_ASSURED, IPS_CONFIRMED, IPS_SEEN_REPLY } from '../netfilter/index.ts';
import { tcpStateName, type Conn } from './conn.ts';
import { tracksPorts, type Tuple } from './tuple.ts';

/** One direction: ports only for protocols conntrack keys by ports (ICMP shows none, as recorded). */
export type ConnTupleJson = {
  src: string;
  dst: string;
  proto: string;
  sport?: number;
  dport?: number;
};

/**
 * conntrack -L as JSON. Keys in the recorded order; `state` only for TCP, `zone` only when
 * not 0, `flags` (lower-case [UNREPLIED] / [ASSURED]) only when there is one.
 */
export type ConnJson = {
  original: ConnTupleJson;
  reply: ConnTupleJson;
  state?: string;
  mark: number;
  zone?: number;
  /** Whole seconds left (the kernel's nf_ct_expires / HZ, rounded down). */
  timeout: number;
  flags?: string[];
};

/** Protocol names as conntrack-tools prints them; "unknown" for the generic tracker's. */
export function conntrackProtoName(proto: number): string {
  switch (proto) {
    case IPPROTO_TCP: return 'tcp';
    case IPPROTO_UDP: return 'udp';
    case IPPROTO_UDPLITE: return 'udplite';
    case IPPROTO_ICMP: return 'icmp';
    case IPPROTO_ICMPV6: return 'icmpv6';
    case IPPROTO_SCTP: return 'sctp';
    case 33: return 'dccp';
    case IPPROTO_GRE: return 'gre';
    default: return 'unknown';
  }
}

function tupleJson(t: Tuple): ConnTupleJson {
  const j: ConnTupleJson = { src: formatWords(t.family, t.src), dst: formatWords(t.family, t.dst), proto: conntrackProtoName(t.proto) };
  if (tracksPorts(t.proto)) {
    j.sport = t.sport;
    j.dport = t.dport;
  }
  return j;
}

/** One entry as the result JSON shows it, with the timeout left at `nowMs`. */
export function connToJson(ct: Conn, nowMs: number): ConnJson {
  const left = (ct.status & IPS_CONFIRMED) !== 0 ? ct.timeoutAt - nowMs : ct.timeoutRel;
  const flags: string[] = [];
  if ((ct.status & IPS_SEEN_REPLY) === 0) flags.push('unreplied');
  if ((ct.status & IPS_ASSURED) !== 0) flags.push('assured');
  // Built key by key: JSON keeps insertion order, and the recorded order is this one.
  const j = { original: tupleJson(ct.orig), reply: tupleJson(ct.reply) } as ConnJson;
  if (ct.orig.proto === IPPROTO_TCP) j.state = tcpStateName(ct.tcpState);
  j.mark = ct.mark >>> 0;
  if (ct.zone !== 0) j.zone = ct.zone;
  j.timeout = left > 0 ? Math.floor(left / 1000) : 0;
  if (flags.length > 0) j.flags = flags;
  return j;
}
