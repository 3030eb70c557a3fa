/**
 * Per-protocol connection states and timeouts: ip_vs_proto_tcp.c (the state table, the
 * timeouts, which states count as active) and ip_vs_proto_udp.c (one state, 300 s).
 */
import {
  IP_VS_TCP_S_CLOSE as sCL, IP_VS_TCP_S_CLOSE_WAIT as sCW, IP_VS_TCP_S_ESTABLISHED as sES, IP_VS_TCP_S_FIN_WAIT as sFW,
  IP_VS_TCP_S_LAST_ACK as sLA, IP_VS_TCP_S_LISTEN as sLI, IP_VS_TCP_S_NONE as sNO, IP_VS_TCP_S_SYNACK as sSA,
  IP_VS_TCP_S_SYN_RECV as sSR, IP_VS_TCP_S_SYN_SENT as sSS, IP_VS_TCP_S_TIME_WAIT as sTW, IP_VS_TCP_S_LAST,
} from './types.ts';
import { TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN } from '../packet/index.ts';

/** tcp_timeouts[], in seconds, by IP_VS_TCP_S_* (the last slot is IP_VS_TCP_S_LAST). */
export const TCP_TIMEOUTS_S: readonly number[] = [2, 15 * 60, 2 * 60, 60, 2 * 60, 2 * 60, 10, 60, 30, 2 * 60, 120, 2];

/** tcp_state_name_table. */
export const TCP_STATE_NAMES: readonly string[] = [
  'NONE', 'ESTABLISHED', 'SYN_SENT', 'SYN_RECV', 'FIN_WAIT', 'TIME_WAIT', 'CLOSE', 'CLOSE_WAIT', 'LAST_ACK', 'LISTEN', 'SYNACK',
];

/** tcp_state_active_table: states counted in ActiveConn. */
export const TCP_STATE_ACTIVE: readonly boolean[] = [false, true, true, true, false, false, false, false, false, false, true];

/** UDP timeout (udp_timeouts[IP_VS_UDP_S_NORMAL]), seconds. */
export const UDP_TIMEOUT_S = 5 * 60;

/** Row offsets in the state table (TCP_DIR_INPUT, TCP_DIR_OUTPUT, TCP_DIR_INPUT_ONLY). */
export const TCP_DIR_INPUT = 0;
export const TCP_DIR_OUTPUT = 4;
export const TCP_DIR_INPUT_ONLY = 8;

/**
 * tcp_states[]: rows syn, fin, ack, rst for INPUT, OUTPUT and INPUT-ONLY; columns are the
 * current state sNO … sSA. (The secure_tcp table, tcp_states_dos, is not modelled.)
 */
const T: readonly (readonly number[])[] = [
  /* INPUT */
  /*syn*/ [sSR, sES, sES, sSR, sSR, sSR, sSR, sSR, sSR, sSR, sSR],
  /*fin*/ [sCL, sCW, sSS, sTW, sTW, sTW, sCL, sCW, sLA, sLI, sTW],
  /*ack*/ [sES, sES, sSS, sES, sFW, sTW, sCL, sCW, sCL, sLI, sES],
  /*rst*/ [sCL, sCL, sCL, sSR, sCL, sCL, sCL, sCL, sLA, sLI, sSR],
  /* OUTPUT */
  /*syn*/ [sSS, sES, sSS, sSR, sSS, sSS, sSS, sSS, sSS, sLI, sSR],
  /*fin*/ [sTW, sFW, sSS, sTW, sFW, sTW, sCL, sTW, sLA, sLI, sTW],
  /*ack*/ [sES, sES, sSS, sES, sFW, sTW, sCL, sCW, sLA, sES, sES],
  /*rst*/ [sCL, sCL, sSS, sCL, sCL, sTW, sCL, sCL, sCL, sCL, sCL],
  /* INPUT-ONLY */
  /*syn*/ [sSR, sES, sES, sSR, sSR, sSR, sSR, sSR, sSR, sSR, sSR],
  /*fin*/ [sCL, sFW, sSS, sTW, sFW, sTW, sCL, sCW, sLA, sLI, sTW],
  /*ack*/ [sES, sES, sSS, sES, sFW, sTW, sCL, sCW, sCL, sLI, sES],
  /*rst*/ [sCL, sCL, sCL, sSR, sCL, sCL, sCL, sCL, sLA, sLI, sCL],
];

/** Flattened for the packet path: TABLE[row * IP_VS_TCP_S_LAST + state]. */
const TABLE = new Int8Array(T.length * IP_VS_TCP_S_LAST);
for (let r = 0; r < T.length; r++) for (let c = 0; c < IP_VS_TCP_S_LAST; c++) TABLE[r * IP_VS_TCP_S_LAST + c] = T[r]![c]!;

/** tcp_state_idx: rst 3, syn 0, fin 1, ack 2 (in that precedence), -1 for none of them. */
export function tcpStateIdx(flags: number): number {
  if (flags & TCP_RST) return 3;
  if (flags & TCP_SYN) return 0;
  if (flags & TCP_FIN) return 1;
  if (flags & TCP_ACK) return 2;
  return -1;
}

/**
 * The next state of set_tcp_state for a packet with TCP `flags` in table row block
 * `stateOff` (TCP_DIR_*), from `state`. A segment with none of the four flags closes.
 */
export function tcpNextState(stateOff: number, flags: number, state: number): number {
  const idx = tcpStateIdx(flags);
  if (idx < 0) return sCL;
  return TABLE[(stateOff + idx) * IP_VS_TCP_S_LAST + state]!;
}

/** ip_vs_state_name for a normal connection. */
export function stateName(proto: number, state: number): string {
  if (proto === 6) return state < IP_VS_TCP_S_LAST ? TCP_STATE_NAMES[state]! : 'ERR!';
  if (proto === 17) return state === 0 ? 'UDP' : 'BUG!';
  if (proto === 0) return 'NONE';
  return 'ERR!';
}

