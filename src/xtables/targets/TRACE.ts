/**
 * TRACE: marks the packet for tracing (pkt.nftrace) and continues. iptables-nft turns it
 * into a native `meta nftrace set 1`, so unlike xt_TRACE (raw table only) it is accepted
 * in every table (checked against iptables-nft-restore 1.8.9 on Linux 6.18). The trace
 * lines themselves are produced by the evaluator for each rule the packet meets afterwards
 * (it knows the table, chain and rule number); this target logs nothing itself.
 */
import { XT_CONTINUE } from '../../netfilter/index.ts';
import { registerTarget, type TargetExt } from '../ext.ts';
import { xtParse } from './util.ts';

export type NoData = Readonly<Record<string, never>>;

export const traceTarget: TargetExt<NoData> = {
  name: 'TRACE',
  options: [],
  parse(opts, env) {
    xtParse('TRACE', [], opts, env, () => {});
    return {};
  },
  print() {
    return '';
  },
  compile() {
    return {
      /** Hot path. */
      run(pkt) {
        pkt.nftrace = true;
        return XT_CONTINUE;
      },
    };
  },
};

registerTarget(traceTarget);
