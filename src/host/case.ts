/**
 * Case files (DESIGN.md §4): build a host from a case, run its packets in order (one
 * conntrack table), enumerate random branches with their exact probabilities, and return
 * the result JSON.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { NfemuError, SeededRng, SimulatedClock, parseIp, type Family } from '../core/index.ts';
import { NF_ACCEPT, NF_DROP, NF_INET_LOCAL_OUT, NF_INET_PRE_ROUTING } from '../netfilter/index.ts';
import { buildPacket, formatMark, type Packet, type PacketSpec } from '../packet/index.ts';
import { connToJson } from '../conntrack/index.ts';
import { restore, type Ruleset } from '../xtables/index.ts';
import { IpsetRegistry } from '../ipset/index.ts';
import { Ipvs, restoreIpvs } from '../ipvs/index.ts';
import {
  KUBE_IPVS_DEVICE, generateIptables, generateIpvs, ipvsHostRuleset, iptablesHostRuleset, parseManifests, readManifestFiles,
  type IpvsProxyOptions, type IptablesSync, type IpvsSync,
} from '../kube/index.ts';
import { Host, type PacketOutcome } from './host.ts';
import { parseRoute } from './routing.ts';
import { TraceCollector, packetJson, ctStateName, statusNames, type PacketJson, type TraceEntry } from './trace.ts';

export interface CaseFile {
  ruleset?: string;
  ruleset_file?: string;
  /** Kubernetes YAML, in place of `ruleset`: the host gets what kube-proxy (iptables mode) would program. */
  manifests?: string;
  /** Manifest files (relative to the case file), in place of `ruleset`. */
  manifests_files?: string[];
  /** With manifests: the node (its name) the host is. */
  node?: string;
  /**
   * With manifests: kube-proxy options (src/kube IpvsProxyOptions) and `mode` ("iptables",
   * the default, or "ipvs": the node gets kube-ipvs0 with the VIPs, the ipsets, the
   * iptables rules and the IPVS virtual servers kube-proxy's IPVS mode programs).
   */
  kube_proxy?: IpvsProxyOptions & { mode?: 'iptables' | 'ipvs' };
  ipsets?: string;
  /** `ipvsadm-save -n` text: IPVS virtual services and real servers on this host. */
  ipvs?: string;
  local_addrs?: string[];
  interfaces?: { name: string; addrs?: string[] }[];
  routes?: string[];
  sysctls?: Record<string, number | string>;
  packets: PacketSpec[];
  fresh_conntrack?: boolean;
  reload_each_sample?: boolean;
  /** Seconds to advance the clock before each packet (optional, per packet index). */
  advance?: number[];
  [k: string]: unknown;
}

export interface FinalJson extends PacketJson {
  verdict: string;
  fate: string;
  sport?: number;
  dport?: number;
  by?: { table: string; chain: string; rule_index: number | null; target: string };
  reason?: string;
}

export interface OutcomeJson {
  probability: number;
  trace: TraceEntry[];
  final: FinalJson;
}

export interface PacketResultJson {
  packet: PacketSpec;
  trace: TraceEntry[];
  final: FinalJson;
  conntrack: unknown[];
  emitted: PacketJson[];
  logs: string[];
  outcomes?: OutcomeJson[];
}

export interface CaseResultJson {
  results: PacketResultJson[];
}

export interface RunOptions {
  /** Directory that `ruleset_file` is relative to. */
  readonly baseDir?: string;
  /** File name for messages. */
  readonly file?: string;
  /** Sample one branch of random rules with this seed instead of enumerating them. */
  readonly seed?: number;
  /** Explain every rule passed over. */
  readonly why?: boolean;
  /** Most branches to enumerate per packet. */
  readonly maxOutcomes?: number;
}

function familyOf(c: CaseFile): Family {
  for (const p of c.packets ?? []) {
    const ip = parseIp(String(p.src));
    if (ip) return ip.family;
  }
  return 4;
}

/** Builds the host a case describes (interfaces, addresses, routes, sysctls, ruleset, ipsets). */
export function buildHost(c: CaseFile, opts: RunOptions, seed = 1): Host {
  const family = familyOf(c);
  const clock = new SimulatedClock(0);
  const host = new Host({ clock, rng: new SeededRng(seed) }, family);
  const kube = kubeSync(c, opts, family);
  const kubeIpvs = kube && kube.mode === 'ipvs' ? kube.sync : null;
  const kubeIptables = kube && kube.mode === 'iptables' ? kube.sync : null;
  let ifaces = c.interfaces && c.interfaces.length ? c.interfaces : [{ name: 'eth0', addrs: [] as string[] }];
  // With manifests and no address given, the node's own addresses go on the first interface.
  if (kube && !c.local_addrs?.length && !ifaces.some((i) => i.addrs?.length)) {
    const addrs = kube.sync.options.nodeIPs.filter((a) => parseIp(a)?.family === family).map((a) => `${a}/${family === 6 ? 128 : 32}`);
    ifaces = [{ ...ifaces[0]!, addrs }, ...ifaces.slice(1)];
  }
  // IPVS mode: the service addresses are bound to the dummy interface kube-ipvs0.
  if (kubeIpvs) {
    const vips = kubeIpvs.vips.map((a) => `${a}/${family === 6 ? 128 : 32}`);
    const mine = ifaces.find((i) => i.name === KUBE_IPVS_DEVICE);
    ifaces = mine
      ? ifaces.map((i) => (i === mine ? { ...i, addrs: [...(i.addrs ?? []), ...vips.filter((v) => !(i.addrs ?? []).includes(v))] } : i))
      : [...ifaces, { name: KUBE_IPVS_DEVICE, addrs: vips }];
  }
  for (const i of ifaces) {
    host.routing.addIface(i.name, i.name.startsWith('kube-ipvs') || i.name.startsWith('dummy') ? 'dummy' : 'veth');
    for (const a of i.addrs ?? []) host.routing.addAddr(i.name, a);
  }
  for (const a of c.local_addrs ?? []) host.routing.addAddr(ifaces[0]!.name, a.includes('/') ? a : `${a}/${a.includes(':') ? 128 : 32}`);
  for (const r of c.routes ?? []) host.routing.addRoute(parseRoute(r, family));
  for (const [k, v] of Object.entries({ ...(kube?.sync.sysctls ?? {}), ...(c.sysctls ?? {}) })) host.setSysctl(k, Number(v));
  let sets: IpsetRegistry | undefined;
  if (c.ipsets || kubeIpvs) {
    sets = new IpsetRegistry(clock);
    if (kubeIpvs) sets.restore(kubeIpvs.ipsets, opts.file ? `${opts.file} (kube-proxy ipsets)` : 'kube-proxy ipsets');
    if (c.ipsets) sets.restore(c.ipsets, opts.file ? `${opts.file} (ipsets)` : 'ipsets');
  }
  let text = c.ruleset;
  // Lines of an inline ruleset count from its own first line.
  let rsFile = opts.file !== undefined ? `${opts.file} (ruleset)` : 'ruleset';
  if (text === undefined && c.ruleset_file !== undefined) {
    const p = resolve(opts.baseDir ?? '.', c.ruleset_file);
    try {
      text = readFileSync(p, 'utf8');
    } catch {
      throw new NfemuError('IO', `cannot read ruleset_file ${c.ruleset_file}`, { file: opts.file, token: c.ruleset_file });
    }
    rsFile = c.ruleset_file;
  }
  let rs: Ruleset | undefined;
  if (text !== undefined) rs = restore(text, { family, file: rsFile, sets: sets ?? null });
  else if (kubeIptables) rs = iptablesHostRuleset(kubeIptables, undefined, opts.file ?? 'manifests');
  else if (kubeIpvs) rs = ipvsHostRuleset(kubeIpvs, sets ?? null, opts.file ?? 'manifests');
  if (rs) host.load(rs, sets ? { get: (n) => sets!.get(n) } : undefined);
  if (c.ipvs !== undefined || kubeIpvs) {
    const ipvs = new Ipvs({ clock });
    if (kubeIpvs) restoreIpvs(ipvs, kubeIpvs.ipvs, opts.file ? `${opts.file} (kube-proxy ipvs)` : 'kube-proxy ipvs');
    if (c.ipvs !== undefined) restoreIpvs(ipvs, String(c.ipvs), opts.file ? `${opts.file} (ipvs)` : 'ipvs');
    host.setIpvs(ipvs);
  }
  return host;
}

type KubeSync = { mode: 'iptables'; sync: IptablesSync } | { mode: 'ipvs'; sync: IpvsSync };

/** With `manifests` / `manifests_files` (and no ruleset): one full kube-proxy sync for `node`, in `kube_proxy.mode`. */
function kubeSync(c: CaseFile, opts: RunOptions, family: Family): KubeSync | null {
  if (c.manifests === undefined && c.manifests_files === undefined) return null;
  if (c.ruleset !== undefined || c.ruleset_file !== undefined) {
    throw new NfemuError('PARSE', 'a case takes either a ruleset or manifests, not both', { file: opts.file });
  }
  const objs = c.manifests !== undefined
    ? parseManifests(c.manifests, opts.file ? `${opts.file} (manifests)` : 'manifests')
    : readManifestFiles(c.manifests_files!, opts.baseDir ?? '.');
  const { mode = 'iptables', ...options } = c.kube_proxy ?? {};
  const resolved = { family, ...options, nodeName: c.node ?? options.nodeName ?? null };
  if (mode === 'ipvs') return { mode, sync: generateIpvs(objs, resolved) };
  if (mode !== 'iptables') {
    throw new NfemuError('PARSE', `kube_proxy.mode must be "iptables" or "ipvs", not ${JSON.stringify(mode)}`, { file: opts.file, token: String(mode) });
  }
  return { mode, sync: generateIptables(objs, resolved) };
}

function finalJson(o: PacketOutcome, conntrackOn: boolean): FinalJson {
  const p = o.packet;
  const base = packetJson(p, conntrackOn);
  delete base.ttl;
  delete base.tcp_flags;
  delete base.ct_direction;
  const f: FinalJson = { verdict: o.verdict === NF_ACCEPT ? 'ACCEPT' : o.verdict === NF_DROP ? 'DROP' : 'QUEUE', fate: o.fate, ...base };
  if (conntrackOn && (p.ct !== null || p.ctinfo !== -1)) {
    f.ct_state = ctStateName(p);
    const st = (p.ct as unknown as { status?: number } | null)?.status ?? 0;
    const names = statusNames(st);
    if (names) f.ct_status = names;
    else delete f.ct_status;
  }
  f.mark = formatMark(p.mark);
  if (o.by) f.by = o.by;
  if (o.reason) f.reason = o.reason;
  return f;
}

interface Branch {
  host: Host;
  outcome: PacketOutcome;
  probability: number;
}

/** Runs one packet on `host`, enumerating random branches; returns every branch (host state after it included). */
export function runPacketBranches(host: Host, spec: PacketSpec, opts: RunOptions): Branch[] {
  const hook = spec.hook === 'OUTPUT' || (spec.hook === undefined && spec.in_iface === undefined) ? NF_INET_LOCAL_OUT : NF_INET_PRE_ROUTING;
  if (spec.hook !== undefined && spec.hook !== 'OUTPUT' && spec.hook !== 'PREROUTING') {
    throw new NfemuError('PARSE', `packet hook must be PREROUTING or OUTPUT, not ${spec.hook}`, { token: String(spec.hook) });
  }
  if (hook === NF_INET_PRE_ROUTING && spec.in_iface === undefined) {
    throw new NfemuError('PARSE', 'a PREROUTING packet needs in_iface', { token: 'in_iface' });
  }
  const once = (h: Host, script: boolean[] | null) => {
    const pkt: Packet = buildPacket(spec);
    if (hook === NF_INET_LOCAL_OUT) {
      // A local process sends it: as root unless the case names the socket's owner.
      if (spec.uid === undefined) pkt.uid = 0;
      if (spec.gid === undefined) pkt.gid = 0;
    }
    h.setScript(script);
    const trace = new TraceCollector(opts.why ?? false);
    const outcome = h.inject(pkt, hook, trace);
    const taken = h.decisions().slice();
    h.setScript(null);
    return { outcome, taken };
  };
  if (opts.seed !== undefined) {
    const h = host.clone();
    const { outcome } = once(h, null);
    return [{ host: h, outcome, probability: 1 }];
  }
  const max = opts.maxOutcomes ?? 4096;
  const branches: Branch[] = [];
  const pending: boolean[][] = [[]];
  while (pending.length) {
    if (branches.length >= max) throw new NfemuError('USAGE', `more than ${max} random branches for one packet; use --seed to sample one`);
    const script = pending.pop()!;
    const h = host.clone();
    const { outcome, taken } = once(h, script);
    let p = 1;
    for (const d of taken) p *= d.took ? d.p : 1 - d.p;
    for (let i = taken.length - 1; i >= script.length; i--) {
      // A new decision point where we took `true`: schedule the `false` side.
      pending.push([...taken.slice(0, i).map((d) => d.took), false]);
    }
    if (p > 0) branches.push({ host: h, outcome, probability: p });
  }
  return branches;
}

/** Runs every packet of a case; returns the result JSON. Throws NfemuError if the case does not load. */
export function runCase(c: CaseFile, opts: RunOptions = {}): CaseResultJson {
  if (!Array.isArray(c.packets)) throw new NfemuError('PARSE', 'case has no "packets" array', { file: opts.file });
  let host = buildHost(c, opts, opts.seed ?? 1);
  const results: PacketResultJson[] = [];
  c.packets.forEach((spec, i) => {
    if (c.reload_each_sample) host = buildHost(c, opts, opts.seed ?? 1);
    const adv = c.advance?.[i];
    if (adv) (host.opts.clock as SimulatedClock).advanceSeconds(adv);
    if (c.fresh_conntrack) host.conntrack?.flush();
    const branches = runPacketBranches(host, spec, opts);
    let best = branches[0]!;
    for (const b of branches) if (b.probability > best.probability) best = b;
    host = best.host;
    const now = host.opts.clock.nowMs();
    const r: PacketResultJson = {
      packet: spec,
      trace: best.outcome.trace?.entries ?? [],
      final: finalJson(best.outcome, best.host.conntrack !== null),
      conntrack: host.conntrack ? host.conntrack.entries().map((e: Parameters<typeof connToJson>[0]) => connToJson(e, now)) : [],
      emitted: best.outcome.emitted.map((e) => packetJson(e, best.host.conntrack !== null)),
      logs: best.outcome.logs.map((l) => l.text),
    };
    if (branches.length > 1) {
      r.outcomes = branches.map((b) => ({ probability: b.probability, trace: b.outcome.trace?.entries ?? [], final: finalJson(b.outcome, b.host.conntrack !== null) }));
    }
    results.push(r);
  });
  return { results };
}

/** Reads a case file (or `{cases: […]}` file) from disk. */
export function readCaseFile(path: string): { cases: CaseFile[]; multi: boolean; baseDir: string } {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    throw new NfemuError('IO', `cannot read ${path}`, { file: path });
  }
  let obj: unknown;
  try {
    obj = JSON.parse(text);
  } catch (e) {
    throw new NfemuError('PARSE', `not valid JSON: ${(e as Error).message}`, { file: path });
  }
  const o = obj as { cases?: CaseFile[] };
  if (o && Array.isArray(o.cases)) return { cases: o.cases, multi: true, baseDir: dirname(path) };
  return { cases: [obj as CaseFile], multi: false, baseDir: dirname(path) };
}
