/** Hook numbers (enum nf_inet_hooks). */
export const NF_INET_PRE_ROUTING = 0;
export const NF_INET_LOCAL_IN = 1;
export const NF_INET_FORWARD = 2;
export const NF_INET_LOCAL_OUT = 3;
export const NF_INET_POST_ROUTING = 4;
export const NUM_HOOKS = 5;

/** The chain names iptables gives the hooks, indexed by hook number. */
export const HOOK_NAMES: readonly string[] = ['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING'];

export function hookByName(name: string): number {
  return HOOK_NAMES.indexOf(name);
}

/** Hook priorities (enum nf_ip_hook_priorities). Lower runs first. */
export const NF_IP_PRI_RAW = -300;
export const NF_IP_PRI_CONNTRACK = -200;
export const NF_IP_PRI_MANGLE = -150;
export const NF_IP_PRI_NAT_DST = -100;
export const NF_IP_PRI_FILTER = 0;
export const NF_IP_PRI_SECURITY = 50;
/**
 * iptables-nft registers the security table's base chains at priority 150 (its nft.c
 * table list), not at NF_IP_PRI_SECURITY: on a kernel loaded by iptables-nft, nat INPUT
 * (100) runs before security INPUT. nfemu follows iptables-nft.
 */
export const NFT_SECURITY_PRIORITY = 150;
export const NF_IP_PRI_NAT_SRC = 100;
export const NF_IP_PRI_CONNTRACK_CONFIRM = 2147483647;

/** Table identities, in the order iptables-nft-save prints tables it finds. */
export const TABLE_RAW = 0;
export const TABLE_MANGLE = 1;
export const TABLE_NAT = 2;
export const TABLE_FILTER = 3;
export const TABLE_SECURITY = 4;
export const NUM_TABLES = 5;
export const TABLE_NAMES: readonly string[] = ['raw', 'mangle', 'nat', 'filter', 'security'];

export function tableByName(name: string): number {
  return TABLE_NAMES.indexOf(name);
}

const H = (...hooks: number[]) => hooks.reduce((m, h) => m | (1 << h), 0);

/** Bit mask of the hooks each table has built-in chains for (valid_hooks). */
export const TABLE_HOOKS: readonly number[] = [
  H(NF_INET_PRE_ROUTING, NF_INET_LOCAL_OUT), // raw
  H(NF_INET_PRE_ROUTING, NF_INET_LOCAL_IN, NF_INET_FORWARD, NF_INET_LOCAL_OUT, NF_INET_POST_ROUTING), // mangle
  H(NF_INET_PRE_ROUTING, NF_INET_LOCAL_IN, NF_INET_LOCAL_OUT, NF_INET_POST_ROUTING), // nat
  H(NF_INET_LOCAL_IN, NF_INET_FORWARD, NF_INET_LOCAL_OUT), // filter
  H(NF_INET_LOCAL_IN, NF_INET_FORWARD, NF_INET_LOCAL_OUT), // security
];

/** The priority a table's chain runs at on a hook (nat differs between DNAT and SNAT hooks). */
export function tablePriority(table: number, hook: number): number {
  switch (table) {
    case TABLE_RAW: return NF_IP_PRI_RAW;
    case TABLE_MANGLE: return NF_IP_PRI_MANGLE;
    case TABLE_NAT:
      return hook === NF_INET_PRE_ROUTING || hook === NF_INET_LOCAL_OUT ? NF_IP_PRI_NAT_DST : NF_IP_PRI_NAT_SRC;
    case TABLE_FILTER: return NF_IP_PRI_FILTER;
    case TABLE_SECURITY: return NFT_SECURITY_PRIORITY;
    default: throw new RangeError(`no table ${table}`);
  }
}

/** Whether a table has a built-in chain at a hook. */
export function tableHasHook(table: number, hook: number): boolean {
  return (TABLE_HOOKS[table]! & (1 << hook)) !== 0;
}
