/**
 * conntrack: connection tracking and NAT bindings for one network namespace, modelled on
 * Linux 6.18 (nf_conntrack_core.c, nf_conntrack_proto_{tcp,udp,icmp,icmpv6}.c,
 * nf_nat_core.c, nf_nat_proto.c). Imports core, packet and netfilter only.
 *
 * Where it sits in the packet path (DESIGN.md §1), by hook priority:
 *
 *   PRE_ROUTING / LOCAL_OUT   raw (-300) ─► table.in() (-200) ─► mangle (-150)
 *                             ─► nat (-100): for a NEW entry without a DST binding the nat
 *                                table runs (DNAT calls setupNat), else allocNullBinding;
 *                                then natPacket() rewrites the destination
 *   LOCAL_IN / POST_ROUTING   ... filter (0) ─► nat (100): SNAT / MASQUERADE call setupNat,
 *                                else allocNullBinding; natPacket() rewrites the source
 *                             ─► table.confirm() (INT_MAX): the entry enters the table
 *
 * Replies find the entry by its reply tuple (ESTABLISHED_REPLY) and natPacket() undoes the
 * bindings. ICMP errors quoting a tracked packet are RELATED: the Packet carries no inner
 * header, so the quoted header is passed to in() and natPacket() as a Tuple; the kernel
 * does not consult the nat table for them (nf_nat_ipv4_fn translates them directly). A
 * packet that dies before confirm() should be passed to release(); packets generated in
 * answer to another (REJECT) get its entry through attachRelated().
 *
 * Everything runs on an injected Clock (timeouts) and Rng (NAT port search); the table is a
 * numeric hash table, allocation-free per packet except when an entry is created.
 */
export {
  Conn, tcpStateName, TCP_STATE_NAMES, IP_CT_DIR_ORIGINAL, IP_CT_DIR_REPLY,
  TCP_CONNTRACK_NONE, TCP_CONNTRACK_SYN_SENT, TCP_CONNTRACK_SYN_RECV, TCP_CONNTRACK_ESTABLISHED, TCP_CONNTRACK_FIN_WAIT,
  TCP_CONNTRACK_CLOSE_WAIT, TCP_CONNTRACK_LAST_ACK, TCP_CONNTRACK_TIME_WAIT, TCP_CONNTRACK_CLOSE, TCP_CONNTRACK_SYN_SENT2,
  TCP_CONNTRACK_MAX,
} from './conn.ts';
export {
  type Tuple, newTuple, makeTuple, cloneTuple, copyTuple, tupleEquals, invertTuple, icmpKey, tracksPorts, formatTuple,
} from './tuple.ts';
export {
  NF_NAT_MANIP_SRC, NF_NAT_MANIP_DST, NF_NAT_RANGE_MAP_IPS, NF_NAT_RANGE_PROTO_SPECIFIED, NF_NAT_RANGE_PROTO_RANDOM,
  NF_NAT_RANGE_PERSISTENT, NF_NAT_RANGE_PROTO_RANDOM_FULLY, NF_NAT_RANGE_PROTO_OFFSET, NF_NAT_RANGE_NETMAP,
  NF_NAT_RANGE_PROTO_RANDOM_ALL, type NatRange, makeNatRange, hookToManip, findBestIpsProto,
} from './nat.ts';
export {
  ConntrackTable, type ConntrackOptions, type ConntrackStats, type TcpTimeoutOptions, tupleFromPacket, packetTuple,
} from './table.ts';
export { connToJson, conntrackProtoName, type ConnJson, type ConnTupleJson } from './json.ts';
export { tcpFlagsValid } from './tcp.ts';
