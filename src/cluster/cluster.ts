/**
 * A Kubernetes-shaped cluster of hosts: nodes on a shared L2 network, each with a pod
 * bridge (cni0) and routes to the other nodes' pod CIDRs via their node IPs; pods (their
 * own network namespaces, eth0 on the node's bridge, default route via the bridge);
 * external clients; cloud L4 load balancers. Kubernetes objects (YAML) give Services and
 * endpoints; every node runs what kube-proxy (iptables mode, src/kube) would program from
 * them unless it was given hand-written rules; a node in IPVS mode (`kubeProxy.mode` or the
 * node's `kubeProxyMode`) gets what kube-proxy's IPVS mode programs instead: kube-ipvs0
 * holding the VIPs, the ipsets, the iptables rules that use them and the IPVS virtual
 * servers (the same generator and loading as a case with `kube_proxy.mode: "ipvs"`).
 * Cluster DNS answers from the same objects.
 * Istio: sidecar capture rules and proxies, and ingress gateways, from Istio YAML.
 *
 * IPv4 only. Everything random draws from per-host Rngs seeded from the cluster seed, and
 * time is the cluster's SimulatedClock.
 */
import { NfemuError, SimulatedClock, cidrContains, formatWords, parseCidr } from '../core/index.ts';
import { parseRoute } from '../host/index.ts';
import { restore, type Ruleset } from '../xtables/index.ts';
import { IpsetRegistry } from '../ipset/index.ts';
import { Ipvs, printList, restoreIpvs, type ListOptions } from '../ipvs/index.ts';
import {
  EMPTY_OBJECTS, KUBE_IPVS_DEVICE, generateIptables, generateIpvs, iptablesHostRuleset, ipvsHostRuleset, mergeManifests, parseManifests,
  type IptablesSync, type IpvsProxyOptions, type IpvsSync, type KubeObjects, type Pod, type Protocol,
} from '../kube/index.ts';
import { DnsServer, KubeDnsZone, kubeletResolvConf, type DnsZone, type Resolution } from './dns.ts';
import { EMPTY_ISTIO, mergeIstio, parseIstio, type IstioConfig } from './istio.ts';
import { istioCaptureRuleset, type IstioCaptureOptions } from './istio-capture.ts';
import { loadBalancerRestore, type LbBackend, type LbFrontend } from './loadbalancer.ts';
import { HttpServer, type HttpServerOptions } from './process.ts';
import { EnvoyProxy, type MeshView } from './proxy.ts';
import { ServiceRegistry, type PodRecord } from './services.ts';
import { Topology, ipv4Words, type ClusterHost, type ResolvConf } from './topology.ts';
import { ClusterWalker } from './cluster-walker.ts';
import type { ConnectSpec, L4, Process, Walk, WalkOptions } from './types.ts';

export interface ClusterOptions {
  /** Seeds every host's Rng (default 1). */
  readonly seed?: number;
  readonly clock?: SimulatedClock;
  /** Default "cluster.local". */
  readonly clusterDomain?: string;
  /** The pods' supernet, kube-proxy's `--cluster-cidr` (default 10.244.0.0/16). */
  readonly clusterCIDR?: string;
  /**
   * kube-proxy options for every node (node name, IP and interface addresses are filled in
   * per node); `mode` is its `--proxy-mode` (default iptables), the IPVS flags
   * (`scheduler`, `strictARP`, …) apply in IPVS mode.
   */
  readonly kubeProxy?: Omit<IpvsProxyOptions, 'nodeName' | 'nodeIPs'> & { readonly mode?: KubeProxyMode };
  /** The DNS Service whose ClusterIP goes into pods' resolv.conf (default kube-system/kube-dns). */
  readonly dnsService?: string;
}

export interface NodeSpec {
  readonly name: string;
  /** Address on the node network. */
  readonly ip: string;
  /** This node's pod CIDR; its first address goes on cni0. */
  readonly podCIDR: string;
  /** The node network (default: the network whose CIDR holds `ip`). */
  readonly network?: string;
  /** Default gateway on the node network (e.g. the load balancer / router). */
  readonly gateway?: string;
  /** Hand-written iptables-restore text instead of kube-proxy's rules. */
  readonly rules?: string;
  /** This node's kube-proxy mode (default: the cluster's `kubeProxy.mode`, else iptables). */
  readonly kubeProxyMode?: KubeProxyMode;
}

/** kube-proxy's `--proxy-mode` on a node. */
export type KubeProxyMode = 'iptables' | 'ipvs';

/** What kube-proxy last programmed on a node (Cluster.kubeProxy). */
export type KubeProxyView =
  | { readonly mode: 'iptables'; readonly sync: IptablesSync }
  | {
    readonly mode: 'ipvs';
    readonly sync: IpvsSync;
    /** The node's ipsets (the registry its iptables rules match against). */
    readonly ipsets: IpsetRegistry;
    /** The node's IPVS (the same object as the host's `ipvs`). */
    readonly ipvs: Ipvs;
  };

export interface PodSpec {
  readonly name: string;
  readonly namespace?: string;
  readonly node: string;
  readonly ip: string;
  readonly labels?: Readonly<Record<string, string>>;
  /** The pod's Ready condition (default true): only ready pods are endpoints. */
  readonly ready?: boolean;
  /** Named container ports (for named targetPorts). */
  readonly containerPorts?: readonly { name?: string; port: number; protocol?: Protocol }[];
}

export interface ExternalSpec {
  readonly name: string;
  /** Default: the network whose CIDR holds `ip`. */
  readonly network?: string;
  readonly ip: string;
  readonly gateway?: string;
  /** Extra routes in `ip route` syntax. */
  readonly routes?: readonly string[];
  /** resolv.conf: nameservers (default none), search (default none), ndots (default 1). */
  readonly nameservers?: readonly string[];
  readonly search?: readonly string[];
  readonly ndots?: number;
}

/** One frontend of a load balancer: explicit backends, or a Service's NodePorts / pods. */
export interface FrontendSpec {
  readonly vip: string;
  readonly port: number;
  readonly protocol?: 'TCP' | 'UDP';
  /** `ip:port` backends. */
  readonly backends?: readonly string[];
  /** `namespace/name` of a Service to send to. */
  readonly service?: string;
  /** Which Service port (default: the one numbered `port`, else the only one). */
  readonly servicePort?: number;
  /** NodePorts of the nodes (default) or the pods directly (container-native load balancing). */
  readonly target?: 'nodePort' | 'pod';
}

export interface LoadBalancerSpec {
  readonly name: string;
  /** Interfaces in order; the first (wan0 by default) holds the VIPs, the next are lan0, lan1, … */
  readonly interfaces: readonly { network?: string; ip: string; iface?: string }[];
  readonly gateway?: string;
  /** Routes to every node's pod CIDR via that node (VPC routes; default true). */
  readonly podRoutes?: boolean;
  readonly frontends?: readonly FrontendSpec[];
  /** Masquerade to the backends instead of keeping the client address (default false). */
  readonly snat?: boolean;
}

interface NodeInfo {
  readonly name: string;
  readonly ip: string;
  readonly podCIDR: string;
  readonly network: string;
  readonly handRules: boolean;
  readonly mode: KubeProxyMode;
}

interface LbInfo {
  readonly spec: LoadBalancerSpec;
  /** The network of each interface. */
  readonly nets: readonly string[];
  readonly wan: string;
  readonly lan: string;
}

interface PodInfo extends PodRecord {
  readonly object: Pod;
  readonly fromManifest: boolean;
}

export class Cluster {
  readonly topology: Topology;
  readonly clock: SimulatedClock;
  readonly clusterDomain: string;
  readonly clusterCIDR: string;
  private readonly kubeProxyOptions: Omit<IpvsProxyOptions, 'nodeName' | 'nodeIPs'>;
  private readonly kubeProxyMode: KubeProxyMode;
  /** What kube-proxy last programmed, per node. */
  private readonly proxied = new Map<string, KubeProxyView>();
  private readonly dnsServiceRef: string;
  private readonly networks = new Map<string, { prefix: number; cidr: ReturnType<typeof parseCidr> & object }>();
  private readonly nodes = new Map<string, NodeInfo>();
  private readonly pods = new Map<string, PodInfo>();
  private readonly lbs: LbInfo[] = [];
  private readonly gateways: { host: ClusterHost; proxy: EnvoyProxy }[] = [];
  private readonly dnsExtra = new Map<string, string[]>();
  private manifests: KubeObjects = EMPTY_OBJECTS;
  private istio: IstioConfig = EMPTY_ISTIO;
  private dirty = true;
  private registryCache: ServiceRegistry | null = null;
  private meshCache: MeshView | null = null;
  private dnsId = 1;

  constructor(opts: ClusterOptions = {}) {
    this.clock = opts.clock ?? new SimulatedClock();
    this.topology = new Topology(this.clock, opts.seed ?? 1);
    this.clusterDomain = opts.clusterDomain ?? 'cluster.local';
    this.clusterCIDR = opts.clusterCIDR ?? '10.244.0.0/16';
    const { mode = 'iptables', ...kubeProxyOptions } = opts.kubeProxy ?? {};
    if (mode !== 'iptables' && mode !== 'ipvs') throw new NfemuError('USAGE', `kubeProxy.mode must be "iptables" or "ipvs", not ${JSON.stringify(mode)}`, { token: String(mode) });
    this.kubeProxyMode = mode;
    this.kubeProxyOptions = kubeProxyOptions;
    this.dnsServiceRef = opts.dnsService ?? 'kube-system/kube-dns';
  }

  // ---- building ----

  /** An L2 network; addresses on it get the prefix length of `cidr`. */
  addNetwork(name: string, cidr: string): void {
    const c = parseCidr(4, cidr);
    if (!c || c.prefix < 0 || !cidr.includes('/')) throw new NfemuError('USAGE', `network ${name}: bad CIDR "${cidr}"`, { token: cidr });
    this.topology.addSegment(name, 'lan');
    this.networks.set(name, { prefix: c.prefix, cidr: c });
  }

  private prefixOf(network: string): number {
    const p = this.networks.get(network);
    if (p === undefined) throw new NfemuError('USAGE', `no network "${network}" (have: ${[...this.networks.keys()].join(', ') || 'none'})`, { token: network });
    return p.prefix;
  }

  /** The network whose CIDR holds `ip` (when a spec does not name one). */
  private networkFor(ip: string, what: string): string {
    const w = ipv4Words(ip, what);
    const hits = [...this.networks.entries()].filter(([, n]) => cidrContains(n.cidr, w)).map(([k]) => k);
    if (hits.length !== 1) {
      throw new NfemuError('USAGE', `${what}: ${hits.length === 0 ? `no network holds ${ip}` : `${ip} is in several networks (${hits.join(', ')})`}: name the network`, { token: ip });
    }
    return hits[0]!;
  }

  private plug(h: ClusterHost, network: string, iface: string, ip: string): void {
    ipv4Words(ip, `${h.name} ${iface}`);
    this.topology.attach(network, h.name, iface);
    h.host.routing.addAddr(iface, `${ip}/${this.prefixOf(network)}`);
  }

  host(name: string): ClusterHost {
    return this.topology.host(name);
  }

  /** A node: eth0 on the node network, cni0 bridging its pods, routes to the other nodes' pods. */
  addNode(spec: NodeSpec): ClusterHost {
    const network = spec.network ?? this.networkFor(spec.ip, `node ${spec.name}`);
    const cidr = parseCidr(4, spec.podCIDR);
    if (!cidr || cidr.prefix < 0 || cidr.prefix > 30) throw new NfemuError('USAGE', `node ${spec.name}: bad pod CIDR "${spec.podCIDR}"`, { token: spec.podCIDR });
    const h = this.topology.addHost(spec.name, 'node');
    h.podCIDR = spec.podCIDR;
    this.plug(h, network, 'eth0', spec.ip);
    h.host.routing.addIface('cni0', 'bridge');
    h.host.routing.addAddr('cni0', `${formatWords(4, new Uint32Array([(cidr.addr[0]! + 1) >>> 0, 0, 0, 0]))}/${cidr.prefix}`);
    const bridge = this.topology.addSegment(`${spec.name}:cni0`, 'bridge', { host: spec.name, iface: 'cni0' });
    bridge.brNetfilter = true;
    if (spec.gateway) h.host.routing.addRoute(parseRoute(`default via ${spec.gateway} dev eth0`));
    for (const other of this.nodes.values()) {
      if (other.network !== network) continue;
      h.host.routing.addRoute(parseRoute(`${other.podCIDR} via ${other.ip} dev eth0`));
      this.host(other.name).host.routing.addRoute(parseRoute(`${spec.podCIDR} via ${spec.ip} dev eth0`));
    }
    for (const lb of this.lbs) {
      if (lb.spec.podRoutes === false) continue;
      const i = lb.nets.indexOf(network);
      if (i >= 0) this.host(lb.spec.name).host.routing.addRoute(parseRoute(`${spec.podCIDR} via ${spec.ip} dev ${ifaceName(lb.spec, i)}`));
    }
    const mode = spec.kubeProxyMode ?? this.kubeProxyMode;
    if (mode !== 'iptables' && mode !== 'ipvs') throw new NfemuError('USAGE', `node ${spec.name}: kubeProxyMode must be "iptables" or "ipvs", not ${JSON.stringify(mode)}`, { token: String(mode) });
    this.nodes.set(spec.name, { name: spec.name, ip: spec.ip, podCIDR: spec.podCIDR, network, handRules: spec.rules !== undefined, mode });
    if (spec.rules !== undefined) this.setRules(spec.name, spec.rules);
    this.dirty = true;
    return h;
  }

  /** A pod: its own namespace, eth0 on its node's cni0, default route via the bridge. */
  addPod(spec: PodSpec): ClusterHost {
    return this.addPodInternal(spec, null);
  }

  private addPodInternal(spec: PodSpec, object: Pod | null): ClusterHost {
    const node = this.nodes.get(spec.node);
    if (!node) throw new NfemuError('USAGE', `pod ${spec.name}: no node "${spec.node}"`, { token: spec.node });
    const cidr = parseCidr(4, node.podCIDR)!;
    const ipw = ipv4Words(spec.ip, `pod ${spec.name}`);
    if (!cidrContains(cidr, ipw)) throw new NfemuError('USAGE', `pod ${spec.name}: ${spec.ip} is not in ${spec.node}'s pod CIDR ${node.podCIDR}`, { token: spec.ip });
    const h = this.topology.addHost(spec.name, 'pod');
    h.namespace = spec.namespace ?? 'default';
    h.labels = { ...(spec.labels ?? {}) };
    h.node = spec.node;
    h.host.setSysctl('net.ipv4.ip_forward', 0);
    h.host.routing.addAddr('eth0', `${spec.ip}/${cidr.prefix}`);
    this.topology.attach(`${spec.node}:cni0`, spec.name, 'eth0');
    const gw = this.host(spec.node).addressOf('cni0')!;
    h.host.routing.addRoute(parseRoute(`default via ${gw} dev eth0`));
    const pod: Pod = object ?? {
      kind: 'Pod',
      meta: { name: spec.name, namespace: h.namespace, labels: h.labels, deleting: false },
      origin: { file: undefined, line: undefined },
      nodeName: spec.node,
      podIPs: [spec.ip],
      ready: spec.ready ?? true,
      phase: 'Running',
      containerPorts: (spec.containerPorts ?? []).map((p) => ({ name: p.name ?? '', containerPort: p.port, protocol: p.protocol ?? 'TCP' })),
    };
    this.pods.set(spec.name, { name: spec.name, namespace: h.namespace, ip: spec.ip, node: spec.node, labels: h.labels, object: pod, fromManifest: object !== null });
    this.dirty = true;
    return h;
  }

  /**
   * Deletes a pod: its network namespace, its sockets and its endpoint. Conntrack entries
   * elsewhere that point at it stay until they time out (or something deletes them).
   */
  removePod(name: string): void {
    const p = this.pods.get(name);
    if (!p) throw new NfemuError('USAGE', `no pod "${name}"`, { token: name });
    const seg = this.topology.segment(`${p.node}:cni0`);
    const i = seg.members.findIndex((m) => m.host === name);
    if (i >= 0) seg.members.splice(i, 1);
    this.topology.hosts.delete(name);
    this.pods.delete(name);
    if (p.fromManifest) {
      this.manifests = { ...this.manifests, pods: this.manifests.pods.filter((x) => x !== p.object) };
    }
    this.dirty = true;
  }

  /** A host outside the cluster (a client on the internet, a DNS server, …). */
  addExternal(spec: ExternalSpec): ClusterHost {
    const h = this.topology.addHost(spec.name, 'external');
    h.host.setSysctl('net.ipv4.ip_forward', 0);
    this.plug(h, spec.network ?? this.networkFor(spec.ip, `host ${spec.name}`), 'eth0', spec.ip);
    if (spec.gateway) h.host.routing.addRoute(parseRoute(`default via ${spec.gateway} dev eth0`));
    for (const r of spec.routes ?? []) h.host.routing.addRoute(parseRoute(r));
    h.resolvConf = { nameservers: spec.nameservers ?? [], search: spec.search ?? [], ndots: spec.ndots ?? 1 };
    return h;
  }

  /** A cloud L4 load balancer (also the router between its networks). */
  addLoadBalancer(spec: LoadBalancerSpec): ClusterHost {
    if (spec.interfaces.length === 0) throw new NfemuError('USAGE', `load balancer ${spec.name}: needs at least one interface`);
    const h = this.topology.addHost(spec.name, 'loadbalancer');
    const nets = spec.interfaces.map((x) => x.network ?? this.networkFor(x.ip, `load balancer ${spec.name}`));
    spec.interfaces.forEach((x, i) => this.plug(h, nets[i]!, ifaceName(spec, i), x.ip));
    if (spec.gateway) {
      const gw = ipv4Words(spec.gateway, `load balancer ${spec.name} gateway`);
      const i = nets.findIndex((n) => cidrContains(this.networks.get(n)!.cidr, gw));
      if (i < 0) throw new NfemuError('USAGE', `load balancer ${spec.name}: gateway ${spec.gateway} is on none of its networks`, { token: spec.gateway });
      h.host.routing.addRoute(parseRoute(`default via ${spec.gateway} dev ${ifaceName(spec, i)}`));
    }
    const wan = ifaceName(spec, 0);
    for (const f of spec.frontends ?? []) {
      if (!h.hasAddress(wan, ipv4Words(f.vip, `load balancer ${spec.name} VIP`))) h.host.routing.addAddr(wan, `${f.vip}/32`);
    }
    if (spec.podRoutes !== false) {
      for (const n of this.nodes.values()) {
        const i = nets.indexOf(n.network);
        if (i >= 0) h.host.routing.addRoute(parseRoute(`${n.podCIDR} via ${n.ip} dev ${ifaceName(spec, i)}`));
      }
    }
    this.lbs.push({ spec, nets, wan, lan: spec.interfaces.length > 1 ? ifaceName(spec, 1) : wan });
    this.dirty = true;
    return h;
  }

  /** Kubernetes objects (multi-document YAML). Pods with a node and an IP become pod hosts. */
  applyManifests(text: string, file?: string): void {
    const objs = parseManifests(text, file);
    this.manifests = mergeManifests([this.manifests, objs]);
    for (const p of objs.pods) {
      if (this.pods.has(p.meta.name) || p.nodeName === null || p.podIPs.length === 0) continue;
      this.addPodInternal({ name: p.meta.name, namespace: p.meta.namespace, node: p.nodeName, ip: p.podIPs[0]!, labels: p.meta.labels }, p);
    }
    this.dirty = true;
  }

  /** Istio Gateway / VirtualService / DestinationRule objects (see istio.ts for the subset). */
  applyIstio(text: string, file?: string): void {
    this.istio = mergeIstio(this.istio, parseIstio(text, file));
    this.dirty = true;
  }

  /** Replaces a host's ruleset with hand-written iptables-restore text (a node then no longer gets kube-proxy's). */
  setRules(hostName: string, rules: string | Ruleset): void {
    const h = this.host(hostName);
    const rs = typeof rules === 'string' ? restore(rules, { family: 4, file: `${hostName} rules` }) : rules;
    h.host.load(rs);
    const n = this.nodes.get(hostName);
    if (n && !n.handRules) this.nodes.set(hostName, { ...n, handRules: true });
  }

  /** Binds a process to a port of a host. */
  listen(hostName: string, proto: L4, port: number, process: Process): void {
    this.host(hostName).listen(proto, port, process);
  }

  /** An HTTP server on `port` of a host, answering with its name and the client address it saw. */
  serveHttp(hostName: string, port: number, opts: Partial<HttpServerOptions> = {}): HttpServer {
    const s = new HttpServer({ identity: hostName, ...opts });
    this.listen(hostName, 'tcp', port, s);
    return s;
  }

  /** CoreDNS on a host (udp/53), answering from the cluster's Services (and `addDnsRecord` names). */
  serveDns(hostName: string, zone?: DnsZone): DnsServer {
    const s = new DnsServer(() => zone ?? new KubeDnsZone(this.registry(), this.clusterDomain, this.dnsExtra));
    this.listen(hostName, 'udp', 53, s);
    return s;
  }

  /** A name outside the cluster domain the cluster DNS answers (standing for its upstream). */
  addDnsRecord(name: string, addresses: readonly string[]): void {
    this.dnsExtra.set(name.toLowerCase().replace(/\.$/, ''), [...addresses]);
  }

  /**
   * Injects the Istio sidecar into a pod: the capture rules istio-iptables writes (REDIRECT
   * mode, injector defaults unless overridden) and Envoy on 15001 / 15006 as uid 1337.
   */
  injectSidecar(podName: string, capture: IstioCaptureOptions = {}): EnvoyProxy {
    const h = this.host(podName);
    if (h.kind !== 'pod') throw new NfemuError('USAGE', `${podName} is not a pod`);
    h.host.load(istioCaptureRuleset(capture));
    const proxy = new EnvoyProxy({
      role: 'sidecar', namespace: h.namespace, labels: h.labels, mesh: () => this.mesh(),
      outboundPort: capture.proxyPort ?? 15001, inboundPort: capture.inboundCapturePort ?? 15006,
    });
    h.listen('tcp', capture.proxyPort ?? 15001, proxy);
    h.listen('tcp', capture.inboundCapturePort ?? 15006, proxy);
    h.sidecar = true;
    return proxy;
  }

  /** Runs an Istio ingress gateway (Envoy, uid 1337) in a pod; it listens where the Gateways selecting it say. */
  runGateway(podName: string): EnvoyProxy {
    const h = this.host(podName);
    const proxy = new EnvoyProxy({ role: 'gateway', namespace: h.namespace, labels: h.labels, mesh: () => this.mesh() });
    this.gateways.push({ host: h, proxy });
    this.dirty = true;
    return proxy;
  }

  // ---- derived state ----

  /** Kubernetes objects: the manifests plus the pods added from TypeScript. */
  kubeObjects(): KubeObjects {
    const extra = [...this.pods.values()].filter((p) => !p.fromManifest).map((p) => p.object);
    return extra.length ? { ...this.manifests, pods: [...this.manifests.pods, ...extra] } : this.manifests;
  }

  registry(): ServiceRegistry {
    this.sync();
    return this.registryCache!;
  }

  mesh(): MeshView {
    this.sync();
    return this.meshCache!;
  }

  /** The resolv.conf of a host: its own, or the kubelet's ClusterFirst one for a pod. */
  resolvConfOf(hostName: string): ResolvConf | null {
    const h = this.host(hostName);
    if (h.resolvConf) return h.resolvConf;
    if (h.kind !== 'pod') return null;
    const dns = this.registry().find(this.dnsServiceRef, 'kube-system');
    if (!dns || !dns.clusterIP || dns.clusterIP === 'None') return null;
    return kubeletResolvConf(h.namespace, dns.clusterIP, this.clusterDomain);
  }

  /**
   * Brings derived state up to date: the Service registry, kube-proxy's rules on every node
   * without hand-written ones, the load balancers' backends, the gateways' listeners.
   * Called before every walk; cheap when nothing changed. Reloading rules keeps conntrack.
   */
  sync(): void {
    if (!this.dirty) return;
    this.dirty = false;
    const objs = this.kubeObjects();
    const records: PodRecord[] = [...this.pods.values()];
    this.registryCache = new ServiceRegistry(objs, records, this.clusterDomain);
    this.meshCache = { registry: this.registryCache, istio: this.istio, clusterDomain: this.clusterDomain };
    for (const n of this.nodes.values()) {
      if (n.handRules) continue;
      // An iptables-mode node without Services keeps its empty ruleset (as before IPVS mode
      // existed); an IPVS-mode node always gets kube-proxy's sets, chains and kube-ipvs0.
      if (n.mode === 'ipvs') this.syncIpvsNode(n, objs);
      else if (objs.services.length > 0) {
        const sync = generateIptables(objs, { clusterCIDR: this.clusterCIDR, ...this.kubeProxyOptions, nodeName: n.name, nodeIPs: [n.ip] });
        const h = this.host(n.name);
        for (const [k, v] of Object.entries(sync.sysctls)) h.host.setSysctl(k, v);
        h.host.load(iptablesHostRuleset(sync, undefined, `kube-proxy on ${n.name}`));
        this.proxied.set(n.name, { mode: 'iptables', sync });
      }
    }
    for (const lb of this.lbs) {
      const frontends = (lb.spec.frontends ?? []).map((f) => this.frontend(lb.spec, f));
      const text = loadBalancerRestore(frontends, lb.spec.snat ? { snatIface: lb.lan } : {});
      this.host(lb.spec.name).host.load(restore(text, { family: 4, file: `load balancer ${lb.spec.name}` }));
    }
    for (const g of this.gateways) {
      for (const port of g.proxy.listenPorts(this.meshCache)) {
        if (!g.host.listeners.has(`tcp/${port}`)) g.host.listen('tcp', port, g.proxy);
      }
    }
  }

  /**
   * One IPVS-mode sync on a node, loaded as src/host/case.ts loads a case with
   * `kube_proxy.mode: "ipvs"`: sysctls, the VIPs on the dummy kube-ipvs0, the ipsets, the
   * prelude plus payload ruleset matched against them, and the virtual servers. The node's
   * IPVS object is kept across syncs (its connection table survives, as kube-proxy's
   * reconciliation keeps it) and its services are replaced.
   */
  private syncIpvsNode(n: NodeInfo, objs: KubeObjects): void {
    const h = this.host(n.name);
    // GetAllLocalAddressesExcept(kube-ipvs0): where NodePort virtual servers go.
    const interfaceAddresses: string[] = [];
    for (const i of h.host.routing.ifaces.values()) {
      if (i.name === KUBE_IPVS_DEVICE) continue;
      for (const a of i.addrs) if (a.family === 4) interfaceAddresses.push(formatWords(4, a.addr));
    }
    interfaceAddresses.push('127.0.0.1');
    const sync = generateIpvs(objs, { clusterCIDR: this.clusterCIDR, ...this.kubeProxyOptions, nodeName: n.name, nodeIPs: [n.ip], interfaceAddresses });
    for (const [k, v] of Object.entries(sync.sysctls)) h.host.setSysctl(k, v);
    // kube-proxy binds every VIP to kube-ipvs0 and unbinds the ones no Service has any more.
    // nfemu's Routing has no `ip addr del`: the list is rebuilt by re-adding the survivors,
    // which refreshes the local table whenever at least one VIP remains.
    const dummy = h.host.routing.addIface(KUBE_IPVS_DEVICE, 'dummy');
    dummy.addrs.length = 0;
    for (const v of sync.vips) h.host.routing.addAddr(KUBE_IPVS_DEVICE, `${v}/32`);
    const sets = new IpsetRegistry(this.clock);
    sets.restore(sync.ipsets, `kube-proxy ipsets on ${n.name}`);
    h.host.load(ipvsHostRuleset(sync, sets, `kube-proxy on ${n.name}`), { get: (name) => sets.get(name) });
    const prev = this.proxied.get(n.name);
    let ipvs: Ipvs;
    if (prev?.mode === 'ipvs' && h.host.ipvs === prev.ipvs) {
      ipvs = prev.ipvs;
      if (prev.sync.ipvs !== sync.ipvs) {
        ipvs.flush();
        restoreIpvs(ipvs, sync.ipvs, `kube-proxy ipvs on ${n.name}`);
      }
    } else {
      ipvs = new Ipvs({ clock: this.clock });
      restoreIpvs(ipvs, sync.ipvs, `kube-proxy ipvs on ${n.name}`);
      h.host.setIpvs(ipvs);
    }
    this.proxied.set(n.name, { mode: 'ipvs', sync, ipsets: sets, ipvs });
  }

  /** What kube-proxy last programmed on a node (null: nothing yet, or hand-written rules). */
  kubeProxy(nodeName: string): KubeProxyView | null {
    if (!this.nodes.has(nodeName)) throw new NfemuError('USAGE', `no node "${nodeName}"`, { token: nodeName });
    this.sync();
    const n = this.nodes.get(nodeName)!;
    return n.handRules ? null : this.proxied.get(nodeName) ?? null;
  }

  /** `ipvsadm -Ln` (with `opts`, e.g. `{ stats: true }`) on a node in IPVS mode. */
  ipvsadm(nodeName: string, opts: ListOptions = {}): string {
    const v = this.kubeProxy(nodeName);
    const ipvs = this.host(nodeName).host.ipvs;
    if (!ipvs || !v || v.mode !== 'ipvs') throw new NfemuError('USAGE', `node ${nodeName} does not run kube-proxy in IPVS mode`, { token: nodeName });
    return printList(ipvs, opts);
  }

  /** The backends of a frontend, as the cloud controller and its health checks would set them. */
  private frontend(lb: LoadBalancerSpec, f: FrontendSpec): LbFrontend {
    const protocol = f.protocol ?? 'TCP';
    let backends: LbBackend[] = [];
    if (f.backends) {
      backends = f.backends.map((b) => {
        const i = b.lastIndexOf(':');
        const port = Number(b.slice(i + 1));
        if (i < 0 || !Number.isInteger(port) || port < 1 || port > 65535) throw new NfemuError('USAGE', `load balancer ${lb.name}: bad backend "${b}" (want ip:port)`, { token: b });
        ipv4Words(b.slice(0, i), `load balancer ${lb.name} backend`);
        return { ip: b.slice(0, i), port };
      });
    } else if (f.service) {
      const svc = this.registryCache!.find(f.service);
      if (!svc) throw new NfemuError('USAGE', `load balancer ${lb.name}: no Service "${f.service}"`, { token: f.service });
      const sp = svc.ports.find((p) => p.port === (f.servicePort ?? f.port) && p.protocol === protocol) ?? (svc.ports.length === 1 ? svc.ports[0]! : null);
      if (!sp) throw new NfemuError('USAGE', `load balancer ${lb.name}: Service ${f.service} has no port ${f.servicePort ?? f.port}`);
      const ready = sp.endpoints.filter((e) => e.ready);
      if ((f.target ?? 'nodePort') === 'pod') backends = ready.map((e) => ({ ip: e.ip, port: e.port }));
      else {
        if (!sp.nodePort) throw new NfemuError('USAGE', `load balancer ${lb.name}: Service ${f.service} port ${sp.port} has no NodePort`);
        // externalTrafficPolicy Local: the health check (healthCheckNodePort) fails on nodes without a ready local endpoint.
        const local = svc.externalTrafficPolicy === 'Local';
        for (const n of this.nodes.values()) {
          if (local && !ready.some((e) => e.node === n.name)) continue;
          backends.push({ ip: n.ip, port: sp.nodePort });
        }
      }
    }
    return { vip: f.vip, port: f.port, protocol, backends };
  }

  // ---- walking ----

  /** A walk that can hold several exchanges and resolutions (one story, one diagram). */
  walker(opts: WalkOptions = {}): ClusterWalker {
    this.sync();
    return new ClusterWalker(this, opts);
  }

  /** Walks one connection from a process on `from` and its reply. */
  exchange(from: string, spec: ConnectSpec, opts: WalkOptions = {}): Walk {
    const w = this.walker(opts);
    w.exchange(from, spec);
    return w.walk;
  }

  /** Resolves a name from a host through the cluster's DNS, walking every query. */
  resolve(from: string, name: string, opts: WalkOptions = {}): { resolution: Resolution; walk: Walk } {
    const w = this.walker(opts);
    const resolution = w.resolve(from, name);
    return { resolution, walk: w.walk };
  }

  /** The next DNS message id. */
  nextDnsId(): number {
    return this.dnsId++;
  }
}

function ifaceName(spec: LoadBalancerSpec, i: number): string {
  return spec.interfaces[i]!.iface ?? (i === 0 ? 'wan0' : `lan${i - 1}`);
}
