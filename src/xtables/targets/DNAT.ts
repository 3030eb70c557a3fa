/**
 * DNAT (xt_nat.c, libxt_NAT.c): destination NAT for the first packet of a connection, in
 * the nat table at PREROUTING and OUTPUT. `--to-destination [ip[-ip]][:port[-port[/base]]]`
 * (IPv6 `[ip[-ip]]:port…`), `--random`, `--persistent`. Revision 2 keeps the base port of a
 * shifted port map.
 */
import { NF_ACCEPT, NF_INET_LOCAL_OUT, NF_INET_PRE_ROUTING, IP_CT_NEW, IP_CT_RELATED } from '../../netfilter/index.ts';
import { NF_NAT_MANIP_DST, type Conn } from '../../conntrack/index.ts';
import { registerTarget, type TargetExt } from '../ext.ts';
import { natData, natFlag, newNatBuild, parseNatTo, printNat, toNatRange, type NatData } from './natrange.ts';
import { checkTarget, xtParse, type XtOption } from './util.ts';

const OPTIONS: readonly XtOption[] = [
  { name: 'to-destination', args: 1, mand: true },
  { name: 'random', args: 0 },
  { name: 'persistent', args: 0 },
];

export const dnatTarget: TargetExt<NatData> = {
  name: 'DNAT',
  options: OPTIONS,
  parse(opts, env) {
    const r = newNatBuild();
    xtParse('DNAT', OPTIONS, opts, env, (use) => {
      if (!natFlag(use, r)) parseNatTo(use.args[0]!, env, use.token, r);
    });
    return natData(r, true);
  },
  print(data, family) {
    return printNat(data, family, '--to-destination', false);
  },
  check(_data, env) {
    return checkTarget('DNAT', env, 'nat', (1 << NF_INET_PRE_ROUTING) | (1 << NF_INET_LOCAL_OUT));
  },
  compile(data) {
    const range = toNatRange(data);
    return {
      /** xt_nat_setup_info(): only a new (or related) connection gets a binding. Hot path. */
      run(pkt, ctx) {
        const ct = pkt.ct;
        const table = ctx.conntrack;
        if (ct === null || table === null) return NF_ACCEPT;
        if (pkt.ctinfo !== IP_CT_NEW && pkt.ctinfo !== IP_CT_RELATED) return NF_ACCEPT;
        return table.setupNat(ct as Conn, range, NF_NAT_MANIP_DST);
      },
    };
  },
};

registerTarget(dnatTarget);
