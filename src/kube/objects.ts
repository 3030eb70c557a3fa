/**
 * The Kubernetes objects kube-proxy reads, as plain readonly data after validation:
 * Service (core/v1), EndpointSlice (discovery.k8s.io/v1), Node and Pod (core/v1).
 * Only the fields that change what kube-proxy programs are kept; defaults are applied
 * the way the API server applies them (protocol TCP, type ClusterIP, namespace "default",
 * session affinity timeout 10800 s, …) so the generators never see "unset".
 */

export type Protocol = 'TCP' | 'UDP' | 'SCTP';
export type ServiceType = 'ClusterIP' | 'NodePort' | 'LoadBalancer' | 'ExternalName';
export type TrafficPolicy = 'Cluster' | 'Local';
export type IpFamilyName = 'IPv4' | 'IPv6';

/** Where an object came from, for messages. */
export interface Origin {
  readonly file: string | undefined;
  /** 1-based line of the object's first key. */
  readonly line: number | undefined;
}

export interface ObjectMeta {
  readonly name: string;
  readonly namespace: string;
  readonly labels: Readonly<Record<string, string>>;
  /** metadata.deletionTimestamp is set (Pods: terminating). */
  readonly deleting: boolean;
}

/** One entry of `spec.ports`. */
export interface ServicePortSpec {
  /** "" when the Service has a single unnamed port. */
  readonly name: string;
  readonly protocol: Protocol;
  readonly port: number;
  /** Number, container port name, or null (defaults to `port`, as the API server does). */
  readonly targetPort: number | string | null;
  /** 0 when not set. */
  readonly nodePort: number;
}

/** One `status.loadBalancer.ingress` entry. */
export interface LoadBalancerIngress {
  readonly ip: string | null;
  readonly hostname: string | null;
  /** null = unset (VIP behaviour). */
  readonly ipMode: 'VIP' | 'Proxy' | null;
}

export interface Service {
  readonly kind: 'Service';
  readonly meta: ObjectMeta;
  readonly origin: Origin;
  readonly type: ServiceType;
  /** `spec.clusterIP`: an address, "None" (headless) or "" (unset). */
  readonly clusterIP: string;
  /** `spec.clusterIPs` (defaults to [clusterIP] when that is an address). */
  readonly clusterIPs: readonly string[];
  readonly ports: readonly ServicePortSpec[];
  /** null: no selector (endpoints come only from EndpointSlices). */
  readonly selector: Readonly<Record<string, string>> | null;
  readonly externalIPs: readonly string[];
  readonly loadBalancerSourceRanges: readonly string[];
  readonly loadBalancerIngress: readonly LoadBalancerIngress[];
  readonly externalTrafficPolicy: TrafficPolicy;
  readonly internalTrafficPolicy: TrafficPolicy;
  readonly sessionAffinity: 'None' | 'ClientIP';
  /** `sessionAffinityConfig.clientIP.timeoutSeconds` (default 10800). */
  readonly sessionAffinityTimeout: number;
  /** 0 when not set. */
  readonly healthCheckNodePort: number;
  readonly allocateLoadBalancerNodePorts: boolean;
  readonly publishNotReadyAddresses: boolean;
  readonly ipFamilies: readonly IpFamilyName[];
}

export interface EndpointPort {
  readonly name: string;
  /** null: unset (kube-proxy ignores such a port). */
  readonly port: number | null;
  readonly protocol: Protocol;
}

export interface SliceEndpoint {
  readonly addresses: readonly string[];
  /** Conditions as written: null = unset (ready/serving then count as true). */
  readonly ready: boolean | null;
  readonly serving: boolean | null;
  readonly terminating: boolean | null;
  readonly nodeName: string | null;
  readonly zone: string | null;
}

export interface EndpointSlice {
  readonly kind: 'EndpointSlice';
  readonly meta: ObjectMeta;
  readonly origin: Origin;
  /** The `kubernetes.io/service-name` label; null when missing (kube-proxy ignores the slice). */
  readonly serviceName: string | null;
  readonly addressType: 'IPv4' | 'IPv6' | 'FQDN';
  readonly ports: readonly EndpointPort[];
  readonly endpoints: readonly SliceEndpoint[];
}

export interface NodeAddress {
  readonly type: string;
  readonly address: string;
}

export interface Node {
  readonly kind: 'Node';
  readonly meta: ObjectMeta;
  readonly origin: Origin;
  readonly addresses: readonly NodeAddress[];
  /** `spec.podCIDRs`, or [`spec.podCIDR`]. */
  readonly podCIDRs: readonly string[];
}

export interface ContainerPort {
  readonly name: string;
  readonly containerPort: number;
  readonly protocol: Protocol;
}

export interface Pod {
  readonly kind: 'Pod';
  readonly meta: ObjectMeta;
  readonly origin: Origin;
  readonly nodeName: string | null;
  /** `status.podIPs[].ip`, or [`status.podIP`]. */
  readonly podIPs: readonly string[];
  /** The Ready condition: true/false, or null when the pod has none. */
  readonly ready: boolean | null;
  readonly phase: string | null;
  readonly containerPorts: readonly ContainerPort[];
}

export type KubeObject = Service | EndpointSlice | Node | Pod;

/** An object of another kind found in the input (Deployment, ConfigMap, …): not used by kube-proxy. */
export interface IgnoredObject {
  readonly kind: string;
  readonly name: string;
  readonly origin: Origin;
}

/** Everything loaded from one or more manifest files. */
export interface KubeObjects {
  readonly services: readonly Service[];
  readonly endpointSlices: readonly EndpointSlice[];
  readonly nodes: readonly Node[];
  readonly pods: readonly Pod[];
  readonly ignored: readonly IgnoredObject[];
  /** Things a user may want to know (e.g. a slice kube-proxy will skip). */
  readonly warnings: readonly string[];
}

export const EMPTY_OBJECTS: KubeObjects = Object.freeze({
  services: [], endpointSlices: [], nodes: [], pods: [], ignored: [], warnings: [],
});

/** `namespace/name`. */
export function namespacedName(meta: ObjectMeta): string {
  return `${meta.namespace}/${meta.name}`;
}

/** The label EndpointSlices carry to name their Service. */
export const LABEL_SERVICE_NAME = 'kubernetes.io/service-name';

/** Where an object came from, as `FILE:LINE` (or what is known of it). */
export function originText(o: Origin): string {
  if (o.file === undefined) return o.line === undefined ? 'input' : `line ${o.line}`;
  return o.line === undefined ? o.file : `${o.file}:${o.line}`;
}
