/**
 * What one kube-proxy instance (one IP family, one node) sees: its service ports and, for
 * each, the endpoints, built the way pkg/proxy does it (servicechangetracker.go,
 * serviceport.go, endpointslicecache.go, topology.go). Endpoints come from EndpointSlices;
 * a Service with a selector and no EndpointSlice at all gets the endpoints the EndpointSlice
 * controller would derive from the Pods given (pkg/controller/endpointslice: podToEndpoint,
 * findPort).
 */
import { formatIp, parseCidr, parseIp, type Family } from '../core/index.ts';
import { namespacedName, type EndpointSlice, type KubeObjects, type Pod, type Protocol, type Service, type ServicePortSpec } from './objects.ts';

/** One endpoint of one service port (pkg/proxy BaseEndpointInfo). */
export interface EndpointInfo {
  /** Canonical address text. */
  readonly ip: string;
  readonly port: number;
  /** `ip:port`, IPv6 `[ip]:port`: the identity, sort key and DNAT target. */
  readonly str: string;
  readonly isLocal: boolean;
  readonly ready: boolean;
  readonly serving: boolean;
  readonly terminating: boolean;
  readonly nodeName: string | null;
}

/** One port of one Service, for one IP family (pkg/proxy BaseServicePortInfo). */
export interface ServicePortInfo {
  /** `namespace/name` of the Service (the unit of change for partial syncs). */
  readonly service: string;
  /** `<ns>/<svc>:<port name>`, or `<ns>/<svc>` for an unnamed port. */
  readonly name: string;
  readonly protocol: Protocol;
  /** Lower-case protocol, as in `-p` and in chain-name hashes. */
  readonly proto: string;
  readonly clusterIP: string;
  readonly port: number;
  /** 0: none. */
  readonly nodePort: number;
  readonly externalIPs: readonly string[];
  /** Load-balancer ingress IPs in VIP mode. */
  readonly loadBalancerVIPs: readonly string[];
  readonly loadBalancerSourceRanges: readonly string[];
  /** 0: none. */
  readonly healthCheckNodePort: number;
  readonly externalPolicyLocal: boolean;
  readonly internalPolicyLocal: boolean;
  /** ClientIP affinity timeout in seconds; 0 without session affinity. */
  readonly stickyMaxAgeSeconds: number;
  /** Usable endpoints of this port (all of them, sorted by `str`). */
  readonly endpoints: readonly EndpointInfo[];
}

/** NodePort/LoadBalancer reachability (ServicePort.ExternallyAccessible). */
export function externallyAccessible(s: ServicePortInfo): boolean {
  return s.nodePort !== 0 || s.loadBalancerVIPs.length !== 0 || s.externalIPs.length !== 0;
}

/** The port ever sends traffic by Cluster policy (iTP Cluster, or reachable from outside: short-circuits). */
export function usesClusterEndpoints(s: ServicePortInfo): boolean {
  return !s.internalPolicyLocal || externallyAccessible(s);
}

/** The port ever sends traffic by Local policy. */
export function usesLocalEndpoints(s: ServicePortInfo): boolean {
  return s.internalPolicyLocal || (s.externalPolicyLocal && externallyAccessible(s));
}

/** CategorizeEndpoints' answer (topology hints are not modelled). */
export interface CategorizedEndpoints {
  readonly cluster: readonly EndpointInfo[];
  readonly local: readonly EndpointInfo[];
  /** Union of the two: the endpoints that get a KUBE-SEP chain. */
  readonly allReachable: readonly EndpointInfo[];
  /** Any usable endpoint anywhere in the cluster. */
  readonly hasAny: boolean;
}

/**
 * pkg/proxy/topology.go CategorizeEndpoints without topology: cluster endpoints are the
 * Ready ones, else the Serving+Terminating ones; local endpoints are the local Ready ones,
 * else the local Serving+Terminating ones (each falls back independently).
 */
export function categorizeEndpoints(s: ServicePortInfo): CategorizedEndpoints {
  const eps = s.endpoints;
  if (eps.length === 0) return { cluster: [], local: [], allReachable: [], hasAny: false };
  let cluster: EndpointInfo[] = [];
  let local: EndpointInfo[] = [];
  let hasAny = false;
  let useServingTerminating = false;
  const usesCluster = usesClusterEndpoints(s);
  if (usesCluster) {
    cluster = eps.filter((e) => e.ready);
    if (cluster.length === 0) cluster = eps.filter((e) => e.serving && e.terminating);
    if (cluster.length > 0) hasAny = true;
  }
  if (!usesLocalEndpoints(s)) return { cluster, local: [], allReachable: cluster, hasAny };
  let localReady = false;
  let localServingTerminating = false;
  for (const e of eps) {
    if (e.ready) {
      hasAny = true;
      if (e.isLocal) localReady = true;
    } else if (e.serving && e.terminating) {
      hasAny = true;
      if (e.isLocal) localServingTerminating = true;
    }
  }
  if (localReady) local = eps.filter((e) => e.isLocal && e.ready);
  else if (localServingTerminating) {
    useServingTerminating = true;
    local = eps.filter((e) => e.isLocal && e.serving && e.terminating);
  }
  if (!usesCluster) return { cluster, local, allReachable: local, hasAny };
  if (!useServingTerminating) return { cluster, local, allReachable: cluster, hasAny };
  const byStr = new Map<string, EndpointInfo>();
  for (const e of cluster) byStr.set(e.str, e);
  for (const e of local) byStr.set(e.str, e);
  // kube-proxy builds this union from a Go map (random order); sorted here for stable output.
  const allReachable = [...byStr.values()].sort(byEndpointString);
  return { cluster, local, allReachable, hasAny };
}

function byEndpointString(a: EndpointInfo, b: EndpointInfo): number {
  return a.str < b.str ? -1 : a.str > b.str ? 1 : 0;
}

/** `ip:port` as net.JoinHostPort writes it. */
export function joinHostPort(ip: string, port: number): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}

function canonicalIp(text: string): string | null {
  const ip = parseIp(text);
  return ip ? formatIp(ip) : null;
}

function familyOfText(text: string): Family | 0 {
  const ip = parseIp(text.split('/')[0]!.trim());
  return ip ? ip.family : 0;
}

/** Options that change which service ports and endpoints this kube-proxy sees. */
export interface StateOptions {
  readonly family: Family;
  /** This node's name: endpoints with this `nodeName` are local. */
  readonly nodeName?: string | null;
  /** Honour `status.loadBalancer.ingress[].ipMode: Proxy` (LoadBalancerIPMode, current kube-proxy only). */
  readonly ipMode?: boolean;
}

/** The service ports of one IP family with their endpoints, and what was assumed on the way. */
export interface ProxyState {
  readonly family: Family;
  readonly servicePorts: readonly ServicePortInfo[];
  readonly warnings: readonly string[];
}

const NODE_PORT_MIN = 30000;
const NODE_PORT_MAX = 32767;

/**
 * Fills in what the API server would have allocated and the manifests left out: NodePorts
 * of NodePort/LoadBalancer Services and health-check NodePorts of eTP:Local LoadBalancers,
 * the lowest free port of the default range 30000-32767 in Service order (the API server
 * picks at random; a warning names each one). ClusterIPs are never invented.
 */
export function allocateMissingNodePorts(services: readonly Service[], warnings: string[]): Service[] {
  const used = new Set<number>();
  for (const s of services) {
    for (const p of s.ports) if (p.nodePort) used.add(p.nodePort);
    if (s.healthCheckNodePort) used.add(s.healthCheckNodePort);
  }
  let next = NODE_PORT_MIN;
  const alloc = (): number => {
    while (used.has(next) && next <= NODE_PORT_MAX) next++;
    if (next > NODE_PORT_MAX) return 0;
    used.add(next);
    return next;
  };
  return services.map((s) => {
    const wantsNodePorts = s.type === 'NodePort' || (s.type === 'LoadBalancer' && s.allocateLoadBalancerNodePorts);
    const needsHc = s.type === 'LoadBalancer' && s.externalTrafficPolicy === 'Local' && !s.healthCheckNodePort;
    if (!(wantsNodePorts && s.ports.some((p) => !p.nodePort)) && !needsHc) return s;
    const ports: ServicePortSpec[] = s.ports.map((p) => {
      if (!wantsNodePorts || p.nodePort) return p;
      const np = alloc();
      warnings.push(`Service ${namespacedName(s.meta)} port ${p.name || p.port}/${p.protocol} has no nodePort; assuming ${np} (the API server would allocate one)`);
      return { ...p, nodePort: np };
    });
    let hc = s.healthCheckNodePort;
    if (needsHc) {
      hc = alloc();
      warnings.push(`Service ${namespacedName(s.meta)} has no healthCheckNodePort; assuming ${hc} (the API server would allocate one)`);
    }
    return { ...s, ports, healthCheckNodePort: hc };
  });
}

/** GetClusterIPByFamily: the Service's ClusterIP of `family`, or "" (then the family skips it). */
function clusterIPOf(s: Service, family: Family): string {
  if (s.ipFamilies.length === 0) return familyOfText(s.clusterIP) === family ? s.clusterIP : '';
  const want = family === 6 ? 'IPv6' : 'IPv4';
  const i = s.ipFamilies.indexOf(want);
  return i >= 0 && i < s.clusterIPs.length ? s.clusterIPs[i]! : '';
}

interface RawEndpoint extends EndpointInfo {}

function sliceEndpoints(slices: readonly EndpointSlice[] | undefined, sp: ServicePortSpec, family: Family, nodeName: string | null): RawEndpoint[] | null {
  if (!slices || slices.length === 0) return null;
  const out: RawEndpoint[] = [];
  for (const sl of slices) {
    if (sl.addressType === 'FQDN') continue;
    for (const p of sl.ports) {
      if (p.name !== sp.name || p.protocol !== sp.protocol || p.port === null) continue;
      for (const e of sl.endpoints) {
        const parsed = parseIp(e.addresses[0]!);
        if (parsed === null || parsed.family !== family) continue;
        const ip = formatIp(parsed);
        const isLocal = !!nodeName && e.nodeName === nodeName;
        out.push({
          ip, port: p.port, str: joinHostPort(ip, p.port), isLocal,
          ready: e.ready ?? true, serving: e.serving ?? true, terminating: e.terminating ?? false, nodeName: e.nodeName,
        });
      }
    }
  }
  return out;
}

function matchesSelector(pod: Pod, selector: Readonly<Record<string, string>>): boolean {
  for (const [k, v] of Object.entries(selector)) if (pod.meta.labels[k] !== v) return false;
  return true;
}

/** The EndpointSlice controller's view of the Pods: podToEndpoint + findPort. */
function podEndpoints(pods: readonly Pod[] | undefined, s: Service, sp: ServicePortSpec, family: Family, nodeName: string | null, warnings: Set<string>): RawEndpoint[] {
  if (!s.selector || Object.keys(s.selector).length === 0 || !pods) return [];
  const out: RawEndpoint[] = [];
  for (const pod of pods) {
    if (!matchesSelector(pod, s.selector)) continue;
    if (pod.phase === 'Succeeded' || pod.phase === 'Failed') continue;
    const ipText = pod.podIPs.find((a) => familyOfText(a) === family);
    if (!ipText) continue;
    let port: number | null = null;
    if (sp.targetPort === null) port = sp.port;
    else if (typeof sp.targetPort === 'number') port = sp.targetPort;
    else {
      const cp = pod.containerPorts.find((c) => c.name === sp.targetPort && c.protocol === sp.protocol);
      port = cp ? cp.containerPort : null;
    }
    if (port === null) {
      warnings.add(`Pod ${namespacedName(pod.meta)} has no ${sp.protocol} container port named ${JSON.stringify(sp.targetPort)}; it is not an endpoint of Service ${namespacedName(s.meta)}`);
      continue;
    }
    if (pod.ready === null) warnings.add(`Pod ${namespacedName(pod.meta)} has no Ready condition; it counts as not ready`);
    const podReady = pod.ready === true;
    const terminating = pod.meta.deleting;
    let ready = s.publishNotReadyAddresses || podReady;
    if (terminating && !s.publishNotReadyAddresses) ready = false;
    const ip = canonicalIp(ipText)!;
    out.push({
      ip, port, str: joinHostPort(ip, port), isLocal: !!nodeName && pod.nodeName === nodeName,
      ready, serving: podReady, terminating, nodeName: pod.nodeName,
    });
  }
  return out;
}

/** Deduplicates by `ip:port` (a local copy wins, as in addEndpoints) and sorts by it. */
function dedupe(eps: RawEndpoint[]): EndpointInfo[] {
  const m = new Map<string, EndpointInfo>();
  for (const e of eps) if (!m.has(e.str) || e.isLocal) m.set(e.str, e);
  return [...m.values()].sort(byEndpointString);
}

/**
 * Builds what a kube-proxy of `family` on node `nodeName` works from: one ServicePortInfo per
 * Service port kube-proxy handles (headless and ExternalName Services, and Services without
 * a ClusterIP of this family, are skipped), in namespace/name then port order.
 */
export function buildProxyState(objs: KubeObjects, opts: StateOptions): ProxyState {
  const family = opts.family;
  const nodeName = opts.nodeName ?? null;
  const warningList: string[] = [];
  const services = allocateMissingNodePorts(
    [...objs.services].sort((a, b) => (namespacedName(a.meta) < namespacedName(b.meta) ? -1 : namespacedName(a.meta) > namespacedName(b.meta) ? 1 : 0)),
    warningList,
  );
  const warnings = new Set<string>(warningList);
  const slicesByService = new Map<string, EndpointSlice[]>();
  for (const e of objs.endpointSlices) {
    if (e.serviceName === null) continue;
    const k = `${e.meta.namespace}/${e.serviceName}`;
    const l = slicesByService.get(k);
    if (l) l.push(e);
    else slicesByService.set(k, [e]);
  }
  const podsByNamespace = new Map<string, Pod[]>();
  for (const p of objs.pods) {
    const l = podsByNamespace.get(p.meta.namespace);
    if (l) l.push(p);
    else podsByNamespace.set(p.meta.namespace, [p]);
  }
  const ports: ServicePortInfo[] = [];
  for (const s of services) {
    if (s.type === 'ExternalName' || s.clusterIP === '' || s.clusterIP === 'None') continue;
    const cip = clusterIPOf(s, family);
    if (cip === '' || cip === 'None') continue;
    const clusterIP = canonicalIp(cip)!;
    const svcKey = namespacedName(s.meta);
    const eTPLocalApplies = s.type === 'NodePort' || s.type === 'LoadBalancer' || s.externalIPs.length > 0;
    const externalIPs = s.externalIPs.filter((a) => familyOfText(a) === family).map((a) => canonicalIp(a)!);
    const sourceRanges = s.loadBalancerSourceRanges.filter((c) => familyOfText(c) === family).map((c) => normalizeCidr(c, family));
    const vips = s.loadBalancerIngress
      .filter((i) => i.ip !== null && (!opts.ipMode || i.ipMode !== 'Proxy') && familyOfText(i.ip) === family)
      .map((i) => canonicalIp(i.ip!)!);
    const needsHealthCheck = s.type === 'LoadBalancer' && s.externalTrafficPolicy === 'Local';
    for (const sp of s.ports) {
      const fromSlices = sliceEndpoints(slicesByService.get(svcKey), sp, family, nodeName);
      const raw = fromSlices ?? podEndpoints(podsByNamespace.get(s.meta.namespace), s, sp, family, nodeName, warnings);
      ports.push({
        service: svcKey,
        name: sp.name ? `${svcKey}:${sp.name}` : svcKey,
        protocol: sp.protocol,
        proto: sp.protocol.toLowerCase(),
        clusterIP,
        port: sp.port,
        nodePort: sp.nodePort,
        externalIPs,
        loadBalancerVIPs: vips,
        loadBalancerSourceRanges: sourceRanges,
        healthCheckNodePort: needsHealthCheck ? s.healthCheckNodePort : 0,
        externalPolicyLocal: eTPLocalApplies && s.externalTrafficPolicy === 'Local',
        internalPolicyLocal: s.internalTrafficPolicy === 'Local',
        stickyMaxAgeSeconds: s.sessionAffinity === 'ClientIP' ? s.sessionAffinityTimeout : 0,
        endpoints: dedupe(raw),
      });
    }
  }
  return { family, servicePorts: ports, warnings: [...warnings] };
}

/** net.IPNet.String(): the masked network and prefix length. */
function normalizeCidr(text: string, family: Family): string {
  const c = parseCidr(family, text.trim());
  if (!c) return text.trim();
  const w = c.addr;
  return `${formatIp({ family, w })}/${c.prefix}`;
}
