/**
 * The connection entry (struct nf_conn) and the TCP state numbers (enum tcp_conntrack).
 */
import type { ConnRef } from '../packet/index.ts';
import { cloneTuple, type Tuple } from './tuple.ts';

/** Direction of a tuple in an entry (enum ip_conntrack_dir). */
export const IP_CT_DIR_ORIGINAL = 0;
export const IP_CT_DIR_REPLY = 1;

/** TCP conntrack states (enum tcp_conntrack). SYN_SENT2 reuses the old LISTEN slot. */
export const TCP_CONNTRACK_NONE = 0;
export const TCP_CONNTRACK_SYN_SENT = 1;
export const TCP_CONNTRACK_SYN_RECV = 2;
export const TCP_CONNTRACK_ESTABLISHED = 3;
export const TCP_CONNTRACK_FIN_WAIT = 4;
export const TCP_CONNTRACK_CLOSE_WAIT = 5;
export const TCP_CONNTRACK_LAST_ACK = 6;
export const TCP_CONNTRACK_TIME_WAIT = 7;
export const TCP_CONNTRACK_CLOSE = 8;
export const TCP_CONNTRACK_SYN_SENT2 = 9;
/** Number of real states; in the transition table it also means "invalid" (sIV). */
export const TCP_CONNTRACK_MAX = 10;
/** Transition table marker: ignore the packet (sIG). */
export const TCP_CONNTRACK_IGNORE = 11;
/** Timeout slots past the states: retransmissions and unacknowledged data. */
export const TCP_CONNTRACK_RETRANS = 12;
export const TCP_CONNTRACK_UNACK = 13;
export const TCP_CONNTRACK_TIMEOUT_MAX = 14;

/** State names as conntrack -L prints them (libnetfilter_conntrack), indexed by state. */
export const TCP_STATE_NAMES: readonly string[] = [
  'NONE', 'SYN_SENT', 'SYN_RECV', 'ESTABLISHED', 'FIN_WAIT', 'CLOSE_WAIT', 'LAST_ACK', 'TIME_WAIT', 'CLOSE', 'SYN_SENT2',
];

/** "SYN_SENT", "ESTABLISHED", ... for a TCP_CONNTRACK_* state; "UNKNOWN" otherwise. */
export function tcpStateName(state: number): string {
  return TCP_STATE_NAMES[state] ?? 'UNKNOWN';
}

/** Per-direction TCP flags (ip_ct_tcp_state.flags), with the kernel's bit values. */
export const IP_CT_TCP_FLAG_CLOSE_INIT = 0x04;
export const IP_CT_TCP_FLAG_BE_LIBERAL = 0x08;
export const IP_CT_TCP_FLAG_DATA_UNACKNOWLEDGED = 0x10;
export const IP_CT_TCP_FLAG_SACK_PERM = 0x02;
/** ip_ct_tcp.last_flags bits. */
export const IP_CT_EXP_CHALLENGE_ACK = 0x40;
export const IP_CT_TCP_SIMULTANEOUS_OPEN = 0x80;

/**
 * A connection tracking entry. `orig` is fixed at creation; `reply` starts as its inverse
 * and is rewritten in place by NAT (nf_conntrack_alter_reply) while the entry is
 * unconfirmed. The host and the matches read the public fields; the fields marked internal
 * belong to the table and the trackers of this folder.
 */
export class Conn implements ConnRef {
  /** Creation order within a table (and its clones); never reused. */
  readonly id: number;
  /** Original-direction tuple. Do not modify. */
  orig: Tuple;
  /** Reply-direction tuple; NAT rewrites it in place before confirmation. */
  reply: Tuple;
  /** IPS_* status bits. */
  status = 0;
  /** ct mark (CONNMARK, -m connmark). */
  mark = 0;
  /** Conntrack zone (CT --zone), the same for both directions. */
  readonly zone: number;
  /** TCP_CONNTRACK_* for TCP entries, TCP_CONNTRACK_NONE otherwise. */
  tcpState = TCP_CONNTRACK_NONE;
  /**
   * When the entry expires, in ms on the table's clock. While unconfirmed the kernel keeps
   * the timeout relative and starts it at confirmation; `timeoutAt` then shows what it
   * would be if confirmed now.
   */
  timeoutAt = 0;

  /** @internal Slot in the table's arrays; -1 once freed. */
  slot = -1;
  /** @internal Timeout in ms, relative, while unconfirmed. */
  timeoutRel = 0;
  /** @internal Which of the two tuples are in the hash table (a NAT clash entry has only the reply). */
  inOrigHash = false;
  inReplyHash = false;
  /** @internal TCP tracker state: ip_ct_tcp.last_index / last_dir / last_flags and seen[].flags. */
  tcpLastIndex = 5;
  tcpLastDir = 0;
  tcpLastFlags = 0;
  tcpSeenFlags0 = 0;
  tcpSeenFlags1 = 0;
  /** @internal UDP: ms after which a replied flow counts as a stream (ct->proto.udp.stream_ts). */
  udpStreamTs = 0;

  constructor(id: number, zone: number, orig: Tuple, reply: Tuple) {
    this.id = id;
    this.zone = zone;
    this.orig = orig;
    this.reply = reply;
  }

  /** A deep copy with the same id (table clones). */
  copy(): Conn {
    const c = new Conn(this.id, this.zone, cloneTuple(this.orig), cloneTuple(this.reply));
    c.status = this.status;
    c.mark = this.mark;
    c.tcpState = this.tcpState;
    c.timeoutAt = this.timeoutAt;
    c.slot = this.slot;
    c.timeoutRel = this.timeoutRel;
    c.inOrigHash = this.inOrigHash;
    c.inReplyHash = this.inReplyHash;
    c.tcpLastIndex = this.tcpLastIndex;
    c.tcpLastDir = this.tcpLastDir;
    c.tcpLastFlags = this.tcpLastFlags;
    c.tcpSeenFlags0 = this.tcpSeenFlags0;
    c.tcpSeenFlags1 = this.tcpSeenFlags1;
    c.udpStreamTs = this.udpStreamTs;
    return c;
  }
}
