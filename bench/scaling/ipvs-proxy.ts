/**
 * kube-proxy's IPVS mode for the scaling harness: what `syncProxyRules` of
 * pkg/proxy/ipvs/proxier.go (2024 upstream) programs for a proxier state — the IPVS
 * virtual servers and real servers (as `ipvsadm-save -n` text), the addresses bound to
 * kube-ipvs0, the ipsets (as `ipset restore` text) and the `iptables-restore --noflush`
 * payload — and the operations one sync makes relative to the previous one.
 *
 * nfemu's src/kube has no IPVS-mode generator (its brief rejects `--mode ipvs`), so the
 * harness writes this itself, for the subset it sweeps: ClusterIP Services (externalIPs,
 * load-balancer IPs and NodePorts are out of scope here and rejected), scheduler rr,
 * masquerading (NAT) forwarding, weight 1, a ClusterCIDR local-traffic detector, IPv4.
 *
 * Facts from proxier.go: every ClusterIP:port is a virtual server with the service's
 * endpoints as real servers; the ClusterIP is bound to kube-ipvs0; KUBE-CLUSTER-IP holds
 * `ip,proto:port`; KUBE-LOOP-BACK holds `ip,proto:port,ip` for node-local endpoints only;
 * KUBE-IPVS-IPS holds every address bound to kube-ipvs0; the iptables rules are fixed in
 * number (writeIptablesRules), nat written before filter.
 */
import type { ProxyState, ServicePortInfo } from '../../src/kube/index.ts';

/** Options of the IPVS proxier the harness models. */
export interface IpvsProxyOptions {
  /** `--cluster-cidr`: the ClusterCIDR local-traffic detector (`! -s CIDR`). */
  readonly clusterCIDR: string;
  /** `--ipvs-scheduler` (default rr). */
  readonly scheduler?: string;
  /** Mark as kube-proxy writes it (`%#08x` of 1 << 14). */
  readonly mark?: string;
  /** Append `--random-fully` to the MASQUERADE rule. */
  readonly randomFully?: boolean;
}

/** One IPVS sync's output. */
export interface IpvsSync {
  /** Virtual servers and real servers, as `ipvsadm-save -n` prints them. */
  readonly ipvsadmSave: string;
  /** Every set kube-proxy creates and the entries of the non-empty ones, as `ipset restore` reads them. */
  readonly ipsetRestore: string;
  /** The `iptables-restore --noflush --counters` payload (nat, then filter). */
  readonly iptablesPayload: string;
  /** Built-in chains and the jumps kube-proxy ensures (EnsureRule Prepend), as restore input. */
  readonly prelude: string;
  /** Addresses bound to kube-ipvs0 (/32). */
  readonly bindAddrs: readonly string[];
  /** Per virtual server (`proto/vip:port`): its real servers (`ip:port`). */
  readonly servers: ReadonlyMap<string, readonly string[]>;
  /** Per set: its entries. */
  readonly setEntries: ReadonlyMap<string, ReadonlySet<string>>;
}

/** The IPVS, address and ipset operations one sync performs (netlink and ipset calls). */
export interface IpvsOps {
  readonly virtualServersAdded: number;
  readonly virtualServersDeleted: number;
  readonly realServersAdded: number;
  readonly realServersDeleted: number;
  readonly addressesBound: number;
  readonly addressesUnbound: number;
  readonly ipsetEntriesAdded: number;
  readonly ipsetEntriesDeleted: number;
  /** All of the above. */
  readonly total: number;
}

const COMMENT = {
  loopBack: 'Kubernetes endpoints dst ip:port, source ip for solving hairpin purpose',
  clusterIP: 'Kubernetes service cluster ip + port for masquerade purpose',
  healthCheck: 'Kubernetes health check node port',
};

/** ipsetInfo of proxier.go: name and type of every set the IPVS proxier creates. */
export const IPVS_SETS: readonly { name: string; type: string }[] = [
  { name: 'KUBE-LOOP-BACK', type: 'hash:ip,port,ip' },
  { name: 'KUBE-CLUSTER-IP', type: 'hash:ip,port' },
  { name: 'KUBE-EXTERNAL-IP', type: 'hash:ip,port' },
  { name: 'KUBE-EXTERNAL-IP-LOCAL', type: 'hash:ip,port' },
  { name: 'KUBE-LOAD-BALANCER', type: 'hash:ip,port' },
  { name: 'KUBE-LOAD-BALANCER-FW', type: 'hash:ip,port' },
  { name: 'KUBE-LOAD-BALANCER-LOCAL', type: 'hash:ip,port' },
  { name: 'KUBE-LOAD-BALANCER-SOURCE-IP', type: 'hash:ip,port,ip' },
  { name: 'KUBE-LOAD-BALANCER-SOURCE-CIDR', type: 'hash:ip,port,net' },
  { name: 'KUBE-NODE-PORT-TCP', type: 'bitmap:port' },
  { name: 'KUBE-NODE-PORT-LOCAL-TCP', type: 'bitmap:port' },
  { name: 'KUBE-NODE-PORT-UDP', type: 'bitmap:port' },
  { name: 'KUBE-NODE-PORT-LOCAL-UDP', type: 'bitmap:port' },
  { name: 'KUBE-NODE-PORT-SCTP-HASH', type: 'hash:ip,port' },
  { name: 'KUBE-NODE-PORT-LOCAL-SCTP-HASH', type: 'hash:ip,port' },
  { name: 'KUBE-HEALTH-CHECK-NODE-PORT', type: 'bitmap:port' },
  { name: 'KUBE-IPVS-IPS', type: 'hash:ip' },
];

/** `ipvsadm-save -n` protocol flag. */
function protoFlag(p: ServicePortInfo): string {
  return p.protocol === 'TCP' ? '-t' : p.protocol === 'UDP' ? '-u' : '--sctp-service';
}

function createLine(name: string, type: string): string {
  // SetIPSetDefaults: hashsize 1024, maxelem 65536, bitmap port range 0-65535.
  return type === 'bitmap:port' ? `create ${name} ${type} range 0-65535` : `create ${name} ${type} family inet hashsize 1024 maxelem 65536`;
}

/** The sync kube-proxy's IPVS mode performs for `state` (a full picture; ops come from `ipvsOps`). */
export function ipvsProxyRules(state: ProxyState, opts: IpvsProxyOptions): IpvsSync {
  const sched = opts.scheduler ?? 'rr';
  const mark = opts.mark ?? '0x00004000';
  const save: string[] = [];
  const servers = new Map<string, string[]>();
  const sets = new Map<string, Set<string>>();
  for (const s of IPVS_SETS) sets.set(s.name, new Set());
  const bind: string[] = [];
  const bound = new Set<string>();
  for (const p of state.servicePorts) {
    if (p.externalIPs.length || p.loadBalancerVIPs.length || p.nodePort) {
      throw new Error(`ipvs-proxy: ${p.name}: only ClusterIP services are modelled by the harness`);
    }
    for (const e of p.endpoints) if (e.isLocal) sets.get('KUBE-LOOP-BACK')!.add(`${e.ip},${p.proto}:${e.port},${e.ip}`);
    sets.get('KUBE-CLUSTER-IP')!.add(`${p.clusterIP},${p.proto}:${p.port}`);
    const vs = `${p.clusterIP}:${p.port}`;
    const persist = p.stickyMaxAgeSeconds > 0 ? ` -p ${p.stickyMaxAgeSeconds}` : '';
    save.push(`-A ${protoFlag(p)} ${vs} -s ${sched}${persist}`);
    // Real servers: the usable endpoints (cluster policy; internalTrafficPolicy Local would keep the local ones).
    const eps = p.endpoints.filter((e) => (p.internalPolicyLocal ? e.isLocal : true) && (e.ready || (e.serving && e.terminating)));
    const rs: string[] = [];
    for (const e of eps) {
      rs.push(`${e.ip}:${e.port}`);
      save.push(`-a ${protoFlag(p)} ${vs} -r ${e.ip}:${e.port} -m -w 1`);
    }
    servers.set(`${p.proto}/${vs}`, rs);
    if (!bound.has(p.clusterIP)) {
      bound.add(p.clusterIP);
      bind.push(p.clusterIP);
    }
  }
  for (const a of bind) sets.get('KUBE-IPVS-IPS')!.add(a);

  const ipset: string[] = [];
  for (const s of IPVS_SETS) ipset.push(createLine(s.name, s.type));
  for (const s of IPVS_SETS) for (const e of sets.get(s.name)!) ipset.push(`add ${s.name} ${e}`);

  const natChains = ['KUBE-SERVICES', 'KUBE-POSTROUTING', 'KUBE-NODE-PORT', 'KUBE-LOAD-BALANCER', 'KUBE-MARK-MASQ'];
  const filterChains = ['KUBE-FORWARD', 'KUBE-NODE-PORT', 'KUBE-PROXY-FIREWALL', 'KUBE-SOURCE-RANGES-FIREWALL', 'KUBE-IPVS-FILTER', 'KUBE-IPVS-OUT-FILTER'];
  const nat: string[] = ['*nat', ...natChains.map((c) => `:${c} - [0:0]`)];
  const filter: string[] = ['*filter', ...filterChains.map((c) => `:${c} - [0:0]`)];
  nat.push('-A KUBE-SERVICES -s 127.0.0.0/8 -j RETURN');
  if (sets.get('KUBE-LOOP-BACK')!.size) {
    nat.push(`-A KUBE-POSTROUTING -m comment --comment "${COMMENT.loopBack}" -m set --match-set KUBE-LOOP-BACK dst,dst,src -j MASQUERADE`);
  }
  const clusterIPs = sets.get('KUBE-CLUSTER-IP')!.size > 0;
  if (clusterIPs) {
    nat.push(`-A KUBE-SERVICES -m comment --comment "${COMMENT.clusterIP}" -m set --match-set KUBE-CLUSTER-IP dst,dst ! -s ${opts.clusterCIDR} -j KUBE-MARK-MASQ`);
  }
  nat.push('-A KUBE-SERVICES -m addrtype --dst-type LOCAL -j KUBE-NODE-PORT');
  nat.push('-A KUBE-LOAD-BALANCER -j KUBE-MARK-MASQ');
  filter.push('-A KUBE-SOURCE-RANGES-FIREWALL -j DROP');
  if (clusterIPs) nat.push('-A KUBE-SERVICES -m set --match-set KUBE-CLUSTER-IP dst,dst -j ACCEPT');
  filter.push(`-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark ${mark}/${mark} -j ACCEPT`);
  filter.push('-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT');
  filter.push(`-A KUBE-NODE-PORT -m comment --comment "${COMMENT.healthCheck}" -m set --match-set KUBE-HEALTH-CHECK-NODE-PORT dst -j ACCEPT`);
  for (const s of ['KUBE-LOAD-BALANCER', 'KUBE-CLUSTER-IP', 'KUBE-EXTERNAL-IP', 'KUBE-EXTERNAL-IP-LOCAL']) {
    filter.push(`-A KUBE-IPVS-FILTER -m set --match-set ${s} dst,dst -j RETURN`);
  }
  filter.push('-A KUBE-IPVS-FILTER -m set --match-set KUBE-HEALTH-CHECK-NODE-PORT dst -j RETURN');
  filter.push('-A KUBE-IPVS-FILTER -m conntrack --ctstate NEW -m set --match-set KUBE-IPVS-IPS dst -j REJECT');
  nat.push(`-A KUBE-POSTROUTING -m mark ! --mark ${mark}/${mark} -j RETURN`);
  nat.push(`-A KUBE-POSTROUTING -j MARK --xor-mark ${mark}`);
  nat.push(`-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE${opts.randomFully === false ? '' : ' --random-fully'}`);
  nat.push(`-A KUBE-MARK-MASQ -j MARK --or-mark ${mark}`);
  nat.push('COMMIT');
  filter.push('COMMIT');

  return {
    ipvsadmSave: save.join('\n') + '\n',
    ipsetRestore: ipset.join('\n') + '\n',
    iptablesPayload: [...nat, ...filter, ''].join('\n'),
    prelude: IPVS_PRELUDE,
    bindAddrs: bind,
    servers,
    setEntries: sets,
  };
}

/**
 * iptablesJumpChain of proxier.go, each ensured with Prepend (so per built-in chain the last
 * one ensured comes first), with the chains they point to, as restore input for a fresh node.
 */
const IPVS_PRELUDE = [
  '*nat',
  ':PREROUTING ACCEPT [0:0]', ':INPUT ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]', ':POSTROUTING ACCEPT [0:0]',
  ':KUBE-SERVICES - [0:0]', ':KUBE-POSTROUTING - [0:0]',
  '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
  '-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
  '-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING',
  'COMMIT',
  '*filter',
  ':INPUT ACCEPT [0:0]', ':FORWARD ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]',
  ':KUBE-FORWARD - [0:0]', ':KUBE-NODE-PORT - [0:0]', ':KUBE-PROXY-FIREWALL - [0:0]', ':KUBE-IPVS-FILTER - [0:0]', ':KUBE-IPVS-OUT-FILTER - [0:0]',
  '-A INPUT -m comment --comment "kubernetes ipvs access filter" -j KUBE-IPVS-FILTER',
  '-A INPUT -m comment --comment "kube-proxy firewall rules" -j KUBE-PROXY-FIREWALL',
  '-A INPUT -m comment --comment "kubernetes health check rules" -j KUBE-NODE-PORT',
  '-A FORWARD -m comment --comment "kube-proxy firewall rules" -j KUBE-PROXY-FIREWALL',
  '-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD',
  '-A OUTPUT -m comment --comment "kubernetes ipvs access filter" -j KUBE-IPVS-OUT-FILTER',
  'COMMIT',
  '',
].join('\n');

function countDiff<T>(before: ReadonlySet<T> | readonly T[], after: ReadonlySet<T> | readonly T[]): { added: number; deleted: number } {
  const b = before instanceof Set ? before : new Set(before as readonly T[]);
  const a = after instanceof Set ? after : new Set(after as readonly T[]);
  let added = 0;
  let deleted = 0;
  for (const x of a) if (!b.has(x)) added++;
  for (const x of b) if (!a.has(x)) deleted++;
  return { added, deleted };
}

/**
 * The operations kube-proxy makes to go from `prev` (null: a fresh node) to `next`:
 * AddVirtualServer / DeleteVirtualServer, AddRealServer / DeleteRealServer, address
 * (un)binds on kube-ipvs0, and ipset entry adds / deletes. Unchanged objects cost nothing
 * (syncService and syncEndpoint compare with what the kernel has first).
 */
export function ipvsOps(prev: IpvsSync | null, next: IpvsSync): IpvsOps {
  let vsAdd = 0;
  let vsDel = 0;
  let rsAdd = 0;
  let rsDel = 0;
  const before = prev?.servers ?? new Map<string, readonly string[]>();
  for (const [vs, rs] of next.servers) {
    const old = before.get(vs);
    if (!old) vsAdd++;
    const d = countDiff(old ?? [], rs);
    rsAdd += d.added;
    rsDel += d.deleted;
  }
  for (const [vs, rs] of before) {
    if (!next.servers.has(vs)) {
      vsDel++;
      rsDel += rs.length;
    }
  }
  const addr = countDiff(prev?.bindAddrs ?? [], next.bindAddrs);
  let setAdd = 0;
  let setDel = 0;
  for (const [name, entries] of next.setEntries) {
    const d = countDiff(prev?.setEntries.get(name) ?? new Set<string>(), entries);
    setAdd += d.added;
    setDel += d.deleted;
  }
  return {
    virtualServersAdded: vsAdd, virtualServersDeleted: vsDel, realServersAdded: rsAdd, realServersDeleted: rsDel,
    addressesBound: addr.added, addressesUnbound: addr.deleted, ipsetEntriesAdded: setAdd, ipsetEntriesDeleted: setDel,
    total: vsAdd + vsDel + rsAdd + rsDel + addr.added + addr.deleted + setAdd + setDel,
  };
}
