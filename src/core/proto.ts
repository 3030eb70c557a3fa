/**
 * IP protocol numbers and the names iptables uses for them. Leaf module: no imports here.
 */

export const IPPROTO_IP = 0;
export const IPPROTO_ICMP = 1;
export const IPPROTO_IGMP = 2;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const IPPROTO_IPV6 = 41;
export const IPPROTO_GRE = 47;
export const IPPROTO_ESP = 50;
export const IPPROTO_AH = 51;
export const IPPROTO_ICMPV6 = 58;
export const IPPROTO_SCTP = 132;
export const IPPROTO_UDPLITE = 136;
export const IPPROTO_MH = 135;

/**
 * Names accepted by `-p`, with their numbers: iptables' built-in list first, then the
 * /etc/protocols names of a Debian host (which is what getprotobyname consults).
 */
const NAMES: ReadonlyArray<readonly [string, number]> = [
  ['tcp', 6], ['sctp', 132], ['udp', 17], ['udplite', 136], ['icmp', 1], ['icmpv6', 58],
  ['ipv6-icmp', 58], ['esp', 50], ['ah', 51], ['ipv6-mh', 135], ['mh', 135], ['mobility-header', 135], ['all', 0],
  ['ip', 0], ['hopopt', 0], ['igmp', 2], ['ggp', 3], ['ipencap', 4], ['st', 5], ['egp', 8],
  ['igp', 9], ['pup', 12], ['hmp', 20], ['xns-idp', 22], ['rdp', 27], ['iso-tp4', 29],
  ['dccp', 33], ['xtp', 36], ['ddp', 37], ['idpr-cmtp', 38], ['ipv6', 41], ['ipv6-route', 43],
  ['ipv6-frag', 44], ['idrp', 45], ['rsvp', 46], ['gre', 47], ['ipv6-crypt', 50],
  ['ipv6-auth', 51], ['skip', 57], ['ipv6-nonxt', 59], ['ipv6-opts', 60], ['vmtp', 81],
  ['eigrp', 88], ['ospf', 89], ['ax.25', 93], ['ipip', 94], ['etherip', 97], ['encap', 98],
  ['pim', 103], ['ipcomp', 108], ['vrrp', 112], ['l2tp', 115], ['isis', 124], ['fc', 133],
  ['mpls-in-ip', 137], ['manet', 138], ['hip', 139], ['shim6', 140], ['wesp', 141], ['rohc', 142],
];

const BY_NAME = new Map<string, number>(NAMES);

/** Protocol number for a `-p` argument (name, any case, or decimal number); null if unknown. */
export function protoNumber(text: string): number | null {
  if (/^[0-9]+$/.test(text)) {
    const n = Number(text);
    return n <= 255 ? n : null;
  }
  const n = BY_NAME.get(text.toLowerCase());
  return n === undefined ? null : n;
}

/**
 * The name iptables-save prints for a protocol number. The nf_tables back end prints the
 * names it knows from its own table and /etc/protocols, and a number otherwise.
 */
export function protoName(n: number, _family: 4 | 6): string {
  switch (n) {
    case 6: return 'tcp';
    case 17: return 'udp';
    case 1: return 'icmp';
    case 58: return 'ipv6-icmp';
    case 132: return 'sctp';
    case 136: return 'udplite';
    case 50: return 'esp';
    case 51: return 'ah';
    case 135: return 'mobility-header';
    default: {
      for (const [name, num] of NAMES) if (num === n && num !== 0) return name;
      return String(n);
    }
  }
}

/** Short name used in traces and packet strings. */
export function protoShort(n: number): string {
  switch (n) {
    case 6: return 'tcp';
    case 17: return 'udp';
    case 1: return 'icmp';
    case 58: return 'icmpv6';
    case 132: return 'sctp';
    default: return String(n);
  }
}

/** Whether the protocol carries 16-bit ports at the start of its header. */
export function hasPorts(n: number): boolean {
  return n === 6 || n === 17 || n === 132 || n === 136 || n === 33;
}
