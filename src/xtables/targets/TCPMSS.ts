/**
 * TCPMSS (xt_TCPMSS.c): rewrites or adds the MSS option of TCP packets. `--set-mss N` or
 * `--clamp-mss-to-pmtu` (the last given wins). `-p tcp` required; clamping only from
 * FORWARD, OUTPUT and POSTROUTING. With iptables-nft the kernel does not require a
 * `--tcp-flags SYN,RST SYN` match (nft_compat skips that check).
 *
 * Model: nfemu's packets carry no TCP options, so an existing MSS option cannot be seen.
 * What changes a field nfemu has is the kernel adding the option to a TCP packet with no
 * options and no payload (20-byte header): its length grows by 4 (tcpmss_mangle_packet
 * does this for any such packet, SYN or not). A packet too short for a TCP header is
 * dropped; non-first fragments and packets with options or data are left alone.
 */
import { IPPROTO_TCP } from '../../core/index.ts';
import { NF_DROP, NF_INET_FORWARD, NF_INET_LOCAL_OUT, NF_INET_POST_ROUTING, XT_CONTINUE } from '../../netfilter/index.ts';
import { registerTarget, type TargetExt } from '../ext.ts';
import { checkTarget, uintOption, xtParse, type XtOption } from './util.ts';

/** xt_tcpmss_info.mss value meaning --clamp-mss-to-pmtu. */
export const XT_TCPMSS_CLAMP_PMTU = 0xffff;

export interface TcpmssData {
  /** The MSS, or XT_TCPMSS_CLAMP_PMTU. */
  readonly mss: number;
}

const OPTIONS: readonly XtOption[] = [
  { name: 'set-mss', args: 1 },
  { name: 'clamp-mss-to-pmtu', args: 0 },
];

export const tcpmssTarget: TargetExt<TcpmssData> = {
  name: 'TCPMSS',
  options: OPTIONS,
  parse(opts, env) {
    let mss = 0;
    const seen = xtParse('TCPMSS', OPTIONS, opts, env, (use) => {
      if (use.name === 'clamp-mss-to-pmtu') mss = XT_TCPMSS_CLAMP_PMTU;
      else mss = uintOption('TCPMSS', use, env, 0, env.family === 4 ? 65535 - 20 : 65535 - 40);
    });
    if (seen.size === 0) env.fail('TCPMSS target: At least one parameter is required');
    return { mss };
  },
  print(d) {
    return d.mss === XT_TCPMSS_CLAMP_PMTU ? '--clamp-mss-to-pmtu' : `--set-mss ${d.mss}`;
  },
  check(d, env) {
    const m = checkTarget('TCPMSS', env, null, 0, IPPROTO_TCP);
    if (m !== null) return m;
    const ok = (1 << NF_INET_FORWARD) | (1 << NF_INET_LOCAL_OUT) | (1 << NF_INET_POST_ROUTING);
    if (d.mss === XT_TCPMSS_CLAMP_PMTU && (env.hooks & ~ok) !== 0) {
      return 'xt_TCPMSS: path-MTU clamping only supported in FORWARD, OUTPUT and POSTROUTING hooks';
    }
    return null;
  },
  compile() {
    return {
      /** tcpmss_tg4 / tcpmss_tg6 as far as the packet's length shows. Hot path. */
      run(pkt) {
        if (pkt.fragment || pkt.proto !== IPPROTO_TCP) return XT_CONTINUE;
        const tcpLen = pkt.length - (pkt.family === 4 ? 20 : 40);
        if (tcpLen < 20) return NF_DROP;
        if (tcpLen === 20) pkt.length += 4;
        return XT_CONTINUE;
      },
    };
  },
};

registerTarget(tcpmssTarget);
