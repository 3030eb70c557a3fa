/**
 * `-m connlimit`: the number of connections from the packet's source (or to its
 * destination) network, compared with a limit (xt_connlimit.c): matches when
 * `count > limit` (--connlimit-above), or the opposite (--connlimit-upto). The key is the
 * packet's address under --connlimit-mask, in the packet's conntrack zone.
 *
 * The kernel keeps per-rule nf_conncount trees of the connections it has seen; nfemu walks
 * the host's conntrack table instead and counts the entries whose original source (or
 * destination) falls in the masked address, plus the packet's own connection when it is
 * not in the table yet (nf_conncount adds it). Entries in TCP TIME_WAIT or CLOSE are not
 * counted, as nf_conncount drops them. That walk is O(entries) per packet, not the kernel's
 * O(log n) tree lookup; it is exact when every connection of the key went through the rule.
 */
import { IPPROTO_TCP, prefixMask, type Family } from '../../../core/index.ts';
import type { Packet } from '../../../packet/index.ts';
import { registerMatch, type MatchExt, type Matcher, type OptionUse, type ParseEnv, type XtContext } from '../../ext.ts';
import { TCP_CONNTRACK_CLOSE, TCP_CONNTRACK_TIME_WAIT } from '../../../conntrack/index.ts';
import { checkOnce, connOf, maskedEqual, optionsFcheck, parsePlen, parseUint, type OptionRule } from './common.ts';

export const XT_CONNLIMIT_INVERT = 1 << 0;
export const XT_CONNLIMIT_DADDR = 1 << 1;



export interface ConnlimitData {
  readonly limit: number;
  /** XT_CONNLIMIT_* flags (INVERT = --connlimit-upto). */
  readonly flags: number;
  /** Prefix length of --connlimit-mask. */
  readonly prefix: number;
}

const OPTION_RULES: readonly OptionRule[] = [
  { name: 'connlimit-upto', excl: ['connlimit-above'] },
  { name: 'connlimit-above', excl: ['connlimit-upto'] },
  { name: 'connlimit-mask' },
  { name: 'connlimit-saddr', excl: ['connlimit-daddr'] },
  { name: 'connlimit-daddr', excl: ['connlimit-saddr'] },
];

function parseConnlimit(opts: readonly OptionUse[], env: ParseEnv): ConnlimitData {
  checkOnce('connlimit', opts, env);
  let limit = 0;
  let flags = 0;
  let prefix = env.family === 4 ? 32 : 128;
  let haveLimit = false;
  for (const o of opts) {
    const arg = o.args[0] ?? '';
    switch (o.name) {
      case 'connlimit-upto': case 'connlimit-above': {
        const n = parseUint(arg, 0, 0xffffffff);
        if (n === null) env.fail(`connlimit: bad value for option "--${o.name}", or out of range (0-4294967295).`, o.token);
        limit = n!;
        haveLimit = true;
        const upto = (o.name === 'connlimit-upto') !== o.invert;
        flags = upto ? flags | XT_CONNLIMIT_INVERT : flags & ~XT_CONNLIMIT_INVERT;
        break;
      }
      case 'connlimit-mask': {
        const p = parsePlen(env.family, arg);
        if (p === null) {
          env.fail(`connlimit: bad value for option "--connlimit-mask", neither a valid network mask nor valid CIDR (0-${env.family === 4 ? 32 : 128}).`, o.token);
        }
        prefix = p!;
        break;
      }
      case 'connlimit-saddr': flags &= ~XT_CONNLIMIT_DADDR; break;
      case 'connlimit-daddr': flags |= XT_CONNLIMIT_DADDR; break;
    }
  }
  if (!haveLimit) env.fail('You must specify "--connlimit-above" or "--connlimit-upto".');
  optionsFcheck('connlimit', OPTION_RULES, opts, env);
  return { limit, flags, prefix };
}

function printConnlimit(d: ConnlimitData, _family: Family): string {
  const which = d.flags & XT_CONNLIMIT_INVERT ? 'upto' : 'above';
  return `--connlimit-${which} ${d.limit} --connlimit-mask ${d.prefix} ${d.flags & XT_CONNLIMIT_DADDR ? '--connlimit-daddr' : '--connlimit-saddr'}`;
}

class ConnlimitMatcher implements Matcher {
  constructor(
    private readonly family: Family,
    private readonly limit: number,
    private readonly invert: boolean,
    private readonly daddr: boolean,
    private readonly mask: Uint32Array,
  ) {}

  /** Per packet, but O(conntrack entries): see the file comment. */
  match(pkt: Packet, ctx: XtContext): boolean {
    const key = this.daddr ? pkt.daddr : pkt.saddr;
    const own = connOf(pkt);
    const zone = own !== null ? own.zone : pkt.ctZone;
    let count = 0;
    let ownSeen = false;
    const table = ctx.conntrack;
    if (table !== null) {
      const all = table.entries();
      for (let i = 0; i < all.length; i++) {
        const c = all[i]!;
        if (c === own) ownSeen = true;
        if (c.orig.family !== this.family || c.zone !== zone) continue;
        if (c.orig.proto === IPPROTO_TCP && (c.tcpState === TCP_CONNTRACK_TIME_WAIT || c.tcpState === TCP_CONNTRACK_CLOSE)) continue;
        const a = this.daddr ? c.orig.dst : c.orig.src;
        if (maskedEqual(this.family, a, key, this.mask)) count++;
      }
    }
    if (!ownSeen) count++;
    return (count > this.limit) !== this.invert;
  }
}

export const connlimitMatch: MatchExt<ConnlimitData> = {
  name: 'connlimit',
  options: [
    { name: 'connlimit-upto', args: 1, invertible: true },
    { name: 'connlimit-above', args: 1, invertible: true },
    { name: 'connlimit-mask', args: 1 },
    { name: 'connlimit-saddr', args: 0 },
    { name: 'connlimit-daddr', args: 0 },
  ],
  parse: parseConnlimit,
  print: printConnlimit,
  compile: (d, env) =>
    new ConnlimitMatcher(env.family, d.limit, (d.flags & XT_CONNLIMIT_INVERT) !== 0, (d.flags & XT_CONNLIMIT_DADDR) !== 0, prefixMask(env.family, d.prefix)),
};

registerMatch(connlimitMatch);
