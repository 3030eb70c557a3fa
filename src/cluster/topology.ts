/**
 * Hosts joined by links. A segment is one L2 network: a LAN the nodes share, or a node's
 * pod bridge (cni0) whose ports are the veth peers of the pods' eth0. Where a packet goes
 * after it leaves a host is decided the way the kernel and the wire decide it: the route
 * gives the next hop (the gateway, or the destination itself when on-link), and the
 * segment delivers the frame to the member that owns that address (ARP).
 */
import { NfemuError, fnv1a, formatWords, parseIp, SeededRng } from '../core/index.ts';
import { Host, type Iface } from '../host/index.ts';
import type { Packet } from '../packet/index.ts';
import type { Clock } from '../core/index.ts';
import type { L4, Process } from './types.ts';

/** What a host is in the cluster. */
export type HostKind = 'node' | 'pod' | 'external' | 'loadbalancer' | 'router';

/** A listening socket: a process bound to a port (on all addresses unless `addr`). */
export interface Listener {
  readonly proto: L4;
  readonly port: number;
  /** Bound address, or null for INADDR_ANY. */
  readonly addr: string | null;
  readonly process: Process;
}

/** A pod's DNS configuration (/etc/resolv.conf as the kubelet writes it for ClusterFirst). */
export interface ResolvConf {
  readonly nameservers: readonly string[];
  readonly search: readonly string[];
  readonly ndots: number;
}

/** First ephemeral port handed out (ip_local_port_range starts at 32768). */
const EPHEMERAL_BASE = 32768;
const EPHEMERAL_SPAN = 60999 - 32768 + 1;

/**
 * One network namespace in the cluster: the Host (interfaces, routes, rules, conntrack)
 * plus what the walker needs around it: listening sockets, ephemeral ports, DNS settings,
 * and for pods their namespace, labels and node.
 */
export class ClusterHost {
  readonly host: Host;
  readonly rng: SeededRng;
  readonly listeners = new Map<string, Listener>();
  /** Kubernetes namespace (pods), '' otherwise. */
  namespace = '';
  labels: Readonly<Record<string, string>> = {};
  /** The node a pod runs on (pods), or null. */
  node: string | null = null;
  /** The pod CIDR of a node, or null. */
  podCIDR: string | null = null;
  resolvConf: ResolvConf | null = null;
  /** Istio sidecar present (pods). */
  sidecar = false;
  private nextPort: number;

  constructor(readonly name: string, readonly kind: HostKind, clock: Clock, seed: number) {
    // Each host's Rng depends on the cluster seed and its own name only, so adding a host
    // does not change the choices another host makes.
    this.rng = new SeededRng((seed ^ fnv1a(name)) >>> 0);
    this.host = new Host({ clock, rng: this.rng, name });
    // Linux picks ephemeral ports by a keyed hash (RFC 6056, __inet_hash_connect); nfemu
    // hands them out in order from a per-host offset so stories stay readable.
    this.nextPort = EPHEMERAL_BASE + (fnv1a(`port:${name}`) % 8192);
  }

  /** The next free ephemeral port (never one a listener holds). */
  ephemeralPort(proto: L4): number {
    for (let i = 0; i < EPHEMERAL_SPAN; i++) {
      const p = this.nextPort;
      this.nextPort = p >= 60999 ? EPHEMERAL_BASE : p + 1;
      if (!this.listeners.has(`${proto}/${p}`)) return p;
    }
    throw new NfemuError('USAGE', `${this.name}: no free ephemeral port`);
  }

  /** Binds `process` to `proto`/`port` (on `addr`, or all addresses). */
  listen(proto: L4, port: number, process: Process, addr: string | null = null): void {
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new NfemuError('USAGE', `${this.name}: bad port ${port}`);
    const key = `${proto}/${port}`;
    if (this.listeners.has(key)) throw new NfemuError('USAGE', `${this.name}: ${proto} port ${port} is already bound (EADDRINUSE)`);
    this.listeners.set(key, { proto, port, addr, process });
  }

  /** The socket a packet to `addr:port` is delivered to, if any. */
  listener(proto: L4, port: number, addr: string): Listener | undefined {
    const l = this.listeners.get(`${proto}/${port}`);
    if (!l) return undefined;
    return l.addr === null || l.addr === addr ? l : undefined;
  }

  /** Whether one of the host's interfaces carries `addr` (as a local address). */
  hasAddress(iface: string, addr: Uint32Array): boolean {
    const i = this.host.routing.ifaces.get(iface);
    if (!i) return false;
    return i.addrs.some((a) => a.family === 4 && a.addr[0] === addr[0]);
  }

  /** The first IPv4 address of an interface, as text, or null. */
  addressOf(iface: string): string | null {
    const i: Iface | undefined = this.host.routing.ifaces.get(iface);
    const a = i?.addrs.find((x) => x.family === 4);
    return a ? formatWords(4, a.addr) : null;
  }
}

/** One member of a segment: a host's interface. */
export interface Attachment {
  readonly host: string;
  readonly iface: string;
}

/** One L2 network. */
export class Segment {
  readonly members: Attachment[] = [];
  constructor(
    readonly name: string,
    readonly kind: 'lan' | 'bridge',
    /** For a bridge: the host and device of the bridge itself (a node's cni0). */
    readonly owner: Attachment | null = null,
    /**
     * br_netfilter with bridge-nf-call-iptables=1 (kubeadm requires it): IPv4 frames bridged
     * between two ports go through the owner's iptables. nfemu models that as a pass through
     * the owner's PREROUTING / FORWARD / POSTROUTING, without the TTL decrement routing
     * would do.
     */
    public brNetfilter = false,
  ) {}

  has(host: string, iface: string): boolean {
    return this.members.some((m) => m.host === host && m.iface === iface);
  }
}

/** Where a packet that left a host goes next. */
export interface NextHop {
  readonly segment: Segment;
  /** The address the frame is sent to (gateway or destination). */
  readonly via: string;
  /** Who receives the frame. */
  readonly to: Attachment;
  /** True when the frame is bridged through the segment owner's netfilter (br_netfilter). */
  readonly bridged: boolean;
}

/** Hosts and segments, and next-hop resolution between them. */
export class Topology {
  readonly hosts = new Map<string, ClusterHost>();
  readonly segments = new Map<string, Segment>();
  /** (host/iface) → segment name. */
  private readonly attachments = new Map<string, string>();

  constructor(readonly clock: Clock, readonly seed: number) {}

  /** The host called `name`; throws USAGE when there is none. */
  host(name: string): ClusterHost {
    const h = this.hosts.get(name);
    if (!h) throw new NfemuError('USAGE', `no host "${name}" in the cluster (have: ${[...this.hosts.keys()].join(', ') || 'none'})`, { token: name });
    return h;
  }

  addHost(name: string, kind: HostKind): ClusterHost {
    if (this.hosts.has(name)) throw new NfemuError('USAGE', `host "${name}" already exists`, { token: name });
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) throw new NfemuError('USAGE', `bad host name "${name}"`, { token: name });
    const h = new ClusterHost(name, kind, this.clock, this.seed);
    this.hosts.set(name, h);
    return h;
  }

  addSegment(name: string, kind: 'lan' | 'bridge' = 'lan', owner: Attachment | null = null): Segment {
    if (this.segments.has(name)) throw new NfemuError('USAGE', `network "${name}" already exists`, { token: name });
    const s = new Segment(name, kind, owner);
    this.segments.set(name, s);
    if (owner) this.attach(name, owner.host, owner.iface);
    return s;
  }

  segment(name: string): Segment {
    const s = this.segments.get(name);
    if (!s) throw new NfemuError('USAGE', `no network "${name}" (have: ${[...this.segments.keys()].join(', ') || 'none'})`, { token: name });
    return s;
  }

  /** Plugs `host`'s interface `iface` into the segment (the interface must exist on the host). */
  attach(segment: string, host: string, iface: string): void {
    const s = this.segment(segment);
    const h = this.host(host);
    if (!h.host.routing.ifaces.has(iface)) h.host.routing.addIface(iface);
    const key = `${host}/${iface}`;
    const cur = this.attachments.get(key);
    if (cur !== undefined && cur !== segment) throw new NfemuError('USAGE', `${key} is already on network "${cur}"`);
    if (!s.has(host, iface)) s.members.push({ host, iface });
    this.attachments.set(key, segment);
  }

  segmentAt(host: string, iface: string): Segment | null {
    const n = this.attachments.get(`${host}/${iface}`);
    return n === undefined ? null : this.segments.get(n)!;
  }

  /**
   * Where a packet that `from` sent out of `pkt.outIface` goes: the route's gateway (or the
   * destination when on-link) looked up among the other members of the segment. Returns a
   * sentence instead when nothing is there.
   */
  nextHop(from: ClusterHost, pkt: Packet): NextHop | string {
    const iface = pkt.outIface;
    const seg = this.segmentAt(from.name, iface);
    if (seg === null) return `${from.name}/${iface} is not connected to any network`;
    const r = from.host.routing.lookup(4, pkt.daddr);
    const nh = r.via ?? pkt.daddr;
    const via = formatWords(4, nh);
    let to: Attachment | null = null;
    for (const m of seg.members) {
      if (m.host === from.name && m.iface === iface) continue;
      if (this.hosts.get(m.host)!.hasAddress(m.iface, nh)) {
        to = m;
        break;
      }
    }
    if (to === null) return `nobody on ${seg.name} answers ARP for ${via}`;
    const owner = seg.owner;
    if (seg.kind === 'bridge' && seg.brNetfilter && owner !== null && from.name !== owner.host && to.host !== owner.host) {
      return { segment: seg, via, to: owner, bridged: true };
    }
    return { segment: seg, via, to, bridged: false };
  }
}

/** Parses an IPv4 address or throws USAGE naming `what`. */
export function ipv4Words(text: string, what: string): Uint32Array {
  const ip = parseIp(text);
  if (!ip || ip.family !== 4) throw new NfemuError('USAGE', `${what}: "${text}" is not an IPv4 address`, { token: text });
  return ip.w;
}
