/**
 * NOTRACK (xt_CT.c notrack_tg; iptables 1.8.9 sends it to the kernel as CT): the packet
 * skips connection tracking (ctinfo IP_CT_UNTRACKED, no entry). Raw table only. A packet
 * that already has conntrack state (looped back) is left alone.
 */
import { IP_CT_UNTRACKED, XT_CONTINUE } from '../../netfilter/index.ts';
import { registerTarget, type TargetExt } from '../ext.ts';
import type { NoData } from './TRACE.ts';
import { checkTarget, xtParse } from './util.ts';

export const notrackTarget: TargetExt<NoData> = {
  name: 'NOTRACK',
  options: [],
  parse(opts, env) {
    xtParse('NOTRACK', [], opts, env, () => {});
    return {};
  },
  print() {
    return '';
  },
  check(_data, env) {
    // The kernel names the CT target it really got.
    return checkTarget('CT', env, 'raw', 0);
  },
  compile() {
    return {
      /** Hot path. */
      run(pkt) {
        if (pkt.ct !== null || pkt.ctinfo === IP_CT_UNTRACKED) return XT_CONTINUE;
        pkt.ctinfo = IP_CT_UNTRACKED;
        return XT_CONTINUE;
      },
    };
  },
};

registerTarget(notrackTarget);
