/**
 * cluster: hosts joined by links, walked hop by hop. Nodes, pods (each its own network
 * namespace with its own netfilter and conntrack), external clients and cloud load
 * balancers on L2 segments; a packet a process sends is followed through every host's
 * hooks (src/host) until a socket receives it, and the reply back. Processes answer
 * (servers, cluster DNS, an Envoy-like proxy configured from Istio YAML); nodes run the
 * rules kube-proxy generates (src/kube); pods can carry Istio's sidecar capture rules.
 * Above host and kube in the layering (DESIGN.md §2); below cli.
 */
export * from './types.ts';
export {
  ClusterHost, Segment, Topology, type Attachment, type HostKind, type Listener, type NextHop, type ResolvConf,
} from './topology.ts';
export { Walker, sourceAddressFor } from './walk.ts';
export { ClusterWalker } from './cluster-walker.ts';
export {
  Cluster,
  type ClusterOptions, type NodeSpec, type PodSpec, type ExternalSpec, type LoadBalancerSpec, type FrontendSpec, type KubeProxyMode, type KubeProxyView,
} from './cluster.ts';
export { HttpServer, EchoServer, type HttpServerOptions } from './process.ts';
export {
  KubeDnsZone, StaticDnsZone, DnsServer, resolveWith, searchOrder, kubeletResolvConf,
  type DnsZone, type DnsAnswer, type DnsOutcome, type DnsTry, type Resolution,
} from './dns.ts';
export { ServiceRegistry, labelsMatch, type ServiceView, type ServicePortView, type EndpointView, type PodRecord } from './services.ts';
export { EnvoyProxy, pickWeighted, qualifyHost, type EnvoyOptions, type MeshView } from './proxy.ts';
export {
  parseIstio, mergeIstio, hostMatches, stringMatches, EMPTY_ISTIO,
  type IstioConfig, type IstioGateway, type IstioVirtualService, type IstioDestinationRule, type GatewayServer,
  type HttpRoute, type TlsRoute, type TcpRoute, type HttpMatch, type TlsMatch, type RouteDestination, type StringMatch,
} from './istio.ts';
export {
  istioIptables, istioCaptureRuleset, ISTIO_SIDECAR_DEFAULTS, ISTIO_PROXY_UID, ISTIO_INBOUND_PASSTHROUGH_SRC,
  type IstioCaptureOptions,
} from './istio-capture.ts';
export { loadBalancerRestore, type LbFrontend, type LbBackend, type LbRulesOptions } from './loadbalancer.ts';
export {
  httpRequest, parseHttpRequest, httpResponse, parseHttpResponse, tlsClientHello, tlsServerHello, peekTls, openTls,
  dnsQuery, dnsResponse, parseDns, summarizePayload, stripPort,
  type HttpRequest, type HttpResponse, type TlsRecord, type DnsMessage, type DnsRcode,
} from './payload.ts';
export {
  walkToJson, walkToMermaid, walkToLines, hopLine, packetLine, natChange, traceLines, emitWalk, legsOf, WALK_JSON_VERSION,
  type StoryOptions,
} from './render.ts';
export { parseCluster, readClusterFile } from './load.ts';
