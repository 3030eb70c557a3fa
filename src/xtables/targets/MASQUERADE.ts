/**
 * MASQUERADE (xt_MASQUERADE.c, nf_nat_masquerade.c): source NAT to the address the host
 * would pick for the outgoing interface, in the nat table at POSTROUTING only.
 * `--to-ports port[-port]`, `--random`, `--random-fully`. The address comes from
 * HostView.masqueradeAddr (inet_select_addr / ipv6_dev_get_saddr); no address drops the
 * packet (EADDRNOTAVAIL), as the kernel does. An IPv4 entry whose original source is
 * 0.0.0.0 is left alone.
 */
import { NF_ACCEPT, NF_DROP, NF_INET_POST_ROUTING } from '../../netfilter/index.ts';
import { NF_NAT_MANIP_SRC, NF_NAT_RANGE_MAP_IPS, type Conn } from '../../conntrack/index.ts';
import { registerTarget, type TargetExt } from '../ext.ts';
import { natData, natFlag, newNatBuild, parseNatPorts, printNat, toNatRange, type NatData } from './natrange.ts';
import { checkTarget, xtParse, type XtOption } from './util.ts';

const OPTIONS: readonly XtOption[] = [
  { name: 'to-ports', args: 1 },
  { name: 'random', args: 0 },
  { name: 'random-fully', args: 0 },
];

export const masqueradeTarget: TargetExt<NatData> = {
  name: 'MASQUERADE',
  options: OPTIONS,
  parse(opts, env) {
    const r = newNatBuild();
    xtParse('MASQUERADE', OPTIONS, opts, env, (use) => {
      if (!natFlag(use, r)) parseNatPorts(use.args[0]!, env, use.token, r);
    });
    // The IPv4 compat range and IPv6 nf_nat_range have no base port (prints as /0).
    return natData(r, false);
  },
  print(data, family) {
    return printNat(data, family, '--to-ports', true);
  },
  check(_data, env) {
    return checkTarget('MASQUERADE', env, 'nat', 1 << NF_INET_POST_ROUTING);
  },
  compile(data) {
    // Built once; the address words are rewritten per packet (setupNat copies what it keeps).
    const range = toNatRange(data, NF_NAT_RANGE_MAP_IPS);
    const addr = range.minAddr;
    const max = range.maxAddr;
    return {
      /** nf_nat_masquerade_ipv4 / _ipv6. Hot path: allocation-free. */
      run(pkt, ctx) {
        const ct = pkt.ct as Conn | null;
        const table = ctx.conntrack;
        if (ct === null || table === null) return NF_ACCEPT;
        if (pkt.family === 4 && ct.orig.src[0] === 0) return NF_ACCEPT;
        if (!ctx.host.masqueradeAddr(pkt, addr)) return NF_DROP;
        max[0] = addr[0]!;
        max[1] = addr[1]!;
        max[2] = addr[2]!;
        max[3] = addr[3]!;
        return table.setupNat(ct, range, NF_NAT_MANIP_SRC);
      },
    };
  },
};

registerTarget(masqueradeTarget);
