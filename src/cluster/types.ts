/**
 * The shapes the cluster walker records and the contract between the walker and the
 * processes that answer packets (servers, the proxy, the DNS server). Plain data: a Walk
 * is what `walkToJson` prints and `walkToMermaid` draws.
 */
import type { Rng } from '../core/index.ts';
import type { ConnJson } from '../conntrack/index.ts';
import type { Fate, PacketJson, TraceEntry } from '../host/index.ts';

/** Transport protocols a walk can carry (IPv4 only: the cluster model is single-stack). */
export type L4 = 'tcp' | 'udp';

/** A new connection (TCP) or datagram flow (UDP) a process opens. */
export interface ConnectSpec {
  readonly proto: L4;
  /** Destination address (an IPv4 literal; resolve names first with `Cluster.resolve`). */
  readonly dst: string;
  readonly dport: number;
  /** Application data of the first packet (see payload.ts). */
  readonly payload?: string;
  /** Local address to bind (default: chosen by the route to `dst`, as the kernel does). */
  readonly src?: string;
  /** Local port (default: the host's next ephemeral port). */
  readonly sport?: number;
  /** Owner of the sending socket (`-m owner`); default 0 (root). */
  readonly uid?: number;
  readonly gid?: number;
  /** What the story calls this connection. */
  readonly label?: string;
}

/** One packet handed to a listening socket. */
export interface Delivery {
  /** Host (network namespace) the socket lives in. */
  readonly host: string;
  readonly proto: L4;
  /** The peer as the socket sees it (after every NAT on the way). */
  readonly src: string;
  readonly sport: number;
  /** The local address and port the packet arrived on (after DNAT / REDIRECT). */
  readonly dst: string;
  readonly dport: number;
  /**
   * `SO_ORIGINAL_DST`: the destination before this host's DNAT/REDIRECT, read from the
   * original tuple of the packet's conntrack entry (nf_conntrack_proto.c getorigdst).
   * Equal to dst/dport when the host did not rewrite it or does not track connections.
   */
  readonly origDst: string;
  readonly origDport: number;
  readonly payload: string;
}

/** What a process does with a delivery. */
export interface Answer {
  /** Payload of the reply sent back on the same socket; null: no reply (the walk stops here). */
  readonly reply: string | null;
}

/** What a process may do while handling a delivery. */
export interface ProcessContext {
  /** Name of the host the process runs on. */
  readonly host: string;
  /** The host's seeded Rng (weighted and endpoint choices; deterministic per seed). */
  readonly rng: Rng;
  /** Opens a connection from this host and walks it (and its reply); nested in the walk. */
  connect(spec: ConnectSpec): ExchangeResult;
  /** Adds a line to the story at this point of the walk. */
  note(text: string): void;
}

/** A program listening on a port of a host. */
export interface Process {
  /** Short name for stories ("nginx", "envoy", "coredns"). */
  readonly name: string;
  /** uid its packets carry (`-m owner --uid-owner`); the Istio proxy runs as 1337. */
  readonly uid: number;
  readonly gid: number;
  handle(d: Delivery, ctx: ProcessContext): Answer;
}

/** One host's handling of a packet: where it came in, its trace, its fate, where it went next. */
export interface Hop {
  readonly host: string;
  /** PREROUTING: arrived on `in_iface`; OUTPUT: sent by a process on this host. */
  readonly hook: 'PREROUTING' | 'OUTPUT';
  readonly in_iface?: string;
  /** The packet as it entered, and as it left (or was delivered / dropped). */
  readonly before: PacketJson;
  readonly after: PacketJson;
  readonly fate: Fate;
  /** Why the stack dropped it (fate stack_drop). */
  readonly reason?: string;
  /** The rule that decided a drop, if one did. */
  readonly by?: { table: string; chain: string; rule_index: number | null; target: string };
  /** Rule by rule, in the kernel's TRACE vocabulary (empty when tracing is off). */
  readonly trace: TraceEntry[];
  /** The conntrack entry of this packet on this host afterwards, as `conntrack -L` shows it. */
  readonly conntrack: ConnJson | null;
  /** The host and interface the packet went to next (fate sent / forwarded). */
  next: { host: string; iface: string; segment: string; via: string } | null;
  /** Extra explanation (bridged frames, payload untouched, …). */
  note?: string;
  /** Packets this host generated in answer (REJECT), as they left it. */
  readonly emitted: PacketJson[];
}

export type LegEndKind = 'delivered' | 'dropped' | 'stack_drop' | 'unreachable' | 'hop_limit';

export interface LegEnd {
  readonly kind: LegEndKind;
  /** The host where the leg ended. */
  readonly host: string;
  /** One sentence for the story. */
  readonly detail: string;
  /** The packet as it ended. */
  readonly packet: PacketJson;
  /** Its payload as it ended (byte for byte: what the receiving socket reads). */
  readonly payload: string;
}

/** One packet's journey from the process that sent it to where it ended. */
export interface Leg {
  readonly id: number;
  /** The leg whose delivery caused this one (a proxy's upstream, a reply), or null. */
  readonly parent: number | null;
  /** Nesting depth: 0 for the first request, +1 for each proxy hop. */
  readonly depth: number;
  readonly kind: 'request' | 'reply' | 'emitted';
  readonly from: string;
  readonly label: string;
  /** What the payload says (summarizePayload), '' when empty. */
  readonly payload: string;
  readonly hops: Hop[];
  end: LegEnd;
  /** What the receiving process did, in order (route chosen, upstream opened, …). */
  readonly notes: string[];
}

/** The result of one connection: request there, reply back. */
export interface ExchangeResult {
  /** A reply reached the socket that sent the request. */
  readonly ok: boolean;
  /** Reply payload as the client read it. */
  readonly reply: string | null;
  /** The host and process that answered (the last hop of a proxied chain is in the nested results). */
  readonly servedBy: { host: string; process: string } | null;
  /** Why there is no reply, in words. */
  readonly failure: string | null;
  /** The client's socket: its local and remote ends as connected. */
  readonly socket: { proto: L4; src: string; sport: number; dst: string; dport: number };
  readonly request: Leg;
  readonly replyLeg: Leg | null;
  /** Exchanges the receiving process opened (a proxy's upstream connections). */
  readonly upstream: ExchangeResult[];
}

/** Everything that happened while walking one exchange (or one packet), in time order. */
export interface Walk {
  readonly title: string;
  readonly legs: Leg[];
  /** The top-level exchange (null for `walkPacket`). */
  result: ExchangeResult | null;
}

/** Bounds and switches for a walk. */
export interface WalkOptions {
  /** Hops one packet may take before the walk gives up (default 32). */
  readonly maxHops?: number;
  /** How deeply processes may nest connections (proxy → proxy → …; default 8). */
  readonly maxDepth?: number;
  /** Legs (packets) one top-level exchange may cause (default 256). */
  readonly maxLegs?: number;
  /** Record rule-by-rule traces (default true). */
  readonly trace?: boolean;
  /** Record why each skipped rule did not match (default false). */
  readonly why?: boolean;
  /** Title of the walk (stories, diagrams). */
  readonly title?: string;
}
