/**
 * Decoding nf_tables trace events (NFT_MSG_TRACE on the NFNLGRP_NFTRACE netlink group), as
 * net/netfilter/nf_tables_trace.c builds them: table, chain, rule handle, trace type, verdict,
 * trace id, and on the first event of each base-chain run the packet (network and transport
 * headers, interfaces) and its conntrack state, id, direction and status. The mark is sent
 * only when it is not 0.
 */

const NFNL_SUBSYS_NFTABLES = 10;
const NFT_MSG_TRACE = 17;
const NLMSG_HDRLEN = 16;
const NFGENMSG_LEN = 4;

/** enum nft_trace_attributes */
const NFTA_TRACE_TABLE = 1;
const NFTA_TRACE_CHAIN = 2;
const NFTA_TRACE_RULE_HANDLE = 3;
const NFTA_TRACE_TYPE = 4;
const NFTA_TRACE_VERDICT = 5;
const NFTA_TRACE_ID = 6;
const NFTA_TRACE_NETWORK_HEADER = 8;
const NFTA_TRACE_TRANSPORT_HEADER = 9;
const NFTA_TRACE_IIF = 10;
const NFTA_TRACE_OIF = 12;
const NFTA_TRACE_MARK = 14;
const NFTA_TRACE_NFPROTO = 15;
const NFTA_TRACE_POLICY = 16;
const NFTA_TRACE_CT_ID = 18;
const NFTA_TRACE_CT_DIRECTION = 19;
const NFTA_TRACE_CT_STATUS = 20;
const NFTA_TRACE_CT_STATE = 21;

const NFTA_VERDICT_CODE = 1;
const NFTA_VERDICT_CHAIN = 2;

/** enum nft_trace_types */
export const NFT_TRACETYPE_POLICY = 1;
export const NFT_TRACETYPE_RETURN = 2;
export const NFT_TRACETYPE_RULE = 3;

/** Verdict codes (include/uapi/linux/netfilter.h, netfilter/nf_tables.h). */
export const NF_DROP = 0;
export const NF_ACCEPT = 1;
export const NF_STOLEN = 2;
export const NF_QUEUE = 3;
export const NF_REPEAT = 4;
export const NFT_CONTINUE = -1;
export const NFT_BREAK = -2;
export const NFT_JUMP = -3;
export const NFT_GOTO = -4;
export const NFT_RETURN = -5;

/** One trace event, attributes as the kernel sent them (null when absent). */
export interface RawTraceEvent {
  /** nfgenmsg family of the base chain's table (NFPROTO_IPV4 = 2, NFPROTO_IPV6 = 10, inet = 1). */
  family: number;
  id: number;
  type: number;
  table: string;
  chain: string;
  handle: number | null;
  /** Verdict code (NF_* / NFT_*); null for policy events. */
  verdictCode: number | null;
  /** Target chain of a jump or goto. */
  verdictChain: string | null;
  /** The base chain's policy (NF_ACCEPT / NF_DROP), for policy events. */
  policy: number | null;
  nfproto: number | null;
  mark: number;
  iif: number | null;
  oif: number | null;
  /** Network header bytes (up to 40), present on the first event of each base-chain run. */
  network: Uint8Array | null;
  /** Transport header bytes (up to 20). */
  transport: Uint8Array | null;
  /** NF_CT_STATE_* bits; null when conntrack has not seen the packet. */
  ctState: number | null;
  ctStatus: number | null;
  ctDirection: number | null;
  ctId: number | null;
}

interface Attr {
  type: number;
  data: Uint8Array;
}

function attrs(b: Uint8Array, start: number, end: number): Attr[] {
  const out: Attr[] = [];
  let o = start;
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  for (let guard = 0; o + 4 <= end && guard < 4096; guard++) {
    const len = dv.getUint16(o, true);
    const type = dv.getUint16(o + 2, true) & 0x3fff;
    if (len < 4 || o + len > end) break;
    out.push({ type, data: b.subarray(o + 4, o + len) });
    o += (len + 3) & ~3;
  }
  return out;
}

function be32(d: Uint8Array): number {
  return ((d[0]! << 24) | (d[1]! << 16) | (d[2]! << 8) | d[3]!) >>> 0;
}

function str(d: Uint8Array): string {
  let n = d.indexOf(0);
  if (n < 0) n = d.length;
  return Buffer.from(d.buffer, d.byteOffset, n).toString('utf8');
}

/**
 * Splits one netlink datagram into its messages and decodes the NFT_MSG_TRACE ones; other
 * messages are skipped. Never throws on malformed input (what cannot be read is left out).
 */
export function parseTraceDatagram(b: Uint8Array): RawTraceEvent[] {
  const out: RawTraceEvent[] = [];
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let o = 0;
  for (let guard = 0; o + NLMSG_HDRLEN <= b.length && guard < 4096; guard++) {
    const len = dv.getUint32(o, true);
    const type = dv.getUint16(o + 4, true);
    if (len < NLMSG_HDRLEN || o + len > b.length) break;
    if (type >> 8 === NFNL_SUBSYS_NFTABLES && (type & 0xff) === NFT_MSG_TRACE && len >= NLMSG_HDRLEN + NFGENMSG_LEN) {
      out.push(decode(b, o + NLMSG_HDRLEN, o + len));
    }
    o += (len + 3) & ~3;
  }
  return out;
}

function decode(b: Uint8Array, start: number, end: number): RawTraceEvent {
  const e: RawTraceEvent = {
    family: b[start]!,
    id: 0,
    type: 0,
    table: '',
    chain: '',
    handle: null,
    verdictCode: null,
    verdictChain: null,
    policy: null,
    nfproto: null,
    mark: 0,
    iif: null,
    oif: null,
    network: null,
    transport: null,
    ctState: null,
    ctStatus: null,
    ctDirection: null,
    ctId: null,
  };
  for (const a of attrs(b, start + NFGENMSG_LEN, end)) {
    const d = a.data;
    switch (a.type) {
      case NFTA_TRACE_TABLE: e.table = str(d); break;
      case NFTA_TRACE_CHAIN: e.chain = str(d); break;
      case NFTA_TRACE_RULE_HANDLE:
        if (d.length >= 8) e.handle = be32(d.subarray(0, 4)) * 2 ** 32 + be32(d.subarray(4, 8));
        break;
      case NFTA_TRACE_TYPE: e.type = be32(d); break;
      case NFTA_TRACE_ID:
        // nla_put_u32: host byte order (little endian on the machines this runs on).
        if (d.length >= 4) e.id = new DataView(d.buffer, d.byteOffset, 4).getUint32(0, true);
        break;
      case NFTA_TRACE_VERDICT:
        for (const v of attrs(d, 0, d.length)) {
          if (v.type === NFTA_VERDICT_CODE && v.data.length >= 4) e.verdictCode = be32(v.data) | 0;
          else if (v.type === NFTA_VERDICT_CHAIN) e.verdictChain = str(v.data);
        }
        break;
      case NFTA_TRACE_NETWORK_HEADER: e.network = Uint8Array.from(d); break;
      case NFTA_TRACE_TRANSPORT_HEADER: e.transport = Uint8Array.from(d); break;
      case NFTA_TRACE_IIF: e.iif = be32(d); break;
      case NFTA_TRACE_OIF: e.oif = be32(d); break;
      case NFTA_TRACE_MARK: e.mark = be32(d); break;
      case NFTA_TRACE_NFPROTO: e.nfproto = be32(d); break;
      case NFTA_TRACE_POLICY: e.policy = be32(d); break;
      case NFTA_TRACE_CT_ID: e.ctId = be32(d); break;
      case NFTA_TRACE_CT_DIRECTION: e.ctDirection = d[0] ?? null; break;
      case NFTA_TRACE_CT_STATUS: e.ctStatus = be32(d); break;
      case NFTA_TRACE_CT_STATE: e.ctState = be32(d); break;
      default: break;
    }
  }
  return e;
}

/** NF_CT_STATE_* bits (include/uapi/linux/netfilter/nf_conntrack_common.h). */
const CT_STATE_NAMES: ReadonlyArray<readonly [number, string]> = [
  [1 << 0, 'INVALID'],
  [1 << 1, 'ESTABLISHED'],
  [1 << 2, 'RELATED'],
  [1 << 3, 'NEW'],
  [1 << 6, 'UNTRACKED'],
];

/** enum ip_conntrack_status, by bit number. */
const CT_STATUS_NAMES: readonly string[] = [
  'EXPECTED', 'SEEN_REPLY', 'ASSURED', 'CONFIRMED', 'SRC_NAT', 'DST_NAT', 'SEQ_ADJUST', 'SRC_NAT_DONE',
  'DST_NAT_DONE', 'DYING', 'FIXED_TIMEOUT', 'TEMPLATE', 'NAT_CLASH', 'HELPER', 'OFFLOAD', 'HW_OFFLOAD',
];

/** `NEW`, `ESTABLISHED`, … for NF_CT_STATE bits (comma separated if several). */
export function ctStateName(bits: number): string {
  const names: string[] = [];
  for (const [bit, name] of CT_STATE_NAMES) if (bits & bit) names.push(name);
  return names.join(',') || String(bits);
}

/** IPS_* names of the set status bits, lowest bit first; '' for 0. */
export function ctStatusNames(status: number): string {
  const names: string[] = [];
  for (let i = 0; i < 32; i++) {
    if (((status >>> i) & 1) === 0) continue;
    names.push(CT_STATUS_NAMES[i] ?? `BIT${i}`);
  }
  return names.join(',');
}
