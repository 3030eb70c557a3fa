/**
 * From the kernel's trace events and the frames captured on the peer side to one sample's
 * answer: the trace entries (DESIGN.md §4 vocabulary), the final verdict and fate, and the
 * packets that left the node.
 *
 * Which events are the runner's packet: only packets the trigger chains mark get nftrace,
 * and the first event of every base-chain run carries the packet's headers; a run (one
 * trace id) belongs to this sample when its headers show the sample's identification.
 */
import { formatEndpoint, formatMark } from '../../packet/index.ts';
import { parseIp as parseWords } from '../../core/index.ts';
import {
  ctStateName,
  ctStatusNames,
  NF_ACCEPT,
  NF_DROP,
  NF_QUEUE,
  NF_STOLEN,
  NFT_CONTINUE,
  NFT_GOTO,
  NFT_JUMP,
  NFT_RETURN,
  NFT_TRACETYPE_POLICY,
  NFT_TRACETYPE_RETURN,
  NFT_TRACETYPE_RULE,
  type RawTraceEvent,
} from './netlink.ts';
import { key, TRACE_TABLE, type RuleMap } from './ruleset.ts';
import type { KernelFinal, KernelPacketSnapshot, KernelTraceEntry, KernelWirePacket } from './types.ts';
import { ETH_P_IP, ETH_P_IPV6, parseIp, protoLabel, tcpFlagsLabel, type IpView } from './wire.ts';

/** The base chains of the runner's own table, by hook. */
const OWN_CHAIN_HOOKS: Record<string, string> = {
  trigger_pre: 'PREROUTING',
  trigger_out: 'OUTPUT',
  observe_in: 'INPUT',
  observe_post: 'POSTROUTING',
};

/** An event the runner kept, with the hook it ran at and the packet it carried (if any). */
export interface PlacedEvent {
  ev: RawTraceEvent;
  hook: string;
  /** The packet headers, on the first event of a base-chain run. */
  ip: IpView | null;
  own: boolean;
}

/**
 * Keeps the events of this sample's packet, in order, and places each at its hook (a user
 * chain runs at the hook of the base chain that jumped to it). `ident` null: accept the first
 * run seen and learn the identification from it (packets sent from ordinary sockets).
 */
export function placeEvents(events: readonly RawTraceEvent[], map: RuleMap, ident: number | null): { placed: PlacedEvent[]; ident: number | null } {
  const runIdent = new Map<number, number>();
  const hookOf = new Map<number, string>();
  let want = ident;
  const placed: PlacedEvent[] = [];
  for (const ev of events) {
    let ip: IpView | null = null;
    if (ev.network) {
      ip = parseIp(ev.network, ev.transport);
      if (ip) {
        if (want === null) want = ip.ident;
        runIdent.set(ev.id, ip.ident);
      }
    }
    if (want === null || runIdent.get(ev.id) !== want) continue;
    const own = ev.table === TRACE_TABLE;
    const base = own ? OWN_CHAIN_HOOKS[ev.chain] : map.baseChains.get(key(ev.table, ev.chain));
    if (base !== undefined && ev.network) hookOf.set(ev.id, base);
    const hook = hookOf.get(ev.id) ?? base ?? '?';
    placed.push({ ev, hook, ip, own });
  }
  return { placed, ident: want };
}

function verdictText(code: number | null, chain: string | null): string {
  switch (code) {
    case NF_ACCEPT: return 'ACCEPT';
    case NF_DROP: return 'DROP';
    case NF_QUEUE: return 'QUEUE';
    case NF_STOLEN: return 'STOLEN';
    case NFT_CONTINUE: return 'CONTINUE';
    case NFT_JUMP: return `JUMP:${chain ?? '?'}`;
    case NFT_GOTO: return `GOTO:${chain ?? '?'}`;
    case NFT_RETURN: return 'RETURN';
    case null: return '?';
    default: return (code & 0xff) === NF_QUEUE ? 'QUEUE' : (code & 0xff) === NF_DROP ? 'DROP' : `VERDICT:${code}`;
  }
}

/** The packet part of an event, in the results' form. */
export function snapshotOf(p: PlacedEvent, ifnames: ReadonlyMap<number, string>): KernelPacketSnapshot | null {
  const ip = p.ip;
  if (!ip) return null;
  // Built field by field so the keys come out in the recorded answers' order.
  const out = { proto: protoLabel(ip.proto), src: ip.src, dst: ip.dst, ttl: ip.ttl } as KernelPacketSnapshot;
  if (ip.sport !== undefined) out.sport = ip.sport;
  if (ip.dport !== undefined) out.dport = ip.dport;
  if (ip.tcpFlags !== undefined) out.tcp_flags = tcpFlagsLabel(ip.tcpFlags);
  if (ip.icmpType !== undefined) {
    out.icmp_type = ip.icmpType;
    out.icmp_code = ip.icmpCode!;
    if (ip.icmpId !== undefined) out.icmp_id = ip.icmpId;
  }
  if (p.ev.iif !== null) out.in_iface = ifnames.get(p.ev.iif) ?? `if${p.ev.iif}`;
  if (p.ev.oif !== null) out.out_iface = ifnames.get(p.ev.oif) ?? `if${p.ev.oif}`;
  out.mark = formatMark(p.ev.mark);
  if (p.ev.ctState !== null) out.ct_state = ctStateName(p.ev.ctState);
  if (p.ev.ctStatus !== null && p.ev.ctStatus !== 0) out.ct_status = ctStatusNames(p.ev.ctStatus);
  if (p.ev.ctDirection !== null) out.ct_direction = p.ev.ctDirection === 0 ? 'original' : 'reply';
  return out;
}

/** Trace entries for the placed events (the runner's own chains left out). */
export function traceEntries(placed: readonly PlacedEvent[], map: RuleMap, ifnames: ReadonlyMap<number, string>): KernelTraceEntry[] {
  const out: KernelTraceEntry[] = [];
  // The packet of a base-chain run rides on its first event; when that event is not an
  // entry (the end of a built-in chain), it moves to the next entry (the policy).
  let pending: KernelPacketSnapshot | null = null;
  for (const p of placed) {
    if (p.own) continue;
    const ev = p.ev;
    if (p.ip) pending = snapshotOf(p, ifnames);
    const mark = formatMark(ev.mark);
    let entry: KernelTraceEntry;
    if (ev.type === NFT_TRACETYPE_POLICY) {
      entry = { hook: p.hook, table: ev.table, chain: ev.chain, rule_index: null, verdict: `policy:${ev.policy === NF_DROP ? 'DROP' : ev.policy === NF_ACCEPT ? 'ACCEPT' : String(ev.policy)}`, rule: null, mark };
    } else if ((ev.type === NFT_TRACETYPE_RULE || ev.type === NFT_TRACETYPE_RETURN) && ev.handle === null) {
      // The end of a chain: no rule, so no handle (nf_trace_fill_rule_info leaves it out for
      // the chain's trailing nft_rule_dp_last). Kernel 6.18 sends it with type RULE and
      // verdict CONTINUE (older kernels: type RETURN), for base chains too. In a user chain
      // it is the implicit RETURN; a built-in chain's end is reported by the policy event
      // that follows, so it is left out there.
      if (map.baseChains.has(key(ev.table, ev.chain))) continue;
      entry = { hook: p.hook, table: ev.table, chain: ev.chain, rule_index: null, verdict: 'RETURN', implicit: true, rule: null, mark };
    } else if (ev.type === NFT_TRACETYPE_RULE || ev.type === NFT_TRACETYPE_RETURN) {
      const info = ev.handle !== null ? map.byHandle.get(key(ev.table, String(ev.handle))) : undefined;
      entry = { hook: p.hook, table: ev.table, chain: ev.chain, rule_index: info?.index ?? null } as KernelTraceEntry;
      if (ev.handle !== null) entry.handle = ev.handle;
      entry.verdict = verdictText(ev.verdictCode, ev.verdictChain);
      entry.rule = info?.text ?? null;
      entry.mark = mark;
    } else {
      continue;
    }
    if (pending) {
      entry.packet = pending;
      pending = null;
    }
    out.push(entry);
  }
  return out;
}

/** A captured packet as the results describe it. */
export function wirePacket(ip: IpView, outIface: string): KernelWirePacket {
  const w: KernelWirePacket = { proto: protoLabel(ip.proto), src: ip.src, dst: ip.dst, ttl: ip.ttl } as KernelWirePacket;
  if (ip.sport !== undefined) w.sport = ip.sport;
  if (ip.dport !== undefined) w.dport = ip.dport;
  if (ip.tcpFlags !== undefined) w.tcp_flags = tcpFlagsLabel(ip.tcpFlags);
  if (ip.icmpType !== undefined) {
    w.icmp_type = ip.icmpType;
    w.icmp_code = ip.icmpCode!;
    if (ip.icmpId !== undefined) w.icmp_id = ip.icmpId;
  }
  if (ip.inner) {
    const i = ip.inner;
    const inner: NonNullable<KernelWirePacket['icmp_inner']> = { proto: protoLabel(i.proto), src: i.src, dst: i.dst };
    if (i.sport !== undefined) inner.sport = i.sport;
    if (i.dport !== undefined) inner.dport = i.dport;
    if (i.tcpFlags !== undefined) inner.tcp_flags = tcpFlagsLabel(i.tcpFlags);
    if (i.icmpType !== undefined) {
      inner.icmp_type = i.icmpType;
      inner.icmp_code = i.icmpCode!;
      if (i.icmpId !== undefined) inner.icmp_id = i.icmpId;
    }
    w.icmp_inner = inner;
  }
  w.out_iface = outIface;
  return w;
}

/**
 * The node's own housekeeping, not caused by the packet's fate in netfilter: IPv6 neighbour
 * discovery, router solicitations and MLD, and ICMP redirects (sent when the node forwards a
 * packet back out of the interface it came in by; not an error, and rate limited per peer).
 */
function isHousekeeping(ip: IpView): boolean {
  if (ip.proto === 58 && ip.icmpType !== undefined) return (ip.icmpType >= 130 && ip.icmpType <= 137) || ip.icmpType === 143;
  return ip.proto === 1 && ip.icmpType === 5;
}

export interface FrameIn {
  /** Node interface the frame left by. */
  outIface: string;
  pkttype: number;
  bytes: Uint8Array;
}

/** Splits captured frames into the packet itself (`egress`) and what the node sent because of it. */
export function classifyFrames(
  frames: readonly FrameIn[],
  family: 4 | 6,
  isOwn: (ip: IpView) => boolean,
): { egress: { ip: IpView; w: KernelWirePacket }[]; emitted: KernelWirePacket[] } {
  const egress: { ip: IpView; w: KernelWirePacket }[] = [];
  const emitted: KernelWirePacket[] = [];
  for (const f of frames) {
    if (f.pkttype === 4 || f.bytes.length < 14) continue; // PACKET_OUTGOING: what the peer sent
    const type = (f.bytes[12]! << 8) | f.bytes[13]!;
    if (type !== (family === 4 ? ETH_P_IP : ETH_P_IPV6)) continue;
    const ip = parseIp(f.bytes.subarray(14));
    if (!ip || isHousekeeping(ip)) continue;
    const w = wirePacket(ip, f.outIface);
    if (isOwn(ip)) egress.push({ ip, w });
    else emitted.push(w);
  }
  return { egress, emitted };
}

/** Target of an iptables rule (`-j X`), null when it has none. */
export function ruleTarget(rule: string | null): string | null {
  if (!rule) return null;
  const m = /\s-(?:j|-jump)\s+(\S+)/.exec(rule) ?? /\s-(?:g|-goto)\s+(\S+)/.exec(rule);
  return m ? m[1]! : null;
}

export interface FinalInput {
  hook: 'PREROUTING' | 'OUTPUT';
  placed: readonly PlacedEvent[];
  trace: readonly KernelTraceEntry[];
  egress: readonly { ip: IpView; w: KernelWirePacket }[];
  ifnames: ReadonlyMap<number, string>;
  /** The packet as sent, for when no event carries headers. */
  sent: { proto: string; src: string; dst: string; sport?: number; dport?: number; icmp_type?: number; icmp_code?: number; icmp_id?: number; in_iface?: string };
}

/**
 * The final verdict and fate. DROP when a rule or policy dropped it (`by` names which);
 * otherwise `forwarded`/`sent` when it was captured leaving the node, `local` when it
 * passed the INPUT hook, else `stack_drop`. The tuple comes from the capture when there is
 * one, otherwise from the last event that carried the packet; the mark, conntrack state and
 * status from that event (an observer chain's when the packet got past every table, so NAT
 * and MARK are done; else the packet as it entered the chain that dropped it, as the
 * recorded answers have it). Interfaces: the capture's when it left, else that event's.
 */
export function finalOf(f: FinalInput): KernelFinal {
  let dropAt: KernelTraceEntry | null = null;
  for (const e of f.trace) {
    if (e.verdict === 'DROP' || e.verdict === 'policy:DROP') {
      dropAt = e;
      break;
    }
  }
  // A packet captured leaving the node was not dropped: a DROP in its trace belongs to a
  // copy of it (the looped-back copy of a multicast packet, ip_mc_output).
  if (dropAt && f.egress.length > 0) dropAt = null;
  let lastSnap: PlacedEvent | null = null;
  let sawInput = false;
  for (const p of f.placed) {
    if (p.ip) lastSnap = p;
    if (p.hook === 'INPUT') sawInput = true;
  }
  const final = { verdict: dropAt ? 'DROP' : 'ACCEPT' } as KernelFinal;
  if (dropAt) {
    final.by = { table: dropAt.table, chain: dropAt.chain, rule_index: dropAt.rule_index, target: dropAt.rule_index === null ? null : ruleTarget(dropAt.rule) };
    final.fate = 'dropped';
  } else if (f.egress.length > 0) {
    final.fate = f.hook === 'PREROUTING' ? 'forwarded' : 'sent';
  } else if (sawInput) {
    final.fate = 'local';
  } else {
    final.fate = 'stack_drop';
  }
  const snap = lastSnap ? snapshotOf(lastSnap, f.ifnames) : null;
  const cap = f.egress[0]?.w;
  const t = cap ?? snap ?? f.sent;
  final.proto = t.proto;
  final.src = t.src;
  if (t.sport !== undefined) final.sport = t.sport;
  final.dst = t.dst;
  if (t.dport !== undefined) final.dport = t.dport;
  if (t.icmp_type !== undefined) {
    final.icmp_type = t.icmp_type;
    final.icmp_code = t.icmp_code!;
    if (t.icmp_id !== undefined) final.icmp_id = t.icmp_id;
  }
  if (cap) {
    // It left the node: where it went is the interface it was captured on.
    final.out_iface = cap.out_iface;
  } else if (snap) {
    if (snap.in_iface !== undefined) final.in_iface = snap.in_iface;
    if (snap.out_iface !== undefined) final.out_iface = snap.out_iface;
  } else if (f.sent.in_iface !== undefined) {
    final.in_iface = f.sent.in_iface;
  }
  final.mark = snap?.mark ?? '0x0';
  if (snap?.ct_state !== undefined) final.ct_state = snap.ct_state;
  if (snap?.ct_status !== undefined) final.ct_status = snap.ct_status;
  final.tuple_source = cap ? 'capture' : 'trace';
  return final;
}

/** `nat:PREROUTING#1 JUMP:X | … | => ACCEPT forwarded 10.0.0.2:40000 -> 10.180.0.1:80 via cni0`. */
export function summaryLine(trace: readonly KernelTraceEntry[], final: KernelFinal): string {
  const parts = trace.map((e) => `${e.table}:${e.chain}${e.rule_index !== null ? `#${e.rule_index}` : ''} ${e.verdict}`);
  const fam = parseWords(final.src)?.family ?? 4;
  const ends = (addr: string, port: number | undefined): string => {
    const ip = parseWords(addr);
    return ip ? formatEndpoint(fam, ip.w, port ?? null) : addr;
  };
  let tail = `=> ${final.verdict} ${final.fate} ${ends(final.src, final.sport)} -> ${ends(final.dst, final.dport)}`;
  if (final.icmp_type !== undefined) tail += ` icmp type ${final.icmp_type}${final.icmp_id !== undefined ? ` id ${final.icmp_id}` : ''}`;
  if (final.tuple_source === 'capture' && final.out_iface !== undefined) tail += ` via ${final.out_iface}`;
  parts.push(tail);
  return parts.join(' | ');
}

