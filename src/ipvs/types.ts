/**
 * IPVS constants, as include/uapi/linux/ip_vs.h and include/net/ip_vs.h number them.
 * Leaf module of src/ipvs: imports nothing.
 */

/** Service flags (IP_VS_SVC_F_*). */
export const IP_VS_SVC_F_PERSISTENT = 0x0001;
export const IP_VS_SVC_F_HASHED = 0x0002;
export const IP_VS_SVC_F_ONEPACKET = 0x0004;
export const IP_VS_SVC_F_SCHED1 = 0x0008;
export const IP_VS_SVC_F_SCHED2 = 0x0010;
export const IP_VS_SVC_F_SCHED3 = 0x0020;
/** sh and mh name the first two scheduler flags (ip_vs_sh.c, ip_vs_mh.c). */
export const IP_VS_SVC_F_SCHED_SH_FALLBACK = IP_VS_SVC_F_SCHED1;
export const IP_VS_SVC_F_SCHED_SH_PORT = IP_VS_SVC_F_SCHED2;
export const IP_VS_SVC_F_SCHED_MH_FALLBACK = IP_VS_SVC_F_SCHED1;
export const IP_VS_SVC_F_SCHED_MH_PORT = IP_VS_SVC_F_SCHED2;

/** Destination flags (IP_VS_DEST_F_*). */
export const IP_VS_DEST_F_AVAILABLE = 0x0001;
export const IP_VS_DEST_F_OVERLOAD = 0x0002;

/** Connection flags (IP_VS_CONN_F_*); the low three bits are the forwarding method. */
export const IP_VS_CONN_F_FWD_MASK = 0x0007;
export const IP_VS_CONN_F_MASQ = 0x0000;
export const IP_VS_CONN_F_LOCALNODE = 0x0001;
export const IP_VS_CONN_F_TUNNEL = 0x0002;
export const IP_VS_CONN_F_DROUTE = 0x0003;
export const IP_VS_CONN_F_BYPASS = 0x0004;
export const IP_VS_CONN_F_SYNC = 0x0020;
export const IP_VS_CONN_F_HASHED = 0x0040;
export const IP_VS_CONN_F_NOOUTPUT = 0x0080;
export const IP_VS_CONN_F_INACTIVE = 0x0100;
export const IP_VS_CONN_F_NO_CPORT = 0x0800;
export const IP_VS_CONN_F_TEMPLATE = 0x1000;
export const IP_VS_CONN_F_ONE_PACKET = 0x2000;
export const IP_VS_CONN_F_NFCT = 1 << 16;

/** Packet directions for the protocol state machines (IP_VS_DIR_*). */
export const IP_VS_DIR_INPUT = 0;
export const IP_VS_DIR_OUTPUT = 1;
export const IP_VS_DIR_INPUT_ONLY = 2;

/** TCP connection states (IP_VS_TCP_S_*), ip_vs_proto_tcp.c. */
export const IP_VS_TCP_S_NONE = 0;
export const IP_VS_TCP_S_ESTABLISHED = 1;
export const IP_VS_TCP_S_SYN_SENT = 2;
export const IP_VS_TCP_S_SYN_RECV = 3;
export const IP_VS_TCP_S_FIN_WAIT = 4;
export const IP_VS_TCP_S_TIME_WAIT = 5;
export const IP_VS_TCP_S_CLOSE = 6;
export const IP_VS_TCP_S_CLOSE_WAIT = 7;
export const IP_VS_TCP_S_LAST_ACK = 8;
export const IP_VS_TCP_S_LISTEN = 9;
export const IP_VS_TCP_S_SYNACK = 10;
export const IP_VS_TCP_S_LAST = 11;

/** UDP has one state (IP_VS_UDP_S_NORMAL). */
export const IP_VS_UDP_S_NORMAL = 0;

/** Template states (IP_VS_CTPL_S_*). */
export const IP_VS_CTPL_S_NONE = 0;
export const IP_VS_CTPL_S_ASSURED = 1;

/** The FTP control and data ports the persistence code treats specially (FTPPORT, FTPDATA). */
export const FTPPORT = 21;
export const FTPDATA = 20;

/** IP_VS_CONN_TAB_BITS default (12): what `ipvsadm -L` prints as the table size. */
export const IP_VS_CONN_TAB_SIZE = 4096;
/** IPVS version the kernel reports (IP_VS_VERSION_CODE 1.2.1). */
export const IP_VS_VERSION = '1.2.1';

/** Forwarding method name as `ipvsadm -L` prints it (fwd_name). */
export function fwdName(flags: number): string {
  switch (flags & IP_VS_CONN_F_FWD_MASK) {
    case IP_VS_CONN_F_MASQ: return 'Masq';
    case IP_VS_CONN_F_LOCALNODE: return 'Local';
    case IP_VS_CONN_F_TUNNEL: return 'Tunnel';
    case IP_VS_CONN_F_DROUTE: return 'Route';
    default: return '';
  }
}

/** Forwarding switch as `ipvsadm -S` prints it (fwd_switch). */
export function fwdSwitch(flags: number): string {
  switch (flags & IP_VS_CONN_F_FWD_MASK) {
    case IP_VS_CONN_F_MASQ: return '-m';
    case IP_VS_CONN_F_TUNNEL: return '-i';
    default: return '-g';
  }
}
