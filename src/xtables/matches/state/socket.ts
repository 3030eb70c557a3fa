/**
 * `-m socket`: is there a local socket for this packet (xt_socket.c)? Established sockets,
 * and listening ones unless --nowildcard; with --transparent only IP_TRANSPARENT sockets.
 * PREROUTING and INPUT only. The host answers (HostView.hasSocket). --restore-skmark (copy
 * the socket's mark to the packet) is parsed and printed, but nfemu's host exposes no
 * socket marks, so the packet mark is left alone.
 */
import type { Family } from '../../../core/index.ts';
import type { Packet } from '../../../packet/index.ts';
import { NF_INET_LOCAL_IN, NF_INET_PRE_ROUTING } from '../../../netfilter/index.ts';
import { registerMatch, type MatchExt, type Matcher, type OptionUse, type ParseEnv, type XtContext } from '../../ext.ts';
import { checkHooks, checkOnce, has } from './common.ts';

export const SOCKET_HOOKS = (1 << NF_INET_PRE_ROUTING) | (1 << NF_INET_LOCAL_IN);

export interface SocketData {
  readonly transparent: boolean;
  readonly nowildcard: boolean;
  readonly restoreSkmark: boolean;
}

class SocketMatcher implements Matcher {
  constructor(
    private readonly transparent: boolean,
    private readonly nowildcard: boolean,
  ) {}

  /** Hot path. */
  match(pkt: Packet, ctx: XtContext): boolean {
    return ctx.host.hasSocket(pkt, this.transparent, this.nowildcard);
  }
}

export const socketMatch: MatchExt<SocketData> = {
  name: 'socket',
  options: [
    { name: 'transparent', args: 0 },
    { name: 'nowildcard', args: 0 },
    { name: 'restore-skmark', args: 0 },
  ],
  parse(opts: readonly OptionUse[], env: ParseEnv) {
    checkOnce('socket', opts, env);
    return { transparent: has(opts, 'transparent'), nowildcard: has(opts, 'nowildcard'), restoreSkmark: has(opts, 'restore-skmark') };
  },
  print(d: SocketData, _family: Family) {
    const out: string[] = [];
    if (d.transparent) out.push('--transparent');
    if (d.nowildcard) out.push('--nowildcard');
    if (d.restoreSkmark) out.push('--restore-skmark');
    return out.join(' ');
  },
  check: (_d, env) => checkHooks('socket', 'match', env.hooks, SOCKET_HOOKS),
  compile: (d) => new SocketMatcher(d.transparent, d.nowildcard),
};

registerMatch(socketMatch);
