/**
 * The proxy modes the harness sweeps, each as "program a fresh node for this cluster" and
 * "apply one endpoint change", with the control-plane numbers of both:
 *  - iptables: src/kube's kube-proxy generator (syncIptablesRules: full sync, then a partial
 *    sync as MinimizeIPTablesRestore does), applied through src/xtables' restore
 *    (`--noflush`) and Host.load;
 *  - ipvs: ./ipvs-proxy.ts (kube-proxy's IPVS mode), applied to src/ipvs (virtual servers
 *    from ipvsadm-save text), src/ipset (ipset restore) and the host's addresses and rules.
 * Everything here is setup: nothing is timed per packet.
 */
import { Host, SeededRng, SimulatedClock, restore, parseRoute, parseIp, type Ruleset } from '../../src/index.ts';
import { resolveOptions, syncIptablesRules, iptablesHostRuleset, type IptablesSync, type ProxyState, type ResolvedOptions } from '../../src/kube/index.ts';
import { IpsetRegistry } from '../../src/ipset/index.ts';
import { Ipvs, restoreIpvs, applyIpvsadm, parseIpvsadm } from '../../src/ipvs/index.ts';
import {
  CLUSTER_CIDR, NODE_GATEWAY, NODE_IP, NODE_NAME, POD_BRIDGE, POD_BRIDGE_ADDR, proxyState, withEndpointChange, type ClusterShape,
} from './cluster.ts';
import { ipvsOps, ipvsProxyRules, type IpvsOps, type IpvsSync } from './ipvs-proxy.ts';

export const MODES = ['iptables', 'ipvs'] as const;
export type ModeName = (typeof MODES)[number];

/** What one sync cost and what it would send to the kernel. */
export interface SyncCost {
  /** Generating the payload (kube-proxy's side), ms. */
  readonly generateMs: number;
  /** nfemu applying it (restore, compile, load), ms. */
  readonly applyMs: number;
  /** Bytes and lines of the `iptables-restore` input. */
  readonly restoreBytes: number;
  readonly restoreLines: number;
  /** IPVS mode: the IPVS, address and ipset operations (null in iptables mode). */
  readonly ipvsOps: IpvsOps | null;
}

/** A node programmed for the swept cluster, ready for packets. */
export interface ModeInstance {
  readonly mode: ModeName;
  readonly shape: ClusterShape;
  readonly host: Host;
  readonly clock: SimulatedClock;
  /** IPVS mode: the engine (null in iptables mode). */
  readonly ipvs: Ipvs | null;
  /** IPVS mode: the sets (null in iptables mode). */
  readonly sets: IpsetRegistry | null;
  readonly fullSync: SyncCost;
  /** Applies the one-endpoint change (cluster.ts withEndpointChange) and says what it cost. */
  applyEndpointChange(): SyncCost;
}

function now(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

function lines(text: string): number {
  let n = 0;
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) n++;
  return text.length && text.charCodeAt(text.length - 1) !== 10 ? n + 1 : n;
}

/** The node before kube-proxy: eth0, the pod bridge, the default route. */
export function baseHost(clock: SimulatedClock): Host {
  const host = new Host({ clock, rng: new SeededRng(1), name: NODE_NAME });
  host.routing.addIface('eth0');
  host.routing.addAddr('eth0', `${NODE_IP}/24`);
  host.routing.addIface(POD_BRIDGE, 'bridge');
  host.routing.addAddr(POD_BRIDGE, POD_BRIDGE_ADDR);
  host.routing.addRoute(parseRoute(`default via ${NODE_GATEWAY} dev eth0`));
  return host;
}

/** kube-proxy's iptables-mode options for the swept node (nfacct off: see the README section). */
export function iptablesOptions(): ResolvedOptions {
  return resolveOptions({ nodeName: NODE_NAME, nodeIPs: [NODE_IP], clusterCIDR: CLUSTER_CIDR, nfacct: false });
}

/**
 * The iptables-mode restore texts of the kernel twins, without programming an nfemu node:
 * a fresh node's (prelude + full payload, for one `--noflush` restore) and the partial
 * payload of the one-endpoint change.
 */
export function iptablesKernelText(shape: ClusterShape, state: ProxyState = proxyState(shape)): { full: string; change: string } {
  const o = iptablesOptions();
  const sync = syncIptablesRules(state, o);
  const change = syncIptablesRules(withEndpointChange(state, shape).state, o, { previous: sync });
  return { full: sync.prelude + sync.payload, change: change.payload };
}

/** Programs a fresh node in iptables mode. */
export function buildIptables(shape: ClusterShape, state: ProxyState = proxyState(shape)): ModeInstance {
  const clock = new SimulatedClock();
  const host = baseHost(clock);
  const o = iptablesOptions();
  const t0 = now();
  let sync: IptablesSync = syncIptablesRules(state, o);
  const t1 = now();
  let ruleset: Ruleset = iptablesHostRuleset(sync);
  for (const [k, v] of Object.entries(sync.sysctls)) host.setSysctl(k, v);
  host.load(ruleset);
  const t2 = now();
  const full: SyncCost = { generateMs: t1 - t0, applyMs: t2 - t1, restoreBytes: sync.payload.length, restoreLines: lines(sync.payload), ipvsOps: null };
  const change = withEndpointChange(state, shape);
  return {
    mode: 'iptables', shape, host, clock, ipvs: null, sets: null, fullSync: full,
    applyEndpointChange(): SyncCost {
      const a = now();
      const next = syncIptablesRules(change.state, o, { previous: sync });
      const b = now();
      ruleset = iptablesHostRuleset(next, ruleset);
      host.load(ruleset);
      const c = now();
      sync = next;
      return { generateMs: b - a, applyMs: c - b, restoreBytes: next.payload.length, restoreLines: lines(next.payload), ipvsOps: null };
    },
  };
}

/**
 * Binds `addrs` (/32) to the dummy device kube-ipvs0. Routing.addAddr rebuilds the local
 * table on every call (quadratic for 50,000 VIPs), so all but the last address are put on
 * the interface directly and the last one goes through addAddr, which rebuilds once; the
 * result is the same interface and local table.
 */
export function bindVips(host: Host, addrs: readonly string[]): void {
  if (addrs.length === 0) return;
  const iface = host.routing.addIface('kube-ipvs0', 'dummy');
  for (let i = 0; i < addrs.length - 1; i++) {
    const ip = parseIp(addrs[i]!);
    if (!ip || ip.family !== 4) throw new Error(`bad VIP ${addrs[i]}`);
    iface.addrs.push({ family: 4, addr: ip.w, prefix: 32 });
  }
  host.routing.addAddr('kube-ipvs0', `${addrs[addrs.length - 1]}/32`);
}

/** The sysctls kube-proxy's IPVS proxier sets (NewProxier). */
export const IPVS_SYSCTLS: Readonly<Record<string, number>> = {
  'net.ipv4.vs.conntrack': 1,
  'net.ipv4.vs.expire_nodest_conn': 1,
  'net.ipv4.vs.expire_quiescent_template': 1,
  'net.ipv4.ip_forward': 1,
};

/** Programs a fresh node in IPVS mode. */
export function buildIpvs(shape: ClusterShape, state: ProxyState = proxyState(shape)): ModeInstance {
  const clock = new SimulatedClock();
  const host = baseHost(clock);
  const opts = { clusterCIDR: CLUSTER_CIDR };
  const t0 = now();
  let sync: IpvsSync = ipvsProxyRules(state, opts);
  const ops = ipvsOps(null, sync);
  const t1 = now();
  for (const [k, v] of Object.entries(IPVS_SYSCTLS)) host.setSysctl(k, v);
  bindVips(host, sync.bindAddrs);
  const sets = new IpsetRegistry(clock);
  sets.restore(sync.ipsetRestore, 'kube-proxy (ipset)');
  const view = { get: (n: string) => sets.get(n) };
  const ipvs = new Ipvs({ clock });
  restoreIpvs(ipvs, sync.ipvsadmSave, 'kube-proxy (ipvs)');
  let ruleset = restore(sync.iptablesPayload, { family: 4, noflush: true, counters: true, file: 'kube-proxy (restore payload)', sets: view },
    restore(sync.prelude, { family: 4, file: 'kube-proxy (built-in jumps)' }));
  host.load(ruleset, view);
  host.setIpvs(ipvs);
  const t2 = now();
  const full: SyncCost = {
    generateMs: t1 - t0, applyMs: t2 - t1, restoreBytes: sync.iptablesPayload.length, restoreLines: lines(sync.iptablesPayload), ipvsOps: ops,
  };
  const change = withEndpointChange(state, shape);
  return {
    mode: 'ipvs', shape, host, clock, ipvs, sets, fullSync: full,
    applyEndpointChange(): SyncCost {
      const a = now();
      const next = ipvsProxyRules(change.state, opts);
      const diff = ipvsOps(sync, next);
      const b = now();
      // What the sync does to the kernel: the fixed iptables payload again, then only the
      // IPVS and ipset differences (DeleteRealServer / AddRealServer, ipset del / add).
      ruleset = restore(next.iptablesPayload, { family: 4, noflush: true, counters: true, file: 'kube-proxy (restore payload)', sets: view }, ruleset);
      host.load(ruleset, view);
      const cmds: string[] = [];
      const setLines: string[] = [];
      for (const [vs, rs] of next.servers) {
        const old = sync.servers.get(vs);
        if (old === rs) continue;
        const [proto, addr] = [vs.slice(0, vs.indexOf('/')), vs.slice(vs.indexOf('/') + 1)];
        const flag = proto === 'tcp' ? '-t' : proto === 'udp' ? '-u' : '--sctp-service';
        for (const r of old ?? []) if (!rs.includes(r)) cmds.push(`-d ${flag} ${addr} -r ${r} -m`); // -m: ipvsadm takes the port of a DR server from the service
        for (const r of rs) if (!(old ?? []).includes(r)) cmds.push(`-a ${flag} ${addr} -r ${r} -m -w 1`);
      }
      for (const [name, entries] of next.setEntries) {
        const old = sync.setEntries.get(name)!;
        for (const e of old) if (!entries.has(e)) setLines.push(`del ${name} ${e}`);
        for (const e of entries) if (!old.has(e)) setLines.push(`add ${name} ${e}`);
      }
      if (setLines.length) sets.restore(setLines.join('\n'), 'kube-proxy (ipset)');
      if (cmds.length) applyIpvsadm(ipvs, parseIpvsadm(cmds.join('\n'), 'kube-proxy (ipvs)'));
      const c = now();
      sync = next;
      return {
        generateMs: b - a, applyMs: c - b, restoreBytes: next.iptablesPayload.length, restoreLines: lines(next.iptablesPayload), ipvsOps: diff,
      };
    },
  };
}

/** Programs a fresh node in `mode`. */
export function buildMode(mode: ModeName, shape: ClusterShape): ModeInstance {
  return mode === 'iptables' ? buildIptables(shape) : buildIpvs(shape);
}
