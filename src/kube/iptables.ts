/**
 * kube-proxy's iptables mode as a pure function: the `iptables-restore --noflush` input that
 * syncProxyRules writes (filter table, then nat), for a full sync or a partial one
 * (MinimizeIPTablesRestore: only the per-service chains of Services whose Service or
 * endpoints changed, plus the top-level chains), with stale per-service chains flushed and
 * deleted. Follows pkg/proxy/iptables/proxier.go rule by rule; `style: '2023'` gives the
 * v1.27-cycle output (no KUBE-FIREWALL, no nfacct, no comment-only KUBE-FW trailer).
 *
 * Service order: kube-proxy walks a Go map (random order); here Services go in
 * namespace/name order, so the payload is deterministic. Nothing else depends on it.
 */
import type { Family } from '../core/index.ts';
import { endpointChain, isServiceChainName, probability, servicePortChains, type ServicePortChains } from './names.ts';
import { resolveOptions, type IptablesProxyOptions, type ResolvedOptions } from './options.ts';
import { buildProxyState, categorizeEndpoints, externallyAccessible, usesClusterEndpoints, usesLocalEndpoints, type EndpointInfo, type ProxyState, type ServicePortInfo } from './state.ts';
import type { KubeObjects } from './objects.ts';

export const KUBE_SERVICES = 'KUBE-SERVICES';
export const KUBE_EXTERNAL_SERVICES = 'KUBE-EXTERNAL-SERVICES';
export const KUBE_NODEPORTS = 'KUBE-NODEPORTS';
export const KUBE_POSTROUTING = 'KUBE-POSTROUTING';
export const KUBE_MARK_MASQ = 'KUBE-MARK-MASQ';
export const KUBE_FORWARD = 'KUBE-FORWARD';
export const KUBE_PROXY_FIREWALL = 'KUBE-PROXY-FIREWALL';
export const KUBE_PROXY_CANARY = 'KUBE-PROXY-CANARY';
export const KUBE_FIREWALL = 'KUBE-FIREWALL';

/** More endpoints than this in total: "large cluster mode" (SEP and SVC→SEP comments dropped). */
export const LARGE_CLUSTER_ENDPOINTS_THRESHOLD = 1000;

/** How a sync is run. */
export interface SyncMode {
  /** The previous sync's result; without it the sync is full. */
  readonly previous?: IptablesSync;
  /** Force a full sync even with `previous` (kube-proxy: first sync, canary gone, failed partial restore, hourly). */
  readonly full?: boolean;
  /**
   * Per-service nat chains present in the table before this sync (default: those the
   * previous sync left). Those not written now are flushed and deleted (`-X`).
   */
  readonly existingNatChains?: Iterable<string>;
  /** Delete stale chains (default true; kube-proxy skips it in large clusters between sync periods). */
  readonly cleanupStale?: boolean;
}

/** What one sync produced. */
export interface IptablesSync {
  readonly family: Family;
  readonly full: boolean;
  /** The iptables-restore input, applied with `--noflush --counters`. */
  readonly payload: string;
  /** The jumps from built-in chains (and canaries) kube-proxy ensures on a full sync, as restore input without --noflush. */
  readonly prelude: string;
  /** Per-service nat chains that exist once the payload is applied. */
  readonly natChains: ReadonlySet<string>;
  /** Per Service (`namespace/name`): a fingerprint of its ports and endpoints, and its nat chains. */
  readonly services: ReadonlyMap<string, ServiceRecord>;
  /** Services whose chains this payload rewrote (all of them on a full sync). */
  readonly rewritten: readonly string[];
  /** Stale chains this payload deletes. */
  readonly deleted: readonly string[];
  /** Sysctls kube-proxy sets at start-up for these options. */
  readonly sysctls: Readonly<Record<string, number>>;
  readonly largeClusterMode: boolean;
  readonly options: ResolvedOptions;
  readonly stats: SyncStats;
  readonly warnings: readonly string[];
}

export interface ServiceRecord {
  readonly fingerprint: string;
  /** Its per-service nat chains (SVC, SVL, EXT, FW, SEP). */
  readonly chains: readonly string[];
  /** Chain names per port, in port order (reused while the Service is unchanged). */
  readonly portChains: readonly ServicePortChains[];
}

export interface SyncStats {
  readonly servicePorts: number;
  readonly endpoints: number;
  readonly filterRules: number;
  readonly natRules: number;
  readonly natChains: number;
}

const CHAIN_LINE = ' - [0:0]';

function q(text: string): string {
  return `"${text}"`;
}

/** Accumulates restore lines. */
class Lines {
  readonly lines: string[] = [];
  push(line: string): void {
    this.lines.push(line);
  }
}

interface Buffers {
  natChains: Lines;
  natRules: Lines;
}

/** Everything about a Service's ports that reaches the rules, as one string (equal iff unchanged). */
function fingerprint(ports: readonly ServicePortInfo[]): string {
  let f = '';
  for (const s of ports) {
    f += `${s.name}|${s.proto}|${s.clusterIP}|${s.port}|${s.nodePort}|${s.externalIPs.join(',')}|${s.loadBalancerVIPs.join(',')}|`;
    f += `${s.loadBalancerSourceRanges.join(',')}|${s.healthCheckNodePort}|${+s.externalPolicyLocal}${+s.internalPolicyLocal}|${s.stickyMaxAgeSeconds}|`;
    for (const e of s.endpoints) f += `${e.str}/${+e.isLocal}${+e.ready}${+e.serving}${+e.terminating};`;
    f += '\n';
  }
  return f;
}

/**
 * Per-service chain names (cached on the previous sync's record when unchanged) and the
 * rules, written into `b` (or thrown away when `skip`).
 */
function writeServicePort(
  s: ServicePortInfo, chains: ServicePortChains, o: ResolvedOptions, largeCluster: boolean,
  filterRules: string[], natTop: Lines, nat: Buffers | null, active: string[],
): void {
  const proto = s.proto;
  const name = s.name;
  const { cluster, local, allReachable, hasAny } = categorizeEndpoints(s);
  const usesClusterPolicyChain = cluster.length > 0 && usesClusterEndpoints(s);
  const usesLocalPolicyChain = local.length > 0 && usesLocalEndpoints(s);

  const internalTrafficChain = s.internalPolicyLocal ? chains.svl : chains.svc;
  const hasInternalEndpoints = hasAny && (!s.internalPolicyLocal || local.length > 0);
  const externalPolicyChain = s.externalPolicyLocal ? chains.svl : chains.svc;
  const hasExternalEndpoints = hasAny && (!s.externalPolicyLocal || local.length > 0);
  const externalTrafficChain = chains.ext;
  const usesExternalTrafficChain = hasAny && externallyAccessible(s);
  const usesFWChain = hasAny && s.loadBalancerVIPs.length > 0 && s.loadBalancerSourceRanges.length > 0;
  const loadBalancerTrafficChain = usesFWChain ? chains.fw : externalTrafficChain;

  let internalFilterTarget = '';
  let internalFilterComment = '';
  let externalFilterTarget = '';
  let externalFilterComment = '';
  if (!hasAny) {
    internalFilterTarget = externalFilterTarget = 'REJECT';
    internalFilterComment = externalFilterComment = q(`${name} has no endpoints`);
  } else {
    if (!hasInternalEndpoints) {
      internalFilterTarget = 'DROP';
      internalFilterComment = q(`${name} has no local endpoints`);
    }
    if (!hasExternalEndpoints) {
      externalFilterTarget = 'DROP';
      externalFilterComment = q(`${name} has no local endpoints`);
    }
  }
  const pm = `-m ${proto} -p ${proto}`;
  const dport = `--dport ${s.port}`;

  // Capture the clusterIP.
  if (hasInternalEndpoints) {
    natTop.push(`-A ${KUBE_SERVICES} -m comment --comment ${q(`${name} cluster IP`)} ${pm} -d ${s.clusterIP} ${dport} -j ${internalTrafficChain}`);
  } else {
    filterRules.push(`-A ${KUBE_SERVICES} -m comment --comment ${internalFilterComment} ${pm} -d ${s.clusterIP} ${dport} -j ${internalFilterTarget}`);
  }
  // Capture externalIPs.
  for (const ip of s.externalIPs) {
    if (hasAny) natTop.push(`-A ${KUBE_SERVICES} -m comment --comment ${q(`${name} external IP`)} ${pm} -d ${ip} ${dport} -j ${externalTrafficChain}`);
    if (!hasExternalEndpoints) filterRules.push(`-A ${KUBE_EXTERNAL_SERVICES} -m comment --comment ${externalFilterComment} ${pm} -d ${ip} ${dport} -j ${externalFilterTarget}`);
  }
  // Capture load-balancer ingress.
  for (const ip of s.loadBalancerVIPs) {
    if (hasAny) natTop.push(`-A ${KUBE_SERVICES} -m comment --comment ${q(`${name} loadbalancer IP`)} ${pm} -d ${ip} ${dport} -j ${loadBalancerTrafficChain}`);
    if (usesFWChain) filterRules.push(`-A ${KUBE_PROXY_FIREWALL} -m comment --comment ${q(`${name} traffic not accepted by ${chains.fw}`)} ${pm} -d ${ip} ${dport} -j DROP`);
  }
  if (!hasExternalEndpoints) {
    for (const ip of s.loadBalancerVIPs) {
      filterRules.push(`-A ${KUBE_EXTERNAL_SERVICES} -m comment --comment ${externalFilterComment} ${pm} -d ${ip} ${dport} -j ${externalFilterTarget}`);
    }
  }
  // Capture nodeports (not subject to loadBalancerSourceRanges).
  if (s.nodePort !== 0) {
    if (hasAny) {
      if (o.localhostNodePorts && o.family === 4 && o.nfacct) {
        natTop.push(`-A ${KUBE_NODEPORTS} -m comment --comment ${name} ${pm} -d 127.0.0.0/8 --dport ${s.nodePort} -m nfacct --nfacct-name localhost_nps_accepted_pkts -j ${externalTrafficChain}`);
      }
      natTop.push(`-A ${KUBE_NODEPORTS} -m comment --comment ${name} ${pm} --dport ${s.nodePort} -j ${externalTrafficChain}`);
    }
    if (!hasExternalEndpoints) {
      filterRules.push(`-A ${KUBE_EXTERNAL_SERVICES} -m comment --comment ${externalFilterComment} -m addrtype --dst-type LOCAL ${pm} --dport ${s.nodePort} -j ${externalFilterTarget}`);
    }
  }
  // Capture healthCheckNodePorts (endpoints or not).
  if (s.healthCheckNodePort !== 0) {
    filterRules.push(`-A ${KUBE_NODEPORTS} -m comment --comment ${q(`${name} health check node port`)} -m tcp -p tcp --dport ${s.healthCheckNodePort} -j ACCEPT`);
  }

  // Unchanged since the last sync (partial sync): its own chains are left as they are.
  if (nat === null) return;
  const natChains = nat.natChains;
  const natRules = nat.natRules;
  // Internal traffic handling.
  if (hasInternalEndpoints) {
    const args = `-m comment --comment ${q(`${name} cluster IP`)} ${pm} -d ${s.clusterIP} ${dport}`;
    if (o.masqueradeAll) natRules.push(`-A ${internalTrafficChain} ${args} -j ${KUBE_MARK_MASQ}`);
    else if (o.detector) natRules.push(`-A ${internalTrafficChain} ${args} ${o.detector.ifNotLocal} -j ${KUBE_MARK_MASQ}`);
  }
  // External traffic handling.
  if (usesExternalTrafficChain) {
    natChains.push(`:${externalTrafficChain}${CHAIN_LINE}`);
    active.push(externalTrafficChain);
    if (!s.externalPolicyLocal) {
      natRules.push(`-A ${externalTrafficChain} -m comment --comment ${q(`masquerade traffic for ${name} external destinations`)} -j ${KUBE_MARK_MASQ}`);
    } else {
      if (o.detector) {
        natRules.push(`-A ${externalTrafficChain} -m comment --comment ${q(`pod traffic for ${name} external destinations`)} ${o.detector.ifLocal} -j ${chains.svc}`);
      }
      natRules.push(`-A ${externalTrafficChain} -m comment --comment ${q(`masquerade LOCAL traffic for ${name} external destinations`)} -m addrtype --src-type LOCAL -j ${KUBE_MARK_MASQ}`);
      natRules.push(`-A ${externalTrafficChain} -m comment --comment ${q(`route LOCAL traffic for ${name} external destinations`)} -m addrtype --src-type LOCAL -j ${chains.svc}`);
    }
    if (hasExternalEndpoints) natRules.push(`-A ${externalTrafficChain} -j ${externalPolicyChain}`);
  }
  // Firewall chain (loadBalancerSourceRanges).
  if (usesFWChain) {
    natChains.push(`:${chains.fw}${CHAIN_LINE}`);
    active.push(chains.fw);
    const args = `-A ${chains.fw} -m comment --comment ${q(`${name} loadbalancer IP`)}`;
    let allowFromNode = false;
    for (const cidr of s.loadBalancerSourceRanges) {
      natRules.push(`${args} -s ${cidr} -j ${externalTrafficChain}`);
      if (o.nodeIP !== null && cidrHas(cidr, o.nodeIP)) allowFromNode = true;
    }
    // A node reaching its own VIP appears with the VIP as source.
    if (allowFromNode) for (const ip of s.loadBalancerVIPs) natRules.push(`${args} -s ${ip} -j ${externalTrafficChain}`);
    if (o.style === 'current') natRules.push(`-A ${chains.fw} -m comment --comment ${q(`other traffic to ${name} will be dropped by ${KUBE_PROXY_FIREWALL}`)}`);
  }
  // One SHA-256 per endpoint: the SEP name is needed by SVC, SVL and the SEP chain itself.
  const sepNames = new Map<EndpointInfo, string>();
  const sepOf = (ep: EndpointInfo): string => {
    let n = sepNames.get(ep);
    if (n === undefined) sepNames.set(ep, (n = endpointChain(name, proto, ep.str)));
    return n;
  };
  if (usesClusterPolicyChain) {
    natChains.push(`:${chains.svc}${CHAIN_LINE}`);
    active.push(chains.svc);
    writeServiceToEndpointRules(natRules, s, chains.svc, cluster, largeCluster, sepOf);
  }
  if (usesLocalPolicyChain) {
    natChains.push(`:${chains.svl}${CHAIN_LINE}`);
    active.push(chains.svl);
    writeServiceToEndpointRules(natRules, s, chains.svl, local, largeCluster, sepOf);
  }
  // Per-endpoint chains.
  for (const ep of allReachable) {
    const chain = sepOf(ep);
    natChains.push(`:${chain}${CHAIN_LINE}`);
    active.push(chain);
    const head = largeCluster ? `-A ${chain}` : `-A ${chain} -m comment --comment ${name}`;
    natRules.push(`${head} -s ${ep.ip} -j ${KUBE_MARK_MASQ}`);
    const recent = s.stickyMaxAgeSeconds ? ` -m recent --name ${chain} --set` : '';
    natRules.push(`${head}${recent} ${pm} -j DNAT --to-destination ${ep.str}`);
  }
}

function writeServiceToEndpointRules(
  natRules: Lines, s: ServicePortInfo, chain: string, eps: readonly EndpointInfo[], largeCluster: boolean, sepOf: (ep: EndpointInfo) => string,
): void {
  const comment = (ep: EndpointInfo) => (largeCluster ? '' : ` -m comment --comment ${q(`${s.name} -> ${ep.str}`)}`);
  if (s.stickyMaxAgeSeconds) {
    for (const ep of eps) {
      const sep = sepOf(ep);
      natRules.push(`-A ${chain}${comment(ep)} -m recent --name ${sep} --rcheck --seconds ${s.stickyMaxAgeSeconds} --reap -j ${sep}`);
    }
  }
  const n = eps.length;
  eps.forEach((ep, i) => {
    const sep = sepOf(ep);
    const stat = i < n - 1 ? ` -m statistic --mode random --probability ${probability(n - i)}` : '';
    natRules.push(`-A ${chain}${comment(ep)}${stat} -j ${sep}`);
  });
}

/** Whether `ip` is inside `cidr` (both text). */
function cidrHas(cidr: string, ip: string): boolean {
  const [net, lenText] = cidr.split('/');
  const a = toBits(net!);
  const b = toBits(ip);
  if (a === null || b === null || a.length !== b.length) return false;
  const len = Number(lenText);
  return a.slice(0, len) === b.slice(0, len);
}

function toBits(text: string): string | null {
  if (text.includes(':')) {
    // Expand :: then eight groups of 16 bits.
    const [h, t] = text.split('::');
    const head = h ? h.split(':') : [];
    const tail = t !== undefined ? (t ? t.split(':') : []) : [];
    const groups = t !== undefined ? [...head, ...new Array(8 - head.length - tail.length).fill('0'), ...tail] : head;
    if (groups.length !== 8) return null;
    return groups.map((g) => parseInt(g, 16).toString(2).padStart(16, '0')).join('');
  }
  const parts = text.split('.').map(Number);
  if (parts.length !== 4) return null;
  return parts.map((p) => p.toString(2).padStart(8, '0')).join('');
}

/** The filter and nat chains kube-proxy always declares (its "top-level" chains). */
function topLevelChains(o: ResolvedOptions): { filter: string[]; nat: string[] } {
  const filter = [KUBE_SERVICES, KUBE_EXTERNAL_SERVICES, KUBE_FORWARD, KUBE_NODEPORTS, KUBE_PROXY_FIREWALL];
  if (writesKubeFirewall(o)) filter.push(KUBE_FIREWALL);
  return { filter, nat: [KUBE_SERVICES, KUBE_NODEPORTS, KUBE_POSTROUTING, KUBE_MARK_MASQ] };
}

function writesKubeFirewall(o: ResolvedOptions): boolean {
  return o.style === 'current' && o.family === 4 && o.localhostNodePorts;
}

/** The node's addresses that `--nodeport-addresses` selects (GetNodeIPs), deduplicated. */
function nodePortIPs(o: ResolvedOptions): string[] {
  const out: string[] = [];
  for (const cidr of o.nodePortAddresses ?? []) {
    for (const a of o.interfaceAddresses) if (!out.includes(a) && a.includes(':') === cidr.includes(':') && cidrHas(cidr, a)) out.push(a);
  }
  return out;
}

function isLoopback(ip: string): boolean {
  return ip.includes(':') ? ip === '::1' : ip.startsWith('127.');
}

/**
 * One sync of kube-proxy's iptables proxier over `state`: full unless `mode.previous` is
 * given (and `mode.full` is not set). Pure: returns the payload and the bookkeeping the next
 * partial sync needs.
 */
export function syncIptablesRules(state: ProxyState, o: ResolvedOptions, mode: SyncMode = {}): IptablesSync {
  const prev = mode.previous;
  const full = !prev || !!mode.full;
  const top = topLevelChains(o);
  const filterChains = top.filter.map((c) => `:${c}${CHAIN_LINE}`);
  const filterRules: string[] = [];
  const natChains = new Lines();
  const natRules = new Lines();
  const natTop = natRules; // top-level nat rules always go to the real buffer
  for (const c of top.nat) natChains.push(`:${c}${CHAIN_LINE}`);

  natRules.push(`-A ${KUBE_POSTROUTING} -m mark ! --mark ${o.mark}/${o.mark} -j RETURN`);
  natRules.push(`-A ${KUBE_POSTROUTING} -j MARK --xor-mark ${o.mark}`);
  natRules.push(`-A ${KUBE_POSTROUTING} -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE${o.randomFully ? ' --random-fully' : ''}`);
  natRules.push(`-A ${KUBE_MARK_MASQ} -j MARK --or-mark ${o.mark}`);
  if (writesKubeFirewall(o)) {
    filterRules.push(`-A ${KUBE_FIREWALL} -m comment --comment "block incoming localnet connections" -d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP`);
  }

  let totalEndpoints = 0;
  for (const s of state.servicePorts) totalEndpoints += s.endpoints.length;
  const largeCluster = totalEndpoints > LARGE_CLUSTER_ENDPOINTS_THRESHOLD;

  // Group ports by Service: the unit kube-proxy tracks changes by.
  const byService = new Map<string, ServicePortInfo[]>();
  for (const s of state.servicePorts) {
    let l = byService.get(s.service);
    if (!l) byService.set(s.service, (l = []));
    l.push(s);
  }
  const records = new Map<string, ServiceRecord>();
  const activeAll = new Set<string>();
  const rewritten: string[] = [];
  for (const [svc, ports] of byService) {
    const fp = fingerprint(ports);
    const before = prev?.services.get(svc);
    const unchanged = !full && before !== undefined && before.fingerprint === fp;
    const portChains = unchanged ? before!.portChains : ports.map((s) => servicePortChains(s.name, s.proto));
    const active: string[] = unchanged ? [...before!.chains] : [];
    ports.forEach((s, i) => writeServicePort(s, portChains[i]!, o, largeCluster, filterRules, natTop, unchanged ? null : { natChains, natRules }, active));
    if (!unchanged) rewritten.push(svc);
    for (const c of active) activeAll.add(c);
    records.set(svc, { fingerprint: fp, chains: active, portChains });
  }
  // Services that disappeared count as changed (their chains go stale below).
  if (prev) for (const svc of prev.services.keys()) if (!records.has(svc) && !full) rewritten.push(svc);

  const deleted: string[] = [];
  if (mode.cleanupStale ?? true) {
    const existing = mode.existingNatChains ?? prev?.natChains ?? [];
    for (const c of existing) if (!activeAll.has(c) && isServiceChainName(c)) deleted.push(c);
    deleted.sort();
    for (const c of deleted) {
      natChains.push(`:${c}${CHAIN_LINE}`);
      natRules.push(`-X ${c}`);
    }
  }

  // Finally, the tail-call to KUBE-NODEPORTS (must stay the last rule of KUBE-SERVICES).
  const npComment = '-m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain"';
  if (o.nodePortAddresses === null) {
    let dest = '-m addrtype --dst-type LOCAL';
    if (o.family === 6) dest += ' ! -d ::1/128';
    else if (!o.localhostNodePorts) dest += ' ! -d 127.0.0.0/8';
    natRules.push(`-A ${KUBE_SERVICES} ${npComment} ${dest} -j ${KUBE_NODEPORTS}`);
  } else {
    for (const ip of nodePortIPs(o)) {
      if (isLoopback(ip) && (o.family === 6 || !o.localhostNodePorts)) continue;
      natRules.push(`-A ${KUBE_SERVICES} ${npComment} -d ${ip} -j ${KUBE_NODEPORTS}`);
    }
  }
  if (!o.conntrackTCPLiberal) {
    filterRules.push(`-A ${KUBE_FORWARD} -m conntrack --ctstate INVALID${o.nfacct ? ' -m nfacct --nfacct-name ct_state_invalid_dropped_pkts' : ''} -j DROP`);
  }
  filterRules.push(`-A ${KUBE_FORWARD} -m comment --comment "kubernetes forwarding rules" -m mark --mark ${o.mark}/${o.mark} -j ACCEPT`);
  filterRules.push(`-A ${KUBE_FORWARD} -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`);

  const payload = [
    '*filter', ...filterChains, ...filterRules, 'COMMIT',
    '*nat', ...natChains.lines, ...natRules.lines, 'COMMIT', '',
  ].join('\n');
  const sysctls: Record<string, number> = {};
  if (o.family === 4 && o.localhostNodePorts) sysctls['net.ipv4.conf.all.route_localnet'] = 1;
  return {
    family: o.family,
    full,
    payload,
    prelude: hostPrelude(o),
    natChains: activeAll,
    services: records,
    rewritten,
    deleted,
    sysctls,
    largeClusterMode: largeCluster,
    options: o,
    stats: {
      servicePorts: state.servicePorts.length,
      endpoints: totalEndpoints,
      filterRules: filterRules.length,
      natRules: natRules.lines.filter((l) => l.startsWith('-A ')).length,
      natChains: natChains.lines.length,
    },
    warnings: state.warnings,
  };
}

interface JumpChain {
  readonly table: 'filter' | 'nat';
  readonly dst: string;
  readonly src: 'INPUT' | 'FORWARD' | 'OUTPUT' | 'PREROUTING' | 'POSTROUTING';
  readonly comment: string;
  readonly extra: string;
}

const NEW = '-m conntrack --ctstate NEW';

/** iptablesJumpChains, in the order kube-proxy ensures them. */
const JUMP_CHAINS: readonly JumpChain[] = [
  { table: 'filter', dst: KUBE_EXTERNAL_SERVICES, src: 'INPUT', comment: 'kubernetes externally-visible service portals', extra: NEW },
  { table: 'filter', dst: KUBE_EXTERNAL_SERVICES, src: 'FORWARD', comment: 'kubernetes externally-visible service portals', extra: NEW },
  { table: 'filter', dst: KUBE_NODEPORTS, src: 'INPUT', comment: 'kubernetes health check service ports', extra: '' },
  { table: 'filter', dst: KUBE_SERVICES, src: 'FORWARD', comment: 'kubernetes service portals', extra: NEW },
  { table: 'filter', dst: KUBE_SERVICES, src: 'OUTPUT', comment: 'kubernetes service portals', extra: NEW },
  { table: 'filter', dst: KUBE_FORWARD, src: 'FORWARD', comment: 'kubernetes forwarding rules', extra: '' },
  { table: 'filter', dst: KUBE_PROXY_FIREWALL, src: 'INPUT', comment: 'kubernetes load balancer firewall', extra: NEW },
  { table: 'filter', dst: KUBE_PROXY_FIREWALL, src: 'OUTPUT', comment: 'kubernetes load balancer firewall', extra: NEW },
  { table: 'filter', dst: KUBE_PROXY_FIREWALL, src: 'FORWARD', comment: 'kubernetes load balancer firewall', extra: NEW },
  { table: 'nat', dst: KUBE_SERVICES, src: 'OUTPUT', comment: 'kubernetes service portals', extra: '' },
  { table: 'nat', dst: KUBE_SERVICES, src: 'PREROUTING', comment: 'kubernetes service portals', extra: '' },
  { table: 'nat', dst: KUBE_POSTROUTING, src: 'POSTROUTING', comment: 'kubernetes postrouting rules', extra: '' },
];

/** iptablesKubeletJumpChains (current kube-proxy only): duplicates of the kubelet's KUBE-FIREWALL jumps. */
const KUBELET_JUMP_CHAINS: readonly JumpChain[] = [
  { table: 'filter', dst: KUBE_FIREWALL, src: 'INPUT', comment: '', extra: '' },
  { table: 'filter', dst: KUBE_FIREWALL, src: 'OUTPUT', comment: '', extra: '' },
];

const BUILTINS = { filter: ['INPUT', 'FORWARD', 'OUTPUT'], nat: ['PREROUTING', 'INPUT', 'OUTPUT', 'POSTROUTING'] } as const;

/**
 * What a node has before kube-proxy's first restore, as restore input (no --noflush): the
 * built-in chains, the chains the jumps point to (EnsureChain), the jumps themselves — each
 * one was inserted at position 1 (EnsureRule Prepend), so the last one ensured comes first —
 * and, with `canary`, the empty KUBE-PROXY-CANARY chains in mangle, nat and filter that
 * kube-proxy's monitor creates.
 */
export function hostPrelude(o: ResolvedOptions): string {
  const jumps = o.style === 'current' ? [...JUMP_CHAINS, ...KUBELET_JUMP_CHAINS] : JUMP_CHAINS;
  const out: string[] = [];
  if (o.canary) out.push('*mangle', `:${KUBE_PROXY_CANARY}${CHAIN_LINE}`, 'COMMIT');
  for (const table of ['filter', 'nat'] as const) {
    out.push(`*${table}`);
    for (const b of BUILTINS[table]) out.push(`:${b} ACCEPT [0:0]`);
    const declared: string[] = o.canary ? [KUBE_PROXY_CANARY] : [];
    for (const j of jumps) if (j.table === table && !declared.includes(j.dst)) declared.push(j.dst);
    for (const c of declared) out.push(`:${c}${CHAIN_LINE}`);
    for (const b of BUILTINS[table]) {
      const mine = jumps.filter((j) => j.table === table && j.src === b).reverse();
      for (const j of mine) {
        const parts = [`-A ${b}`];
        if (j.extra) parts.push(j.extra);
        if (j.comment) parts.push(`-m comment --comment ${q(j.comment)}`);
        parts.push(`-j ${j.dst}`);
        out.push(parts.join(' '));
      }
    }
    out.push('COMMIT');
  }
  out.push('');
  return out.join('\n');
}

/** Convenience: options resolved against the manifests, the proxier state built, one sync run. */
export function generateIptables(objs: KubeObjects, options: IptablesProxyOptions = {}, mode: SyncMode = {}): IptablesSync {
  const o = resolveOptions(options, objs);
  const state = buildProxyState(objs, { family: o.family, nodeName: o.nodeName, ipMode: o.style === 'current' });
  return syncIptablesRules(state, o, mode);
}
