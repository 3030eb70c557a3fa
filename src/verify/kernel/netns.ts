/**
 * Scratch network namespaces: `nfemu-p<pid>-<n>-node` (the host under test) and `…-peer`
 * (the other end of every node interface). Nothing here touches the root namespace: veth
 * pairs are created inside the node namespace with their peer end moved straight into the
 * peer namespace, and every address, route and sysctl is set with `ip -n` / `ip netns exec`.
 * Namespaces still alive when the process exits are deleted by an exit hook.
 */
import { WIRE_PEER_MAC } from '../../packet/index.ts';
import { NfemuError } from '../../core/index.ts';
import { run, runSync } from './exec.ts';

export interface Scratch {
  readonly node: string;
  readonly peer: string;
}

const live = new Set<string>();
let hooked = false;
let counter = 0;

function cleanupSync(): void {
  for (const name of live) runSync(['ip', 'netns', 'del', name], 3000);
  live.clear();
}

/**
 * Deletes what is left when the process ends: at 'exit', and on SIGINT/SIGTERM/SIGHUP while
 * namespaces exist (the handler cleans up, removes itself and re-raises the signal, so the
 * process still ends the way the signal says).
 */
function onSignal(sig: NodeJS.Signals): void {
  cleanupSync();
  disarmSignals();
  process.kill(process.pid, sig);
}
const SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
let armed = false;
function armSignals(): void {
  if (armed) return;
  armed = true;
  for (const s of SIGNALS) process.on(s, onSignal);
}
function disarmSignals(): void {
  if (!armed) return;
  armed = false;
  for (const s of SIGNALS) process.off(s, onSignal);
}

function hookExit(): void {
  armSignals();
  if (hooked) return;
  hooked = true;
  process.on('exit', cleanupSync);
}

/** Every scratch namespace of this process is named `<prefix><counter>-node|peer`. */
export function scratchPrefix(): string {
  return `nfemu-p${process.pid.toString(36)}-`;
}

/** Names of the scratch namespaces this process has created and not yet deleted. */
export function liveNamespaces(): string[] {
  return [...live];
}

/**
 * Creates a fresh pair of namespaces. The id is this process's pid and a counter (no
 * randomness needed: names only have to be unique on this machine); a name already taken
 * (a leftover of an earlier process with the same pid) is skipped, at most 50 times.
 */
export async function createScratch(): Promise<Scratch> {
  hookExit();
  let lastErr = '';
  for (let attempt = 0; attempt < 50; attempt++) {
    const id = `${scratchPrefix()}${(counter++).toString(36)}`;
    const node = `${id}-node`;
    const peer = `${id}-peer`;
    const a = await run(['ip', 'netns', 'add', node], { timeoutMs: 10000 });
    if (a.code !== 0) {
      lastErr = a.stderr.trim();
      if (/exists/i.test(lastErr)) continue;
      throw new NfemuError('IO', `ip netns add ${node}: ${lastErr}`);
    }
    live.add(node);
    const b = await run(['ip', 'netns', 'add', peer], { timeoutMs: 10000 });
    if (b.code !== 0) {
      lastErr = b.stderr.trim();
      await deleteNs(node);
      if (/exists/i.test(lastErr)) continue;
      throw new NfemuError('IO', `ip netns add ${peer}: ${lastErr}`);
    }
    live.add(peer);
    return { node, peer };
  }
  throw new NfemuError('IO', `could not create scratch namespaces: ${lastErr}`);
}

async function deleteNs(name: string): Promise<void> {
  await run(['ip', 'netns', 'del', name], { timeoutMs: 10000 });
  live.delete(name);
  if (live.size === 0) disarmSignals();
}

/** Deletes both namespaces (their veth pairs go with them). Never throws. */
export async function destroyScratch(s: Scratch): Promise<void> {
  await deleteNs(s.node);
  await deleteNs(s.peer);
}

/** One node interface and the peer end it is paired with. */
export interface Link {
  /** Name in the node namespace (as the case writes it). */
  name: string;
  /** Name of the veth end in the peer namespace (`p0`, `p1`, …). */
  peer: string;
  addrs: string[];
  /** MAC addresses, read back after creation. */
  mac: string;
  peerMac: string;
  ifindex: number;
}

export interface Topology {
  links: Link[];
  /** ifindex → name in the node namespace (lo included). */
  ifnames: Map<number, string>;
}

/** A case's interface list: `interfaces`, else one `eth0`; `local_addrs` go on the first. */
export function caseInterfaces(c: Record<string, unknown>): { name: string; addrs: string[] }[] {
  const out: { name: string; addrs: string[] }[] = [];
  const given = c['interfaces'];
  if (Array.isArray(given) && given.length > 0) {
    for (const i of given) {
      if (typeof i !== 'object' || i === null || typeof (i as Record<string, unknown>)['name'] !== 'string') {
        throw new NfemuError('PARSE', `case: bad interface ${JSON.stringify(i)}`);
      }
      const r = i as Record<string, unknown>;
      const addrs = Array.isArray(r['addrs']) ? r['addrs'].map(String) : [];
      out.push({ name: String(r['name']), addrs });
    }
  } else {
    out.push({ name: 'eth0', addrs: [] });
  }
  const local = c['local_addrs'];
  if (Array.isArray(local)) for (const a of local) out[0]!.addrs.push(String(a));
  return out;
}

function withPrefix(addr: string): string {
  if (addr.includes('/')) return addr;
  return addr.includes(':') ? `${addr}/128` : `${addr}/32`;
}

/**
 * The sysctl path for a dotted name. Interface names may contain dots (`eth1.110`), so a
 * `net.ipv4.conf.IFACE.key` name is split on the known interface names first.
 */
export function sysctlPath(name: string, ifaces: readonly string[]): string {
  const m = /^(net\.(?:ipv4|ipv6)\.(?:conf|neigh))\.(.+)$/.exec(name);
  if (m) {
    const rest = m[2]!;
    const candidates = ['all', 'default', 'lo', ...ifaces].sort((a, b) => b.length - a.length);
    for (const i of candidates) {
      if (rest.startsWith(i + '.')) return `${m[1]!.replace(/\./g, '/')}/${i}/${rest.slice(i.length + 1).replace(/\./g, '/')}`;
    }
  }
  return name.replace(/\./g, '/');
}

async function must(argv: readonly string[], what: string, input?: string): Promise<string> {
  const r = await run(argv, { input, timeoutMs: 20000 });
  if (r.code !== 0) throw new NfemuError('IO', `${what} failed: ${r.stderr.trim() || r.stdout.trim() || `exit ${r.code}`}`);
  return r.stdout;
}

/**
 * Builds the node: lo up, one veth pair per interface (node end named as the case says,
 * peer end `pN` in the peer namespace), addresses, routes, then sysctls. Node interfaces are
 * NOARP, so the node sends to any next hop without waiting for a neighbour to answer (the
 * peer namespace has no addresses); what it sends is captured on the peer ends.
 */
export async function buildTopology(s: Scratch, c: Record<string, unknown>, log: (l: string) => void): Promise<Topology> {
  const ifaces = caseInterfaces(c);
  const node: string[] = ['link set lo up'];
  const peer: string[] = ['link set lo up'];
  const links: Link[] = [];
  ifaces.forEach((i, n) => {
    if (i.name === 'lo') return;
    if (i.name.length > 15 || !/^[A-Za-z0-9_.@:-]+$/.test(i.name)) throw new NfemuError('PARSE', `case: bad interface name "${i.name}"`);
    const p = `p${n}`;
    node.push(`link add ${i.name} type veth peer name ${p} netns ${s.peer}`);
    node.push(`link set ${i.name} arp off up`);
    // Frames from the wire carry this source MAC, the one nfemu gives them (WIRE_PEER_MAC).
    peer.push(`link set ${p} address ${WIRE_PEER_MAC} arp off up`);
    links.push({ name: i.name, peer: p, addrs: i.addrs.map(withPrefix), mac: '', peerMac: '', ifindex: 0 });
  });
  for (const i of ifaces) {
    for (const a of i.addrs) node.push(`addr add ${withPrefix(a)} dev ${i.name}${a.includes(':') ? ' nodad' : ''}`);
  }
  // Peer side: quiet (no IPv6 autoconfiguration chatter) before its links come up.
  await must(['ip', 'netns', 'exec', s.peer, 'sysctl', '-q', '-w', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1'], 'peer sysctl');
  log(`ip -n ${s.node} -batch: ${node.join('; ')}`);
  await must(['ip', '-n', s.node, '-batch', '-'], 'node interfaces', node.join('\n') + '\n');
  await must(['ip', '-n', s.peer, '-batch', '-'], 'peer interfaces', peer.join('\n') + '\n');

  // Defaults a router-like node needs; the case's own sysctls are applied after and win.
  const sysctls = new Map<string, string>();
  sysctls.set('net.ipv4.ip_forward', '1');
  sysctls.set('net.ipv6.conf.all.forwarding', '1');
  // No ICMP rate limiting: every sample's ICMP error must reach the capture.
  sysctls.set('net.ipv4.icmp_ratelimit', '0');
  sysctls.set('net.ipv6.icmp.ratelimit', '0');
  const given = c['sysctls'];
  if (given && typeof given === 'object') for (const [k, v] of Object.entries(given as Record<string, unknown>)) sysctls.set(k, String(v));
  const names = links.map((l) => l.name);
  const args = [...sysctls].map(([k, v]) => `${sysctlPath(k, names)}=${v}`);
  log(`sysctl -w ${args.join(' ')}`);
  await must(['ip', 'netns', 'exec', s.node, 'sysctl', '-q', '-w', ...args], 'sysctl');

  const routes = c['routes'];
  if (Array.isArray(routes) && routes.length > 0) {
    const lines = routes.map((r) => `route add ${String(r).replace(/^\s*(add|replace)\s+/, '')}`);
    log(`ip -n ${s.node} -batch: ${lines.join('; ')}`);
    await must(['ip', '-n', s.node, '-batch', '-'], 'routes', lines.join('\n') + '\n');
  }

  const nodeLinks = JSON.parse(await must(['ip', '-n', s.node, '-j', 'link', 'show'], 'ip link show')) as { ifindex: number; ifname: string; address?: string }[];
  const peerLinks = JSON.parse(await must(['ip', '-n', s.peer, '-j', 'link', 'show'], 'ip link show')) as { ifindex: number; ifname: string; address?: string }[];
  const ifnames = new Map<number, string>();
  for (const l of nodeLinks) ifnames.set(l.ifindex, l.ifname);
  for (const l of links) {
    const n = nodeLinks.find((x) => x.ifname === l.name);
    const p = peerLinks.find((x) => x.ifname === l.peer);
    l.mac = n?.address ?? '';
    l.ifindex = n?.ifindex ?? 0;
    l.peerMac = p?.address ?? '';
  }
  return { links, ifnames };
}
