/**
 * Generators for the kernel-differential suite (differential.test.ts): random cases — a host
 * with two interfaces, an iptables-save ruleset within what the kernel accepts, and packets
 * aimed at it — as fast-check arbitraries over a plain abstract form.
 *
 * The arbitraries produce an abstract case (`GenCase`) that is free to be illegal; `toCaseFile`
 * legalises it deterministically while printing it (a target the table or hook does not
 * allow becomes "no target", a jump that would close a loop goes to a later chain or
 * nowhere, a match that needs `-p tcp` is left out without it, ...). Shrinking then never
 * leaves the set of rulesets the kernel loads, and `reduceCase` can drop any part of a case
 * and still print a loadable one.
 *
 * What the kernel accepts was checked against iptables-nft-restore 1.8.9 on Linux 6.18:
 * - `-i` in a built-in OUTPUT/POSTROUTING chain and `-o` in PREROUTING/INPUT are refused by
 *   iptables itself ("Can't use -o with INPUT"); in user chains they are accepted.
 * - DROP (target) in the nat table is refused by iptables ("The "nat" table is not intended
 *   for filtering"); a DROP *policy* on a nat chain loads.
 * - Targets and hook-limited matches are checked by the kernel against the hooks that reach
 *   the chain (xt_check_target/xt_check_match through nft_compat's validate): REJECT only in
 *   filter at INPUT/FORWARD/OUTPUT (`--reject-with tcp-reset` also needs `-p tcp`), DNAT and
 *   REDIRECT at PREROUTING/OUTPUT, SNAT at POSTROUTING/INPUT, MASQUERADE at POSTROUTING,
 *   NOTRACK/CT in raw, `-m owner` at OUTPUT/POSTROUTING, `--limit-iface-in` not at OUTPUT,
 *   `--limit-iface-out` not at PREROUTING/INPUT. A chain no base chain reaches is not checked.
 * - Port options of NAT targets need `-p tcp|udp` ("Need TCP, UDP, SCTP or DCCP with port
 *   specification"); `-m tcp`/`-m multiport` need the protocol too.
 *
 * What keeps the kernel's answer deterministic (one send per packet must be enough):
 * - Source NAT keeps the source port when it is inside the allowed range and the tuple is
 *   unique; otherwise the kernel starts its search at a random offset
 *   (nf_nat_l4proto_unique_tuple, net/netfilter/nf_nat_core.c). So SNAT/MASQUERADE port
 *   ranges are a single port or cover every source port the case sends, and flows of a
 *   conversation case never share a source port. Destination NAT starts at the range's first
 *   port (offset 0), which is deterministic. NAT to an address range picks by a jhash of the
 *   tuple without a random seed (find_best_ips_proto), which is deterministic too.
 * - `-m statistic --mode random` is only generated in cases whose packets are each the first
 *   of their connection; the test sends such packets many times (`samples`).
 * - `-m recent` only in chains that nothing but FORWARD reaches: packets the node emits
 *   itself (RSTs, ICMP errors) pass OUTPUT, and would update the lists in the kernel.
 * - Conversation cases (request, reply, next packet; no `fresh_conntrack`) give every flow its
 *   own source port and ICMP id (no NAT clash, whose port choice is random), build each reply
 *   from nfemu's answer for the request (conversationPackets), and set
 *   `nf_conntrack_tcp_be_liberal=1`: the runner's TCP segments carry fixed sequence numbers,
 *   and nfemu does not track windows (README "Fidelity"). They send no TCP flow to a local
 *   address and no third packet after a reply to the node: the node's own TCP stack would
 *   answer with a RST that conntrack sees.
 */
import fc from 'fast-check';
import { runCase, type CaseFile } from '../../src/index.ts';

export type TableName = 'raw' | 'mangle' | 'nat' | 'filter';
export type HookName = 'PREROUTING' | 'INPUT' | 'FORWARD' | 'OUTPUT' | 'POSTROUTING';

/** Tables in the order they are printed. */
export const TABLES: readonly TableName[] = ['raw', 'mangle', 'nat', 'filter'];

/** The built-in chains of each table (iptables_*: valid_hooks). */
export const BUILTIN: Readonly<Record<TableName, readonly HookName[]>> = {
  raw: ['PREROUTING', 'OUTPUT'],
  mangle: ['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING'],
  nat: ['PREROUTING', 'INPUT', 'OUTPUT', 'POSTROUTING'],
  filter: ['INPUT', 'FORWARD', 'OUTPUT'],
};

/** User chains a table may have, at most. */
export const MAX_USER_CHAINS = 3;

// ---------------------------------------------------------------------------------------
// The host every random case runs on

/** Node addresses: eth0 10.0.1.1/24 (default route), eth1 10.0.2.1/24 (and 192.0.2.0/24 behind it). */
export const NODE_ETH0 = '10.0.1.1';
export const NODE_ETH1 = '10.0.2.1';
/** A secondary address some cases put on eth1. */
export const NODE_EXTRA = '10.0.2.100';

const PEERS_ETH0 = ['10.0.1.2', '10.0.1.50'];
const PEERS_ETH1 = ['10.0.2.2', '10.0.2.60'];
const REMOTE = ['203.0.113.7', '192.0.2.9', '198.51.100.3'];
/** Addresses the stack treats specially: loopback, broadcast, multicast. */
const SPECIAL_DST = ['127.0.0.1', '10.0.1.255', '255.255.255.255', '224.0.0.1', '239.1.2.3'];
const SPECIAL_SRC = ['127.0.0.2', '224.0.0.5', '0.0.0.0'];
const BROADCAST = ['10.0.1.255', '255.255.255.255'];

/** Which interface the node routes an address out of (the case's routes, written out). */
export function routeIface(addr: string): 'eth0' | 'eth1' {
  return addr.startsWith('10.0.2.') || addr.startsWith('192.0.2.') ? 'eth1' : 'eth0';
}

function isNodeAddr(addr: string): boolean {
  return addr === NODE_ETH0 || addr === NODE_ETH1 || addr === NODE_EXTRA || addr.startsWith('127.');
}

export interface GenHost {
  /** net.ipv4.ip_forward (the runner's and nfemu's default is 1). */
  ipForward: boolean;
  routeLocalnet: boolean;
  /** 10.0.2.100/24 on eth1 as well. */
  extraAddr: boolean;
}

// ---------------------------------------------------------------------------------------
// Abstract rules

export type GenMatch =
  | { k: 'src' | 'dst'; cidr: string; neg: boolean }
  | { k: 'in' | 'out'; iface: string; neg: boolean }
  | { k: 'ports'; sport: string | null; dport: string | null; negS: boolean; negD: boolean }
  | { k: 'tcpflags'; mask: string; comp: string; neg: boolean }
  | { k: 'syn'; neg: boolean }
  | { k: 'multiport'; opt: 'sports' | 'dports' | 'ports'; list: string[]; neg: boolean }
  | { k: 'icmp'; type: string; neg: boolean }
  | { k: 'mark'; value: string; neg: boolean }
  | { k: 'connmark'; value: string; neg: boolean }
  | { k: 'ctstate'; states: string[]; neg: boolean }
  | { k: 'ctmisc'; opt: 'ctstatus' | 'ctdir' | 'ctproto' | 'ctorigdst' | 'ctorigsrc' | 'ctreplsrc' | 'ctorigdstport'; value: string; neg: boolean }
  | { k: 'state'; states: string[]; neg: boolean }
  | { k: 'addrtype'; src: string | null; dst: string | null; negS: boolean; negD: boolean; limit: 'in' | 'out' | null }
  | { k: 'iprange'; src: string | null; dst: string | null; negS: boolean; negD: boolean }
  | { k: 'length'; spec: string; neg: boolean }
  | { k: 'ttl'; op: 'eq' | 'gt' | 'lt'; v: number; neg: boolean }
  | { k: 'comment'; text: string }
  | { k: 'pkttype'; type: string; neg: boolean }
  | { k: 'statistic'; p: string; neg: boolean }
  | { k: 'owner'; opt: 'uid-owner' | 'gid-owner'; v: string; neg: boolean }
  | { k: 'recent'; mode: 'set' | 'rcheck' | 'update' | 'remove'; name: string; side: 'rsource' | 'rdest'; hitcount: number | null; neg: boolean };

export type GenTarget =
  | { k: 'none' }
  | { k: 'ACCEPT' | 'DROP' | 'RETURN' }
  | { k: 'jump'; to: number; goto: boolean }
  | { k: 'MARK'; op: 'set-mark' | 'set-xmark' | 'and-mark' | 'or-mark' | 'xor-mark'; value: string }
  | { k: 'CONNMARK'; op: 'set-mark' | 'set-xmark' | 'save-mark' | 'restore-mark'; value: string; mask: string | null }
  | { k: 'REJECT'; with: string | null }
  | { k: 'LOG'; prefix: string | null }
  | { k: 'DNAT'; to: string; port: string | null }
  | { k: 'SNAT'; to: string; port: string | null; persistent: boolean }
  | { k: 'MASQUERADE'; port: string | null }
  | { k: 'REDIRECT'; port: string | null }
  | { k: 'NETMAP'; to: string }
  | { k: 'NOTRACK' }
  | { k: 'CT' };

export interface GenRule {
  proto: { p: 'tcp' | 'udp' | 'icmp'; neg: boolean } | null;
  matches: GenMatch[];
  target: GenTarget;
}

export interface GenBuiltin {
  /** Whether the dump declares it (`:INPUT ACCEPT [0:0]`); an undeclared one with rules is created by `-A`. */
  declared: boolean;
  policy: 'ACCEPT' | 'DROP';
  rules: GenRule[];
}

export interface GenTable {
  /** In BUILTIN order. */
  builtins: GenBuiltin[];
  /** Rules of the user chains U0, U1, … (a chain may only call chains after it). */
  user: GenRule[][];
}

export interface GenPacket {
  hook: 'PREROUTING' | 'OUTPUT';
  inIface: 'eth0' | 'eth1';
  proto: 'tcp' | 'udp' | 'icmp';
  src: string;
  dst: string;
  sport: number;
  dport: number;
  flags: string;
  icmpType: number;
  icmpId: number;
  ttl: number | null;
  mark: number | null;
  outIface: 'eth0' | 'eth1' | null;
  /** Conversations only: the reply follows, and then (maybe) the next packet of the request's direction. */
  reply?: boolean;
  third?: boolean;
}

export interface GenCase {
  /**
   * Every packet the first of its connection (`fresh_conntrack`); else request/reply
   * conversations, whose `packets` are the requests (see conversationPackets).
   */
  fresh: boolean;
  host: GenHost;
  tables: Record<TableName, GenTable | null>;
  packets: GenPacket[];
}

// ---------------------------------------------------------------------------------------
// Arbitraries

const CIDRS = [
  '10.0.1.1/32', '10.0.2.1/32', '10.0.1.2/32', '10.0.2.60/32', '10.0.1.0/24', '10.0.2.0/24', '10.0.0.0/16',
  '0.0.0.0/0', '203.0.113.0/24', '192.0.2.0/25', '192.0.2.128/25', '127.0.0.0/8', '224.0.0.0/4', '10.0.2.100/32',
];
const IFACES = ['eth0', 'eth1', 'eth+', 'lo', 'e+'];
const PORTS = [22, 53, 80, 443, 1000, 1024, 8080, 33000, 40000, 50000, 65535];
const MARKS = ['0x0', '0x1', '0x2', '0x4000', '0x8000', '0xff', '0x10000', '0xffffffff'];
const MASKS = ['0xff', '0xffff', '0x4000', '0xffffffff', '0xf0'];
const STATES = ['NEW', 'ESTABLISHED', 'RELATED', 'INVALID', 'UNTRACKED'];
const CTSTATES = [...STATES, 'SNAT', 'DNAT'];
const ADDRTYPES = ['UNICAST', 'LOCAL', 'BROADCAST', 'MULTICAST', 'UNSPEC', 'BLACKHOLE', 'UNREACHABLE'];
const TCP_FLAG_SETS = ['SYN', 'ACK', 'FIN', 'RST', 'SYN,ACK', 'FIN,ACK', 'SYN,RST,ACK,FIN', 'ALL', 'NONE', 'SYN,FIN', 'PSH,ACK,URG'];

const neg = fc.boolean();
const sometimesNeg = fc.constantFrom(false, false, false, true);

const portNumber = fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...PORTS) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 65535 }) });
const portSpec: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: portNumber.map(String) },
  { weight: 2, arbitrary: fc.tuple(portNumber, portNumber).map(([a, b]) => `${Math.min(a, b)}:${Math.max(a, b)}`) },
  { weight: 1, arbitrary: portNumber.map((p) => `:${p}`) },
  { weight: 1, arbitrary: portNumber.map((p) => `${p}:`) },
);
const markValue = fc.oneof(fc.constantFrom(...MARKS), fc.tuple(fc.constantFrom(...MARKS), fc.constantFrom(...MASKS)).map(([v, m]) => `${v}/${m}`));

const matchArb: fc.Arbitrary<GenMatch> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ k: fc.constantFrom('src' as const, 'dst' as const), cidr: fc.constantFrom(...CIDRS), neg: sometimesNeg }) },
  { weight: 4, arbitrary: fc.record({ k: fc.constantFrom('in' as const, 'out' as const), iface: fc.constantFrom(...IFACES), neg: sometimesNeg }) },
  {
    weight: 5,
    arbitrary: fc.record({ k: fc.constant('ports' as const), sport: fc.option(portSpec, { nil: null }), dport: fc.option(portSpec, { nil: null }), negS: sometimesNeg, negD: sometimesNeg }),
  },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('tcpflags' as const), mask: fc.constantFrom(...TCP_FLAG_SETS), comp: fc.constantFrom(...TCP_FLAG_SETS), neg: sometimesNeg }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('syn' as const), neg: sometimesNeg }) },
  {
    weight: 2,
    arbitrary: fc.record({
      k: fc.constant('multiport' as const),
      opt: fc.constantFrom('sports' as const, 'dports' as const, 'ports' as const),
      // A multiport range must go upwards ("invalid portrange specified" for 22:22).
      list: fc.array(fc.oneof(portNumber.map(String), fc.tuple(portNumber, portNumber).map(([a, b]) => (a === b ? String(a) : `${Math.min(a, b)}:${Math.max(a, b)}`))), { minLength: 1, maxLength: 4 }),
      neg: sometimesNeg,
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      k: fc.constant('icmp' as const),
      type: fc.constantFrom('echo-request', 'echo-reply', '8/0', 'any', 'destination-unreachable', 'port-unreachable', '0', 'time-exceeded'),
      neg: sometimesNeg,
    }),
  },
  { weight: 3, arbitrary: fc.record({ k: fc.constantFrom('mark' as const, 'connmark' as const), value: markValue, neg: sometimesNeg }) },
  { weight: 4, arbitrary: fc.record({ k: fc.constant('ctstate' as const), states: fc.subarray(CTSTATES, { minLength: 1, maxLength: 3 }), neg: sometimesNeg }) },
  {
    weight: 2,
    arbitrary: fc.oneof(
      fc.record({ k: fc.constant('ctmisc' as const), opt: fc.constant('ctstatus' as const), value: fc.constantFrom('NONE', 'EXPECTED', 'SEEN_REPLY', 'ASSURED', 'CONFIRMED', 'SEEN_REPLY,ASSURED'), neg: sometimesNeg }),
      fc.record({ k: fc.constant('ctmisc' as const), opt: fc.constant('ctdir' as const), value: fc.constantFrom('ORIGINAL', 'REPLY'), neg: fc.constant(false) }),
      fc.record({ k: fc.constant('ctmisc' as const), opt: fc.constant('ctproto' as const), value: fc.constantFrom('tcp', 'udp', 'icmp'), neg: sometimesNeg }),
      fc.record({ k: fc.constant('ctmisc' as const), opt: fc.constantFrom('ctorigdst' as const, 'ctorigsrc' as const, 'ctreplsrc' as const), value: fc.constantFrom(...CIDRS), neg: sometimesNeg }),
      fc.record({ k: fc.constant('ctmisc' as const), opt: fc.constant('ctorigdstport' as const), value: portNumber.map(String), neg: sometimesNeg }),
    ),
  },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('state' as const), states: fc.subarray(STATES, { minLength: 1, maxLength: 3 }), neg: sometimesNeg }) },
  {
    weight: 3,
    arbitrary: fc.record({
      k: fc.constant('addrtype' as const),
      src: fc.option(fc.constantFrom(...ADDRTYPES), { nil: null }),
      dst: fc.option(fc.constantFrom(...ADDRTYPES), { nil: null }),
      negS: sometimesNeg,
      negD: sometimesNeg,
      limit: fc.constantFrom(null, null, null, 'in' as const, 'out' as const),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      k: fc.constant('iprange' as const),
      src: fc.option(fc.constantFrom('10.0.1.2-10.0.1.49', '10.0.1.1-10.0.2.255', '192.0.2.0-203.0.113.255', '10.0.2.60-10.0.2.60'), { nil: null }),
      dst: fc.option(fc.constantFrom('10.0.1.1-10.0.1.1', '10.0.2.0-10.0.2.99', '198.51.100.0-203.0.113.6', '10.0.0.0-10.255.255.255'), { nil: null }),
      negS: sometimesNeg,
      negD: sometimesNeg,
    }),
  },
  // Header-only packets: tcp 40 bytes, udp and icmp 28.
  { weight: 2, arbitrary: fc.record({ k: fc.constant('length' as const), spec: fc.constantFrom('40', '28', '0:39', '28:40', '41:65535', '20:28'), neg: sometimesNeg }) },
  {
    weight: 2,
    arbitrary: fc.oneof(
      fc.record({ k: fc.constant('ttl' as const), op: fc.constant('eq' as const), v: fc.constantFrom(1, 2, 63, 64, 255), neg: sometimesNeg }),
      fc.record({ k: fc.constant('ttl' as const), op: fc.constantFrom('gt' as const, 'lt' as const), v: fc.constantFrom(0, 1, 2, 63, 64), neg: fc.constant(false) }),
    ),
  },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('comment' as const), text: fc.constantFrom('a comment', 'kube: x/y', 'c') }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('pkttype' as const), type: fc.constantFrom('unicast', 'broadcast', 'multicast'), neg: sometimesNeg }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('statistic' as const), p: fc.constantFrom('0.50000000000', '0.25000000000', '1.00000000000', '0.00000000000'), neg: sometimesNeg }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('owner' as const), opt: fc.constantFrom('uid-owner' as const, 'gid-owner' as const), v: fc.constantFrom('0', '1000', '0-10'), neg: sometimesNeg }) },
  {
    weight: 2,
    arbitrary: fc.record({
      k: fc.constant('recent' as const),
      mode: fc.constantFrom('set' as const, 'rcheck' as const, 'update' as const, 'remove' as const),
      name: fc.constantFrom('A', 'B'),
      side: fc.constantFrom('rsource' as const, 'rdest' as const),
      hitcount: fc.constantFrom(null, null, 2),
      neg: sometimesNeg,
    }),
  },
);

const NAT_DST = ['10.0.2.60', '10.0.1.50', '203.0.113.7', '10.0.1.1', '127.0.0.1', '192.0.2.9', '10.0.2.60-10.0.2.63', '10.0.1.40-10.0.1.49'];
const NAT_SRC = ['10.0.1.1', '10.0.2.1', '10.0.1.100', '198.51.100.1', '10.0.1.100-10.0.1.103', '10.0.2.100'];

const targetArb: fc.Arbitrary<GenTarget> = fc.oneof(
  { weight: 5, arbitrary: fc.constant({ k: 'none' as const }) },
  { weight: 8, arbitrary: fc.constantFrom({ k: 'ACCEPT' as const }, { k: 'DROP' as const }, { k: 'RETURN' as const }) },
  { weight: 6, arbitrary: fc.record({ k: fc.constant('jump' as const), to: fc.nat(MAX_USER_CHAINS - 1), goto: fc.constantFrom(false, false, true) }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('MARK' as const), op: fc.constantFrom('set-mark' as const, 'set-xmark' as const, 'and-mark' as const, 'or-mark' as const, 'xor-mark' as const), value: markValue }) },
  {
    weight: 2,
    arbitrary: fc.record({
      k: fc.constant('CONNMARK' as const),
      op: fc.constantFrom('set-mark' as const, 'set-xmark' as const, 'save-mark' as const, 'restore-mark' as const),
      value: markValue,
      mask: fc.option(fc.constantFrom(...MASKS), { nil: null }),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      k: fc.constant('REJECT' as const),
      with: fc.constantFrom(null, 'icmp-port-unreachable', 'icmp-net-unreachable', 'icmp-host-unreachable', 'icmp-proto-unreachable', 'icmp-net-prohibited', 'icmp-host-prohibited', 'icmp-admin-prohibited', 'tcp-reset'),
    }),
  },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('LOG' as const), prefix: fc.constantFrom(null, 'nfemu: ') }) },
  {
    weight: 4,
    arbitrary: fc.record({ k: fc.constant('DNAT' as const), to: fc.constantFrom(...NAT_DST), port: fc.constantFrom(null, null, '8080', '80', '1000-1010', '30000-40000') }),
  },
  {
    weight: 3,
    arbitrary: fc.record({ k: fc.constant('SNAT' as const), to: fc.constantFrom(...NAT_SRC), port: fc.constantFrom(null, null, '5000', '1-65535', 'ANY'), persistent: fc.constantFrom(false, false, true) }),
  },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('MASQUERADE' as const), port: fc.constantFrom(null, null, '5000', 'ANY') }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('REDIRECT' as const), port: fc.constantFrom(null, '8080', '1000-1010') }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('NETMAP' as const), to: fc.constantFrom('10.0.2.0/24', '10.0.1.0/28', '192.0.2.0/24') }) },
  { weight: 1, arbitrary: fc.constantFrom({ k: 'NOTRACK' as const }, { k: 'CT' as const }) },
);

const ruleArb: fc.Arbitrary<GenRule> = fc.record({
  proto: fc.option(fc.record({ p: fc.constantFrom('tcp' as const, 'udp' as const, 'icmp' as const), neg: fc.constantFrom(false, false, false, true) }), { nil: null, freq: 2 }),
  matches: fc.array(matchArb, { maxLength: 3 }),
  target: targetArb,
});

const builtinArb: fc.Arbitrary<GenBuiltin> = fc.record({
  declared: fc.constantFrom(true, true, true, true, true, false),
  policy: fc.constantFrom('ACCEPT' as const, 'ACCEPT' as const, 'ACCEPT' as const, 'ACCEPT' as const, 'DROP' as const),
  rules: fc.array(ruleArb, { maxLength: 4 }),
});

function tableArb(t: TableName): fc.Arbitrary<GenTable> {
  return fc.record({
    builtins: fc.array(builtinArb, { minLength: BUILTIN[t].length, maxLength: BUILTIN[t].length }),
    user: fc.array(fc.array(ruleArb, { maxLength: 4 }), { maxLength: MAX_USER_CHAINS }),
  });
}

const hostArb: fc.Arbitrary<GenHost> = fc.record({
  ipForward: fc.constantFrom(true, true, true, true, true, true, true, true, true, false),
  routeLocalnet: fc.constantFrom(false, false, false, false, false, false, false, false, false, true),
  extraAddr: fc.constantFrom(false, false, true),
});

const FLAGS_FIRST = ['SYN', 'SYN', 'SYN', 'SYN', 'ACK', 'SYN,ACK', 'RST', 'FIN,ACK', 'PSH,ACK', 'NONE', 'SYN,FIN', 'RST,ACK'];

const srcForPrerouting = fc.oneof(
  { weight: 30, arbitrary: fc.constantFrom(...PEERS_ETH0, ...PEERS_ETH1) },
  { weight: 15, arbitrary: fc.constantFrom(...REMOTE) },
  { weight: 2, arbitrary: fc.constant(NODE_ETH0) },
  { weight: 1, arbitrary: fc.constantFrom(...SPECIAL_SRC) },
);
const dstAny = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom(NODE_ETH0, NODE_ETH1, NODE_EXTRA) },
  { weight: 8, arbitrary: fc.constantFrom(...PEERS_ETH0, ...PEERS_ETH1) },
  { weight: 8, arbitrary: fc.constantFrom(...REMOTE) },
  { weight: 1, arbitrary: fc.constantFrom(...SPECIAL_DST) },
);
const srcForOutput = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom(NODE_ETH0, NODE_ETH1) },
  { weight: 2, arbitrary: fc.constant('127.0.0.1') },
  { weight: 1, arbitrary: fc.constant(NODE_EXTRA) },
);

const packetArb: fc.Arbitrary<GenPacket> = fc
  .record({
    hook: fc.constantFrom('PREROUTING' as const, 'PREROUTING' as const, 'OUTPUT' as const),
    inIface: fc.constantFrom('eth0' as const, 'eth1' as const),
    proto: fc.constantFrom('tcp' as const, 'tcp' as const, 'udp' as const, 'udp' as const, 'icmp' as const),
    preSrc: srcForPrerouting,
    outSrc: srcForOutput,
    dst: dstAny,
    // Source ports of first packets are ephemeral ones (>= 1024): see the SNAT note above.
    sport: fc.oneof(fc.constantFrom(1024, 33000, 40000, 50000, 65535), fc.integer({ min: 1024, max: 65535 })),
    dport: portNumber,
    flags: fc.constantFrom(...FLAGS_FIRST),
    icmpType: fc.constantFrom(8, 8, 8, 8, 0, 0, 3, 11, 13),
    icmpId: fc.integer({ min: 0, max: 65535 }),
    ttl: fc.constantFrom(null, null, null, null, null, 1, 2, 255),
    mark: fc.constantFrom(null, null, null, null, null, null, 1, 0x4000),
    outIface: fc.oneof({ weight: 19, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.constantFrom('eth0' as const, 'eth1' as const) }),
  })
  .map((r): GenPacket => {
    // The runner's raw socket has no SO_BROADCAST: sending to a broadcast address fails
    // with EACCES before any hook, so the node sends to multicast only.
    const dst = r.hook === 'OUTPUT' && BROADCAST.includes(r.dst) ? '224.0.0.1' : r.dst;
    // The runner sends from a raw socket, which puts any source on the wire; nfemu models an
    // ordinary socket, whose route lookup refuses 127.0.0.1 towards another host, and keeps
    // an SO_BINDTODEVICE socket to the routes of that device: output-loopback-source.json
    // and output-bound-device.json show both. Here 127.0.0.1 only talks to the node itself,
    // and a bound device only to other hosts.
    const toNode = dst === NODE_ETH0 || dst === NODE_ETH1 || dst.startsWith('127.');
    const src = r.hook === 'PREROUTING' ? r.preSrc : r.outSrc === '127.0.0.1' && !toNode ? NODE_ETH0 : r.outSrc;
    return {
      hook: r.hook,
      inIface: r.inIface,
      proto: r.proto,
      src,
      dst,
      sport: r.sport,
      dport: r.dport,
      flags: r.flags,
      icmpType: r.icmpType,
      icmpId: r.icmpId,
      ttl: r.ttl,
      mark: r.mark,
      outIface: r.hook === 'OUTPUT' && !isNodeAddr(dst) && !dst.startsWith('224.') ? r.outIface : null,
    };
  });

/** A conversation: a first packet, then maybe the reply, then maybe the next original-direction packet. */
interface GenFlow {
  first: GenPacket;
  reply: boolean;
  third: boolean;
}

const flowArb: fc.Arbitrary<GenFlow> = fc.record({
  first: packetArb,
  reply: fc.constantFrom(true, true, true, false),
  third: fc.boolean(),
});

/**
 * The first packets of conversations: unique source ports and ICMP ids per flow (no two
 * flows share a tuple, so no NAT clash and no random port choice), ordinary sources and
 * destinations, echo requests, TCP SYNs (and no TCP flow to the node's own addresses).
 */
function flowsToPackets(flows: readonly GenFlow[]): GenPacket[] {
  return flows.map((f, i) => {
    const first: GenPacket = { ...f.first, sport: 20000 + 97 * i, icmpId: 100 + i, ttl: null, reply: f.reply, third: f.third };
    if (first.proto === 'icmp') first.icmpType = 8;
    if (first.proto === 'tcp') {
      first.flags = 'SYN';
      if (isNodeAddr(first.dst)) first.proto = 'udp';
    }
    if (first.hook === 'OUTPUT' && !isNodeAddr(first.src)) first.src = NODE_ETH0;
    if (first.hook === 'PREROUTING' && (SPECIAL_SRC.includes(first.src) || isNodeAddr(first.src))) first.src = PEERS_ETH0[0]!;
    if (SPECIAL_DST.includes(first.dst)) first.dst = REMOTE[0]!;
    return first;
  });
}

/** Packets per generated case (one kernel setup serves them all). */
export const PACKETS_PER_CASE = 20;

function tablesArb(): fc.Arbitrary<Record<TableName, GenTable | null>> {
  return fc.record({
    raw: fc.option(tableArb('raw'), { nil: null, freq: 2 }),
    mangle: fc.option(tableArb('mangle'), { nil: null, freq: 2 }),
    nat: fc.option(tableArb('nat'), { nil: null, freq: 3 }),
    filter: fc.option(tableArb('filter'), { nil: null, freq: 6 }),
  });
}

/** A random case: three in four with fresh conntrack for every packet, the rest conversations. */
export function caseArb(packetsPerCase = PACKETS_PER_CASE): fc.Arbitrary<GenCase> {
  const fresh = fc.record({
    fresh: fc.constant(true),
    host: hostArb,
    tables: tablesArb(),
    packets: fc.array(packetArb, { minLength: packetsPerCase, maxLength: packetsPerCase }),
  });
  const nFlows = Math.max(1, Math.round(packetsPerCase / 2.2));
  const conversation = fc.record({
    fresh: fc.constant(false),
    host: hostArb,
    tables: tablesArb(),
    packets: fc.array(flowArb, { minLength: nFlows, maxLength: nFlows }).map(flowsToPackets),
  });
  return fc.oneof({ weight: 3, arbitrary: fresh }, { weight: 1, arbitrary: conversation });
}

// ---------------------------------------------------------------------------------------
// Legalising and printing

type HookSet = Set<HookName>;

function subsetOf(h: HookSet, allowed: readonly HookName[]): boolean {
  if (h.size === 0) return false;
  for (const x of h) if (!allowed.includes(x)) return false;
  return true;
}

function hasAny(h: HookSet, names: readonly HookName[]): boolean {
  return names.some((n) => h.has(n));
}

/** The chain a jump in chain `from` (-1 for built-ins) may go to: a later user chain, or null. */
function jumpTarget(to: number, from: number, userCount: number): number | null {
  const first = from + 1;
  if (first >= userCount) return null;
  return first + (to % (userCount - first));
}

/** Where a chain sits: its table, the hooks that reach it, whether it is built-in, the case kind. */
interface ChainCtx {
  table: TableName;
  hooks: HookSet;
  builtin: HookName | null;
  fresh: boolean;
}

/** Reachability of user chains from the built-ins (jumps only go forward, so one pass in order). */
function userHooks(t: TableName, g: GenTable): HookSet[] {
  const n = g.user.length;
  const hooks: HookSet[] = g.user.map(() => new Set<HookName>());
  const visit = (rules: readonly GenRule[], from: number, reach: HookSet): void => {
    for (const r of rules) {
      if (r.target.k !== 'jump') continue;
      const to = jumpTarget(r.target.to, from, n);
      if (to !== null) for (const h of reach) hooks[to]!.add(h);
    }
  };
  BUILTIN[t].forEach((h, i) => {
    const b = g.builtins[i];
    if (b) visit(b.rules, -1, new Set([h]));
  });
  for (let u = 0; u < n; u++) visit(g.user[u]!, u, hooks[u]!);
  return hooks;
}

function opt(neg: boolean, text: string): string {
  return neg ? `! ${text}` : text;
}

function l4Proto(r: GenRule): 'tcp' | 'udp' | 'icmp' | null {
  return r.proto && !r.proto.neg ? r.proto.p : null;
}

/** The match part of one rule, legal in its chain, as iptables-save prints it (roughly). */
function matchText(r: GenRule, ctx: ChainCtx): string[] {
  const parts: string[] = [];
  const seen = new Set<string>();
  const proto = l4Proto(r);
  const header: Record<string, string> = {};
  for (const m of r.matches) {
    // One of each kind per rule; --syn and --tcp-flags exclude each other.
    const kind = m.k === 'syn' ? 'tcpflags' : m.k;
    if (seen.has(kind)) continue;
    switch (m.k) {
      // `! -s 0.0.0.0/0` does not load with iptables-nft (RULE_APPEND failed (Invalid
      // argument): a zero-length address compare cannot be inverted), so /0 is never negated.
      case 'src':
        header['s'] = opt(m.neg && !m.cidr.endsWith('/0'), `-s ${m.cidr}`);
        break;
      case 'dst':
        header['d'] = opt(m.neg && !m.cidr.endsWith('/0'), `-d ${m.cidr}`);
        break;
      case 'in':
        if (ctx.builtin === 'OUTPUT' || ctx.builtin === 'POSTROUTING') continue;
        header['i'] = opt(m.neg, `-i ${m.iface}`);
        break;
      case 'out':
        if (ctx.builtin === 'PREROUTING' || ctx.builtin === 'INPUT') continue;
        header['o'] = opt(m.neg, `-o ${m.iface}`);
        break;
      case 'ports': {
        if (proto !== 'tcp' && proto !== 'udp') continue;
        if (m.sport === null && m.dport === null) continue;
        const o: string[] = [`-m ${proto}`];
        if (m.sport !== null) o.push(opt(m.negS, `--sport ${m.sport}`));
        if (m.dport !== null) o.push(opt(m.negD, `--dport ${m.dport}`));
        parts.push(o.join(' '));
        break;
      }
      case 'tcpflags':
        if (proto !== 'tcp') continue;
        parts.push(`-m tcp ${opt(m.neg, `--tcp-flags ${m.mask} ${m.comp}`)}`);
        break;
      case 'syn':
        if (proto !== 'tcp') continue;
        parts.push(`-m tcp ${opt(m.neg, '--syn')}`);
        break;
      case 'multiport':
        if (proto !== 'tcp' && proto !== 'udp') continue;
        parts.push(`-m multiport ${opt(m.neg, `--${m.opt} ${m.list.join(',')}`)}`);
        break;
      case 'icmp':
        if (proto !== 'icmp') continue;
        parts.push(`-m icmp ${opt(m.neg, `--icmp-type ${m.type}`)}`);
        break;
      case 'mark':
        parts.push(`-m mark ${opt(m.neg, `--mark ${m.value}`)}`);
        break;
      case 'connmark':
        parts.push(`-m connmark ${opt(m.neg, `--mark ${m.value}`)}`);
        break;
      case 'ctstate':
        parts.push(`-m conntrack ${opt(m.neg, `--ctstate ${m.states.join(',')}`)}`);
        break;
      case 'ctmisc':
        parts.push(`-m conntrack ${opt(m.neg, `--${m.opt} ${m.value}`)}`);
        break;
      case 'state':
        parts.push(`-m state ${opt(m.neg, `--state ${m.states.join(',')}`)}`);
        break;
      case 'addrtype': {
        if (m.src === null && m.dst === null) continue;
        const o = ['-m addrtype'];
        if (m.src !== null) o.push(opt(m.negS, `--src-type ${m.src}`));
        if (m.dst !== null) o.push(opt(m.negD, `--dst-type ${m.dst}`));
        if (m.limit === 'in' && subsetOf(ctx.hooks, ['PREROUTING', 'INPUT', 'FORWARD'])) o.push('--limit-iface-in');
        if (m.limit === 'out' && subsetOf(ctx.hooks, ['OUTPUT', 'FORWARD', 'POSTROUTING'])) o.push('--limit-iface-out');
        parts.push(o.join(' '));
        break;
      }
      case 'iprange': {
        if (m.src === null && m.dst === null) continue;
        const o = ['-m iprange'];
        if (m.src !== null) o.push(opt(m.negS, `--src-range ${m.src}`));
        if (m.dst !== null) o.push(opt(m.negD, `--dst-range ${m.dst}`));
        parts.push(o.join(' '));
        break;
      }
      case 'length':
        parts.push(`-m length ${opt(m.neg, `--length ${m.spec}`)}`);
        break;
      case 'ttl':
        parts.push(m.op === 'eq' ? `-m ttl ${opt(m.neg, `--ttl-eq ${m.v}`)}` : `-m ttl --ttl-${m.op} ${m.v}`);
        break;
      case 'comment':
        parts.push(`-m comment --comment "${m.text}"`);
        break;
      case 'pkttype':
        parts.push(`-m pkttype ${opt(m.neg, `--pkt-type ${m.type}`)}`);
        break;
      case 'statistic':
        if (!ctx.fresh) continue;
        parts.push(`-m statistic --mode random ${opt(m.neg, `--probability ${m.p}`)}`);
        break;
      case 'owner':
        if (!subsetOf(ctx.hooks, ['OUTPUT', 'POSTROUTING'])) continue;
        parts.push(`-m owner ${opt(m.neg, `--${m.opt} ${m.v}`)}`);
        break;
      case 'recent': {
        if (ctx.fresh || !subsetOf(ctx.hooks, ['FORWARD'])) continue;
        const o = [`-m recent`, opt(m.neg, `--${m.mode}`), `--name ${m.name}`, `--${m.side}`];
        if (m.hitcount !== null && (m.mode === 'rcheck' || m.mode === 'update')) o.push(`--hitcount ${m.hitcount}`);
        parts.push(o.join(' '));
        break;
      }
    }
    seen.add(kind);
  }
  const head: string[] = [];
  if (header['s']) head.push(header['s']);
  if (header['d']) head.push(header['d']);
  if (header['i']) head.push(header['i']);
  if (header['o']) head.push(header['o']);
  if (r.proto) head.push(opt(r.proto.neg, `-p ${r.proto.p}`));
  return [...head, ...parts];
}

const FULL_SOURCE_PORTS = '1024-65535';

/** The target part of one rule, legal in its chain; '' for none. `userCount` and `from` resolve jumps. */
function targetText(r: GenRule, ctx: ChainCtx, from: number, userCount: number): string {
  const t = r.target;
  const h = ctx.hooks;
  const proto = l4Proto(r);
  const ports = proto === 'tcp' || proto === 'udp';
  switch (t.k) {
    case 'none':
      return '';
    case 'ACCEPT':
    case 'RETURN':
      return `-j ${t.k}`;
    case 'DROP':
      return ctx.table === 'nat' ? '' : '-j DROP';
    case 'jump': {
      const to = jumpTarget(t.to, from, userCount);
      return to === null ? '' : `${t.goto ? '-g' : '-j'} U${to}`;
    }
    case 'MARK':
      return `-j MARK --${t.op} ${t.op === 'set-mark' || t.op === 'set-xmark' ? t.value : t.value.split('/')[0]}`;
    case 'CONNMARK':
      if (t.op === 'set-mark' || t.op === 'set-xmark') return `-j CONNMARK --${t.op} ${t.value}`;
      return `-j CONNMARK --${t.op}${t.mask ? ` --mask ${t.mask}` : ''}`;
    case 'REJECT': {
      if (ctx.table !== 'filter' || !subsetOf(h, ['INPUT', 'FORWARD', 'OUTPUT'])) return '';
      const w = t.with === 'tcp-reset' && proto !== 'tcp' ? null : t.with;
      return w ? `-j REJECT --reject-with ${w}` : '-j REJECT';
    }
    case 'LOG':
      return t.prefix ? `-j LOG --log-prefix "${t.prefix}"` : '-j LOG';
    case 'DNAT': {
      if (ctx.table !== 'nat' || !subsetOf(h, ['PREROUTING', 'OUTPUT'])) return '';
      return `-j DNAT --to-destination ${t.to}${ports && t.port ? `:${t.port}` : ''}`;
    }
    case 'SNAT': {
      if (ctx.table !== 'nat' || !subsetOf(h, ['POSTROUTING', 'INPUT'])) return '';
      const p = !ports || t.port === null ? '' : `:${t.port === 'ANY' ? (ctx.fresh ? FULL_SOURCE_PORTS : '1-65535') : t.port}`;
      return `-j SNAT --to-source ${t.to}${p}${t.persistent ? ' --persistent' : ''}`;
    }
    case 'MASQUERADE': {
      if (ctx.table !== 'nat' || !subsetOf(h, ['POSTROUTING'])) return '';
      const p = !ports || t.port === null ? '' : ` --to-ports ${t.port === 'ANY' ? (ctx.fresh ? FULL_SOURCE_PORTS : '1-65535') : t.port}`;
      return `-j MASQUERADE${p}`;
    }
    case 'REDIRECT': {
      if (ctx.table !== 'nat' || !subsetOf(h, ['PREROUTING', 'OUTPUT'])) return '';
      return `-j REDIRECT${ports && t.port ? ` --to-ports ${t.port}` : ''}`;
    }
    case 'NETMAP': {
      if (ctx.table !== 'nat' || !(subsetOf(h, ['PREROUTING', 'OUTPUT']) || subsetOf(h, ['POSTROUTING', 'INPUT']))) return '';
      return `-j NETMAP --to ${t.to}`;
    }
    case 'NOTRACK':
      return ctx.table === 'raw' ? '-j NOTRACK' : '';
    case 'CT':
      return ctx.table === 'raw' ? '-j CT --notrack' : '';
  }
}

/** The ruleset as iptables-save text (only legal rules; see the file comment). */
export function printRuleset(g: GenCase): string {
  const out: string[] = [];
  for (const t of TABLES) {
    const table = g.tables[t];
    if (!table) continue;
    const hooks = userHooks(t, table);
    const n = table.user.length;
    out.push(`*${t}`);
    BUILTIN[t].forEach((h, i) => {
      const b = table.builtins[i];
      if (!b || !b.declared) return;
      out.push(`:${h} ${b.policy} [0:0]`);
    });
    for (let u = 0; u < n; u++) out.push(`:U${u} - [0:0]`);
    const rule = (chain: string, r: GenRule, ctx: ChainCtx, from: number): void => {
      const text = [...matchText(r, ctx), targetText(r, ctx, from, n)].filter((x) => x !== '').join(' ');
      out.push(text ? `-A ${chain} ${text}` : `-A ${chain}`);
    };
    BUILTIN[t].forEach((h, i) => {
      const b = table.builtins[i];
      if (!b) return;
      const ctx: ChainCtx = { table: t, hooks: new Set([h]), builtin: h, fresh: g.fresh };
      for (const r of b.rules) rule(h, r, ctx, -1);
    });
    for (let u = 0; u < n; u++) {
      const ctx: ChainCtx = { table: t, hooks: hooks[u]!, builtin: null, fresh: g.fresh };
      for (const r of table.user[u]!) rule(`U${u}`, r, ctx, u);
    }
    out.push('COMMIT');
  }
  return out.join('\n') + '\n';
}

/** A case packet in the case-file form (DESIGN.md §4). */
export function packetSpec(p: GenPacket): Record<string, unknown> {
  const s: Record<string, unknown> = { hook: p.hook };
  if (p.hook === 'PREROUTING') s['in_iface'] = p.inIface;
  else if (p.outIface !== null) s['out_iface'] = p.outIface;
  s['proto'] = p.proto;
  s['src'] = p.src;
  s['dst'] = p.dst;
  if (p.proto === 'icmp') {
    s['icmp_type'] = p.icmpType;
    s['icmp_code'] = 0;
    s['icmp_id'] = p.icmpId;
  } else {
    s['sport'] = p.sport;
    s['dport'] = p.dport;
    if (p.proto === 'tcp') s['tcp_flags'] = p.flags;
  }
  if (p.ttl !== null) s['ttl'] = p.ttl;
  if (p.mark !== null) s['mark'] = p.mark;
  return s;
}

/** The case file for a generated case: host, routes, sysctls, ruleset, packets. */
export function toCaseFile(g: GenCase): Record<string, unknown> {
  const sysctls: Record<string, number> = {};
  if (!g.host.ipForward) sysctls['net.ipv4.ip_forward'] = 0;
  if (g.host.routeLocalnet) sysctls['net.ipv4.conf.all.route_localnet'] = 1;
  if (!g.fresh) sysctls['net.netfilter.nf_conntrack_tcp_be_liberal'] = 1;
  const c: Record<string, unknown> = {
    description: g.fresh ? 'generated (test/kernel/random.ts): every packet the first of its connection' : 'generated (test/kernel/random.ts): request/reply conversations',
    interfaces: [
      { name: 'eth0', addrs: [`${NODE_ETH0}/24`] },
      { name: 'eth1', addrs: g.host.extraAddr ? [`${NODE_ETH1}/24`, `${NODE_EXTRA}/24`] : [`${NODE_ETH1}/24`] },
    ],
    routes: ['default via 10.0.1.254 dev eth0', '192.0.2.0/24 via 10.0.2.254 dev eth1'],
  };
  if (Object.keys(sysctls).length > 0) c['sysctls'] = sysctls;
  if (g.fresh) c['fresh_conntrack'] = true;
  c['ruleset'] = printRuleset(g);
  c['packets'] = g.fresh ? g.packets.map(packetSpec) : conversationPackets(c, g.packets);
  return c;
}

/**
 * The packets of a conversation case: each request, then its reply built from what nfemu
 * says became of the request (the reverse of its final tuple, arriving on the interface it
 * left by, or sent by the node when it was delivered locally), then maybe the request's next
 * packet. A reply built from a wrong answer is no reply for the kernel: the divergence shows
 * at the request already. When nfemu does not run the case, or drops the request, the reply
 * is the reverse of the request as sent. No reply to a TCP request delivered locally, and no
 * third packet after a reply to the node: the node's own stack answers those (RST), and
 * conntrack sees its answer.
 */
export function conversationPackets(base: Record<string, unknown>, requests: readonly GenPacket[]): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const req of requests) {
    out.push(packetSpec(req));
    if (!req.reply) continue;
    let fin: FinalJson | null = null;
    try {
      const r = runCase({ ...base, fresh_conntrack: false, packets: out } as unknown as CaseFile, {});
      fin = (r.results[r.results.length - 1]?.final as FinalJson | undefined) ?? null;
    } catch {
      fin = null;
    }
    const reply = replyTo(req, fin);
    if (!reply) continue;
    out.push(reply);
    if (req.third && !(reply['hook'] === 'PREROUTING' && isNodeAddr(String(reply['dst'])))) out.push(packetSpec({ ...req, flags: 'ACK' }));
  }
  return out;
}

interface FinalJson {
  fate: string;
  src: string;
  dst: string;
  sport?: number;
  dport?: number;
  out_iface?: string;
}

function replyTo(req: GenPacket, fin: FinalJson | null): Record<string, unknown> | null {
  const flags = 'SYN,ACK';
  const icmp = req.proto === 'icmp';
  const spec = (hook: 'PREROUTING' | 'OUTPUT', iface: string | null, src: string, dst: string, sport: number, dport: number): Record<string, unknown> | null => {
    const s: Record<string, unknown> = { hook };
    if (hook === 'PREROUTING') {
      if (iface !== 'eth0' && iface !== 'eth1') return null;
      s['in_iface'] = iface;
    }
    s['proto'] = req.proto;
    s['src'] = src;
    s['dst'] = dst;
    if (icmp) {
      s['icmp_type'] = 0;
      s['icmp_code'] = 0;
      s['icmp_id'] = req.icmpId;
    } else {
      s['sport'] = sport;
      s['dport'] = dport;
      if (req.proto === 'tcp') s['tcp_flags'] = flags;
    }
    return s;
  };
  if (fin && (fin.fate === 'forwarded' || fin.fate === 'sent')) {
    return spec('PREROUTING', fin.out_iface ?? null, fin.dst, fin.src, fin.dport ?? req.dport, fin.sport ?? req.sport);
  }
  if (fin && fin.fate === 'local') {
    if (req.proto === 'tcp') return null;
    return spec('OUTPUT', null, fin.dst, fin.src, fin.dport ?? req.dport, fin.sport ?? req.sport);
  }
  // Dropped, or nfemu has no answer: the reverse of the request as sent.
  if (isNodeAddr(req.dst)) return req.proto === 'tcp' ? null : spec('OUTPUT', null, req.dst, req.src, req.dport, req.sport);
  return spec('PREROUTING', routeIface(req.dst), req.dst, req.src, req.dport, req.sport);
}

// ---------------------------------------------------------------------------------------
// Reducing a diverging case with the kernel in the loop

/** Every one-step smaller variant of a case, biggest cuts first. */
export function* smaller(g: GenCase): Generator<GenCase> {
  const clone = (): GenCase => structuredClone(g);
  // Packets: keep one, then drop one at a time.
  if (g.packets.length > 1) {
    for (let i = 0; i < g.packets.length; i++) {
      const c = clone();
      c.packets = [g.packets[i]!];
      yield c;
    }
    for (let i = 0; i < g.packets.length; i++) {
      const c = clone();
      c.packets.splice(i, 1);
      yield c;
    }
  }
  for (const t of TABLES) {
    if (!g.tables[t]) continue;
    const c = clone();
    c.tables[t] = null;
    yield c;
  }
  // Packet details back to their defaults.
  for (let i = 0; i < g.packets.length; i++) {
    const p = g.packets[i]!;
    const plain: Partial<GenPacket>[] = [{ outIface: null }, { mark: null }, { ttl: null }, { flags: 'SYN' }, { third: false }, { reply: false }];
    for (const change of plain) {
      const [k, v] = Object.entries(change)[0]!;
      const now = (p as unknown as Record<string, unknown>)[k];
      if (now === v || (now === undefined && v === false)) continue;
      const c = clone();
      Object.assign(c.packets[i]!, change);
      yield c;
    }
  }
  for (const t of TABLES) {
    const table = g.tables[t];
    if (!table) continue;
    if (table.user.length > 0) {
      const c = clone();
      c.tables[t]!.user.pop();
      yield c;
    }
    const lists: GenRule[][] = [...table.builtins.map((b) => b.rules), ...table.user];
    const at = (c: GenCase, li: number): GenRule[] => {
      const ct = c.tables[t]!;
      return li < ct.builtins.length ? ct.builtins[li]!.rules : ct.user[li - ct.builtins.length]!;
    };
    for (let li = 0; li < lists.length; li++) {
      const rules = lists[li]!;
      if (rules.length > 1) {
        const c = clone();
        at(c, li).length = 0;
        yield c;
      }
      for (let ri = 0; ri < rules.length; ri++) {
        const c = clone();
        at(c, li).splice(ri, 1);
        yield c;
      }
    }
    for (let bi = 0; bi < table.builtins.length; bi++) {
      if (table.builtins[bi]!.policy !== 'DROP') continue;
      const c = clone();
      c.tables[t]!.builtins[bi]!.policy = 'ACCEPT';
      yield c;
    }
    for (let li = 0; li < lists.length; li++) {
      const rules = lists[li]!;
      for (let ri = 0; ri < rules.length; ri++) {
        const r = rules[ri]!;
        for (let mi = 0; mi < r.matches.length; mi++) {
          const c = clone();
          at(c, li)[ri]!.matches.splice(mi, 1);
          yield c;
        }
        if (r.proto !== null) {
          const c = clone();
          at(c, li)[ri]!.proto = null;
          yield c;
        }
        if (r.target.k !== 'none') {
          const c = clone();
          at(c, li)[ri]!.target = { k: 'none' };
          yield c;
        }
      }
    }
  }
  if (!g.host.ipForward || g.host.routeLocalnet || g.host.extraAddr) {
    const c = clone();
    c.host = { ipForward: true, routeLocalnet: false, extraAddr: false };
    yield c;
  }
}

/**
 * Greedy reduction: takes the first smaller variant that still `fails`, until none does or
 * the deadline (monotonic ms, performance.now()) passes. Variants that print to the same case
 * file as the current one are skipped without calling `fails`.
 */
export async function reduceCase(
  g: GenCase,
  fails: (c: GenCase) => Promise<boolean>,
  deadline: number,
): Promise<{ reduced: GenCase; steps: number; tries: number; complete: boolean }> {
  let cur = g;
  let steps = 0;
  let tries = 0;
  for (;;) {
    const here = JSON.stringify(toCaseFile(cur));
    let moved = false;
    for (const cand of smaller(cur)) {
      if (performance.now() > deadline) {
        return { reduced: cur, steps, tries, complete: false };
      }
      if (JSON.stringify(toCaseFile(cand)) === here) continue;
      tries++;
      if (await fails(cand)) {
        cur = cand;
        steps++;
        moved = true;
        break;
      }
    }
    if (!moved) return { reduced: cur, steps, tries, complete: true };
  }
}
