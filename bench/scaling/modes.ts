/**
 * The proxy modes the harness sweeps, each as "program a fresh node for this cluster" and
 * "apply one endpoint change", with the control-plane numbers of both:
 *  - iptables: src/kube's kube-proxy generator (syncIptablesRules: full sync, then a partial
 *    sync as MinimizeIPTablesRestore does), applied through src/xtables' restore
 *    (`--noflush`) and Host.load;
 *  - ipvs: src/kube's IPVS-mode generator (syncIpvsRules), applied to src/ipvs (virtual
 *    servers from ipvsadm-save text), src/ipset (ipset restore) and the host's addresses and
 *    rules; a later sync's changes are applied as kube-proxy makes them (real servers and set
 *    entries one by one, the fixed iptables payload again), counted by ./ipvs-ops.ts.
 * Everything here is setup: nothing is timed per packet.
 */
import { Host, SeededRng, SimulatedClock, restore, parseRoute, parseIp, type Ruleset } from '../../src/index.ts';
import { resolveOptions, syncIptablesRules, iptablesHostRuleset, type IptablesSync, type ProxyState, type ResolvedOptions } from '../../src/kube/index.ts';
import { IpsetRegistry } from '../../src/ipset/index.ts';
import { Ipvs, restoreIpvs, applyIpvsadm, parseIpvsadm } from '../../src/ipvs/index.ts';
import { syncIpvsRules, ipvsHostRuleset, type IpvsSync } from '../../src/kube/index.ts';
import {
  CLUSTER_CIDR, NODE_GATEWAY, NODE_IP, NODE_NAME, POD_BRIDGE, POD_BRIDGE_ADDR, proxyState, withEndpointChange, type ClusterShape,
} from './cluster.ts';
import { ipvsChangeCommands, ipvsOps, type IpvsOps } from './ipvs-ops.ts';

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
  /** Names of the sets in `sets`. */
  readonly setNames: readonly string[];
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
    mode: 'iptables', shape, host, clock, ipvs: null, sets: null, setNames: [], fullSync: full,
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

/** Programs a fresh node in IPVS mode. */
export function buildIpvs(shape: ClusterShape, state: ProxyState = proxyState(shape)): ModeInstance {
  const clock = new SimulatedClock();
  const host = baseHost(clock);
  const o = iptablesOptions();
  const t0 = now();
  let sync: IpvsSync = syncIpvsRules(state, o);
  const t1 = now();
  for (const [k, v] of Object.entries(sync.sysctls)) host.setSysctl(k, v);
  bindVips(host, sync.vips);
  const sets = new IpsetRegistry(clock);
  sets.restore(sync.ipsets, 'kube-proxy (ipset)');
  const view = { get: (n: string) => sets.get(n) };
  const ipvs = new Ipvs({ clock });
  restoreIpvs(ipvs, sync.ipvs, 'kube-proxy (ipvs)');
  let ruleset = ipvsHostRuleset(sync, view);
  host.load(ruleset, view);
  host.setIpvs(ipvs);
  const t2 = now();
  const full: SyncCost = {
    generateMs: t1 - t0, applyMs: t2 - t1, restoreBytes: sync.iptables.length, restoreLines: lines(sync.iptables), ipvsOps: ipvsOps(null, sync),
  };
  const setNames = sync.ipsets.split('\n').filter((l) => l.startsWith('create ')).map((l) => l.split(/\s+/)[1]!);
  const change = withEndpointChange(state, shape);
  return {
    mode: 'ipvs', shape, host, clock, ipvs, sets, setNames, fullSync: full,
    applyEndpointChange(): SyncCost {
      const a = now();
      const next = syncIpvsRules(change.state, o);
      const ops = ipvsOps(sync, next);
      const cmds = ipvsChangeCommands(sync, next);
      const b = now();
      // What the sync does to the kernel: the fixed iptables payload again, then only the
      // IPVS and ipset differences (DeleteRealServer / AddRealServer, ipset del / add).
      ruleset = restore(next.iptables, { family: 4, noflush: true, counters: true, file: 'kube-proxy (restore payload)', sets: view }, ruleset);
      host.load(ruleset, view);
      if (cmds.ipset.length) sets.restore(cmds.ipset.join('\n'), 'kube-proxy (ipset)');
      if (cmds.ipvsadm.length) applyIpvsadm(ipvs, parseIpvsadm(cmds.ipvsadm.join('\n'), 'kube-proxy (ipvs)'));
      const c = now();
      sync = next;
      return { generateMs: b - a, applyMs: c - b, restoreBytes: next.iptables.length, restoreLines: lines(next.iptables), ipvsOps: ops };
    },
  };
}

/** Programs a fresh node in `mode`. */
export function buildMode(mode: ModeName, shape: ClusterShape): ModeInstance {
  return mode === 'iptables' ? buildIptables(shape) : buildIpvs(shape);
}
