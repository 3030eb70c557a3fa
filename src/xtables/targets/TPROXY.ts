/**
 * TPROXY (xt_TPROXY.c, revision 1; libxt_TPROXY.c): hands the packet to a local transparent
 * socket without changing its addresses. Mangle table, PREROUTING only, `-p tcp` or
 * `-p udp`. `--on-port` (0: the packet's own port), `--on-ip` (0.0.0.0 / ::: the first
 * address of the incoming interface, else the packet's destination), `--tproxy-mark v[/m]`.
 *
 * Model (tproxy_tg4 / tproxy_tg6 with HostView.hasSocket as the socket table):
 * 1. an established socket for the packet's own addresses: if it is IP_TRANSPARENT, mark
 *    and NF_ACCEPT, else NF_DROP (the kernel does not look further);
 * 2. otherwise a listener on (on-ip, on-port): the packet's destination is set to those
 *    for the lookup only and restored; a transparent one marks the packet
 *    (`mark = (mark & ~m) ^ v`) and accepts it, anything else drops it.
 * The socket assignment itself (which makes local delivery reach the socket whatever the
 * destination) is the host's business: it should deliver a TPROXY-accepted packet locally
 * when policy routing for the mark says so.
 */
import { formatWords, IPPROTO_TCP, IPPROTO_UDP } from '../../core/index.ts';
import { NF_ACCEPT, NF_DROP, NF_INET_PRE_ROUTING } from '../../netfilter/index.ts';
import { registerTarget, type TargetExt } from '../ext.ts';
import { checkTarget, hex, hostNotFound, markMaskOption, parseHost, ruleProto, serviceToPort, strtoul, xtParse, type XtOption } from './util.ts';

export interface TproxyData {
  readonly port: number;
  /** Four words; all zero when --on-ip was not given. */
  readonly addr: Uint32Array;
  readonly markValue: number;
  readonly markMask: number;
}

const OPTIONS: readonly XtOption[] = [
  { name: 'on-port', args: 1, mand: true },
  { name: 'on-ip', args: 1 },
  { name: 'tproxy-mark', args: 1 },
];

export const tproxyTarget: TargetExt<TproxyData> = {
  name: 'TPROXY',
  options: OPTIONS,
  parse(opts, env) {
    let port = 0;
    let addr: Uint32Array = new Uint32Array(4);
    let markValue = 0;
    let markMask = 0;
    xtParse('TPROXY', OPTIONS, opts, env, (use) => {
      const arg = use.args[0]!;
      switch (use.name) {
        case 'on-port': {
          // XTTYPE_PORT: a number (kept to 16 bits, as libxtables stores it) or a service name.
          const r = strtoul(arg);
          const n = r !== null && r.end === arg.length ? r.value & 0xffff : serviceToPort(arg);
          if (n === null) env.fail(`Port "${arg}" does not resolve to anything.`, use.token);
          port = n!;
          break;
        }
        case 'on-ip': {
          const w = parseHost(env.family, arg);
          if (w === null) env.fail(hostNotFound(env.family, arg), use.token);
          addr = w!;
          break;
        }
        case 'tproxy-mark': {
          const mm = markMaskOption('TPROXY', use, env);
          markValue = mm.value;
          markMask = mm.mask;
          break;
        }
      }
    });
    return { port, addr, markValue, markMask };
  },
  print(d, family) {
    return `--on-port ${d.port} --on-ip ${formatWords(family, d.addr)} --tproxy-mark ${hex(d.markValue)}/${hex(d.markMask)}`;
  },
  check(_data, env) {
    const m = checkTarget('TPROXY', env, 'mangle', 1 << NF_INET_PRE_ROUTING);
    if (m !== null) return m;
    const p = ruleProto(env);
    if (p !== IPPROTO_TCP && p !== IPPROTO_UDP) return 'xt_TPROXY: Can be used only with -p tcp or -p udp';
    return null;
  },
  compile(d) {
    const port = d.port;
    const userAddr = Uint32Array.from(d.addr);
    const anyAddr = (userAddr[0]! | userAddr[1]! | userAddr[2]! | userAddr[3]!) === 0;
    const keep = ~d.markMask >>> 0;
    const value = d.markValue >>> 0;
    const laddr = new Uint32Array(4);
    const saved = new Uint32Array(4);
    return {
      /** tproxy_tg4 / tproxy_tg6. Hot path: allocation-free (the destination is restored). */
      run(pkt, ctx) {
        if (ctx.host.hasSocket(pkt, false, true)) {
          if (!ctx.host.hasSocket(pkt, true, true)) return NF_DROP;
          pkt.mark = ((pkt.mark & keep) ^ value) >>> 0;
          return NF_ACCEPT;
        }
        // nf_tproxy_laddr4/6: the given address, else the interface's first, else the destination.
        if (!anyAddr) laddr.set(userAddr);
        else if (pkt.inIface === '' || !ctx.host.ifaceAddr(pkt.family, pkt.inIface, laddr)) laddr.set(pkt.daddr);
        const dport = pkt.dport;
        saved.set(pkt.daddr);
        pkt.daddr.set(laddr);
        if (port !== 0) pkt.dport = port;
        const transparent = ctx.host.hasSocket(pkt, true, false);
        pkt.daddr.set(saved);
        pkt.dport = dport;
        if (!transparent) return NF_DROP;
        pkt.mark = ((pkt.mark & keep) ^ value) >>> 0;
        return NF_ACCEPT;
      },
    };
  },
};

registerTarget(tproxyTarget);
