/**
 * The synthetic cluster the scaling harness sweeps: N ClusterIP Services × E endpoints, as
 * kube-proxy on one node (`node-0`) sees them, plus the addresses of that node and of a
 * client pod on it.
 *
 * Layout (IPv4):
 *  - Service i (0-based) is `bench/svc-<i, 5 digits>`, port `http` 80/TCP → targetPort 8080,
 *    ClusterIP 10.96.0.0 + 1 + i (service CIDR 10.96.0.0/12: room for 1M services);
 *  - endpoint j of service i is the pod 10.128.0.0 + 1 + i·E + j (cluster CIDR 10.128.0.0/10),
 *    on node `node-<1 + (i·E + j) mod 50>`: never on this node, as on a large cluster where
 *    the node under test hosts a negligible share of the endpoints;
 *  - this node: eth0 192.168.0.2/24 (default route via 192.168.0.1), cni0 10.191.255.1/24
 *    (its pod CIDR, inside the cluster CIDR); the client is the pod 10.191.255.10 on cni0.
 *
 * The proxier state is built directly (what kube-proxy's change trackers hold when a sync
 * starts) rather than through `buildProxyState` over manifests: that function looks each
 * Service's EndpointSlices up by a scan of all slices, which is quadratic at 50,000
 * services. `objectsFor` gives the same cluster as Kubernetes objects, and the harness's
 * test checks that `buildProxyState(objectsFor(n))` equals `proxyState(n)` for small n.
 */
import { buildProxyState, type EndpointSlice, type KubeObjects, type ProxyState, type Service, type ServicePortInfo, type EndpointInfo } from '../../src/kube/index.ts';

/** How big the swept cluster is. */
export interface ClusterShape {
  /** Number of Services (one TCP port each). */
  readonly services: number;
  /** Endpoints per Service (default 4). */
  readonly endpoints: number;
}

export const NODE_NAME = 'node-0';
export const NODE_IP = '192.168.0.2';
export const NODE_GATEWAY = '192.168.0.1';
export const POD_BRIDGE = 'cni0';
export const POD_BRIDGE_ADDR = '10.191.255.1/24';
export const CLIENT_POD_IP = '10.191.255.10';
export const CLUSTER_CIDR = '10.128.0.0/10';
export const SERVICE_PORT = 80;
export const TARGET_PORT = 8080;
/** Nodes the endpoints are spread over (none of them is this node). */
export const REMOTE_NODES = 50;

const SERVICE_BASE = (10 << 24) | (96 << 16);
const POD_BASE = (10 << 24) | (128 << 16);

function ipText(n: number): string {
  return `${(n >>> 24) & 255}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

/** ClusterIP of service i (0-based). */
export function serviceIp(i: number): string {
  return ipText((SERVICE_BASE + 1 + i) >>> 0);
}

/** Address of endpoint j of service i. */
export function endpointIp(i: number, j: number, endpoints: number): string {
  return ipText((POD_BASE + 1 + i * endpoints + j) >>> 0);
}

/** `bench/svc-00042`: zero-padded, so namespace/name order is index order. */
export function serviceName(i: number): string {
  return `svc-${String(i).padStart(5, '0')}`;
}

export const NAMESPACE = 'bench';

/** The positions the cost model and the benchmarks probe: first, middle and last service. */
export function probeIndexes(services: number): { first: number; middle: number; last: number } {
  return { first: 0, middle: Math.floor((services - 1) / 2), last: services - 1 };
}

function endpointInfo(i: number, j: number, endpoints: number, ipOverride?: string): EndpointInfo {
  const ip = ipOverride ?? endpointIp(i, j, endpoints);
  return {
    ip, port: TARGET_PORT, str: `${ip}:${TARGET_PORT}`, isLocal: false,
    ready: true, serving: true, terminating: false, nodeName: `node-${1 + ((i * endpoints + j) % REMOTE_NODES)}`,
  };
}

function byStr(a: EndpointInfo, b: EndpointInfo): number {
  return a.str < b.str ? -1 : a.str > b.str ? 1 : 0;
}

/** One Service port's proxier state, with its endpoints sorted by `ip:port` as kube-proxy sorts them. */
export function servicePort(i: number, endpoints: number, replace?: { index: number; ip: string }): ServicePortInfo {
  const eps: EndpointInfo[] = [];
  for (let j = 0; j < endpoints; j++) eps.push(endpointInfo(i, j, endpoints, replace && replace.index === j ? replace.ip : undefined));
  eps.sort(byStr);
  const svc = `${NAMESPACE}/${serviceName(i)}`;
  return {
    service: svc, name: `${svc}:http`, protocol: 'TCP', proto: 'tcp', clusterIP: serviceIp(i), port: SERVICE_PORT,
    nodePort: 0, externalIPs: [], loadBalancerVIPs: [], loadBalancerSourceRanges: [], healthCheckNodePort: 0,
    externalPolicyLocal: false, internalPolicyLocal: false, stickyMaxAgeSeconds: 0, endpoints: eps,
  };
}

/** What kube-proxy on `node-0` holds for the cluster when a sync starts. */
export function proxyState(shape: ClusterShape): ProxyState {
  const ports: ServicePortInfo[] = new Array(shape.services);
  for (let i = 0; i < shape.services; i++) ports[i] = servicePort(i, shape.endpoints);
  return { family: 4, servicePorts: ports, warnings: [] };
}

/**
 * The one-endpoint change the control-plane measurement applies: endpoint 0 of the middle
 * service is replaced by a new pod (a rollout step), the address just past the last
 * endpoint of the cluster. Returns the new state (all other ports are the same objects).
 */
export function withEndpointChange(state: ProxyState, shape: ClusterShape): { state: ProxyState; service: number; removed: string; added: string } {
  const i = probeIndexes(shape.services).middle;
  const added = ipText((POD_BASE + 1 + shape.services * shape.endpoints) >>> 0);
  const removed = endpointIp(i, 0, shape.endpoints);
  const ports = state.servicePorts.slice();
  ports[i] = servicePort(i, shape.endpoints, { index: 0, ip: added });
  return { state: { ...state, servicePorts: ports }, service: i, removed, added };
}

/** The same cluster as Kubernetes objects (Services + one EndpointSlice each), for cross-checks. */
export function objectsFor(shape: ClusterShape): KubeObjects {
  const services: Service[] = [];
  const slices: EndpointSlice[] = [];
  const origin = { file: undefined, line: undefined };
  for (let i = 0; i < shape.services; i++) {
    const name = serviceName(i);
    services.push({
      kind: 'Service', meta: { name, namespace: NAMESPACE, labels: {}, deleting: false }, origin,
      type: 'ClusterIP', clusterIP: serviceIp(i), clusterIPs: [serviceIp(i)],
      ports: [{ name: 'http', protocol: 'TCP', port: SERVICE_PORT, targetPort: TARGET_PORT, nodePort: 0 }],
      selector: { app: name }, externalIPs: [], loadBalancerSourceRanges: [], loadBalancerIngress: [],
      externalTrafficPolicy: 'Cluster', internalTrafficPolicy: 'Cluster', sessionAffinity: 'None', sessionAffinityTimeout: 10800,
      healthCheckNodePort: 0, allocateLoadBalancerNodePorts: true, publishNotReadyAddresses: false, ipFamilies: ['IPv4'],
    });
    const eps = [];
    for (let j = 0; j < shape.endpoints; j++) {
      eps.push({
        addresses: [endpointIp(i, j, shape.endpoints)], ready: true, serving: true, terminating: false,
        nodeName: `node-${1 + ((i * shape.endpoints + j) % REMOTE_NODES)}`, zone: null,
      });
    }
    slices.push({
      kind: 'EndpointSlice', meta: { name: `${name}-abcde`, namespace: NAMESPACE, labels: { 'kubernetes.io/service-name': name }, deleting: false },
      origin, serviceName: name, addressType: 'IPv4', ports: [{ name: 'http', port: TARGET_PORT, protocol: 'TCP' }], endpoints: eps,
    });
  }
  return { services, endpointSlices: slices, nodes: [], pods: [], ignored: [], warnings: [] };
}

/** `buildProxyState` over `objectsFor(shape)`: the reference the direct state is checked against (small shapes only). */
export function referenceState(shape: ClusterShape): ProxyState {
  return buildProxyState(objectsFor(shape), { family: 4, nodeName: NODE_NAME, ipMode: true });
}
