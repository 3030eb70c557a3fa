/**
 * SNAT (xt_nat.c, libxt_NAT.c): source NAT for the first packet of a connection, in the
 * nat table at POSTROUTING and INPUT. `--to-source [ip[-ip]][:port[-port]]`, `--random`,
 * `--random-fully`, `--persistent`. The revisions iptables 1.8.9 uses for SNAT (0 for
 * IPv4, 1 for IPv6) have no base port: a `/base` is accepted, keeps the offset flag and
 * prints (and works) as `/0`, as the kernel round trip shows.
 */
import { NF_ACCEPT, NF_INET_LOCAL_IN, NF_INET_POST_ROUTING, IP_CT_NEW, IP_CT_RELATED, IP_CT_RELATED_REPLY } from '../../netfilter/index.ts';
import { NF_NAT_MANIP_SRC, type Conn } from '../../conntrack/index.ts';
import { registerTarget, type TargetExt } from '../ext.ts';
import { natData, natFlag, newNatBuild, parseNatTo, printNat, toNatRange, type NatData } from './natrange.ts';
import { checkTarget, xtParse, type XtOption } from './util.ts';

const OPTIONS: readonly XtOption[] = [
  { name: 'to-source', args: 1, mand: true },
  { name: 'random', args: 0 },
  { name: 'random-fully', args: 0 },
  { name: 'persistent', args: 0 },
];

export const snatTarget: TargetExt<NatData> = {
  name: 'SNAT',
  options: OPTIONS,
  parse(opts, env) {
    const r = newNatBuild();
    xtParse('SNAT', OPTIONS, opts, env, (use) => {
      if (!natFlag(use, r)) parseNatTo(use.args[0]!, env, use.token, r);
    });
    return natData(r, false);
  },
  print(data, family) {
    return printNat(data, family, '--to-source', false);
  },
  check(_data, env) {
    return checkTarget('SNAT', env, 'nat', (1 << NF_INET_POST_ROUTING) | (1 << NF_INET_LOCAL_IN));
  },
  compile(data) {
    const range = toNatRange(data);
    return {
      /** xt_nat_setup_info(): new and related connections (related replies too, for SNAT). Hot path. */
      run(pkt, ctx) {
        const ct = pkt.ct;
        const table = ctx.conntrack;
        if (ct === null || table === null) return NF_ACCEPT;
        const ci = pkt.ctinfo;
        if (ci !== IP_CT_NEW && ci !== IP_CT_RELATED && ci !== IP_CT_RELATED_REPLY) return NF_ACCEPT;
        return table.setupNat(ct as Conn, range, NF_NAT_MANIP_SRC);
      },
    };
  },
};

registerTarget(snatTarget);
