/**
 * The kernel's answer for a case, in the shape of
 * shared/conformance/kernel-answers/*.kernel.json (DESIGN.md §4, "The result"). Plain JSON
 * data: field names are the wire names, so a result serialises as is.
 */

/** The packet as one trace event showed it (the first event of each base-chain run). */
export interface KernelPacketSnapshot {
  proto: string;
  src: string;
  dst: string;
  ttl?: number;
  sport?: number;
  dport?: number;
  tcp_flags?: string;
  icmp_type?: number;
  icmp_code?: number;
  icmp_id?: number;
  in_iface?: string;
  out_iface?: string;
  mark: string;
  /** NEW, ESTABLISHED, RELATED, INVALID or UNTRACKED; absent before conntrack saw the packet. */
  ct_state?: string;
  /** IPS_* status bit names, comma separated, lowest bit first (`DST_NAT,DST_NAT_DONE`). */
  ct_status?: string;
  ct_direction?: 'original' | 'reply';
}

/**
 * One trace entry: a rule that matched (`rule_index` 1-based in its chain, `handle` the
 * nf_tables rule handle), the implicit RETURN at the end of a user chain
 * (`rule_index: null, implicit: true`) or the policy of a built-in chain (`policy:ACCEPT`).
 */
export interface KernelTraceEntry {
  hook: string;
  table: string;
  chain: string;
  rule_index: number | null;
  handle?: number;
  /** ACCEPT, DROP, CONTINUE, JUMP:X, GOTO:X, RETURN, QUEUE, policy:ACCEPT, policy:DROP. */
  verdict: string;
  implicit?: true;
  /** The rule as iptables-nft-save prints it; null for implicit returns and policies. */
  rule: string | null;
  mark: string;
  packet?: KernelPacketSnapshot;
}

/** Who dropped the packet (only when `final.verdict` is DROP). */
export interface KernelDropBy {
  table: string;
  chain: string;
  rule_index: number | null;
  /** The rule's target (`REJECT`, `DROP`, …); null for a chain policy. */
  target: string | null;
}

/** Where the packet ended and what it looked like there. */
export interface KernelFinal {
  verdict: 'ACCEPT' | 'DROP';
  by?: KernelDropBy;
  /** forwarded, sent, local, dropped or stack_drop (accepted by netfilter, not routed/delivered). */
  fate: 'forwarded' | 'sent' | 'local' | 'dropped' | 'stack_drop';
  proto: string;
  src: string;
  sport?: number;
  dst: string;
  dport?: number;
  icmp_type?: number;
  icmp_code?: number;
  icmp_id?: number;
  in_iface?: string;
  out_iface?: string;
  mark: string;
  ct_state?: string;
  ct_status?: string;
  /** `capture` when the tuple is the one seen on the wire, `trace` when read from the last trace event. */
  tuple_source: 'capture' | 'trace';
}

export interface KernelCtTuple {
  src: string;
  dst: string;
  proto: string;
  sport?: number;
  dport?: number;
}

/** One line of `conntrack -L`. */
export interface KernelConntrackEntry {
  original: KernelCtTuple;
  reply: KernelCtTuple;
  /** TCP (and SCTP, DCCP) state; absent for UDP and ICMP. */
  state?: string;
  mark: number;
  zone?: number;
  /** Seconds left. */
  timeout: number;
  /** `unreplied`, `assured`, … (the bracketed words), absent when none. */
  flags?: string[];
}

/** The inner header an ICMP error quotes. */
export interface KernelIcmpInner {
  proto: string;
  src: string;
  dst: string;
  sport?: number;
  dport?: number;
  tcp_flags?: string;
  icmp_type?: number;
  icmp_code?: number;
  icmp_id?: number;
}

/** A packet captured where it left the node. */
export interface KernelWirePacket {
  proto: string;
  src: string;
  dst: string;
  ttl: number;
  sport?: number;
  dport?: number;
  tcp_flags?: string;
  icmp_type?: number;
  icmp_code?: number;
  icmp_id?: number;
  icmp_inner?: KernelIcmpInner;
  out_iface: string;
}

/** One distinct result among the samples of a packet. */
export interface KernelOutcome {
  count: number;
  trace: KernelTraceEntry[];
  final: KernelFinal;
  conntrack: KernelConntrackEntry[];
  /** One line: `nat:PREROUTING#1 JUMP:X | … | => ACCEPT forwarded 10.0.0.2:40000 -> 10.180.0.1:80`. */
  summary: string;
}

/** What the kernel did with one packet of the case (the first sample at the top level). */
export interface KernelPacketResult {
  /** The packet as the case gave it. */
  packet: Record<string, unknown>;
  trace: KernelTraceEntry[];
  final: KernelFinal;
  conntrack: KernelConntrackEntry[];
  /** The packet itself (after NAT) where it left the node. */
  egress: KernelWirePacket[];
  /** Packets the node sent because of it (TCP RST, ICMP errors, echo replies). */
  emitted: KernelWirePacket[];
  /** The error of the sending socket (an OUTPUT packet dropped by netfilter gives EPERM). */
  send_error?: string;
  samples: number;
  /** Distinct outcomes with their counts, most frequent first (only when samples > 1). */
  outcomes?: KernelOutcome[];
  /** Whether all samples had one outcome (only when samples > 1). */
  deterministic?: boolean;
  /** Source ports the kernel chose when NAT changed the source port (only when it did). */
  sports_seen?: number[];
  elapsed_ms: number;
}

export interface KernelTimings {
  netns_create_ms: number;
  topology_ms: number;
  ruleset_load_ms: number;
  case_total_ms: number;
  run_total_ms: number;
}

export interface KernelCaseResult {
  results: KernelPacketResult[];
  timings: KernelTimings;
}

export interface KernelAvailability {
  ok: boolean;
  /** Why not (`not root`, `missing: xtables-monitor, ipset`), or `ok`. */
  reason: string;
}

export interface KernelRunOptions {
  /** Directory `ruleset_file` / `ipsets_file` paths are relative to (default: the working directory). */
  baseDir?: string;
  /** Overrides the case's (and each packet's) `samples`. */
  samples?: number;
  /** Longest wait for one sample's trace events and frames, in ms (default 2000). */
  timeoutMs?: number;
  /** Progress lines (commands run, per-packet summaries). */
  log?: (line: string) => void;
}
