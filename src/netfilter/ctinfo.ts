/**
 * Connection tracking info attached to a packet (enum ip_conntrack_info) and the state
 * bits the state/conntrack matches test. Lives here so matches and conntrack share it.
 */
export const IP_CT_ESTABLISHED = 0;
export const IP_CT_RELATED = 1;
export const IP_CT_NEW = 2;
export const IP_CT_IS_REPLY = 3;
export const IP_CT_ESTABLISHED_REPLY = 3;
export const IP_CT_RELATED_REPLY = 4;
export const IP_CT_UNTRACKED = 7;
/** nfemu's marker for "no conntrack entry": the kernel's ct == NULL (INVALID). */
export const IP_CT_INVALID = -1;

/** State bits of xt_state / xt_conntrack --ctstate. */
export const XT_STATE_INVALID = 1 << 0;
export const XT_STATE_ESTABLISHED = 1 << 1;
export const XT_STATE_RELATED = 1 << 2;
export const XT_STATE_NEW = 1 << 3;
export const XT_STATE_UNTRACKED = 1 << 4;
export const XT_CONNTRACK_STATE_SNAT = 1 << 6;
export const XT_CONNTRACK_STATE_DNAT = 1 << 7;

/** The state bit for a ctinfo value (XT_STATE_BIT). */
export function stateBit(ctinfo: number): number {
  if (ctinfo === IP_CT_INVALID) return XT_STATE_INVALID;
  if (ctinfo === IP_CT_UNTRACKED) return XT_STATE_UNTRACKED;
  return 1 << ((ctinfo % IP_CT_IS_REPLY) + 1);
}

export function ctinfoIsReply(ctinfo: number): boolean {
  return ctinfo >= IP_CT_IS_REPLY && ctinfo !== IP_CT_UNTRACKED;
}

/** Conntrack status bits (enum ip_conntrack_status). */
export const IPS_EXPECTED = 1 << 0;
export const IPS_SEEN_REPLY = 1 << 1;
export const IPS_ASSURED = 1 << 2;
export const IPS_CONFIRMED = 1 << 3;
export const IPS_SRC_NAT = 1 << 4;
export const IPS_DST_NAT = 1 << 5;
export const IPS_SEQ_ADJUST = 1 << 6;
export const IPS_SRC_NAT_DONE = 1 << 7;
export const IPS_DST_NAT_DONE = 1 << 8;
export const IPS_DYING = 1 << 9;
export const IPS_FIXED_TIMEOUT = 1 << 10;
export const IPS_TEMPLATE = 1 << 11;
export const IPS_UNTRACKED = 1 << 12;
export const IPS_NAT_CLASH = 1 << 13;
export const IPS_HELPER = 1 << 14;
export const IPS_OFFLOAD = 1 << 15;

/** Names of the status bits, as `ct_status` prints them in traces (bit order). */
export const STATUS_NAMES: readonly string[] = [
  'EXPECTED', 'SEEN_REPLY', 'ASSURED', 'CONFIRMED', 'SRC_NAT', 'DST_NAT', 'SEQ_ADJUST',
  'SRC_NAT_DONE', 'DST_NAT_DONE', 'DYING', 'FIXED_TIMEOUT', 'TEMPLATE', 'UNTRACKED',
  'NAT_CLASH', 'HELPER', 'OFFLOAD',
];
