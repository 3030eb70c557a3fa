/**
 * Traces in the kernel's TRACE vocabulary (DESIGN.md §4), as `xtables-monitor --trace`
 * shows them for iptables-nft: one entry per matched rule, implicit RETURNs at the end of
 * user chains, policies of built-in chains, and a packet snapshot where a hook starts.
 */
import { formatWords, protoShort, IPPROTO_ICMP, IPPROTO_ICMPV6 } from '../core/index.ts';
import {
  HOOK_NAMES, TABLE_NAMES, IP_CT_ESTABLISHED, IP_CT_NEW, IP_CT_RELATED, IP_CT_UNTRACKED, IP_CT_INVALID,
  STATUS_NAMES, ctinfoIsReply, IPS_CONFIRMED,
} from '../netfilter/index.ts';
import { formatMark, formatTcpFlags, type Packet } from '../packet/index.ts';
import { printRule, type CompiledTable, type RuleTracer, type XtContext } from '../xtables/index.ts';
import { explainMiss } from './explain.ts';

export interface PacketJson {
  proto: string;
  src: string;
  dst: string;
  ttl?: number;
  sport?: number;
  dport?: number;
  tcp_flags?: string;
  icmp_type?: number;
  icmp_code?: number;
  in_iface?: string;
  out_iface?: string;
  mark: string;
  ct_state?: string;
  ct_status?: string;
  ct_direction?: string;
}

export interface TraceEntry {
  hook: string;
  table: string;
  chain: string;
  rule_index: number | null;
  verdict: string;
  rule: string | null;
  mark: string;
  implicit?: true;
  packet?: PacketJson;
  /** --why: rules passed over before this one, with the first condition that failed. */
  skipped?: { rule_index: number; rule: string; why: string }[];
  /** Packet before/after a NAT target (human form shows it). */
  nat?: { before: string; after: string };
}

export function ctStateName(p: Packet): string {
  switch (p.ctinfo) {
    case IP_CT_UNTRACKED: return 'UNTRACKED';
    case IP_CT_INVALID: return 'INVALID';
    default: {
      const base = p.ctinfo % 3;
      return base === IP_CT_NEW ? 'NEW' : base === IP_CT_RELATED ? 'RELATED' : base === IP_CT_ESTABLISHED ? 'ESTABLISHED' : 'INVALID';
    }
  }
}

export function statusNames(status: number, hideConfirmed = true): string {
  const out: string[] = [];
  for (let b = 0; b < STATUS_NAMES.length; b++) {
    if (!(status & (1 << b))) continue;
    if (hideConfirmed && (1 << b) === IPS_CONFIRMED) continue;
    out.push(STATUS_NAMES[b]!);
  }
  return out.join(',');
}

/** The packet as trace snapshots and `final` show it (conntrack fields only where conntrack runs). */
export function packetJson(p: Packet, conntrackOn = true): PacketJson {
  const j: PacketJson = { proto: protoShort(p.proto), src: formatWords(p.family, p.saddr), dst: formatWords(p.family, p.daddr), ttl: p.ttl, mark: formatMark(p.mark) };
  if (p.proto === IPPROTO_ICMP || p.proto === IPPROTO_ICMPV6) {
    j.icmp_type = p.icmpType;
    j.icmp_code = p.icmpCode;
  } else if (p.sport || p.dport) {
    j.sport = p.sport;
    j.dport = p.dport;
  }
  if (p.proto === 6) j.tcp_flags = formatTcpFlags(p.tcpFlags);
  if (p.inIface) j.in_iface = p.inIface;
  if (p.outIface) j.out_iface = p.outIface;
  j.mark = formatMark(p.mark);
  if (conntrackOn && (p.ct !== null || p.ctinfo === IP_CT_UNTRACKED || p.ctinfo === IP_CT_INVALID)) {
    j.ct_state = ctStateName(p);
    const st = (p.ct as unknown as { status?: number } | null)?.status ?? 0;
    const names = statusNames(st);
    if (names) j.ct_status = names;
    if (p.ct !== null) j.ct_direction = ctinfoIsReply(p.ctinfo) ? 'reply' : 'original';
  }
  return j;
}

/** Collects trace entries for one packet's walk through a host. */
export class TraceCollector implements RuleTracer {
  readonly entries: TraceEntry[] = [];
  private snapshotPending = false;
  private pendingSkips: { rule_index: number; rule: string; why: string }[] = [];
  hook = 0;
  /** Whether the host tracks connections (set by the host): without it there is no ct state to show. */
  conntrackOn = true;

  constructor(readonly why: boolean) {}

  /** Called by the host where a hook starts: the next entry carries a packet snapshot. */
  startHook(hook: number): void {
    this.hook = hook;
    this.snapshotPending = true;
  }

  private push(e: TraceEntry, pkt: Packet): void {
    if (this.snapshotPending) {
      e.packet = packetJson(pkt, this.conntrackOn);
      this.snapshotPending = false;
    }
    if (this.pendingSkips.length) {
      e.skipped = this.pendingSkips;
      this.pendingSkips = [];
    }
    this.entries.push(e);
  }

  rule(ct: CompiledTable, k: number, verdict: string, pkt: Packet): void {
    const chain = ct.chainNames[ct.ruleChain[k]!]!;
    this.push({
      hook: HOOK_NAMES[this.hook]!,
      table: TABLE_NAMES[ct.tableId]!,
      chain,
      rule_index: ct.rulePos[k]!,
      verdict,
      rule: printRule(chain, ct.rules[k]!, ct.family),
      mark: formatMark(pkt.mark),
    }, pkt);
  }

  chainEnd(ct: CompiledTable, chain: number, verdict: string, pkt: Packet): void {
    const e: TraceEntry = {
      hook: HOOK_NAMES[this.hook]!,
      table: TABLE_NAMES[ct.tableId]!,
      chain: ct.chainNames[chain]!,
      rule_index: null,
      verdict,
      rule: null,
      mark: formatMark(pkt.mark),
    };
    if (verdict === 'RETURN') e.implicit = true;
    this.push(e, pkt);
  }

  miss(ct: CompiledTable, k: number, pkt: Packet, ctx: XtContext): void {
    const chain = ct.chainNames[ct.ruleChain[k]!]!;
    this.pendingSkips.push({ rule_index: ct.rulePos[k]!, rule: printRule(chain, ct.rules[k]!, ct.family), why: explainMiss(ct, k, pkt, ctx) });
  }

  /** Attaches before/after text of a NAT to the last entry. */
  noteNat(before: string, after: string): void {
    const last = this.entries[this.entries.length - 1];
    if (last && before !== after) last.nat = { before, after };
  }
}
