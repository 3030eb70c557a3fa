/**
 * kube-proxy's IPVS mode as a pure function: what one sync of pkg/proxy/ipvs/proxier.go
 * programs on a node — the IPVS virtual servers and real servers (as `ipvsadm-save -n`
 * text), the addresses bound to the dummy interface kube-ipvs0, the ipsets (as `ipset
 * restore` text), the `iptables-restore --noflush` payload that drives masquerading and
 * filtering from those sets, the jumps from the built-in chains, and the sysctls it sets.
 *
 * Follows syncProxyRules / writeIptablesRules / syncEndpoint rule by rule (kubernetes
 * pkg/proxy/ipvs/proxier.go and ipset.go). Where it differs from the iptables mode on
 * purpose (kube-proxy's own behaviour, not ours):
 * - a virtual server whose policy is Local and that has no local endpoint gets the
 *   cluster-wide endpoints instead of none (syncEndpoint, kubernetes PR 97081);
 * - NodePorts are virtual servers on the node's non-loopback addresses only
 *   (netlinkHandle.isValidForSet drops loopback), so localhost NodePorts do not exist;
 * - eTP:Local has no "pod short-circuit": pods and the node reach an eTP:Local NodePort or
 *   LB IP through its local endpoints only, unmasqueraded;
 * - no endpoints at all: the virtual server exists with no real servers (the kernel then
 *   answers with ICMP port unreachable) instead of a REJECT rule.
 *
 * Order: kube-proxy walks Go maps; here service ports go in namespace/name then port order
 * and set members are sorted, so the output is deterministic.
 */
import { NfemuError, formatIp, parseCidr, parseIp, cidrContains, type Family } from '../core/index.ts';
import { restore, type IpsetView, type Ruleset } from '../xtables/index.ts';
import { resolveOptions, type IptablesProxyOptions, type ResolvedOptions } from './options.ts';
import { buildProxyState, categorizeEndpoints, type EndpointInfo, type ProxyState, type ServicePortInfo } from './state.ts';
import type { KubeObjects } from './objects.ts';

/** The dummy interface the service addresses are bound to (defaultDummyDevice). */
export const KUBE_IPVS_DEVICE = 'kube-ipvs0';
/** kube-proxy's default IPVS scheduler (defaultScheduler). */
export const IPVS_DEFAULT_SCHEDULER = 'rr';

export const KUBE_NODE_PORT = 'KUBE-NODE-PORT';
export const KUBE_LOAD_BALANCER = 'KUBE-LOAD-BALANCER';
export const KUBE_SOURCE_RANGES_FIREWALL = 'KUBE-SOURCE-RANGES-FIREWALL';
export const KUBE_IPVS_FILTER = 'KUBE-IPVS-FILTER';
export const KUBE_IPVS_OUT_FILTER = 'KUBE-IPVS-OUT-FILTER';
const KUBE_SERVICES = 'KUBE-SERVICES';
const KUBE_POSTROUTING = 'KUBE-POSTROUTING';
const KUBE_MARK_MASQ = 'KUBE-MARK-MASQ';
const KUBE_FORWARD = 'KUBE-FORWARD';
const KUBE_PROXY_FIREWALL = 'KUBE-PROXY-FIREWALL';

/** Options of the IPVS-mode generator: the iptables-mode ones plus the IPVS flags. */
export interface IpvsProxyOptions extends IptablesProxyOptions {
  /** `--ipvs-scheduler` (default rr); `mh` also sets the source-hash flag (0x10, `-b mh-port`). */
  readonly scheduler?: string;
  /** `--ipvs-strict-arp`: sets arp_ignore=1 and arp_announce=2 (default false). */
  readonly strictARP?: boolean;
  /** The node's kernel is older than 5.9 (and at least 4.1): kube-proxy sets conn_reuse_mode=0 (default false: left as is). */
  readonly oldKernel?: boolean;
}

/** What one IPVS-mode sync produced. */
export interface IpvsSync {
  readonly family: Family;
  /** `ipset restore` input: every set kube-proxy creates (all of them, empty or not) and their members. */
  readonly ipsets: string;
  /** The iptables-restore input, applied with `--noflush --counters` (nat, then filter, as kube-proxy writes it). */
  readonly iptables: string;
  /** The jumps from the built-in chains kube-proxy ensures, as restore input without --noflush. */
  readonly prelude: string;
  /** `ipvsadm-save -n` text: virtual servers and their real servers. */
  readonly ipvs: string;
  /** Addresses kube-proxy binds to kube-ipvs0 (the KUBE-IPVS-IPS members), in first-bound order. */
  readonly vips: readonly string[];
  /** The node addresses NodePort virtual servers were made on. */
  readonly nodePortIPs: readonly string[];
  /** Sysctls kube-proxy sets at start-up in IPVS mode. */
  readonly sysctls: Readonly<Record<string, number>>;
  readonly scheduler: string;
  readonly options: ResolvedOptions;
  readonly warnings: readonly string[];
}

/** One ipset of ipsetInfo: kube-proxy's name, type and comment. */
interface SetInfo {
  readonly name: string;
  readonly type: 'hash:ip' | 'hash:ip,port' | 'hash:ip,port,ip' | 'hash:ip,port,net' | 'bitmap:port';
  readonly comment: string;
}

const SET_INFO: readonly SetInfo[] = [
  { name: 'KUBE-LOOP-BACK', type: 'hash:ip,port,ip', comment: 'Kubernetes endpoints dst ip:port, source ip for solving hairpin purpose' },
  { name: 'KUBE-CLUSTER-IP', type: 'hash:ip,port', comment: 'Kubernetes service cluster ip + port for masquerade purpose' },
  { name: 'KUBE-EXTERNAL-IP', type: 'hash:ip,port', comment: 'Kubernetes service external ip + port for masquerade and filter purpose' },
  { name: 'KUBE-EXTERNAL-IP-LOCAL', type: 'hash:ip,port', comment: 'Kubernetes service external ip + port with externalTrafficPolicy=local' },
  { name: 'KUBE-LOAD-BALANCER', type: 'hash:ip,port', comment: 'Kubernetes service lb portal' },
  { name: 'KUBE-LOAD-BALANCER-FW', type: 'hash:ip,port', comment: 'Kubernetes service load balancer ip + port for load balancer with sourceRange' },
  { name: 'KUBE-LOAD-BALANCER-LOCAL', type: 'hash:ip,port', comment: 'Kubernetes service load balancer ip + port with externalTrafficPolicy=local' },
  { name: 'KUBE-LOAD-BALANCER-SOURCE-IP', type: 'hash:ip,port,ip', comment: 'Kubernetes service load balancer ip + port + source IP for packet filter purpose' },
  { name: 'KUBE-LOAD-BALANCER-SOURCE-CIDR', type: 'hash:ip,port,net', comment: 'Kubernetes service load balancer ip + port + source cidr for packet filter purpose' },
  { name: 'KUBE-NODE-PORT-TCP', type: 'bitmap:port', comment: 'Kubernetes nodeport TCP port for masquerade purpose' },
  { name: 'KUBE-NODE-PORT-LOCAL-TCP', type: 'bitmap:port', comment: 'Kubernetes nodeport TCP port with externalTrafficPolicy=local' },
  { name: 'KUBE-NODE-PORT-UDP', type: 'bitmap:port', comment: 'Kubernetes nodeport UDP port for masquerade purpose' },
  { name: 'KUBE-NODE-PORT-LOCAL-UDP', type: 'bitmap:port', comment: 'Kubernetes nodeport UDP port with externalTrafficPolicy=local' },
  { name: 'KUBE-NODE-PORT-SCTP-HASH', type: 'hash:ip,port', comment: "Kubernetes nodeport SCTP port for masquerade purpose with type 'hash ip:port'" },
  { name: 'KUBE-NODE-PORT-LOCAL-SCTP-HASH', type: 'hash:ip,port', comment: "Kubernetes nodeport SCTP port with externalTrafficPolicy=local with type 'hash ip:port'" },
  { name: 'KUBE-HEALTH-CHECK-NODE-PORT', type: 'bitmap:port', comment: 'Kubernetes health check node port' },
  { name: 'KUBE-IPVS-IPS', type: 'hash:ip', comment: 'Addresses on the ipvs interface' },
];

/**
 * ipsetWithIptablesChain: set → rule `-A <from> [-p <proto>] -m comment --comment <c> -m set
 * --match-set <set> <flags> -j <to>`, written only when the set has members. The eTP:Local
 * NodePort sets come before the plain ones (RETURN before KUBE-MARK-MASQ).
 */
const SET_RULES: readonly { set: string; table: 'nat' | 'filter'; from: string; to: string; flags: string; proto: string }[] = [
  { set: 'KUBE-LOOP-BACK', table: 'nat', from: KUBE_POSTROUTING, to: 'MASQUERADE', flags: 'dst,dst,src', proto: '' },
  { set: 'KUBE-LOAD-BALANCER', table: 'nat', from: KUBE_SERVICES, to: KUBE_LOAD_BALANCER, flags: 'dst,dst', proto: '' },
  { set: 'KUBE-LOAD-BALANCER-LOCAL', table: 'nat', from: KUBE_LOAD_BALANCER, to: 'RETURN', flags: 'dst,dst', proto: '' },
  { set: 'KUBE-NODE-PORT-LOCAL-TCP', table: 'nat', from: KUBE_NODE_PORT, to: 'RETURN', flags: 'dst', proto: 'tcp' },
  { set: 'KUBE-NODE-PORT-TCP', table: 'nat', from: KUBE_NODE_PORT, to: KUBE_MARK_MASQ, flags: 'dst', proto: 'tcp' },
  { set: 'KUBE-NODE-PORT-LOCAL-UDP', table: 'nat', from: KUBE_NODE_PORT, to: 'RETURN', flags: 'dst', proto: 'udp' },
  { set: 'KUBE-NODE-PORT-UDP', table: 'nat', from: KUBE_NODE_PORT, to: KUBE_MARK_MASQ, flags: 'dst', proto: 'udp' },
  { set: 'KUBE-NODE-PORT-LOCAL-SCTP-HASH', table: 'nat', from: KUBE_NODE_PORT, to: 'RETURN', flags: 'dst,dst', proto: 'sctp' },
  { set: 'KUBE-NODE-PORT-SCTP-HASH', table: 'nat', from: KUBE_NODE_PORT, to: KUBE_MARK_MASQ, flags: 'dst,dst', proto: 'sctp' },
  { set: 'KUBE-LOAD-BALANCER-FW', table: 'filter', from: KUBE_PROXY_FIREWALL, to: KUBE_SOURCE_RANGES_FIREWALL, flags: 'dst,dst', proto: '' },
  { set: 'KUBE-LOAD-BALANCER-SOURCE-CIDR', table: 'filter', from: KUBE_SOURCE_RANGES_FIREWALL, to: 'RETURN', flags: 'dst,dst,src', proto: '' },
  { set: 'KUBE-LOAD-BALANCER-SOURCE-IP', table: 'filter', from: KUBE_SOURCE_RANGES_FIREWALL, to: 'RETURN', flags: 'dst,dst,src', proto: '' },
];

interface JumpChain {
  readonly table: 'nat' | 'filter';
  readonly from: string;
  readonly to: string;
  readonly comment: string;
}

/** iptablesJumpChain, in the order kube-proxy ensures them (each prepended). */
function jumpChains(o: ResolvedOptions): JumpChain[] {
  const j: JumpChain[] = [
    { table: 'nat', from: 'OUTPUT', to: KUBE_SERVICES, comment: 'kubernetes service portals' },
    { table: 'nat', from: 'PREROUTING', to: KUBE_SERVICES, comment: 'kubernetes service portals' },
    { table: 'nat', from: 'POSTROUTING', to: KUBE_POSTROUTING, comment: 'kubernetes postrouting rules' },
    { table: 'filter', from: 'FORWARD', to: KUBE_FORWARD, comment: 'kubernetes forwarding rules' },
    { table: 'filter', from: 'INPUT', to: KUBE_NODE_PORT, comment: 'kubernetes health check rules' },
    { table: 'filter', from: 'INPUT', to: KUBE_PROXY_FIREWALL, comment: 'kube-proxy firewall rules' },
    { table: 'filter', from: 'FORWARD', to: KUBE_PROXY_FIREWALL, comment: 'kube-proxy firewall rules' },
    { table: 'filter', from: 'INPUT', to: KUBE_IPVS_FILTER, comment: 'kubernetes ipvs access filter' },
  ];
  if (o.style === 'current') j.push({ table: 'filter', from: 'OUTPUT', to: KUBE_IPVS_OUT_FILTER, comment: 'kubernetes ipvs access filter' });
  return j;
}

/** iptablesChains: what the payload declares (and so flushes), per table. */
function declaredChains(o: ResolvedOptions): { nat: string[]; filter: string[] } {
  const filter = [KUBE_FORWARD, KUBE_NODE_PORT, KUBE_PROXY_FIREWALL, KUBE_SOURCE_RANGES_FIREWALL, KUBE_IPVS_FILTER];
  if (o.style === 'current') filter.push(KUBE_IPVS_OUT_FILTER);
  return { nat: [KUBE_SERVICES, KUBE_POSTROUTING, KUBE_NODE_PORT, KUBE_LOAD_BALANCER, KUBE_MARK_MASQ], filter };
}

/** NewIPSet: IPv6 sets are named KUBE-6-…, cut to ipset's 31 characters. */
function setName(name: string, family: Family): string {
  if (family !== 6) return name;
  const n = name.replace(/^KUBE-/, 'KUBE-6-');
  return n.length > 31 ? n.slice(0, 31) : n;
}

/** `ip:port` as ipvsadm prints it (IPv6 in brackets). */
function hostPort(ip: string, port: number): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}

function protoSwitch(protocol: string): string {
  return protocol === 'TCP' ? '-t' : protocol === 'UDP' ? '-u' : '--sctp-service';
}

function isLoopback(ip: string): boolean {
  return ip.includes(':') ? ip === '::1' : ip.startsWith('127.');
}

function contains(cidrText: string, ipText: string): boolean {
  const ip = parseIp(ipText);
  if (!ip) return false;
  const c = parseCidr(ip.family, cidrText);
  return c !== null && c.family === ip.family && cidrContains(c, ip.w);
}

/**
 * The node addresses NodePort virtual servers go on: with `--nodeport-addresses` unset every
 * non-loopback address of this family outside kube-ipvs0 (GetAllLocalAddressesExcept), else
 * the ones inside those CIDRs, loopback excluded.
 */
function nodePortAddresses(o: ResolvedOptions): string[] {
  const out: string[] = [];
  for (const a of o.interfaceAddresses) {
    const ip = parseIp(a);
    if (!ip || ip.family !== o.family || isLoopback(a)) continue;
    const text = formatIp(ip);
    if (out.includes(text)) continue;
    if (o.nodePortAddresses !== null && !o.nodePortAddresses.some((c) => contains(c, text))) continue;
    out.push(text);
  }
  return out;
}

/** One virtual server being built. */
interface VirtualServer {
  readonly protocol: string;
  readonly addr: string;
  readonly port: number;
  readonly persistence: number;
  readonly dests: readonly EndpointInfo[];
}

/**
 * syncEndpoint's choice of real servers: with `onlyNodeLocal` the local endpoints, or, when
 * there are none, the cluster endpoints (so pods still reach the service); else the cluster
 * endpoints.
 */
function realServers(s: ServicePortInfo, onlyNodeLocal: boolean): readonly EndpointInfo[] {
  const { cluster, local } = categorizeEndpoints(s);
  if (onlyNodeLocal) return local.length > 0 ? local : cluster;
  return cluster;
}

/**
 * One sync of kube-proxy's IPVS proxier over `state` (always a full sync: kube-proxy's IPVS
 * mode rewrites its chains every time and reconciles ipsets and virtual servers by diff,
 * which on a fresh node is the whole content).
 */
export function syncIpvsRules(state: ProxyState, o: ResolvedOptions, opts: { scheduler?: string; strictARP?: boolean; oldKernel?: boolean } = {}): IpvsSync {
  const scheduler = opts.scheduler ?? IPVS_DEFAULT_SCHEDULER;
  if (!/^[a-z]+$/.test(scheduler)) throw new NfemuError('USAGE', `IPVS scheduler ${JSON.stringify(scheduler)} is not a scheduler name`);
  const family = o.family;
  const warnings: string[] = [...state.warnings];
  const members = new Map<string, Set<string>>();
  for (const s of SET_INFO) members.set(s.name, new Set());
  const add = (set: string, entry: string) => members.get(set)!.add(entry);
  const servers: VirtualServer[] = [];
  const vips: string[] = [];
  const bind = (ip: string) => {
    if (!vips.includes(ip)) vips.push(ip);
  };
  const hasNodePort = state.servicePorts.some((s) => s.nodePort !== 0);
  const nodeIPs = hasNodePort ? nodePortAddresses(o) : [];
  // Addresses on other interfaces are not bound to kube-ipvs0 (shouldBind).
  const nodeAddressSet = new Set(o.interfaceAddresses.filter((a) => !isLoopback(a)).map((a) => { const ip = parseIp(a); return ip ? formatIp(ip) : a; }));
  const lbNoNodeAccess: string[] = [];

  for (const s of state.servicePorts) {
    const proto = s.proto;
    const persistence = s.stickyMaxAgeSeconds;
    const vs = (addr: string, port: number, onlyNodeLocal: boolean) =>
      servers.push({ protocol: s.protocol, addr, port, persistence, dests: realServers(s, onlyNodeLocal) });
    // Hairpin: local endpoints that may reach themselves through the service.
    for (const e of s.endpoints) if (e.isLocal) add('KUBE-LOOP-BACK', `${e.ip},${proto}:${e.port},${e.ip}`);
    // ClusterIP.
    add('KUBE-CLUSTER-IP', `${s.clusterIP},${proto}:${s.port}`);
    vs(s.clusterIP, s.port, s.internalPolicyLocal);
    bind(s.clusterIP);
    // externalIPs.
    for (const ip of s.externalIPs) {
      add(s.externalPolicyLocal ? 'KUBE-EXTERNAL-IP-LOCAL' : 'KUBE-EXTERNAL-IP', `${ip},${proto}:${s.port}`);
      vs(ip, s.port, s.externalPolicyLocal);
      if (!nodeAddressSet.has(ip)) bind(ip);
    }
    // Load-balancer ingress IPs.
    for (const ip of s.loadBalancerVIPs) {
      const entry = `${ip},${proto}:${s.port}`;
      add('KUBE-LOAD-BALANCER', entry);
      if (s.externalPolicyLocal) add('KUBE-LOAD-BALANCER-LOCAL', entry);
      if (s.loadBalancerSourceRanges.length) {
        add('KUBE-LOAD-BALANCER-FW', entry);
        let allowFromNode = false;
        for (const cidr of s.loadBalancerSourceRanges) {
          add('KUBE-LOAD-BALANCER-SOURCE-CIDR', `${entry},${cidr}`);
          if (o.nodeIP !== null && contains(cidr, o.nodeIP)) allowFromNode = true;
        }
        if (allowFromNode) add('KUBE-LOAD-BALANCER-SOURCE-IP', `${entry},${ip}`);
        else lbNoNodeAccess.push(`${ip} ${proto} ${s.port}`);
      }
      vs(ip, s.port, s.externalPolicyLocal);
      if (!nodeAddressSet.has(ip)) bind(ip);
    }
    // NodePorts: one virtual server per node address.
    if (s.nodePort !== 0) {
      if (nodeIPs.length === 0) {
        warnings.push(`${s.name}: no node address for NodePort ${s.nodePort} (kube-proxy skips its NodePort and health-check configuration)`);
        continue;
      }
      const setFor = (local: boolean) =>
        proto === 'sctp' ? (local ? 'KUBE-NODE-PORT-LOCAL-SCTP-HASH' : 'KUBE-NODE-PORT-SCTP-HASH') : `KUBE-NODE-PORT-${local ? 'LOCAL-' : ''}${proto.toUpperCase()}`;
      const entries = proto === 'sctp' ? nodeIPs.map((ip) => `${ip},${proto}:${s.nodePort}`) : [String(s.nodePort)];
      for (const e of entries) add(setFor(false), e);
      if (s.externalPolicyLocal) for (const e of entries) add(setFor(true), e);
      for (const ip of nodeIPs) vs(ip, s.nodePort, s.externalPolicyLocal);
    }
    if (s.healthCheckNodePort !== 0) add('KUBE-HEALTH-CHECK-NODE-PORT', String(s.healthCheckNodePort));
  }
  for (const ip of vips) add('KUBE-IPVS-IPS', ip);
  if (lbNoNodeAccess.length && o.style === 'current') {
    warnings.push(
      `not written: KUBE-IPVS-OUT-FILTER "-s <lbIP> -m ipvs --vaddr … -j DROP" for ${lbNoNodeAccess.join('; ')} (nfemu has no ipvs match); the node can reach these LB IPs here, kube-proxy blocks it`,
    );
  }

  const name = (n: string) => setName(n, family);
  const empty = (n: string) => members.get(n)!.size === 0;
  const comment = (n: string) => `"${SET_INFO.find((s) => s.name === n)!.comment}"`;
  const natRules: string[] = [];
  const filterRules: string[] = [];
  const lo = family === 6 ? '::1/128' : '127.0.0.0/8';
  natRules.push(`-A ${KUBE_SERVICES} -s ${lo} -j RETURN`);
  for (const r of SET_RULES) {
    if (empty(r.set)) continue;
    const line = `-A ${r.from}${r.proto ? ` -p ${r.proto}` : ''} -m comment --comment ${comment(r.set)} -m set --match-set ${name(r.set)} ${r.flags} -j ${r.to}`;
    (r.table === 'nat' ? natRules : filterRules).push(line);
  }
  if (!empty('KUBE-CLUSTER-IP')) {
    const head = `-A ${KUBE_SERVICES} -m comment --comment ${comment('KUBE-CLUSTER-IP')} -m set --match-set ${name('KUBE-CLUSTER-IP')}`;
    if (o.masqueradeAll) natRules.push(`${head} dst,dst -j ${KUBE_MARK_MASQ}`);
    else if (o.detector) natRules.push(`${head} dst,dst ${o.detector.ifNotLocal} -j ${KUBE_MARK_MASQ}`);
    // Node-originated traffic picks a VIP as its source address: masquerade VIP → VIP:port.
    else natRules.push(`${head} src,dst -j ${KUBE_MARK_MASQ}`);
  }
  const externalIPRules = (head: string) => {
    natRules.push(`${head} -m physdev ! --physdev-is-in -m addrtype ! --src-type LOCAL -j ACCEPT`);
    natRules.push(`${head} -m addrtype --dst-type LOCAL -j ACCEPT`);
  };
  if (!empty('KUBE-EXTERNAL-IP')) {
    const head = `-A ${KUBE_SERVICES} -m comment --comment ${comment('KUBE-EXTERNAL-IP')} -m set --match-set ${name('KUBE-EXTERNAL-IP')} dst,dst`;
    natRules.push(`${head} -j ${KUBE_MARK_MASQ}`);
    externalIPRules(head);
  }
  if (!empty('KUBE-EXTERNAL-IP-LOCAL')) {
    externalIPRules(`-A ${KUBE_SERVICES} -m comment --comment ${comment('KUBE-EXTERNAL-IP-LOCAL')} -m set --match-set ${name('KUBE-EXTERNAL-IP-LOCAL')} dst,dst`);
  }
  natRules.push(`-A ${KUBE_SERVICES} -m addrtype --dst-type LOCAL -j ${KUBE_NODE_PORT}`);
  natRules.push(`-A ${KUBE_LOAD_BALANCER} -j ${KUBE_MARK_MASQ}`);
  filterRules.push(`-A ${KUBE_SOURCE_RANGES_FIREWALL} -j DROP`);
  // acceptIPVSTraffic: must stay at the end of KUBE-SERVICES.
  for (const set of ['KUBE-CLUSTER-IP', 'KUBE-LOAD-BALANCER']) {
    if (!empty(set)) natRules.push(`-A ${KUBE_SERVICES} -m set --match-set ${name(set)} dst,dst -j ACCEPT`);
  }
  filterRules.push(`-A ${KUBE_FORWARD} -m comment --comment "kubernetes forwarding rules" -m mark --mark ${o.mark}/${o.mark} -j ACCEPT`);
  filterRules.push(`-A ${KUBE_FORWARD} -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`);
  filterRules.push(`-A ${KUBE_NODE_PORT} -m comment --comment ${comment('KUBE-HEALTH-CHECK-NODE-PORT')} -m set --match-set ${name('KUBE-HEALTH-CHECK-NODE-PORT')} dst -j ACCEPT`);
  // KUBE-IPVS-FILTER: a VIP is a local address, so close every port of it but the services'.
  const filterReturn: [string, string][] = [['KUBE-LOAD-BALANCER', 'dst,dst'], ['KUBE-CLUSTER-IP', 'dst,dst'], ['KUBE-EXTERNAL-IP', 'dst,dst']];
  if (o.style === 'current') filterReturn.push(['KUBE-EXTERNAL-IP-LOCAL', 'dst,dst']);
  filterReturn.push(['KUBE-HEALTH-CHECK-NODE-PORT', 'dst']);
  for (const [set, flags] of filterReturn) filterRules.push(`-A ${KUBE_IPVS_FILTER} -m set --match-set ${name(set)} ${flags} -j RETURN`);
  filterRules.push(`-A ${KUBE_IPVS_FILTER} -m conntrack --ctstate NEW -m set --match-set ${name('KUBE-IPVS-IPS')} dst -j REJECT`);
  natRules.push(`-A ${KUBE_POSTROUTING} -m mark ! --mark ${o.mark}/${o.mark} -j RETURN`);
  natRules.push(`-A ${KUBE_POSTROUTING} -j MARK --xor-mark ${o.mark}`);
  natRules.push(`-A ${KUBE_POSTROUTING} -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE${o.randomFully ? ' --random-fully' : ''}`);
  natRules.push(`-A ${KUBE_MARK_MASQ} -j MARK --or-mark ${o.mark}`);

  const chains = declaredChains(o);
  const iptables = [
    '*nat', ...chains.nat.map((c) => `:${c} - [0:0]`), ...natRules, 'COMMIT',
    '*filter', ...chains.filter.map((c) => `:${c} - [0:0]`), ...filterRules, 'COMMIT', '',
  ].join('\n');

  // ipsets: every set is created (ensureIPSet), then filled.
  const ipsetLines: string[] = [];
  const inet = family === 6 ? 'inet6' : 'inet';
  for (const s of SET_INFO) {
    ipsetLines.push(s.type === 'bitmap:port'
      ? `create ${name(s.name)} bitmap:port range 0-65535`
      : `create ${name(s.name)} ${s.type} family ${inet} hashsize 1024 maxelem 65536`);
  }
  for (const s of SET_INFO) for (const m of [...members.get(s.name)!].sort()) ipsetLines.push(`add ${name(s.name)} ${m}`);
  ipsetLines.push('');

  // ipvsadm-save -n.
  const ipvsLines: string[] = [];
  for (const v of servers) {
    const svc = `${protoSwitch(v.protocol)} ${hostPort(v.addr, v.port)}`;
    let line = `-A ${svc} -s ${scheduler}`;
    if (v.persistence) line += ` -p ${v.persistence}`;
    if (scheduler === 'mh') line += ' -b mh-port';
    ipvsLines.push(line);
    const dests = [...new Set(v.dests.map((e) => e.str))].sort();
    for (const d of dests) ipvsLines.push(`-a ${svc} -r ${d} -m -w 1`);
  }
  if (ipvsLines.length) ipvsLines.push('');

  const sysctls: Record<string, number> = {
    'net.ipv4.vs.conntrack': 1,
    'net.ipv4.vs.expire_nodest_conn': 1,
    'net.ipv4.vs.expire_quiescent_template': 1,
    'net.ipv4.ip_forward': 1,
  };
  if (opts.oldKernel) sysctls['net.ipv4.vs.conn_reuse_mode'] = 0;
  if (opts.strictARP) {
    sysctls['net.ipv4.conf.all.arp_ignore'] = 1;
    sysctls['net.ipv4.conf.all.arp_announce'] = 2;
  }
  return {
    family, ipsets: ipsetLines.join('\n'), iptables, prelude: ipvsPrelude(o), ipvs: ipvsLines.join('\n'), vips, nodePortIPs: nodeIPs,
    sysctls, scheduler, options: o, warnings,
  };
}

/**
 * What the node holds before the first restore: the built-in chains, the jump targets
 * (EnsureChain) and the jumps, each inserted at position 1, so the last one ensured is first.
 */
export function ipvsPrelude(o: ResolvedOptions): string {
  const jumps = jumpChains(o);
  const builtins = { filter: ['INPUT', 'FORWARD', 'OUTPUT'], nat: ['PREROUTING', 'INPUT', 'OUTPUT', 'POSTROUTING'] } as const;
  const out: string[] = [];
  for (const table of ['filter', 'nat'] as const) {
    out.push(`*${table}`);
    for (const b of builtins[table]) out.push(`:${b} ACCEPT [0:0]`);
    const declared: string[] = [];
    for (const j of jumps) if (j.table === table && !declared.includes(j.to)) declared.push(j.to);
    for (const c of declared) out.push(`:${c} - [0:0]`);
    for (const b of builtins[table]) {
      for (const j of jumps.filter((x) => x.table === table && x.from === b).reverse()) out.push(`-A ${b} -m comment --comment "${j.comment}" -j ${j.to}`);
    }
    out.push('COMMIT');
  }
  out.push('');
  return out.join('\n');
}

/**
 * The node's iptables after the sync: the prelude, then the payload with `--noflush`,
 * validated against `sets` (the registry the ipsets text was restored into; null: not checked).
 */
export function ipvsHostRuleset(sync: IpvsSync, sets: IpsetView | null, file = 'kube-proxy'): Ruleset {
  const start = restore(sync.prelude, { family: sync.family, file: `${file} (built-in jumps)`, sets });
  return restore(sync.iptables, { family: sync.family, noflush: true, counters: true, file: `${file} (restore payload)`, sets }, start);
}

/** Convenience: options resolved against the manifests, the proxier state built, one IPVS sync. */
export function generateIpvs(objs: KubeObjects, options: IpvsProxyOptions = {}): IpvsSync {
  const o = resolveOptions(options, objs);
  const state = buildProxyState(objs, { family: o.family, nodeName: o.nodeName, ipMode: o.style === 'current' });
  return syncIpvsRules(state, o, { scheduler: options.scheduler, strictARP: options.strictARP, oldKernel: options.oldKernel });
}
