/**
 * The NAT targets' common part (libxt_NAT.c of iptables 1.8.9, xt_nat.c): parsing
 * `[ip[-ip]][:port[-port[/base]]]` and `port[-port]`, printing a range back as
 * iptables-nft-save does, and the NatRange handed to conntrack's setupNat.
 */
import { formatWords, type Family } from '../../core/index.ts';
import {
  NF_NAT_RANGE_MAP_IPS, NF_NAT_RANGE_PROTO_SPECIFIED, NF_NAT_RANGE_PROTO_RANDOM, NF_NAT_RANGE_PERSISTENT,
  NF_NAT_RANGE_PROTO_RANDOM_FULLY, NF_NAT_RANGE_PROTO_OFFSET, type NatRange,
} from '../../conntrack/index.ts';
import type { OptionUse, ParseEnv } from '../ext.ts';
import { natPortOk, parsePton, serviceToPort, strtoul } from './util.ts';

/** A NAT range as the rule stores it (nf_nat_range2, host order). */
export interface NatData {
  /** NF_NAT_RANGE_* bits. */
  readonly flags: number;
  readonly minAddr: Uint32Array;
  readonly maxAddr: Uint32Array;
  readonly minProto: number;
  readonly maxProto: number;
  /** Base of a shifted port map (`/port`, NF_NAT_RANGE_PROTO_OFFSET); 0 when the revision used has none. */
  readonly baseProto: number;
}

/** A mutable range being parsed. */
export interface NatBuild {
  flags: number;
  minAddr: Uint32Array;
  maxAddr: Uint32Array;
  minProto: number;
  maxProto: number;
  baseProto: number;
}

export function newNatBuild(): NatBuild {
  return { flags: 0, minAddr: new Uint32Array(4), maxAddr: new Uint32Array(4), minProto: 0, maxProto: 0, baseProto: 0 };
}

/** xtables_strtoui(arg, &end, …, min, 65535) with its end pointer: null when no number in range. */
function portNumber(s: string, from: number, min: number): { value: number; end: number } | null {
  const r = strtoul(s, from);
  if (r === null || r.value < min || r.value > 65535) return null;
  return r;
}

/** parse_ports(): `port[-port[/base]]`, a service name allowed for the first port and the base. */
export function parseNatPorts(arg: string, env: ParseEnv, token: string, r: NatBuild): void {
  if (!natPortOk(env.proto)) env.fail('Need TCP, UDP, SCTP or DCCP with port specification', token);
  r.flags |= NF_NAT_RANGE_PROTO_SPECIFIED;
  let port: number;
  let end: number;
  const first = portNumber(arg, 0, 0);
  if (first === null) {
    const s = serviceToPort(arg);
    if (s === null) env.fail(`Port \`${arg}' not valid`, token);
    port = s!;
    end = arg.length;
  } else {
    port = first.value;
    end = first.end;
  }
  if (end === arg.length) {
    r.minProto = r.maxProto = port;
    return;
  }
  if (arg[end] === ':') env.fail('Invalid port:port syntax - use dash', token);
  if (arg[end] !== '-') env.fail(`Garbage after port value: \`${arg.slice(end)}'`, token);
  const rest = arg.slice(end + 1);
  // A range: no service names here.
  const max = portNumber(rest, 0, 0);
  if (max === null) env.fail(`Port \`${rest}' not valid`, token);
  if (max!.value < port) env.fail(`Port range \`${rest}' funky`, token);
  r.minProto = port;
  r.maxProto = max!.value;
  if (max!.end === rest.length) return;
  if (rest[max!.end] !== '/') env.fail(`Garbage after port range: \`${rest.slice(max!.end)}'`, token);
  const b = rest.slice(max!.end + 1);
  const base = portNumber(b, 0, 1);
  let baseport: number;
  if (base === null) {
    const s = serviceToPort(b);
    if (s === null) env.fail(`Port \`${b}' not valid`, token);
    baseport = s!;
  } else {
    baseport = base.value; // trailing text after the base is ignored, as in 1.8.9
  }
  r.flags |= NF_NAT_RANGE_PROTO_OFFSET;
  r.baseProto = baseport;
}

/** parse_to(): `[ip[-ip]][:ports]`, IPv6 `[ip[-ip]][:ports]` in brackets when ports follow. */
export function parseNatTo(arg: string, env: ParseEnv, token: string, r: NatBuild): void {
  const family: Family = env.family;
  let start = 0;
  let text = arg;
  let colon: number;
  const bracket = arg.indexOf('[');
  if (bracket < 0) {
    // One colon is the port; more make an IPv6 address.
    colon = arg.indexOf(':');
    if (colon >= 0 && arg.indexOf(':', colon + 1) >= 0) colon = -1;
  } else {
    start = bracket + 1;
    const close = arg.indexOf(']', start);
    if (close < 0 || family === 4) env.fail('Invalid address format', token);
    text = arg.slice(0, close);
    colon = arg.indexOf(':', close + 1);
  }
  if (colon >= 0) {
    parseNatPorts(arg.slice(colon + 1), env, token, r);
    // Nothing before the colon (or only `[]`): no address.
    if (colon === 0 || colon === 2) return;
    if (bracket < 0) text = arg.slice(0, colon);
  }
  r.flags |= NF_NAT_RANGE_MAP_IPS;
  const addrs = text.slice(start);
  const dash = addrs.indexOf('-');
  const lo = dash < 0 ? addrs : addrs.slice(0, dash);
  const min = parsePton(family, lo);
  if (min === null) env.fail(`Bad IP address "${lo}"`, token);
  r.minAddr.set(min!);
  if (dash < 0) {
    r.maxAddr.set(min!);
  } else {
    const hi = addrs.slice(dash + 1);
    const max = parsePton(family, hi);
    if (max === null) env.fail(`Bad IP address "${hi}"`, token);
    r.maxAddr.set(max!);
  }
}

/** The NAT flags options (--random, --random-fully, --persistent) of libxt_NAT. */
export function natFlag(use: OptionUse, r: NatBuild): boolean {
  switch (use.name) {
    case 'random': r.flags |= NF_NAT_RANGE_PROTO_RANDOM; return true;
    case 'random-fully': r.flags |= NF_NAT_RANGE_PROTO_RANDOM_FULLY; return true;
    case 'persistent': r.flags |= NF_NAT_RANGE_PERSISTENT; return true;
    default: return false;
  }
}

/** Freezes a built range; `keepBase` false for the revisions without a base port (the flag stays, the base is 0). */
export function natData(r: NatBuild, keepBase: boolean): NatData {
  return {
    flags: r.flags,
    minAddr: r.minAddr,
    maxAddr: r.maxAddr,
    minProto: r.minProto,
    maxProto: r.maxProto,
    baseProto: keepBase ? r.baseProto : 0,
  };
}

/** sprint_range(): `[min[-max]]:port[-port][/base]`, brackets for IPv6 with ports. */
function sprintRange(d: NatData, family: Family): string {
  const ports = (d.flags & NF_NAT_RANGE_PROTO_SPECIFIED) !== 0;
  const brackets = family === 6 && ports;
  let s = '';
  if (d.flags & NF_NAT_RANGE_MAP_IPS) {
    if (brackets) s += '[';
    s += formatWords(family, d.minAddr);
    const same = d.minAddr[0] === d.maxAddr[0] && d.minAddr[1] === d.maxAddr[1] && d.minAddr[2] === d.maxAddr[2] && d.minAddr[3] === d.maxAddr[3];
    if (!same) s += `-${formatWords(family, d.maxAddr)}`;
    if (brackets) s += ']';
  }
  if (ports) {
    s += `:${d.minProto}`;
    if (d.maxProto !== d.minProto) s += `-${d.maxProto}`;
    if (d.flags & NF_NAT_RANGE_PROTO_OFFSET) s += `/${d.baseProto}`;
  }
  return s;
}

/** __NAT_print() in save form: `--to-destination …` / `--to-ports …` then the flags. */
export function printNat(d: NatData, family: Family, rangeOpt: string, skipColon: boolean): string {
  const parts: string[] = [];
  let range = sprintRange(d, family);
  if (range !== '') {
    if (skipColon && range[0] === ':') range = range.slice(1);
    parts.push(`${rangeOpt} ${range}`);
  }
  if (d.flags & NF_NAT_RANGE_PROTO_RANDOM) parts.push('--random');
  if (d.flags & NF_NAT_RANGE_PROTO_RANDOM_FULLY) parts.push('--random-fully');
  if (d.flags & NF_NAT_RANGE_PERSISTENT) parts.push('--persistent');
  return parts.join(' ');
}

/** The NatRange conntrack gets (built once at compile time; the caller may rewrite its addresses per packet). */
export function toNatRange(d: NatData, extraFlags = 0): NatRange {
  return {
    flags: d.flags | extraFlags,
    minAddr: Uint32Array.from(d.minAddr),
    maxAddr: Uint32Array.from(d.maxAddr),
    minProto: d.minProto,
    maxProto: d.maxProto,
    baseProto: d.baseProto,
  };
}
