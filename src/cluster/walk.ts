/**
 * The walker: follows a packet hop by hop through the cluster. A packet a process sends
 * enters its host at OUTPUT; each time a host sends or forwards it, the route's next hop
 * and the segment decide which host receives it, and it enters that host at PREROUTING
 * with the per-host state scrubbed (mark, conntrack reference, socket owner), as a veth or
 * a wire crossing into another network namespace does (skb_scrub_packet with xnet). It
 * ends when a host delivers it locally, drops it, cannot route it, or the hop bound is hit.
 *
 * A delivered request is handed to the process listening on the port, which may open its
 * own connections (a proxy) and answers with a reply; the reply is walked back the same
 * way, through every host's conntrack, and must reach the socket that sent the request.
 *
 * Simplification, said once: a TCP connection is shown as its first packet (SYN, carrying
 * the request as TCP Fast Open would) and the first reply (SYN,ACK, carrying the
 * response); conntrack sees exactly those two packets.
 */
import { NfemuError, formatWords } from '../core/index.ts';
import { connToJson, type Conn } from '../conntrack/index.ts';
import { NF_INET_LOCAL_OUT, NF_INET_PRE_ROUTING, ctinfoIsReply, IP_CT_INVALID } from '../netfilter/index.ts';
import { Packet, PACKET_HOST, buildPacket, formatPacket } from '../packet/index.ts';
import { TraceCollector, packetJson } from '../host/index.ts';
import { RTN_LOCAL, RTN_UNICAST } from '../xtables/index.ts';
import { summarizePayload } from './payload.ts';
import { ipv4Words, type ClusterHost, type Topology } from './topology.ts';
import type { ConnectSpec, Delivery, ExchangeResult, Hop, Leg, ProcessContext, Walk, WalkOptions } from './types.ts';

const DEFAULT_MAX_HOPS = 32;
const DEFAULT_MAX_DEPTH = 8;
const DEFAULT_MAX_LEGS = 256;

const LOOPBACK_ADDR = new Uint32Array([0x7f000001, 0, 0, 0]);

/**
 * The source address the kernel picks for a socket that does not bind one: the route's
 * preferred source, else a primary address of the outgoing device (inet_select_addr); for
 * a local destination, the destination itself (127.0.0.1 for loopback). null: no route.
 */
export function sourceAddressFor(h: ClusterHost, dst: Uint32Array): Uint32Array | null {
  const r = h.host.routing.lookup(4, dst);
  if (r.type === RTN_LOCAL) return h.host.routing.isLoopbackV4(dst) ? LOOPBACK_ADDR : dst;
  if (r.type !== RTN_UNICAST || r.dev === null) return null;
  if (r.route?.src) return r.route.src;
  const out = new Uint32Array(4);
  return h.host.routing.selectSourceAddr(4, r.dev, r.via ?? dst, out) ? out : null;
}

/** Crossing into another network namespace: what skb_scrub_packet(skb, xnet=true) resets. */
function scrub(pkt: Packet, inIface: string): void {
  pkt.inIface = inIface;
  pkt.outIface = '';
  pkt.mark = 0;
  pkt.ct = null;
  pkt.ctinfo = IP_CT_INVALID;
  pkt.ctZone = 0;
  pkt.nftrace = false;
  pkt.pktType = PACKET_HOST;
  // The sending socket stays behind: owner matches never see it past this host.
  pkt.uid = -1;
  pkt.gid = -1;
}

function addr(w: Uint32Array): string {
  return formatWords(4, w);
}

/** One walk in progress: the legs recorded so far and the bounds. */
export class Walker {
  readonly walk: Walk;
  private readonly maxHops: number;
  private readonly maxDepth: number;
  private readonly maxLegs: number;
  private readonly tracing: boolean;
  private readonly why: boolean;
  /** Index of the first leg of the current top-level exchange (the leg bound counts from it). */
  private legBase = 0;

  constructor(private readonly topo: Topology, opts: WalkOptions = {}) {
    this.maxHops = opts.maxHops ?? DEFAULT_MAX_HOPS;
    this.maxDepth = opts.maxDepth ?? DEFAULT_MAX_DEPTH;
    this.maxLegs = opts.maxLegs ?? DEFAULT_MAX_LEGS;
    this.tracing = opts.trace ?? true;
    this.why = opts.why ?? false;
    if (!(this.maxHops >= 1)) throw new NfemuError('USAGE', `maxHops must be at least 1, not ${this.maxHops}`);
    this.walk = { title: opts.title ?? '', legs: [], result: null };
  }

  private newLeg(kind: Leg['kind'], from: ClusterHost, label: string, parent: number | null, depth: number, pkt: Packet): Leg {
    if (parent === null && kind === 'request') this.legBase = this.walk.legs.length;
    if (this.walk.legs.length - this.legBase >= this.maxLegs) {
      throw new NfemuError('USAGE', `walk stopped: more than ${this.maxLegs} packets for one exchange (a forwarding loop between processes?)`);
    }
    const leg: Leg = {
      id: this.walk.legs.length, parent, depth, kind, from: from.name, label, payload: summarizePayload(pkt.payload), hops: [],
      end: { kind: 'hop_limit', host: from.name, detail: '', packet: packetJson(pkt), payload: pkt.payload }, notes: [],
    };
    this.walk.legs.push(leg);
    return leg;
  }

  /**
   * Walks one packet that a process on `from` sends (hook OUTPUT) or that arrives on
   * `pkt.inIface` of `from` (hook PREROUTING). No process answers it.
   */
  packet(from: ClusterHost, pkt: Packet, hook: number, label = ''): Leg {
    const leg = this.newLeg('request', from, label || formatPacket(pkt), null, 0, pkt);
    this.run(leg, from, pkt, hook);
    return leg;
  }

  /**
   * Runs `pkt` through hosts starting at `start` (entering at `hook`, or -1 when it has
   * already left `start` through pkt.outIface) until it ends; fills leg.hops and leg.end.
   */
  private run(leg: Leg, start: ClusterHost, pkt: Packet, hook: number): void {
    let host = start;
    let bridged = false;
    const emitted: { host: ClusterHost; pkt: Packet }[] = [];
    if (hook < 0) {
      // Already sent by `start` (a packet generated by REJECT): go straight to the wire.
      const r = this.leave(leg, host, pkt, null);
      if (r === null) return this.flushEmitted(leg, emitted);
      host = r.host;
      bridged = r.bridged;
      hook = NF_INET_PRE_ROUTING;
    }
    for (;;) {
      if (leg.hops.length >= this.maxHops) {
        leg.end = { kind: 'hop_limit', host: host.name, detail: `gave up after ${this.maxHops} hops (a routing loop?)`, packet: packetJson(pkt), payload: pkt.payload };
        break;
      }
      const before = packetJson(pkt);
      const ttl = pkt.ttl;
      const trace = this.tracing ? new TraceCollector(this.why) : null;
      const out = host.host.inject(pkt, hook, trace);
      // A bridged frame that leaves through the bridge again was bridged, not routed: no TTL
      // decrement. One that DNAT sent elsewhere really was routed (br_nf_pre_routing_finish).
      const stayedBridged = bridged && out.fate === 'forwarded' && pkt.outIface === before.in_iface;
      if (stayedBridged) pkt.ttl = ttl;
      const ct = pkt.ct as Conn | null;
      const hop: Hop = {
        host: host.name,
        hook: hook === NF_INET_PRE_ROUTING ? 'PREROUTING' : 'OUTPUT',
        ...(hook === NF_INET_PRE_ROUTING ? { in_iface: before.in_iface ?? '' } : {}),
        before,
        after: packetJson(pkt),
        fate: out.fate,
        ...(out.reason ? { reason: out.reason } : {}),
        ...(out.by ? { by: out.by } : {}),
        trace: trace ? trace.entries : [],
        conntrack: ct !== null ? connToJson(ct, this.topo.clock.nowMs()) : null,
        next: null,
        emitted: out.emitted.map((e) => packetJson(e)),
      };
      if (stayedBridged) hop.note = `bridged by ${before.in_iface} on ${host.name}: br_netfilter passes the frame through ${host.name}'s iptables (no TTL decrement)`;
      else if (bridged) hop.note = `a frame on ${host.name}'s bridge ${before.in_iface}, passed through its iptables by br_netfilter`;
      leg.hops.push(hop);
      for (const e of out.emitted) emitted.push({ host, pkt: e.clone() });
      if (out.fate === 'local') {
        leg.end = { kind: 'delivered', host: host.name, detail: `delivered to a local socket on ${host.name}`, packet: packetJson(pkt), payload: pkt.payload };
        break;
      }
      if (out.fate === 'dropped') {
        const by = out.by ? ` by ${out.by.table}:${out.by.chain}${out.by.rule_index !== null ? `#${out.by.rule_index}` : ''} (${out.by.target})` : '';
        leg.end = { kind: 'dropped', host: host.name, detail: `dropped on ${host.name}${by}`, packet: packetJson(pkt), payload: pkt.payload };
        break;
      }
      if (out.fate === 'stack_drop') {
        leg.end = { kind: 'stack_drop', host: host.name, detail: `${host.name} could not route or deliver it: ${out.reason}`, packet: packetJson(pkt), payload: pkt.payload };
        break;
      }
      const r = this.leave(leg, host, pkt, hop);
      if (r === null) break;
      host = r.host;
      bridged = r.bridged;
      hook = NF_INET_PRE_ROUTING;
    }
    this.flushEmitted(leg, emitted);
  }

  /** The packet left `host`: find the receiver, cross the wire. null when it ends here. */
  private leave(leg: Leg, host: ClusterHost, pkt: Packet, hop: Hop | null): { host: ClusterHost; bridged: boolean } | null {
    const nh = this.topo.nextHop(host, pkt);
    if (typeof nh === 'string') {
      leg.end = { kind: 'unreachable', host: host.name, detail: `left ${host.name} on ${pkt.outIface}, but ${nh}`, packet: packetJson(pkt), payload: pkt.payload };
      return null;
    }
    if (hop !== null) hop.next = { host: nh.to.host, iface: nh.to.iface, segment: nh.segment.name, via: nh.via };
    scrub(pkt, nh.to.iface);
    return { host: this.topo.host(nh.to.host), bridged: nh.bridged };
  }

  /** Packets hosts generated in answer (REJECT's RST / ICMP error) travel as their own legs. */
  private flushEmitted(leg: Leg, emitted: { host: ClusterHost; pkt: Packet }[]): void {
    for (const e of emitted) {
      const sub = this.newLeg('emitted', e.host, `${e.host.name} answers with ${formatPacket(e.pkt)}`, leg.id, leg.depth, e.pkt);
      if (e.pkt.inIface === 'lo') {
        sub.end = { kind: 'delivered', host: e.host.name, detail: `delivered to a local socket on ${e.host.name}`, packet: packetJson(e.pkt), payload: e.pkt.payload };
        continue;
      }
      this.run(sub, e.host, e.pkt, -1);
    }
  }

  /**
   * One connection from a process on `from`: the request walked to where it is delivered,
   * handed to the listening process (which may nest connections), and its reply walked
   * back to the sending socket.
   */
  exchange(from: ClusterHost, spec: ConnectSpec, parent: number | null = null, depth = 0): ExchangeResult {
    const dstW = ipv4Words(spec.dst, 'destination');
    const srcW = spec.src !== undefined ? ipv4Words(spec.src, 'source') : sourceAddressFor(from, dstW) ?? new Uint32Array(4);
    const sport = spec.sport ?? from.ephemeralPort(spec.proto);
    const pkt = buildPacket({
      proto: spec.proto, src: addr(srcW), sport, dst: spec.dst, dport: spec.dport,
      ...(spec.proto === 'tcp' ? { tcp_flags: 'SYN' } : {}),
      uid: spec.uid ?? 0, gid: spec.gid ?? 0, payload: spec.payload ?? '',
    });
    const socket = { proto: spec.proto, src: addr(srcW), sport, dst: spec.dst, dport: spec.dport };
    const label = spec.label ?? `${from.name} → ${spec.dst}:${spec.dport}`;
    const req = this.newLeg('request', from, label, parent, depth, pkt);
    const upstream: ExchangeResult[] = [];
    const fail = (why: string, replyLeg: Leg | null = null, servedBy: ExchangeResult['servedBy'] = null): ExchangeResult => ({
      ok: false, reply: null, servedBy, failure: why, socket, request: req, replyLeg, upstream,
    });
    this.run(req, from, pkt, NF_INET_LOCAL_OUT);
    if (req.end.kind !== 'delivered') {
      const back = this.walk.legs.find((l) => l.parent === req.id && l.kind === 'emitted' && l.end.kind === 'delivered' && l.end.host === from.name);
      if (!back) return fail(req.end.detail);
      // A RST, or ICMP port unreachable, reaching the socket is ECONNREFUSED.
      const p = back.end.packet;
      const refused = (p.tcp_flags ?? '').includes('RST') || (p.icmp_type === 3 && p.icmp_code === 3);
      return fail(`${refused ? 'connection refused: ' : ''}${req.end.detail}; ${back.label.replace(/^.*answers with /, 'the client got back ')}`);
    }
    const at = this.topo.host(req.end.host);
    const ct = pkt.ct as Conn | null;
    let origDst = addr(pkt.daddr);
    let origDport = pkt.dport;
    if (ct !== null && !ctinfoIsReply(pkt.ctinfo) && spec.proto === 'tcp') {
      // getorigdst answers for TCP and SCTP sockets only.
      origDst = addr(ct.orig.dst);
      origDport = ct.orig.dport;
    }
    const d: Delivery = {
      host: at.name, proto: spec.proto, src: addr(pkt.saddr), sport: pkt.sport, dst: addr(pkt.daddr), dport: pkt.dport,
      origDst, origDport, payload: pkt.payload,
    };
    const l = at.listener(spec.proto, d.dport, d.dst);
    if (!l) {
      const what = spec.proto === 'tcp' ? 'the kernel answers with a TCP RST' : 'the kernel answers with ICMP port unreachable';
      req.notes.push(`nothing listens on ${at.name} ${spec.proto}/${d.dport}: ${what}`);
      return fail(`connection refused: nothing listens on ${at.name} ${d.dst}:${d.dport}/${spec.proto}`);
    }
    if (depth >= this.maxDepth) {
      req.notes.push(`${l.process.name} on ${at.name}: nesting deeper than ${this.maxDepth} connections, the walk stops here`);
      return fail(`too many nested connections (more than ${this.maxDepth}): a proxy loop?`);
    }
    const ctx: ProcessContext = {
      host: at.name,
      rng: at.rng,
      connect: (s) => {
        const r = this.exchange(at, s, req.id, depth + 1);
        upstream.push(r);
        return r;
      },
      note: (t) => {
        req.notes.push(t);
      },
    };
    const ans = l.process.handle(d, ctx);
    const servedBy = { host: at.name, process: l.process.name };
    if (ans.reply === null) return fail(`${l.process.name} on ${at.name} sent no reply`, null, servedBy);
    const rp = buildPacket({
      proto: spec.proto, src: d.dst, sport: d.dport, dst: d.src, dport: d.sport,
      ...(spec.proto === 'tcp' ? { tcp_flags: 'SYN,ACK' } : {}),
      uid: l.process.uid, gid: l.process.gid, payload: ans.reply,
    });
    const rleg = this.newLeg('reply', at, `${l.process.name} on ${at.name} replies`, req.id, depth, rp);
    this.run(rleg, at, rp, NF_INET_LOCAL_OUT);
    if (rleg.end.kind !== 'delivered') return fail(`the reply did not make it back: ${rleg.end.detail}`, rleg, servedBy);
    if (rleg.end.host !== from.name) return fail(`the reply was delivered to ${rleg.end.host}, not to ${from.name}`, rleg, servedBy);
    const e = rleg.end.packet;
    if (e.src !== socket.dst || e.sport !== socket.dport || e.dst !== socket.src || e.dport !== socket.sport) {
      const rst = spec.proto === 'tcp' ? 'the kernel answers it with a RST' : 'the socket ignores it';
      return fail(
        `the reply arrived as ${e.src}:${e.sport} → ${e.dst}:${e.dport}, but the socket is connected to ${socket.dst}:${socket.dport} from ${socket.src}:${socket.sport}: ${rst}`,
        rleg, servedBy,
      );
    }
    return { ok: true, reply: ans.reply, servedBy, failure: null, socket, request: req, replyLeg: rleg, upstream };
  }
}
