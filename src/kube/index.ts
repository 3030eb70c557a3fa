/**
 * kube: Kubernetes manifests in, kube-proxy rules out. Loads Services, EndpointSlices,
 * Nodes and Pods from YAML, builds what one kube-proxy (one node, one IP family) sees, and
 * generates what its iptables mode programs: the restore payload (full or partial sync) and
 * the node's whole ruleset. In the packet path this is configuration only: it decides which
 * rules the host's tables hold, never touches a packet. Imports core and xtables' model and
 * restore parser (DESIGN.md §2), never an engine.
 */
export * from './objects.ts';
export { parseManifests, mergeManifests, readManifestFiles } from './load.ts';
export { hash16, servicePortChains, endpointChain, isServiceChainName, probability, formatFixed10, SERVICE_CHAIN_PREFIXES, type ServicePortChains } from './names.ts';
export {
  resolveOptions, findNode, nodeAddresses,
  type IptablesProxyOptions, type LocalDetector, type ResolvedOptions, type ResolvedDetector,
} from './options.ts';
export {
  buildProxyState, categorizeEndpoints, allocateMissingNodePorts, externallyAccessible, usesClusterEndpoints, usesLocalEndpoints, joinHostPort,
  type EndpointInfo, type ServicePortInfo, type CategorizedEndpoints, type ProxyState, type StateOptions,
} from './state.ts';
export {
  syncIptablesRules, generateIptables, hostPrelude, LARGE_CLUSTER_ENDPOINTS_THRESHOLD,
  KUBE_SERVICES, KUBE_EXTERNAL_SERVICES, KUBE_NODEPORTS, KUBE_POSTROUTING, KUBE_MARK_MASQ, KUBE_FORWARD,
  KUBE_PROXY_FIREWALL, KUBE_PROXY_CANARY, KUBE_FIREWALL,
  type IptablesSync, type SyncMode, type ServiceRecord, type SyncStats,
} from './iptables.ts';
export { iptablesHostRuleset, iptablesHostText, sortRestoreText } from './ruleset.ts';
export {
  syncIpvsRules, generateIpvs, ipvsPrelude, ipvsHostRuleset, KUBE_IPVS_DEVICE, IPVS_DEFAULT_SCHEDULER,
  KUBE_NODE_PORT, KUBE_LOAD_BALANCER, KUBE_SOURCE_RANGES_FIREWALL, KUBE_IPVS_FILTER, KUBE_IPVS_OUT_FILTER,
  type IpvsProxyOptions, type IpvsSync,
} from './ipvs.ts';
