/**
 * NETMAP (xt_NETMAP.c, libipt_NETMAP / libip6t_NETMAP): maps a whole network 1:1 by keeping
 * the host bits. In the nat table: at PREROUTING and OUTPUT it rewrites the destination, at
 * POSTROUTING and INPUT the source. `--to addr[/mask]`.
 */
import { formatWords, maskPrefix, prefixMask, type Family } from '../../core/index.ts';
import { NF_ACCEPT, NF_INET_LOCAL_IN, NF_INET_LOCAL_OUT, NF_INET_POST_ROUTING, NF_INET_PRE_ROUTING } from '../../netfilter/index.ts';
import { NF_NAT_MANIP_DST, NF_NAT_MANIP_SRC, NF_NAT_RANGE_MAP_IPS, type Conn } from '../../conntrack/index.ts';
import { registerTarget, type ParseEnv, type TargetExt } from '../ext.ts';
import { toNatRange, type NatData } from './natrange.ts';
import { checkTarget, hostNotFound, parseHost, parseUint, xtParse, type XtOption } from './util.ts';

const OPTIONS: readonly XtOption[] = [{ name: 'to', args: 1, mand: true }];

/**
 * xtopt_parse_plen then xtopt_parse_mask: a prefix length in range, else a mask written as
 * an address; a non-contiguous mask (or a number inet_aton reads as one, like `33`) keeps
 * every bit, as iptables 1.8.9 does (`10.1.2.3/255.0.255.0` and `/33` save as `/32`).
 */
function parseMask(family: Family, text: string): number | null {
  const max = family === 4 ? 32 : 128;
  const n = parseUint(text, 0, max);
  if (n !== null) return n;
  const w = parseHost(family, text);
  if (w === null) return null;
  const p = maskPrefix(family, w);
  return p < 0 ? max : p;
}

/** XTTYPE_HOSTMASK: `addr[/mask]`, the address as getaddrinfo reads it (no names in nfemu). */
export function parseHostMask(family: Family, arg: string, env: ParseEnv, ext: string, token: string): { addr: Uint32Array; prefix: number } {
  const slash = arg.indexOf('/');
  const host = slash < 0 ? arg : arg.slice(0, slash);
  const addr = parseHost(family, host);
  if (addr === null) env.fail(hostNotFound(family, host), token);
  const max = family === 4 ? 32 : 128;
  let prefix = max;
  if (slash >= 0) {
    const p = parseMask(family, arg.slice(slash + 1));
    if (p === null) env.fail(`${ext}: bad value for option "--to", neither a valid network mask nor valid CIDR (0-${max}).`, token);
    prefix = p!;
  }
  return { addr: addr!, prefix };
}

export const netmapTarget: TargetExt<NatData> = {
  name: 'NETMAP',
  options: OPTIONS,
  parse(opts, env) {
    let data: NatData | null = null;
    xtParse('NETMAP', OPTIONS, opts, env, (use) => {
      const { addr, prefix } = parseHostMask(env.family, use.args[0]!, env, 'NETMAP', use.token);
      const mask = prefixMask(env.family, prefix);
      const min = new Uint32Array(4);
      const max = new Uint32Array(4);
      const words = env.family === 4 ? 1 : 4;
      for (let i = 0; i < words; i++) {
        min[i] = addr[i]! & mask[i]!;
        max[i] = min[i]! | ~mask[i]!;
      }
      data = { flags: NF_NAT_RANGE_MAP_IPS, minAddr: min, maxAddr: max, minProto: 0, maxProto: 0, baseProto: 0 };
    });
    return data!;
  },
  print(data, family) {
    const mask = new Uint32Array(4);
    const words = family === 4 ? 1 : 4;
    for (let i = 0; i < words; i++) mask[i] = ~(data.minAddr[i]! ^ data.maxAddr[i]!);
    const bits = maskPrefix(family, mask);
    return `--to ${formatWords(family, data.minAddr)}/${bits < 0 ? formatWords(family, mask) : bits}`;
  },
  check(_data, env) {
    return checkTarget('NETMAP', env, 'nat',
      (1 << NF_INET_PRE_ROUTING) | (1 << NF_INET_POST_ROUTING) | (1 << NF_INET_LOCAL_OUT) | (1 << NF_INET_LOCAL_IN));
  },
  compile(data, env) {
    const range = toNatRange(data);
    const words = env.family === 4 ? 1 : 4;
    const netmask = new Uint32Array(4);
    for (let i = 0; i < words; i++) netmask[i] = ~(data.minAddr[i]! ^ data.maxAddr[i]!);
    const net = Uint32Array.from(data.minAddr);
    const out = range.minAddr;
    const max = range.maxAddr;
    return {
      /** netmap_tg4 / netmap_tg6: the packet's address with the network bits replaced. Hot path. */
      run(pkt, ctx) {
        const ct = pkt.ct as Conn | null;
        const table = ctx.conntrack;
        if (ct === null || table === null) return NF_ACCEPT;
        const dst = ctx.hook === NF_INET_PRE_ROUTING || ctx.hook === NF_INET_LOCAL_OUT;
        const a = dst ? pkt.daddr : pkt.saddr;
        for (let i = 0; i < words; i++) {
          const m = netmask[i]!;
          out[i] = max[i] = ((a[i]! & ~m) | (net[i]! & m)) >>> 0;
        }
        return table.setupNat(ct, range, dst ? NF_NAT_MANIP_DST : NF_NAT_MANIP_SRC);
      },
    };
  },
};

registerTarget(netmapTarget);
