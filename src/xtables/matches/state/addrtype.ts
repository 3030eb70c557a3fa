/**
 * `-m addrtype` (revision 1): the route type of the source and/or destination address
 * (xt_addrtype.c). IPv4 asks the host for inet_dev_addr_type() (an RTN_* value, on the
 * in/out device with --limit-iface-*) and tests its bit; IPv6 follows match_type6(), where
 * the listed types are requirements that must all hold (MULTICAST, UNICAST, UNSPEC from the
 * address itself; LOCAL, ANYCAST, UNREACHABLE from a route lookup).
 */
import type { Family } from '../../../core/index.ts';
import type { Packet } from '../../../packet/index.ts';
import { NF_INET_LOCAL_IN, NF_INET_LOCAL_OUT, NF_INET_POST_ROUTING, NF_INET_PRE_ROUTING } from '../../../netfilter/index.ts';
import {
  RTN_ANYCAST, RTN_BLACKHOLE, RTN_LOCAL, RTN_PROHIBIT, RTN_THROW, RTN_UNREACHABLE, registerMatch,
  type MatchExt, type Matcher, type OptionUse, type ParseEnv, type XtContext,
} from '../../ext.ts';
import { checkOnce, isPrefixOf, optionsFcheck, type OptionRule } from './common.ts';

const OPTION_RULES: readonly OptionRule[] = [
  { name: 'src-type' },
  { name: 'dst-type' },
  { name: 'limit-iface-in', excl: ['limit-iface-out'] },
  { name: 'limit-iface-out', excl: ['limit-iface-in'] },
];

/** Type names by RTN_* number; the bit of a type is 1 << RTN. */
export const RTN_NAMES: readonly string[] = [
  'UNSPEC', 'UNICAST', 'LOCAL', 'BROADCAST', 'ANYCAST', 'MULTICAST', 'BLACKHOLE', 'UNREACHABLE',
  'PROHIBIT', 'THROW', 'NAT', 'XRESOLVE',
];

export const XT_ADDRTYPE_INVERT_SOURCE = 0x1;
export const XT_ADDRTYPE_INVERT_DEST = 0x2;
export const XT_ADDRTYPE_LIMIT_IFACE_IN = 0x4;
export const XT_ADDRTYPE_LIMIT_IFACE_OUT = 0x8;

const T_UNSPEC = 1 << 0;
const T_UNICAST = 1 << 1;
const T_LOCAL = 1 << 2;
const T_BROADCAST = 1 << 3;
const T_ANYCAST = 1 << 4;
const T_MULTICAST = 1 << 5;
const T_BLACKHOLE = 1 << 6;
const T_UNREACHABLE = 1 << 7;
const T_PROHIBIT = 1 << 8;

export interface AddrtypeData {
  /** Bit masks (1 << RTN_*) of --src-type / --dst-type; 0 when not given. */
  readonly source: number;
  readonly dest: number;
  /** XT_ADDRTYPE_* flags. */
  readonly flags: number;
}

function parseTypes(o: OptionUse, env: ParseEnv): number {
  let mask = 0;
  for (const word of o.args[0]!.split(',')) {
    const i = RTN_NAMES.findIndex((n) => isPrefixOf(word, n));
    if (i < 0) env.fail(`addrtype: bad type "${word}"`, o.token);
    mask |= 1 << i;
  }
  return mask;
}

function formatTypes(mask: number): string {
  const out: string[] = [];
  for (let i = 0; i < RTN_NAMES.length; i++) if (mask & (1 << i)) out.push(RTN_NAMES[i]!);
  return out.join(',');
}

function parseAddrtype(opts: readonly OptionUse[], env: ParseEnv): AddrtypeData {
  checkOnce('addrtype', opts, env);
  let source = 0;
  let dest = 0;
  let flags = 0;
  for (const o of opts) {
    switch (o.name) {
      case 'src-type':
        source = parseTypes(o, env);
        if (o.invert) flags |= XT_ADDRTYPE_INVERT_SOURCE;
        break;
      case 'dst-type':
        dest = parseTypes(o, env);
        if (o.invert) flags |= XT_ADDRTYPE_INVERT_DEST;
        break;
      case 'limit-iface-in':
        flags |= XT_ADDRTYPE_LIMIT_IFACE_IN;
        break;
      case 'limit-iface-out':
        flags |= XT_ADDRTYPE_LIMIT_IFACE_OUT;
        break;
    }
  }
  if (source === 0 && dest === 0) env.fail('addrtype: you must specify --src-type or --dst-type');
  optionsFcheck('addrtype', OPTION_RULES, opts, env);
  return { source, dest, flags };
}

function printAddrtype(d: AddrtypeData): string {
  const out: string[] = [];
  if (d.source) out.push(`${d.flags & XT_ADDRTYPE_INVERT_SOURCE ? '! ' : ''}--src-type ${formatTypes(d.source)}`);
  if (d.dest) out.push(`${d.flags & XT_ADDRTYPE_INVERT_DEST ? '! ' : ''}--dst-type ${formatTypes(d.dest)}`);
  if (d.flags & XT_ADDRTYPE_LIMIT_IFACE_IN) out.push('--limit-iface-in');
  if (d.flags & XT_ADDRTYPE_LIMIT_IFACE_OUT) out.push('--limit-iface-out');
  return out.join(' ');
}

const hookMask = (...hooks: number[]) => hooks.reduce((m, h) => m | (1 << h), 0);

/** addrtype_mt_checkentry_v1, with the kernel's log wording. */
function checkAddrtype(d: AddrtypeData, env: { family: Family; hooks: number }): string | null {
  if (env.hooks & hookMask(NF_INET_PRE_ROUTING, NF_INET_LOCAL_IN) && d.flags & XT_ADDRTYPE_LIMIT_IFACE_OUT) {
    return 'addrtype: output interface limitation not valid in PREROUTING and INPUT';
  }
  if (env.hooks & hookMask(NF_INET_POST_ROUTING, NF_INET_LOCAL_OUT) && d.flags & XT_ADDRTYPE_LIMIT_IFACE_IN) {
    return 'addrtype: input interface limitation not valid in POSTROUTING and OUTPUT';
  }
  if (env.family === 6) {
    const all = d.source | d.dest;
    if (all & T_BLACKHOLE) return 'addrtype: ipv6 BLACKHOLE matching not supported';
    if (all >= T_PROHIBIT) return 'addrtype: ipv6 PROHIBIT (THROW, NAT ..) matching not supported';
    if (all & T_BROADCAST) return 'addrtype: ipv6 does not support BROADCAST matching';
  }
  return null;
}

/** ipv6_addr_type() classes addrtype looks at. */
const V6_ANY = 0;
const V6_UNICAST = 1;
const V6_MULTICAST = 2;
const V6_OTHER = 3; // IPv4-mapped: neither unicast nor multicast

function ipv6Class(w: Uint32Array): number {
  const w0 = w[0]!;
  if (w0 >>> 24 === 0xff) return V6_MULTICAST;
  // 2000::/3, fc00::/7, fe80::/10, fec0::/10 and everything not below are unicast.
  if (w0 === 0 && w[1] === 0) {
    if (w[2] === 0) return w[3] === 0 ? V6_ANY : V6_UNICAST; // ::1 loopback and ::a.b.c.d compat are unicast
    if (w[2] === 0xffff) return V6_OTHER;
  }
  return V6_UNICAST;
}

class AddrtypeMatcher implements Matcher {
  constructor(
    private readonly family: Family,
    private readonly source: number,
    private readonly dest: number,
    private readonly flags: number,
  ) {}

  /** Hot path (addrtype_mt_v1). */
  match(pkt: Packet, ctx: XtContext): boolean {
    let dev: string | null = null;
    if (this.flags & XT_ADDRTYPE_LIMIT_IFACE_IN) dev = pkt.inIface === '' ? null : pkt.inIface;
    else if (this.flags & XT_ADDRTYPE_LIMIT_IFACE_OUT) dev = pkt.outIface === '' ? null : pkt.outIface;
    if (this.source !== 0) {
      const m = this.matchType(ctx, pkt.saddr, this.source, dev);
      if (m === ((this.flags & XT_ADDRTYPE_INVERT_SOURCE) !== 0)) return false;
    }
    if (this.dest !== 0) {
      const m = this.matchType(ctx, pkt.daddr, this.dest, dev);
      if (m === ((this.flags & XT_ADDRTYPE_INVERT_DEST) !== 0)) return false;
    }
    return true;
  }

  private matchType(ctx: XtContext, w: Uint32Array, mask: number, dev: string | null): boolean {
    if (this.family === 4) return (mask & (1 << ctx.host.addrType(4, w, dev))) !== 0;
    // match_type6
    const cls = ipv6Class(w);
    if (mask & T_MULTICAST && cls !== V6_MULTICAST) return false;
    if (mask & T_UNICAST && cls !== V6_UNICAST) return false;
    if (mask & T_UNSPEC && cls !== V6_ANY) return false;
    if (mask & (T_LOCAL | T_ANYCAST | T_UNREACHABLE)) {
      // match_lookup_rt6: the route's type as bits. nfemu's route lookup answers with one
      // RTN_* value; reject-type routes count as UNREACHABLE, as RTF_REJECT does.
      const rtn = ctx.host.addrType(6, w, dev);
      let got = 0;
      if (rtn === RTN_LOCAL) got = T_LOCAL;
      else if (rtn === RTN_ANYCAST) got = T_ANYCAST;
      else if (rtn === RTN_UNREACHABLE || rtn === RTN_PROHIBIT || rtn === RTN_BLACKHOLE || rtn === RTN_THROW) got = T_UNREACHABLE;
      return (mask & got) !== 0;
    }
    return true;
  }
}

export const addrtypeMatch: MatchExt<AddrtypeData> = {
  name: 'addrtype',
  options: [
    { name: 'src-type', args: 1, invertible: true },
    { name: 'dst-type', args: 1, invertible: true },
    { name: 'limit-iface-in', args: 0 },
    { name: 'limit-iface-out', args: 0 },
  ],
  parse: parseAddrtype,
  print: printAddrtype,
  check: checkAddrtype,
  compile: (d, env) => new AddrtypeMatcher(env.family, d.source, d.dest, d.flags),
};

registerMatch(addrtypeMatch);

