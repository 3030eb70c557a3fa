/**
 * REDIRECT (xt_REDIRECT.c, nf_nat_redirect.c): destination NAT to the host itself, in the
 * nat table at PREROUTING and OUTPUT. `--to-ports port[-port]`, `--random`. Locally
 * generated packets go to 127.0.0.1 / ::1; others to the first address of the incoming
 * interface (HostView.ifaceAddr), and are dropped when it has none. (For IPv6 the kernel
 * skips addresses whose scope does not match the destination's; nfemu takes the first.)
 * No shifted port maps: iptables refuses `/base` for REDIRECT.
 */
import { NF_ACCEPT, NF_DROP, NF_INET_LOCAL_OUT, NF_INET_PRE_ROUTING } from '../../netfilter/index.ts';
import { NF_NAT_MANIP_DST, NF_NAT_RANGE_MAP_IPS, NF_NAT_RANGE_PROTO_OFFSET, type Conn } from '../../conntrack/index.ts';
import { registerTarget, type TargetExt } from '../ext.ts';
import { natData, natFlag, newNatBuild, parseNatPorts, printNat, toNatRange, type NatData } from './natrange.ts';
import { checkTarget, xtParse, type XtOption } from './util.ts';

const OPTIONS: readonly XtOption[] = [
  { name: 'to-ports', args: 1 },
  { name: 'random', args: 0 },
];

export const redirectTarget: TargetExt<NatData> = {
  name: 'REDIRECT',
  options: OPTIONS,
  parse(opts, env) {
    const r = newNatBuild();
    xtParse('REDIRECT', OPTIONS, opts, env, (use) => {
      if (!natFlag(use, r)) parseNatPorts(use.args[0]!, env, use.token, r);
    });
    if (r.flags & NF_NAT_RANGE_PROTO_OFFSET) env.fail('Shifted portmap ranges not supported with this kernel');
    return natData(r, false);
  },
  print(data, family) {
    return printNat(data, family, '--to-ports', true);
  },
  check(_data, env) {
    return checkTarget('REDIRECT', env, 'nat', (1 << NF_INET_PRE_ROUTING) | (1 << NF_INET_LOCAL_OUT));
  },
  compile(data, env) {
    const range = toNatRange(data, NF_NAT_RANGE_MAP_IPS);
    const addr = range.minAddr;
    const max = range.maxAddr;
    const v4 = env.family === 4;
    return {
      /** nf_nat_redirect_ipv4 / _ipv6. Hot path: allocation-free. */
      run(pkt, ctx) {
        const ct = pkt.ct as Conn | null;
        const table = ctx.conntrack;
        if (ct === null || table === null) return NF_ACCEPT;
        if (ctx.hook === NF_INET_LOCAL_OUT) {
          addr[0] = v4 ? 0x7f000001 : 0;
          addr[1] = 0;
          addr[2] = 0;
          addr[3] = v4 ? 0 : 1;
        } else if (!ctx.host.ifaceAddr(pkt.family, pkt.inIface, addr)) {
          return NF_DROP;
        }
        max[0] = addr[0]!;
        max[1] = addr[1]!;
        max[2] = addr[2]!;
        max[3] = addr[3]!;
        return table.setupNat(ct, range, NF_NAT_MANIP_DST);
      },
    };
  },
};

registerTarget(redirectTarget);
