/**
 * The TCP tracker (nf_conntrack_proto_tcp.c): flag validation, the tcp_conntracks state
 * table, new-connection pickup, the reopen/ignore/challenge-ACK special cases, per-state
 * timeouts and ASSURED.
 *
 * Deliberate simplification: packets carry no sequence/ack numbers or window, so
 * tcp_in_window's sequence checks are not modelled. Every segment is taken as in window
 * and every segment is taken to acknowledge all the peer has sent (in-order, lossless
 * delivery). What the window tracking feeds into the visible behaviour is kept:
 * DATA_UNACKNOWLEDGED (a segment carrying data or FIN is unacknowledged until the peer's
 * next segment) caps the timeout at the "unacknowledged" timeout, and where the kernel
 * compares an ACK to an annotated sequence number (a SYN/ACK answering an ignored SYN, an
 * RST answering an ignored segment) the numbers are taken to match. Retransmission counting
 * (tcp_max_retrans) and zero-window detection are not modelled.
 */
import { NF_ACCEPT, IP_CT_IS_REPLY, IPS_ASSURED, IPS_CONFIRMED, IPS_SEEN_REPLY } from '../netfilter/index.ts';
import { TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN, TCP_URG, TCP_PSH, TCP_ECE, TCP_CWR, type Packet } from '../packet/index.ts';
import {
  Conn, IP_CT_DIR_ORIGINAL, IP_CT_DIR_REPLY, IP_CT_EXP_CHALLENGE_ACK, IP_CT_TCP_FLAG_BE_LIBERAL, IP_CT_TCP_FLAG_CLOSE_INIT,
  IP_CT_TCP_FLAG_DATA_UNACKNOWLEDGED, IP_CT_TCP_FLAG_SACK_PERM, IP_CT_TCP_SIMULTANEOUS_OPEN, TCP_CONNTRACK_CLOSE,
  TCP_CONNTRACK_ESTABLISHED, TCP_CONNTRACK_FIN_WAIT, TCP_CONNTRACK_IGNORE, TCP_CONNTRACK_LAST_ACK, TCP_CONNTRACK_MAX,
  TCP_CONNTRACK_NONE, TCP_CONNTRACK_SYN_RECV, TCP_CONNTRACK_SYN_SENT, TCP_CONNTRACK_SYN_SENT2, TCP_CONNTRACK_TIME_WAIT,
  TCP_CONNTRACK_UNACK, TCP_CONNTRACK_CLOSE_WAIT, TCP_CONNTRACK_TIMEOUT_MAX,
} from './conn.ts';

/** Tracker verdicts: NF_ACCEPT, or the kernel's negative codes. */
export const CT_INVALID = -NF_ACCEPT; // -1: not part of a connection, ct is dropped from the packet
export const CT_REPEAT = -4; // -NF_REPEAT: entry killed, look the packet up again

/** What the table lends a tracker. */
export interface TrackerContext {
  /** nf_ct_refresh: restart the entry's timeout (ms). */
  refresh(ct: Conn, ms: number): void;
  /** nf_ct_kill: remove the entry from the table now. */
  kill(ct: Conn): void;
}

/** sysctl-backed TCP settings. */
export interface TcpConfig {
  /** nf_conntrack_tcp_loose: pick up connections from a non-SYN first packet. */
  loose: boolean;
  /** Timeouts in ms, indexed by TCP_CONNTRACK_* (including RETRANS and UNACK). */
  timeouts: Float64Array;
}

/** The kernel's default TCP timeouts in seconds (tcp_timeouts[]), indexed by state. */
export function defaultTcpTimeoutsSeconds(): number[] {
  const t = new Array<number>(TCP_CONNTRACK_TIMEOUT_MAX).fill(0);
  t[TCP_CONNTRACK_SYN_SENT] = 120;
  t[TCP_CONNTRACK_SYN_RECV] = 60;
  t[TCP_CONNTRACK_ESTABLISHED] = 5 * 24 * 3600;
  t[TCP_CONNTRACK_FIN_WAIT] = 120;
  t[TCP_CONNTRACK_CLOSE_WAIT] = 60;
  t[TCP_CONNTRACK_LAST_ACK] = 30;
  t[TCP_CONNTRACK_TIME_WAIT] = 120;
  t[TCP_CONNTRACK_CLOSE] = 10;
  t[TCP_CONNTRACK_SYN_SENT2] = 120;
  t[12] = 300; // RETRANS
  t[TCP_CONNTRACK_UNACK] = 300;
  t[TCP_CONNTRACK_NONE] = t[TCP_CONNTRACK_SYN_SENT]!; // timeouts[0] is the "new" timeout
  return t;
}

/** enum tcp_bit_set: which row of the table a segment uses. */
export const TCP_SYN_SET = 0;
export const TCP_SYNACK_SET = 1;
export const TCP_FIN_SET = 2;
export const TCP_ACK_SET = 3;
export const TCP_RST_SET = 4;
export const TCP_NONE_SET = 5;

/** get_conntrack_index. */
export function tcpIndex(flags: number): number {
  if (flags & TCP_RST) return TCP_RST_SET;
  if (flags & TCP_SYN) return flags & TCP_ACK ? TCP_SYNACK_SET : TCP_SYN_SET;
  if (flags & TCP_FIN) return TCP_FIN_SET;
  if (flags & TCP_ACK) return TCP_ACK_SET;
  return TCP_NONE_SET;
}

/** tcp_valid_flags: the flag combinations tcp_error accepts (PSH, ECE and CWR ignored). */
const VALID_FLAGS = new Uint8Array(64);
for (const f of [
  TCP_SYN, TCP_SYN | TCP_URG, TCP_SYN | TCP_ACK, TCP_RST, TCP_RST | TCP_ACK, TCP_FIN | TCP_ACK,
  TCP_FIN | TCP_ACK | TCP_URG, TCP_ACK, TCP_ACK | TCP_URG,
]) VALID_FLAGS[f] = 1;

/** Whether tcp_error accepts these flags. */
export function tcpFlagsValid(flags: number): boolean {
  return VALID_FLAGS[flags & ~(TCP_ECE | TCP_CWR | TCP_PSH) & 0x3f] === 1;
}

const sSS = TCP_CONNTRACK_SYN_SENT, sSR = TCP_CONNTRACK_SYN_RECV,
  sES = TCP_CONNTRACK_ESTABLISHED, sFW = TCP_CONNTRACK_FIN_WAIT, sCW = TCP_CONNTRACK_CLOSE_WAIT,
  sLA = TCP_CONNTRACK_LAST_ACK, sTW = TCP_CONNTRACK_TIME_WAIT, sCL = TCP_CONNTRACK_CLOSE,
  sS2 = TCP_CONNTRACK_SYN_SENT2, sIV = TCP_CONNTRACK_MAX, sIG = TCP_CONNTRACK_IGNORE;

/**
 * tcp_conntracks[dir][index][state], flattened as dir*60 + index*10 + state. Rows are
 * syn, synack, fin, ack, rst, none; columns NONE, SYN_SENT, SYN_RECV, ESTABLISHED,
 * FIN_WAIT, CLOSE_WAIT, LAST_ACK, TIME_WAIT, CLOSE, SYN_SENT2.
 */
const TCP_CONNTRACKS = Uint8Array.from([
  // ORIGINAL
  sSS, sSS, sIG, sIG, sIG, sIG, sIG, sSS, sSS, sS2, // syn
  sIV, sIV, sSR, sIV, sIV, sIV, sIV, sIV, sIV, sSR, // synack
  sIV, sIV, sFW, sFW, sLA, sLA, sLA, sTW, sCL, sIV, // fin
  sES, sIV, sES, sES, sCW, sCW, sTW, sTW, sCL, sIV, // ack
  sIV, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL, // rst
  sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, // none
  // REPLY
  sIV, sS2, sIV, sIV, sIV, sIV, sIV, sSS, sIV, sS2, // syn
  sIV, sSR, sIG, sIG, sIG, sIG, sIG, sIG, sIG, sSR, // synack
  sIV, sIV, sFW, sFW, sLA, sLA, sLA, sTW, sCL, sIV, // fin
  sIV, sIG, sSR, sES, sCW, sCW, sTW, sTW, sCL, sIG, // ack
  sIV, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL, // rst
  sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, // none
]);

/** The table's next state for a segment (TCP_CONNTRACK_MAX = invalid, IGNORE = ignore). */
export function tcpNextState(dir: number, index: number, state: number): number {
  return TCP_CONNTRACKS[dir * 60 + index * 10 + state]!;
}

/** tcp_can_early_drop: closing states may be evicted even when ASSURED. */
export function tcpCanEarlyDrop(state: number): boolean {
  return state === TCP_CONNTRACK_FIN_WAIT || state === TCP_CONNTRACK_LAST_ACK || state === TCP_CONNTRACK_TIME_WAIT ||
    state === TCP_CONNTRACK_CLOSE || state === TCP_CONNTRACK_CLOSE_WAIT;
}

function seenFlags(ct: Conn, dir: number): number {
  return dir === IP_CT_DIR_ORIGINAL ? ct.tcpSeenFlags0 : ct.tcpSeenFlags1;
}
function setSeenFlags(ct: Conn, dir: number, v: number): void {
  if (dir === IP_CT_DIR_ORIGINAL) ct.tcpSeenFlags0 = v;
  else ct.tcpSeenFlags1 = v;
}

/**
 * tcp_new for an unconfirmed entry: false when the first segment cannot start a
 * connection (then the packet is INVALID).
 */
function tcpNew(ct: Conn, flags: number, cfg: TcpConfig): boolean {
  const next = tcpNextState(IP_CT_DIR_ORIGINAL, tcpIndex(flags), TCP_CONNTRACK_NONE);
  if (next >= TCP_CONNTRACK_MAX) return false;
  ct.tcpState = TCP_CONNTRACK_NONE;
  ct.tcpLastFlags = 0;
  ct.tcpLastDir = 0;
  if (next === TCP_CONNTRACK_SYN_SENT) {
    ct.tcpSeenFlags0 = 0;
    ct.tcpSeenFlags1 = 0;
  } else if (!cfg.loose) {
    return false;
  } else {
    // Picked up mid-stream: the kernel assumes SACK and liberal window checking.
    ct.tcpSeenFlags0 = ct.tcpSeenFlags1 = IP_CT_TCP_FLAG_SACK_PERM | IP_CT_TCP_FLAG_BE_LIBERAL;
  }
  ct.tcpLastIndex = TCP_NONE_SET;
  return true;
}

/**
 * nf_conntrack_tcp_packet: runs one segment through the entry. Returns NF_ACCEPT,
 * CT_INVALID or CT_REPEAT (the entry was killed to reopen the connection). Hot path.
 */
export function tcpPacket(ctx: TrackerContext, cfg: TcpConfig, ct: Conn, pkt: Packet, ctinfo: number): number {
  const flags = pkt.tcpFlags;
  if (!tcpFlagsValid(flags)) return CT_INVALID;
  if ((ct.status & IPS_CONFIRMED) === 0 && !tcpNew(ct, flags, cfg)) return CT_INVALID;

  let oldState = ct.tcpState;
  const dir = ctinfo >= IP_CT_IS_REPLY ? IP_CT_DIR_REPLY : IP_CT_DIR_ORIGINAL;
  const index = tcpIndex(flags);
  let newState = tcpNextState(dir, index, oldState);

  switch (newState) {
    case TCP_CONNTRACK_SYN_SENT:
    case TCP_CONNTRACK_IGNORE: {
      if (newState === TCP_CONNTRACK_SYN_SENT) {
        if (oldState < TCP_CONNTRACK_TIME_WAIT) break;
        // SYN after close: reopen when the old connection was closed or aborted.
        if (((ct.tcpSeenFlags0 | ct.tcpSeenFlags1) & IP_CT_TCP_FLAG_CLOSE_INIT) !== 0 ||
            (ct.tcpLastDir === dir && ct.tcpLastIndex === TCP_RST_SET)) {
          ctx.kill(ct);
          return CT_REPEAT;
        }
      }
      // Ignored segment. b) a SYN/ACK answering a SYN we ignored earlier: get in sync
      // (the kernel also checks the ACK number against the annotated SYN; taken to match).
      if (index === TCP_SYNACK_SET && ct.tcpLastIndex === TCP_SYN_SET && ct.tcpLastDir !== dir) {
        oldState = TCP_CONNTRACK_SYN_SENT;
        newState = TCP_CONNTRACK_SYN_RECV;
        ct.tcpLastFlags &= ~IP_CT_EXP_CHALLENGE_ACK;
        setSeenFlags(ct, ct.tcpLastDir, ct.tcpLastFlags);
        setSeenFlags(ct, dir, seenFlags(ct, dir) & IP_CT_TCP_FLAG_BE_LIBERAL);
        break;
      }
      ct.tcpLastIndex = index;
      ct.tcpLastDir = dir;
      if (index === TCP_SYN_SET && dir === IP_CT_DIR_ORIGINAL) {
        // TCP options (window scale, SACK) are not modelled, so last_flags starts empty.
        ct.tcpLastFlags = 0;
        if (oldState === TCP_CONNTRACK_LAST_ACK) ct.tcpLastFlags |= IP_CT_EXP_CHALLENGE_ACK;
      }
      return NF_ACCEPT;
    }
    case TCP_CONNTRACK_MAX:
      return CT_INVALID;
    case TCP_CONNTRACK_TIME_WAIT:
      // RFC 5961 challenge ACK answering a SYN in LAST_ACK: not the last ACK.
      if (oldState === TCP_CONNTRACK_LAST_ACK && index === TCP_ACK_SET && ct.tcpLastDir !== dir &&
          ct.tcpLastIndex === TCP_SYN_SET && (ct.tcpLastFlags & IP_CT_EXP_CHALLENGE_ACK) !== 0) {
        ct.tcpLastFlags &= ~IP_CT_EXP_CHALLENGE_ACK;
        return NF_ACCEPT;
      }
      break;
    case TCP_CONNTRACK_SYN_SENT2:
      ct.tcpLastFlags |= IP_CT_TCP_SIMULTANEOUS_OPEN;
      break;
    case TCP_CONNTRACK_SYN_RECV:
      if (dir === IP_CT_DIR_REPLY && index === TCP_ACK_SET && (ct.tcpLastFlags & IP_CT_TCP_SIMULTANEOUS_OPEN) !== 0) {
        newState = TCP_CONNTRACK_ESTABLISHED;
      }
      break;
    default:
      // CLOSE: the kernel validates an RST's sequence number here; RSTs are taken as valid.
      break;
  }

  // tcp_in_window (simplified, see the file comment): the peer's data counts as
  // acknowledged, this segment's data or FIN as outstanding.
  const other = 1 - dir;
  setSeenFlags(ct, other, seenFlags(ct, other) & ~IP_CT_TCP_FLAG_DATA_UNACKNOWLEDGED);
  if ((index === TCP_ACK_SET || index === TCP_FIN_SET) && ((flags & TCP_FIN) !== 0 || tcpPayloadLength(pkt) > 0)) {
    setSeenFlags(ct, dir, seenFlags(ct, dir) | IP_CT_TCP_FLAG_DATA_UNACKNOWLEDGED);
  }

  // in_window:
  ct.tcpLastIndex = index;
  ct.tcpLastDir = dir;
  ct.tcpState = newState;
  if (oldState !== newState && newState === TCP_CONNTRACK_FIN_WAIT) {
    setSeenFlags(ct, dir, seenFlags(ct, dir) | IP_CT_TCP_FLAG_CLOSE_INIT);
  }

  const timeouts = cfg.timeouts;
  let timeout: number;
  if (index === TCP_RST_SET) timeout = timeouts[TCP_CONNTRACK_CLOSE]!;
  else if (((ct.tcpSeenFlags0 | ct.tcpSeenFlags1) & IP_CT_TCP_FLAG_DATA_UNACKNOWLEDGED) !== 0 &&
           timeouts[newState]! > timeouts[TCP_CONNTRACK_UNACK]!) timeout = timeouts[TCP_CONNTRACK_UNACK]!;
  else timeout = timeouts[newState]!;

  if ((ct.status & IPS_SEEN_REPLY) === 0) {
    // Only an RST in reply (or any RST before a reply): there is no connection, delete now.
    if ((flags & TCP_RST) !== 0) {
      ctx.kill(ct);
      return NF_ACCEPT;
    }
    // A retransmitted SYN does not renew the timeout.
    if (index === TCP_SYN_SET && oldState === TCP_CONNTRACK_SYN_SENT) return NF_ACCEPT;
    // Picked up mid-stream and not answered yet: no 5-day timeout.
    if (newState === TCP_CONNTRACK_ESTABLISHED && timeout > timeouts[TCP_CONNTRACK_UNACK]!) {
      timeout = timeouts[TCP_CONNTRACK_UNACK]!;
    }
  } else if ((ct.status & IPS_ASSURED) === 0 &&
             (oldState === TCP_CONNTRACK_SYN_RECV || oldState === TCP_CONNTRACK_ESTABLISHED) &&
             newState === TCP_CONNTRACK_ESTABLISHED) {
    ct.status |= IPS_ASSURED;
  }
  ctx.refresh(ct, timeout);
  return NF_ACCEPT;
}

/** Bytes of TCP payload, taking a 20-byte TCP header (the packet has no data offset). */
export function tcpPayloadLength(pkt: Packet): number {
  const ipHeader = pkt.family === 4 ? 20 : 40;
  const n = pkt.length - ipHeader - 20;
  return n > 0 ? n : pkt.payload.length;
}
