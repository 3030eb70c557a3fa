/**
 * `-m conntrack` (revision 3) and `-m state`: the packet's conntrack state and entry
 * (xt_conntrack.c conntrack_mt, xt_state.c state_mt).
 *
 * The state bit is the ctinfo's (NEW, ESTABLISHED, RELATED; replies fold onto the same
 * bits), UNTRACKED for untracked packets and INVALID for packets without an entry; SNAT and
 * DNAT are pseudo-states added from the entry's IPS_SRC_NAT / IPS_DST_NAT status bits. For a
 * packet without an entry (INVALID or UNTRACKED) only --ctstate is tested: the match is the
 * state test's result when --ctstate is given (the other options are then skipped), and
 * false when it is not, inverted options included.
 */
import { protoNumber, type Family } from '../../../core/index.ts';
import type { Packet } from '../../../packet/index.ts';
import {
  IP_CT_UNTRACKED, IPS_ASSURED, IPS_CONFIRMED, IPS_DST_NAT, IPS_EXPECTED, IPS_SEEN_REPLY, IPS_SRC_NAT,
  XT_CONNTRACK_STATE_DNAT, XT_CONNTRACK_STATE_SNAT, XT_STATE_ESTABLISHED, XT_STATE_INVALID, XT_STATE_NEW,
  XT_STATE_RELATED, XT_STATE_UNTRACKED, ctinfoIsReply, stateBit,
} from '../../../netfilter/index.ts';
import { registerMatch, type MatchExt, type Matcher, type OptionUse, type ParseEnv, type XtContext } from '../../ext.ts';
import {
  checkOnce, connOf, formatHostMask, isPrefixOf, maskedEqual, parseHostMask, parsePortRange, parseUint,
  type HostMask,
} from './common.ts';

/** match_flags / invert_flags bits (enum xt_conntrack_flags). */
export const XT_CONNTRACK_STATE = 1 << 0;
export const XT_CONNTRACK_PROTO = 1 << 1;
export const XT_CONNTRACK_ORIGSRC = 1 << 2;
export const XT_CONNTRACK_ORIGDST = 1 << 3;
export const XT_CONNTRACK_REPLSRC = 1 << 4;
export const XT_CONNTRACK_REPLDST = 1 << 5;
export const XT_CONNTRACK_STATUS = 1 << 6;
export const XT_CONNTRACK_EXPIRES = 1 << 7;
export const XT_CONNTRACK_ORIGSRC_PORT = 1 << 8;
export const XT_CONNTRACK_ORIGDST_PORT = 1 << 9;
export const XT_CONNTRACK_REPLSRC_PORT = 1 << 10;
export const XT_CONNTRACK_REPLDST_PORT = 1 << 11;
export const XT_CONNTRACK_DIRECTION = 1 << 12;

/** State names in the order iptables prints them, with their bits. */
const STATE_PRINT: ReadonlyArray<readonly [string, number]> = [
  ['INVALID', XT_STATE_INVALID], ['NEW', XT_STATE_NEW], ['RELATED', XT_STATE_RELATED],
  ['ESTABLISHED', XT_STATE_ESTABLISHED], ['UNTRACKED', XT_STATE_UNTRACKED],
  ['SNAT', XT_CONNTRACK_STATE_SNAT], ['DNAT', XT_CONNTRACK_STATE_DNAT],
];
/** The order libxt_conntrack tries names in (a prefix picks the first that fits). */
const STATE_PARSE: ReadonlyArray<readonly [string, number]> = [
  ['INVALID', XT_STATE_INVALID], ['NEW', XT_STATE_NEW], ['ESTABLISHED', XT_STATE_ESTABLISHED],
  ['RELATED', XT_STATE_RELATED], ['UNTRACKED', XT_STATE_UNTRACKED],
  ['SNAT', XT_CONNTRACK_STATE_SNAT], ['DNAT', XT_CONNTRACK_STATE_DNAT],
];
/** --ctstatus names (NONE adds no bit); print order is this order. */
const STATUS_NAMES: ReadonlyArray<readonly [string, number]> = [
  ['NONE', 0], ['EXPECTED', IPS_EXPECTED], ['SEEN_REPLY', IPS_SEEN_REPLY], ['ASSURED', IPS_ASSURED],
  ['CONFIRMED', IPS_CONFIRMED],
];

/** `INVALID,NEW,…` in iptables' print order. */
export function formatStates(mask: number): string {
  const out: string[] = [];
  for (const [n, b] of STATE_PRINT) if (mask & b) out.push(n);
  return out.join(',');
}

/**
 * A comma list of states (prefixes and any case accepted). `names` is how many of
 * STATE_PARSE apply (5 for -m state, 7 with SNAT/DNAT); `what` names the option in errors.
 */
export function parseStates(arg: string, names: number, what: 'state' | 'ctstate', env: ParseEnv, token: string): number {
  let mask = 0;
  let rest = arg;
  for (;;) {
    const comma = rest.indexOf(',');
    const word = comma < 0 ? rest : rest.slice(0, comma);
    if (comma < 0 && word === '' && what === 'state') {
      env.fail(`"--state" requires a list of states with no spaces, e.g. ESTABLISHED,RELATED`, token);
    }
    let bit = 0;
    for (let i = 0; i < names; i++) {
      if (isPrefixOf(word, STATE_PARSE[i]![0])) {
        bit = STATE_PARSE[i]![1];
        break;
      }
    }
    if (bit === 0) env.fail(`Bad ${what} "${rest}"`, token);
    mask |= bit;
    if (comma < 0) return mask;
    rest = rest.slice(comma + 1);
  }
}

export interface ConntrackData {
  readonly matchFlags: number;
  readonly invertFlags: number;
  readonly stateMask: number;
  readonly statusMask: number;
  readonly l4proto: number;
  /** --ctorigsrc, --ctorigdst, --ctreplsrc, --ctrepldst (null when not given). */
  readonly addrs: readonly (HostMask | null)[];
  /** --ctorigsrcport, --ctorigdstport, --ctreplsrcport, --ctrepldstport as [low, high]. */
  readonly ports: readonly (readonly [number, number] | null)[];
  readonly expiresMin: number;
  readonly expiresMax: number;
}

const ADDR_OPTS = ['ctorigsrc', 'ctorigdst', 'ctreplsrc', 'ctrepldst'] as const;
const ADDR_FLAGS = [XT_CONNTRACK_ORIGSRC, XT_CONNTRACK_ORIGDST, XT_CONNTRACK_REPLSRC, XT_CONNTRACK_REPLDST];
const PORT_OPTS = ['ctorigsrcport', 'ctorigdstport', 'ctreplsrcport', 'ctrepldstport'] as const;
const PORT_FLAGS = [XT_CONNTRACK_ORIGSRC_PORT, XT_CONNTRACK_ORIGDST_PORT, XT_CONNTRACK_REPLSRC_PORT, XT_CONNTRACK_REPLDST_PORT];

function parseStatuses(arg: string, env: ParseEnv, token: string): number {
  let mask = 0;
  let rest = arg;
  for (;;) {
    const comma = rest.indexOf(',');
    const word = comma < 0 ? rest : rest.slice(0, comma);
    let found = -1;
    for (const [n, b] of STATUS_NAMES) {
      if (isPrefixOf(word, n)) {
        found = b;
        break;
      }
    }
    if (found < 0) env.fail(`Bad ctstatus "${rest}"`, token);
    mask |= found;
    if (comma < 0) return mask;
    rest = rest.slice(comma + 1);
  }
}

function parseConntrack(opts: readonly OptionUse[], env: ParseEnv): ConntrackData {
  checkOnce('conntrack', opts, env);
  let matchFlags = 0;
  let invertFlags = 0;
  let stateMask = 0;
  let statusMask = 0;
  let l4proto = 0;
  const addrs: (HostMask | null)[] = [null, null, null, null];
  const ports: (readonly [number, number] | null)[] = [null, null, null, null];
  let expiresMin = 0;
  let expiresMax = 0;
  const flag = (bit: number, o: OptionUse) => {
    matchFlags |= bit;
    if (o.invert) invertFlags |= bit;
  };
  for (const o of opts) {
    const arg = o.args[0] ?? '';
    switch (o.name) {
      case 'ctstate':
        stateMask = parseStates(arg, 7, 'ctstate', env, o.token);
        flag(XT_CONNTRACK_STATE, o);
        break;
      case 'ctproto': {
        const p = protoNumber(arg);
        if (p === null) env.fail(`unknown protocol "${arg}" specified`, arg);
        // libxt_conntrack tests XT_INV_PROTO before recording the `!`, so `! --ctproto all`
        // is accepted (and saved as `! --ctproto 0`).
        l4proto = p!;
        flag(XT_CONNTRACK_PROTO, o);
        break;
      }
      case 'ctstatus':
        statusMask = parseStatuses(arg, env, o.token);
        flag(XT_CONNTRACK_STATUS, o);
        break;
      case 'ctexpire': {
        const parts = arg.split(':');
        const bad = () => env.fail(`conntrack: bad value for option "--ctexpire", or out of range (0-4294967295).`, o.token);
        if (parts.length > 2) bad();
        const lo = parseUint(parts[0]!, 0, 0xffffffff);
        const hi = parts.length === 2 ? parseUint(parts[1]!, 0, 0xffffffff) : lo;
        if (lo === null || hi === null) bad();
        expiresMin = lo!;
        expiresMax = hi!;
        flag(XT_CONNTRACK_EXPIRES, o);
        break;
      }
      case 'ctdir':
        if (arg.toUpperCase() === 'ORIGINAL') {
          matchFlags |= XT_CONNTRACK_DIRECTION;
          invertFlags &= ~XT_CONNTRACK_DIRECTION;
        } else if (arg.toUpperCase() === 'REPLY') {
          matchFlags |= XT_CONNTRACK_DIRECTION;
          invertFlags |= XT_CONNTRACK_DIRECTION;
        } else {
          env.fail(`conntrack: Bad value for "--ctdir" option: "${arg}"`, arg);
        }
        break;
      default: {
        const ai = (ADDR_OPTS as readonly string[]).indexOf(o.name);
        if (ai >= 0) {
          addrs[ai] = parseHostMask(env.family, arg, 'conntrack', o, env);
          flag(ADDR_FLAGS[ai]!, o);
          break;
        }
        const pi = (PORT_OPTS as readonly string[]).indexOf(o.name);
        if (pi >= 0) {
          ports[pi] = parsePortRange(arg, 'conntrack', o, env);
          flag(PORT_FLAGS[pi]!, o);
        }
      }
    }
  }
  if (opts.length === 0) env.fail('conntrack: At least one option is required');
  return { matchFlags, invertFlags, stateMask, statusMask, l4proto, addrs, ports, expiresMin, expiresMax };
}

/** conntrack_dump() with the `--` prefix, revision 3. */
function printConntrack(d: ConntrackData, family: Family): string {
  const out: string[] = [];
  const inv = (bit: number) => (d.invertFlags & bit ? '! ' : '');
  if (d.matchFlags & XT_CONNTRACK_STATE) out.push(`${inv(XT_CONNTRACK_STATE)}--ctstate ${formatStates(d.stateMask)}`);
  if (d.matchFlags & XT_CONNTRACK_PROTO) out.push(`${inv(XT_CONNTRACK_PROTO)}--ctproto ${d.l4proto}`);
  for (let i = 0; i < 4; i++) {
    const a = d.addrs[i];
    if (d.matchFlags & ADDR_FLAGS[i]! && a) out.push(`${inv(ADDR_FLAGS[i]!)}--${ADDR_OPTS[i]} ${formatHostMask(family, a)}`);
  }
  for (let i = 0; i < 4; i++) {
    const p = d.ports[i];
    if (d.matchFlags & PORT_FLAGS[i]! && p) {
      const range = p[1] === 0 || p[0] === p[1] ? `${p[0]}` : `${p[0]}:${p[1]}`;
      out.push(`${inv(PORT_FLAGS[i]!)}--${PORT_OPTS[i]} ${range}`);
    }
  }
  if (d.matchFlags & XT_CONNTRACK_STATUS) {
    const names: string[] = [];
    for (const [n, b] of STATUS_NAMES) if (b !== 0 && d.statusMask & b) names.push(n);
    out.push(`${inv(XT_CONNTRACK_STATUS)}--ctstatus ${names.length ? names.join(',') : 'NONE'}`);
  }
  if (d.matchFlags & XT_CONNTRACK_EXPIRES) {
    const r = d.expiresMin === d.expiresMax ? `${d.expiresMin}` : `${d.expiresMin}:${d.expiresMax}`;
    out.push(`${inv(XT_CONNTRACK_EXPIRES)}--ctexpire ${r}`);
  }
  if (d.matchFlags & XT_CONNTRACK_DIRECTION) out.push(`--ctdir ${d.invertFlags & XT_CONNTRACK_DIRECTION ? 'REPLY' : 'ORIGINAL'}`);
  return out.join(' ');
}

const ZERO = new Uint32Array(4);

class ConntrackMatcher implements Matcher {
  private readonly flags: number;
  private readonly inv: number;
  private readonly stateMask: number;
  private readonly statusMask: number;
  private readonly l4proto: number;
  private readonly addr: Uint32Array[];
  private readonly mask: Uint32Array[];
  private readonly portLo: Int32Array;
  private readonly portHi: Int32Array;
  private readonly expiresMin: number;
  private readonly expiresMax: number;

  constructor(d: ConntrackData, private readonly family: Family) {
    this.flags = d.matchFlags;
    this.inv = d.invertFlags;
    this.stateMask = d.stateMask;
    this.statusMask = d.statusMask;
    this.l4proto = d.l4proto;
    this.addr = d.addrs.map((a) => (a ? Uint32Array.from(a.addr) : ZERO));
    this.mask = d.addrs.map((a) => (a ? Uint32Array.from(a.mask) : ZERO));
    this.portLo = Int32Array.from(d.ports.map((p) => (p ? p[0] : 0)));
    this.portHi = Int32Array.from(d.ports.map((p) => (p ? p[1] : 0)));
    this.expiresMin = d.expiresMin;
    this.expiresMax = d.expiresMax;
  }

  /** `test` must hold unless the option is inverted (the kernel's `x ^ !(invert & bit)`). */
  private fails(bit: number, test: boolean): boolean {
    return (this.flags & bit) !== 0 && test === ((this.inv & bit) !== 0);
  }

  /** Hot path (conntrack_mt). */
  match(pkt: Packet, ctx: XtContext): boolean {
    const ct = connOf(pkt);
    const flags = this.flags;
    if (flags & XT_CONNTRACK_STATE) {
      let statebit = ct !== null ? stateBit(pkt.ctinfo) : pkt.ctinfo === IP_CT_UNTRACKED ? XT_STATE_UNTRACKED : XT_STATE_INVALID;
      if (ct !== null) {
        if (ct.status & IPS_SRC_NAT) statebit |= XT_CONNTRACK_STATE_SNAT;
        if (ct.status & IPS_DST_NAT) statebit |= XT_CONNTRACK_STATE_DNAT;
      }
      if (this.fails(XT_CONNTRACK_STATE, (this.stateMask & statebit) !== 0)) return false;
    }
    // No entry: the state test above decides alone; without --ctstate nothing matches.
    if (ct === null) return (flags & XT_CONNTRACK_STATE) !== 0;
    // CTINFO2DIR: the option stores ORIGINAL as "not inverted".
    if ((flags & XT_CONNTRACK_DIRECTION) && ctinfoIsReply(pkt.ctinfo) === ((this.inv & XT_CONNTRACK_DIRECTION) === 0)) return false;
    const fam = this.family;
    if (flags & XT_CONNTRACK_ORIGSRC && this.fails(XT_CONNTRACK_ORIGSRC, maskedEqual(fam, ct.orig.src, this.addr[0]!, this.mask[0]!))) return false;
    if (flags & XT_CONNTRACK_ORIGDST && this.fails(XT_CONNTRACK_ORIGDST, maskedEqual(fam, ct.orig.dst, this.addr[1]!, this.mask[1]!))) return false;
    if (flags & XT_CONNTRACK_REPLSRC && this.fails(XT_CONNTRACK_REPLSRC, maskedEqual(fam, ct.reply.src, this.addr[2]!, this.mask[2]!))) return false;
    if (flags & XT_CONNTRACK_REPLDST && this.fails(XT_CONNTRACK_REPLDST, maskedEqual(fam, ct.reply.dst, this.addr[3]!, this.mask[3]!))) return false;
    // ct_proto_port_check_v3: the protocol of the original tuple, ports of either tuple.
    if (this.fails(XT_CONNTRACK_PROTO, ct.orig.proto === this.l4proto)) return false;
    if (this.fails(XT_CONNTRACK_ORIGSRC_PORT, this.inRange(0, ct.orig.sport))) return false;
    if (this.fails(XT_CONNTRACK_ORIGDST_PORT, this.inRange(1, ct.orig.dport))) return false;
    if (this.fails(XT_CONNTRACK_REPLSRC_PORT, this.inRange(2, ct.reply.sport))) return false;
    if (this.fails(XT_CONNTRACK_REPLDST_PORT, this.inRange(3, ct.reply.dport))) return false;
    if (this.fails(XT_CONNTRACK_STATUS, (this.statusMask & ct.status) !== 0)) return false;
    if (flags & XT_CONNTRACK_EXPIRES) {
      // nf_ct_expires(ct) / HZ: whole seconds left, 0 once expired.
      const left = ct.timeoutAt - ctx.nowMs;
      const expires = left > 0 ? Math.floor(left / 1000) : 0;
      if (this.fails(XT_CONNTRACK_EXPIRES, expires >= this.expiresMin && expires <= this.expiresMax)) return false;
    }
    return true;
  }

  private inRange(i: number, port: number): boolean {
    return port >= this.portLo[i]! && port <= this.portHi[i]!;
  }
}

export const conntrackMatch: MatchExt<ConntrackData> = {
  name: 'conntrack',
  options: [
    { name: 'ctstate', args: 1, invertible: true },
    { name: 'ctproto', args: 1, invertible: true },
    { name: 'ctorigsrc', args: 1, invertible: true },
    { name: 'ctorigdst', args: 1, invertible: true },
    { name: 'ctreplsrc', args: 1, invertible: true },
    { name: 'ctrepldst', args: 1, invertible: true },
    { name: 'ctstatus', args: 1, invertible: true },
    { name: 'ctexpire', args: 1, invertible: true },
    { name: 'ctorigsrcport', args: 1, invertible: true },
    { name: 'ctorigdstport', args: 1, invertible: true },
    { name: 'ctreplsrcport', args: 1, invertible: true },
    { name: 'ctrepldstport', args: 1, invertible: true },
    { name: 'ctdir', args: 1 },
  ],
  parse: parseConntrack,
  print: printConntrack,
  compile: (d, env) => new ConntrackMatcher(d, env.family),
};

registerMatch(conntrackMatch);

/** Data for `-m state`: the state bits and `!`. */
export interface StateData {
  readonly stateMask: number;
  readonly invert: boolean;
}

class StateMatcher implements Matcher {
  constructor(
    private readonly stateMask: number,
    private readonly invert: boolean,
  ) {}

  /** Hot path (state_mt). */
  match(pkt: Packet): boolean {
    const statebit = pkt.ct !== null && pkt.ctinfo !== IP_CT_UNTRACKED
      ? stateBit(pkt.ctinfo)
      : pkt.ctinfo === IP_CT_UNTRACKED ? XT_STATE_UNTRACKED : XT_STATE_INVALID;
    return ((this.stateMask & statebit) !== 0) !== this.invert;
  }
}

export const stateMatch: MatchExt<StateData> = {
  name: 'state',
  options: [{ name: 'state', args: 1, invertible: true }],
  parse(opts, env) {
    checkOnce('state', opts, env);
    const o = opts.find((x) => x.name === 'state');
    if (o === undefined) env.fail('state: option "--state" must be specified');
    return { stateMask: parseStates(o!.args[0]!, 5, 'state', env, o!.token), invert: o!.invert };
  },
  print: (d) => `${d.invert ? '! ' : ''}--state ${formatStates(d.stateMask)}`,
  compile: (d) => new StateMatcher(d.stateMask, d.invert),
};

registerMatch(stateMatch);
