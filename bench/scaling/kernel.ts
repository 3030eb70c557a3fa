/**
 * Kernel twins: the same generated iptables-mode rulesets in the real kernel, in scratch
 * network namespaces (`nfemu-bench-<pid>-<n>-node` / `-peer`, deleted in a finally; the
 * root namespace is never touched), for each back end (iptables-nft, iptables-legacy):
 *  - `iptables-restore` time for the whole ruleset on a fresh node (prelude + payload, one
 *    `--noflush` restore) and for the one-service change (kube-proxy's partial payload);
 *  - the kernel's per-packet cost of a first packet through KUBE-SERVICES to the first and
 *    to the last ClusterIP: bursts of TCP SYNs (a new connection each) from the peer
 *    namespace through a veth, timed by the sender (see kernel-send.py for why that time
 *    includes the node's netfilter work, and the README section for the noise).
 * Every command has a time limit; a back end whose restore would not finish in time at a
 * size (predicted from the last size, assuming quadratic growth) is skipped there.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { CLIENT_POD_IP, CLUSTER_CIDR, SERVICE_PORT, serviceIp } from './cluster.ts';

export const BACKENDS = ['nft', 'legacy'] as const;
export type Backend = (typeof BACKENDS)[number];

const RESTORE: Record<Backend, string> = { nft: 'iptables-nft-restore', legacy: 'iptables-legacy-restore' };
const SAVE: Record<Backend, string> = { nft: 'iptables-nft-save', legacy: 'iptables-legacy-save' };

const SENDER = fileURLToPath(new URL('./kernel-send.py', import.meta.url));

/** Result of one command. */
interface Exec {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
  timedOut: boolean;
}

/** Runs argv with a time limit (the child is killed by its pid when it passes); never throws. */
export function run(argv: readonly string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<Exec> {
  const timeoutMs = opts.timeoutMs ?? 20000;
  return new Promise((resolve) => {
    const t0 = process.hrtime.bigint();
    let out = '';
    let err = '';
    let timedOut = false;
    let done = false;
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    const finish = (code: number, extra = ''): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve({ code, stdout: out, stderr: err + extra, ms: Number(process.hrtime.bigint() - t0) / 1e6, timedOut });
    };
    child.on('error', (e) => finish(-1, String(e.message)));
    child.on('close', (code) => finish(code ?? -1));
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.input ?? '');
  });
}

async function must(argv: readonly string[], input?: string, timeoutMs = 20000): Promise<string> {
  const r = await run(argv, { input, timeoutMs });
  if (r.code !== 0) throw new Error(`${argv.join(' ')}: ${r.timedOut ? `timed out after ${timeoutMs} ms` : (r.stderr.trim() || `exit ${r.code}`)}`);
  return r.stdout;
}

/** Whether the kernel twins can run here, and why not. */
export interface KernelAvailability {
  readonly ok: boolean;
  readonly reason: string;
  /** Back ends whose restore tool is installed. */
  readonly backends: readonly Backend[];
  readonly kernel: string;
  /** IPVS in this kernel (for an IPVS twin); false with the reason. */
  readonly ipvs: { readonly ok: boolean; readonly reason: string };
}

function onPath(tool: string): boolean {
  const dirs = (process.env['PATH'] ?? '').split(':').concat(['/usr/sbin', '/sbin', '/usr/bin', '/bin']);
  return dirs.some((d) => d && existsSync(`${d}/${tool}`));
}

/** Root, Linux, `ip`, python3 and at least one restore tool. */
export function kernelAvailable(): KernelAvailability {
  const problems: string[] = [];
  let kernel = '';
  if (process.platform !== 'linux') problems.push(`not Linux (${process.platform})`);
  else {
    kernel = readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim();
    if (typeof process.getuid !== 'function' || process.getuid() !== 0) problems.push('not root');
  }
  for (const t of ['ip', 'python3']) if (!onPath(t)) problems.push(`missing ${t}`);
  const backends = BACKENDS.filter((b) => onPath(RESTORE[b]) && onPath(SAVE[b]));
  if (backends.length === 0) problems.push('no iptables-nft-restore or iptables-legacy-restore');
  // IPVS: the module's proc file exists once ip_vs is loaded or built in; `modprobe -n` says whether it could be.
  let ipvs = { ok: false, reason: 'not Linux' };
  if (process.platform === 'linux') {
    const config = kernelConfig();
    if (existsSync('/proc/net/ip_vs')) ipvs = { ok: true, reason: 'ok' };
    else if (config !== null && !/^CONFIG_IP_VS=[ym]$/m.test(config)) ipvs = { ok: false, reason: `CONFIG_IP_VS is not set in kernel ${kernel} (/proc/config.gz)` };
    else {
      const m = spawnSync('modprobe', ['-n', 'ip_vs'], { encoding: 'utf8', timeout: 5000 });
      ipvs = m.status === 0 ? { ok: true, reason: 'ok (module ip_vs)' } : { ok: false, reason: `no IPVS in kernel ${kernel} (no /proc/net/ip_vs, modprobe ip_vs: ${(m.stderr || m.error?.message || 'failed').trim()})` };
    }
  }
  return { ok: problems.length === 0, reason: problems.length ? problems.join('; ') : 'ok', backends, kernel, ipvs };
}

/** The running kernel's build configuration, when it exposes one (/proc/config.gz). */
function kernelConfig(): string | null {
  try {
    return gunzipSync(readFileSync('/proc/config.gz')).toString('utf8');
  } catch {
    return null;
  }
}

/** Scratch namespaces alive in this process (deleted at exit if a run is interrupted). */
const live = new Set<string>();
let counter = 0;
let hooked = false;

function cleanupSync(): void {
  for (const ns of live) spawnSync('ip', ['netns', 'del', ns], { timeout: 5000 });
  live.clear();
}

function hookExit(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', cleanupSync);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      cleanupSync();
      process.kill(process.pid, sig);
    });
  }
}

interface Scratch {
  readonly node: string;
  readonly peer: string;
}

/** Creates the node and peer namespaces, a veth between them, addresses and routes. */
async function createScratch(): Promise<Scratch> {
  hookExit();
  for (let attempt = 0; attempt < 20; attempt++) {
    const id = `nfemu-bench-${process.pid.toString(36)}-${(counter++).toString(36)}`;
    const node = `${id}-node`;
    const peer = `${id}-peer`;
    const a = await run(['ip', 'netns', 'add', node], { timeoutMs: 10000 });
    if (a.code !== 0) {
      if (/exists/i.test(a.stderr)) continue;
      throw new Error(`ip netns add ${node}: ${a.stderr.trim()}`);
    }
    live.add(node);
    const b = await run(['ip', 'netns', 'add', peer], { timeoutMs: 10000 });
    if (b.code !== 0) {
      await destroyScratch({ node, peer: '' });
      if (/exists/i.test(b.stderr)) continue;
      throw new Error(`ip netns add ${peer}: ${b.stderr.trim()}`);
    }
    live.add(peer);
    const s = { node, peer };
    try {
      await must(['ip', '-n', node, '-batch', '-'], [
        'link set lo up',
        `link add eth0 type veth peer name p0 netns ${peer}`,
        'addr add 192.168.0.2/24 dev eth0',
        'link set eth0 up',
        // DNATed packets go nowhere: dropped at the routing decision, before POSTROUTING and
        // conntrack confirmation (fib lookup fails with EINVAL: no ICMP error, no entry kept).
        `route add blackhole ${CLUSTER_CIDR}`,
      ].join('\n') + '\n');
      await must(['ip', '-n', peer, '-batch', '-'], ['link set lo up', 'addr add 192.168.0.1/24 dev p0', 'link set p0 up', 'route add default via 192.168.0.2'].join('\n') + '\n');
      await must(['ip', 'netns', 'exec', node, 'sysctl', '-q', '-w', 'net.ipv4.ip_forward=1', 'net.ipv4.conf.all.rp_filter=0', 'net.ipv4.conf.default.rp_filter=0', 'net.ipv4.conf.eth0.rp_filter=0', 'net.ipv4.conf.all.route_localnet=1']);
      await must(['ip', 'netns', 'exec', peer, 'sysctl', '-q', '-w', 'net.ipv6.conf.all.disable_ipv6=1']);
    } catch (e) {
      await destroyScratch(s);
      throw e;
    }
    return s;
  }
  throw new Error('could not create scratch namespaces');
}

async function destroyScratch(s: Scratch): Promise<void> {
  for (const ns of [s.node, s.peer]) {
    if (!ns) continue;
    await run(['ip', 'netns', 'del', ns], { timeoutMs: 10000 });
    live.delete(ns);
  }
}

/** What one back end measured at one size. */
export interface KernelMeasurement {
  readonly backend: Backend;
  readonly services: number;
  readonly endpoints: number;
  /** Fresh node: restore of prelude + full payload (ms), null when skipped or failed. */
  readonly restoreFullMs: number | null;
  /** The one-endpoint change: restore of the partial payload with --noflush (ms). */
  readonly restoreChangeMs: number | null;
  /** Rules the kernel holds after the full restore (iptables-save line count of -A lines). */
  readonly rules: number | null;
  /** Per-packet time of a first packet to the first / last ClusterIP, ns (median burst / count). */
  readonly firstNs: number | null;
  readonly lastNs: number | null;
  /** Every burst, ns per packet, per target (first, last). */
  readonly bursts: { readonly first: readonly number[]; readonly last: readonly number[] } | null;
  readonly packetsPerBurst: number;
  /** Why something is missing. */
  readonly note: string;
}

/** How long the kernel measurements may take. */
export interface KernelOptions {
  /** Time limit of one restore, ms. */
  readonly restoreTimeoutMs: number;
  /** Packets per burst and bursts per target. */
  readonly packets: number;
  readonly reps: number;
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/**
 * Measures one back end at one size, given the restore texts (fresh node, and the change).
 * Deletes its namespaces whatever happens.
 */
export async function measureKernel(
  backend: Backend, services: number, endpoints: number, text: { full: string; change: string }, opts: KernelOptions,
): Promise<KernelMeasurement> {
  const base = { backend, services, endpoints, packetsPerBurst: opts.packets };
  const s = await createScratch();
  try {
    const full = await run(['ip', 'netns', 'exec', s.node, RESTORE[backend], '--noflush'], { input: text.full, timeoutMs: opts.restoreTimeoutMs });
    if (full.code !== 0) {
      const why = full.timedOut ? `full restore did not finish in ${opts.restoreTimeoutMs / 1000} s` : `full restore failed: ${full.stderr.trim().split('\n')[0]}`;
      return { ...base, restoreFullMs: null, restoreChangeMs: null, rules: null, firstNs: null, lastNs: null, bursts: null, note: why };
    }
    const saved = await run(['ip', 'netns', 'exec', s.node, SAVE[backend]], { timeoutMs: opts.restoreTimeoutMs });
    const rules = saved.code === 0 ? saved.stdout.split('\n').filter((l) => l.startsWith('-A ')).length : null;
    // Packets before the change, so first/last are the same rules nfemu measured.
    const targets = [`${serviceIp(0)}:${SERVICE_PORT}`, `${serviceIp(services - 1)}:${SERVICE_PORT}`];
    const reps = Math.max(1, Math.min(opts.reps, Math.floor(60000 / (2 * opts.packets))));
    const send = await run(['ip', 'netns', 'exec', s.peer, 'python3', SENDER, CLIENT_POD_IP, targets.join(','), String(opts.packets), String(reps)], {
      timeoutMs: Math.max(30000, opts.restoreTimeoutMs),
    });
    let firstNs: number | null = null;
    let lastNs: number | null = null;
    let bursts: KernelMeasurement['bursts'] = null;
    let note = '';
    if (send.code === 0) {
      const r = JSON.parse(send.stdout) as { ns: number[][]; count: number };
      const per = r.ns.map((b) => b.map((x) => x / r.count));
      bursts = { first: per[0]!, last: per[1]! };
      firstNs = median(per[0]!);
      lastNs = median(per[1]!);
    } else {
      note = `packets: ${send.timedOut ? 'timed out' : send.stderr.trim().split('\n').pop()}`;
    }
    const change = await run(['ip', 'netns', 'exec', s.node, RESTORE[backend], '--noflush', '--counters'], { input: text.change, timeoutMs: opts.restoreTimeoutMs });
    const restoreChangeMs = change.code === 0 ? change.ms : null;
    if (change.code !== 0) note = [note, change.timedOut ? `change restore did not finish in ${opts.restoreTimeoutMs / 1000} s` : `change restore failed: ${change.stderr.trim().split('\n')[0]}`].filter(Boolean).join('; ');
    return { ...base, restoreFullMs: full.ms, restoreChangeMs, rules, firstNs, lastNs, bursts, note };
  } finally {
    await destroyScratch(s);
  }
}

/**
 * Whether a restore at `services` is worth trying, given the time one took at a smaller
 * size: predicted with quadratic growth (iptables-nft-restore 1.8.9 grows faster than
 * linearly with the number of chains), compared with the time limit.
 */
export function worthTrying(prev: { services: number; ms: number } | null, services: number, timeoutMs: number): boolean {
  if (prev === null) return true;
  const f = services / prev.services;
  return prev.ms * f * f <= timeoutMs;
}
