/**
 * nfemu's public API: what scenarios, tests and users build on.
 */
export { SimulatedClock, SeededRng, NfemuError, parseIp, formatIp, parseCidr, formatCidr, type Family } from './core/index.ts';
export { Packet, buildPacket, parsePacketString, formatPacket, type PacketSpec } from './packet/index.ts';
export { NF_ACCEPT, NF_DROP, NF_INET_PRE_ROUTING, NF_INET_LOCAL_OUT, HOOK_NAMES } from './netfilter/index.ts';
export { restore, printSave, printRule, applyCommand, applyCommands, emptyRuleset, type Ruleset } from './xtables/index.ts';
export { IpsetRegistry } from './ipset/index.ts';
export { connToJson } from './conntrack/index.ts';
export {
  Host, runCase, buildHost, runPacketBranches, TraceCollector, packetJson, parseRoute,
  type CaseFile, type CaseResultJson, type PacketResultJson, type PacketOutcome, type TraceEntry,
} from './host/index.ts';
export { formatCaseResult, formatPacketResult, formatTrace } from './cli/index.ts';
export type { Scenario, ScenarioIO } from './scenario.ts';
export {
  Cluster, ClusterWalker, ClusterHost, Walker, parseCluster, readClusterFile,
  HttpServer, EchoServer, DnsServer, KubeDnsZone, StaticDnsZone, EnvoyProxy, searchOrder, resolveWith, kubeletResolvConf,
  istioIptables, istioCaptureRuleset, parseIstio, loadBalancerRestore, ISTIO_PROXY_UID, ISTIO_SIDECAR_DEFAULTS,
  httpRequest, parseHttpRequest, httpResponse, parseHttpResponse, tlsClientHello, tlsServerHello, peekTls, openTls,
  dnsQuery, parseDns, summarizePayload,
  walkToJson, walkToMermaid, walkToLines, hopLine, traceLines, natChange, emitWalk, legsOf,
  type ClusterOptions, type NodeSpec, type PodSpec, type ExternalSpec, type LoadBalancerSpec, type FrontendSpec,
  type ConnectSpec, type Delivery, type Answer, type Process, type ProcessContext, type ExchangeResult, type Walk, type Leg, type Hop,
  type WalkOptions, type IstioCaptureOptions, type IstioConfig, type Resolution, type ResolvConf,
} from './cluster/index.ts';
