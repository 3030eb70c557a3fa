/**
 * The scaling harness: iptables vs IPVS as the cluster grows (`npm run bench`,
 * `nfemu bench`). Sweeps N services × E endpoints in each mode, each (mode, size) in a
 * fresh worker process (worker.ts), then the kernel twins of the same rulesets; shows a
 * progress bar while it runs, prints a table, writes results.json / results.csv and the SVG
 * charts, and (full run into the default directory) rewrites README.md's `## Results`.
 *
 *   node --import tsx bench/run.ts [--quick] [--out DIR] [--sizes 100,1000] [--endpoints 4]
 *        [--modes iptables,ipvs] [--no-kernel] [--no-speed] [--no-readme]
 */
import { fork } from 'node:child_process';
import { cpus } from 'node:os';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import cliProgress from 'cli-progress';
import { renderCharts } from './charts.ts';
import { BACKENDS, kernelAvailable, worthTrying, type Backend, type KernelMeasurement, type KernelOptions } from './kernel.ts';
import { MODES, type ModeName } from './modes.ts';
import { readmeSection, replaceSection, terminalReport } from './report.ts';
import { writeResults, type NfemuResult, type ScalingResults } from './results.ts';
import type { SpeedOptions } from './speed.ts';
import { jobSteps, type Job, type WorkerMessage } from './worker.ts';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const DEFAULT_OUT = resolve(ROOT, 'bench/results');
const WORKER = fileURLToPath(new URL('./worker.ts', import.meta.url));

export const FULL_SIZES = [100, 1000, 5000, 10000, 20000, 50000] as const;
export const QUICK_SIZES = [100, 1000, 5000] as const;

/** What a run does (from the command line). */
export interface RunOptions {
  readonly quick: boolean;
  readonly out: string;
  readonly sizes: readonly number[];
  readonly endpoints: number;
  readonly modes: readonly ModeName[];
  readonly kernel: boolean;
  readonly speed: boolean;
  /** Rewrite README.md's results section. */
  readonly readme: boolean;
  /** Measure nothing: render the table, charts and README section from this results.json. */
  readonly renderOnly: string | null;
}

export const USAGE = `usage: nfemu bench [--quick] [--out DIR] [--sizes N,N,…] [--endpoints E] [--modes iptables,ipvs]
                   [--no-kernel] [--no-speed] [--no-readme] [--render-only RESULTS.json]

The scaling harness: N ClusterIP services × E endpoints (default ${FULL_SIZES.join(', ')} × 4) in
kube-proxy's iptables and IPVS modes. Measures the cost model (rules evaluated, hash lookups),
nfemu's speed (benchmark.js), the control plane (full sync, one endpoint change, restore bytes,
IPVS operations) and memory; with root and ip netns, the kernel twins (iptables-nft and
iptables-legacy restore times, per-packet cost through KUBE-SERVICES) in scratch namespaces.
Writes DIR/results.json, DIR/results.csv and DIR/*.svg (default bench/results); a full run
into the default directory also rewrites the "## Results" section of README.md.
--quick: ${QUICK_SIZES.join(', ')} services, short benchmarks, kernel twins up to 1,000 services (< 2 min).
--render-only FILE: measure nothing; print the table and redraw the charts (and, for the default
directory, README.md's section) from an earlier results.json.`;

/** Parses the command line; throws Error('usage: …') on a bad option. */
export function parseRunArgs(argv: readonly string[]): RunOptions | 'help' {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      quick: { type: 'boolean' }, out: { type: 'string' }, sizes: { type: 'string' }, endpoints: { type: 'string' },
      modes: { type: 'string' }, 'no-kernel': { type: 'boolean' }, 'no-speed': { type: 'boolean' }, 'no-readme': { type: 'boolean' },
      'render-only': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return 'help';
  const quick = !!values.quick;
  const int = (s: string, what: string, min: number, max: number): number => {
    const n = Number(s.replace(/_/g, ''));
    if (!Number.isInteger(n) || n < min || n > max) throw new Error(`--${what}: ${JSON.stringify(s)} is not an integer from ${min} to ${max}`);
    return n;
  };
  const sizes = values.sizes ? values.sizes.split(',').map((s) => int(s.trim(), 'sizes', 2, 60000)) : [...(quick ? QUICK_SIZES : FULL_SIZES)];
  const endpoints = values.endpoints ? int(values.endpoints, 'endpoints', 1, 16) : 4;
  if (sizes.some((n) => n * endpoints > 1 << 22)) throw new Error('--sizes × --endpoints: at most 4,194,304 endpoints (the cluster CIDR /10)');
  const modes = values.modes ? values.modes.split(',').map((m) => m.trim()) : [...MODES];
  for (const m of modes) if (!(MODES as readonly string[]).includes(m)) throw new Error(`--modes: unknown mode ${JSON.stringify(m)} (${MODES.join(', ')})`);
  const out = resolve(values.out ?? DEFAULT_OUT);
  return {
    quick, out, sizes: [...new Set(sizes)].sort((a, b) => a - b), endpoints, modes: modes as ModeName[],
    kernel: !values['no-kernel'], speed: !values['no-speed'],
    readme: !quick && !values['no-readme'] && out === DEFAULT_OUT && !values.sizes && !values.modes && !values.endpoints,
    renderOnly: values['render-only'] ? resolve(values['render-only']) : null,
  };
}

/** benchmark.js and kernel settings of a full or quick run. */
export function settings(quick: boolean): { speed: SpeedOptions; kernel: Record<Backend, KernelOptions>; kernelMaxServices: number; fullSyncRuns: (n: number) => number; jobTimeoutMs: number } {
  if (quick) {
    const k: KernelOptions = { restoreTimeoutMs: 20000, packets: 300, reps: 5 };
    return { speed: { maxTime: 0.25, minSamples: 5 }, kernel: { nft: k, legacy: k }, kernelMaxServices: 1000, fullSyncRuns: () => 1, jobTimeoutMs: 120000 };
  }
  // Restore limits from this machine: iptables-nft-restore took 57 s for 5,000 services (unloaded),
  // iptables-legacy-restore 95 s for 50,000; both slow down a lot when the machine is busy.
  return {
    speed: { maxTime: 1.5, minSamples: 10 },
    kernel: { nft: { restoreTimeoutMs: 180000, packets: 1000, reps: 9 }, legacy: { restoreTimeoutMs: 240000, packets: 1000, reps: 9 } },
    kernelMaxServices: Infinity, fullSyncRuns: (n) => (n <= 5000 ? 3 : 1), jobTimeoutMs: 600000,
  };
}

/** The TypeScript loader for forked workers (the one this process was started with). */
function tsxImport(): string {
  return import.meta.resolve('tsx');
}

/** Runs one job in a fresh process; resolves with its result, rejects with its error. Killed by pid after `timeoutMs`. */
function runJob(job: Job, onStep: (label: string) => void, timeoutMs: number): Promise<NfemuResult | KernelMeasurement> {
  return new Promise((resolvePromise, reject) => {
    const child = fork(WORKER, [JSON.stringify(job)], {
      execArgv: ['--import', tsxImport(), '--expose-gc', '--max-old-space-size=8192'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    let settled = false;
    const settle = (f: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      f();
    };
    const timer = setTimeout(() => {
      settle(() => reject(new Error(`timed out after ${timeoutMs / 1000} s`)));
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('message', (m: WorkerMessage) => {
      if (m.type === 'step') onStep(m.label);
      else if (m.type === 'result') settle(() => resolvePromise(m.result));
      else settle(() => reject(new Error(m.message)));
    });
    child.on('exit', (code, signal) => settle(() => reject(new Error(`worker exited (${signal ?? `code ${code}`}) without a result`))));
  });
}

/** A progress bar on a terminal, step lines otherwise. */
function progress(total: number): { step(label: string): void; stop(): void } {
  if (process.stderr.isTTY) {
    const bar = new cliProgress.SingleBar(
      { format: 'scaling [{bar}] {percentage}% | {value}/{total} | {duration_formatted} | {label}', stream: process.stderr, hideCursor: true, clearOnComplete: true },
      cliProgress.Presets.shades_classic,
    );
    bar.start(total, 0, { label: 'starting' });
    return {
      step: (label) => bar.increment(1, { label }),
      stop: () => bar.stop(),
    };
  }
  let n = 0;
  const t0 = Date.now();
  return {
    step: (label) => process.stderr.write(`[${++n}/${total} ${Math.round((Date.now() - t0) / 1000)}s] ${label}\n`),
    stop: () => undefined,
  };
}

/** Runs the harness; returns the results (also written to `opts.out`). */
export async function runScaling(opts: RunOptions): Promise<ScalingResults> {
  const t0 = Date.now();
  const set = settings(opts.quick);
  const jobs: Job[] = [];
  for (const n of opts.sizes) {
    for (const mode of opts.modes) {
      jobs.push({ kind: 'nfemu', mode, shape: { services: n, endpoints: opts.endpoints }, speed: opts.speed ? set.speed : null, fullSyncRuns: set.fullSyncRuns(n) });
    }
  }
  const avail = kernelAvailable();
  const kernelSizes = opts.kernel && avail.ok ? opts.sizes.filter((n) => n <= set.kernelMaxServices) : [];
  const backends: Backend[] = BACKENDS.filter((b) => avail.backends.includes(b));
  for (const b of backends) for (const n of kernelSizes) jobs.push({ kind: 'kernel', backend: b, shape: { services: n, endpoints: opts.endpoints }, options: set.kernel[b] });

  const bar = progress(jobs.reduce((a, j) => a + jobSteps(j), 0));
  const nfemu: NfemuResult[] = [];
  const kernel: KernelMeasurement[] = [];
  const errors: string[] = [];
  const lastRestore = new Map<Backend, { services: number; ms: number }>();
  const gaveUp = new Set<Backend>();
  try {
    for (const job of jobs) {
      if (job.kind === 'kernel') {
        const prev = lastRestore.get(job.backend) ?? null;
        if (gaveUp.has(job.backend) || !worthTrying(prev, job.shape.services, job.options.restoreTimeoutMs)) {
          gaveUp.add(job.backend);
          for (let i = 0; i < jobSteps(job); i++) bar.step(`kernel ${job.backend} ${job.shape.services}: skipped`);
          kernel.push({
            backend: job.backend, services: job.shape.services, endpoints: job.shape.endpoints, restoreFullMs: null, restoreChangeMs: null, rules: null,
            firstNs: null, lastNs: null, bursts: null, packetsPerBurst: job.options.packets,
            note: prev ? `not attempted: ${prev.services} services took ${(prev.ms / 1000).toFixed(1)} s, so this size would exceed the ${job.options.restoreTimeoutMs / 1000} s limit` : 'not attempted',
          });
          continue;
        }
      }
      const label = job.kind === 'nfemu' ? `${job.mode} ${job.shape.services}` : `kernel ${job.backend} ${job.shape.services}`;
      let steps = 0;
      try {
        const result = await runJob(job, (l) => {
          if (steps++ < jobSteps(job)) bar.step(l);
        }, set.jobTimeoutMs);
        if (job.kind === 'nfemu') nfemu.push(result as NfemuResult);
        else {
          const k = result as KernelMeasurement;
          kernel.push(k);
          if (k.restoreFullMs !== null) lastRestore.set(job.backend, { services: k.services, ms: k.restoreFullMs });
          else gaveUp.add(job.backend);
        }
      } catch (e) {
        errors.push(`${label}: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`);
      }
      for (; steps < jobSteps(job); steps++) bar.step(label);
    }
  } finally {
    bar.stop();
  }
  const cpu = cpus();
  const results: ScalingResults = {
    meta: {
      generatedAt: new Date().toISOString(), quick: opts.quick, sizes: opts.sizes, endpoints: opts.endpoints, modes: opts.modes,
      node: process.version, cpus: cpu.length, cpuModel: cpu[0]?.model.trim() ?? 'unknown', kernel: avail.kernel,
      durationS: Math.round((Date.now() - t0) / 1000),
    },
    nfemu,
    kernel: {
      available: avail.ok && opts.kernel,
      reason: !opts.kernel ? 'not requested (--no-kernel)' : avail.reason,
      ipvs: { available: avail.ipvs.ok, reason: avail.ipvs.reason },
      method: KERNEL_METHOD(set.kernel),
      results: kernel,
    },
    errors,
  };
  return results;
}

function KERNEL_METHOD(opts: Record<Backend, KernelOptions>): string {
  const k = opts.legacy;
  const limits = BACKENDS.map((b) => `${b} ${opts[b].restoreTimeoutMs / 1000} s`).join(', ');
  return `a scratch node namespace (nfemu-bench-*-node) with eth0 = 192.168.0.2/24, joined by a veth to a peer namespace; the ruleset (prelude + full payload) is loaded with one \`iptables-{nft,legacy}-restore --noflush\` (time limit ${limits}; a size whose restore the previous size predicts, growing quadratically, to exceed it is not attempted), the one-endpoint change with the partial payload and \`--noflush --counters\`. Per-packet cost: from the peer, a raw socket sends bursts of ${k.packets} TCP SYNs (each a new connection: a new source port) to the first and to the last ClusterIP, ${k.reps} bursts each, interleaved, timed around the sendto() loop (the node's PREROUTING runs inside sendto on a veth); the node DNATs them in nat PREROUTING and then drops them at the routing decision (blackhole route for the pod range), so only the walk through KUBE-SERVICES differs between the two targets. Charts and slopes use the least-disturbed burst of each target; the noise on this shared 2-core machine is the spread between bursts (results.json keeps every burst).`;
}

/** Writes results, charts and (if asked) the README section; prints the table. Returns the exit status. */
export async function finish(opts: RunOptions, results: ScalingResults): Promise<number> {
  const files = writeResults(opts.out, results);
  const charts = await renderCharts(opts.out, results);
  process.stdout.write(terminalReport(results) + '\n\n');
  process.stdout.write(`wrote ${relative(process.cwd(), files.json)}, ${relative(process.cwd(), files.csv)} and ${charts.length} charts in ${relative(process.cwd(), opts.out) || '.'}\n`);
  if (opts.readme) {
    const readmePath = resolve(ROOT, 'README.md');
    if (existsSync(readmePath)) {
      const text = readFileSync(readmePath, 'utf8');
      writeFileSync(readmePath, replaceSection(text, readmeSection(results, relative(ROOT, opts.out), charts)));
      process.stdout.write('updated the "## Results" section of README.md\n');
    }
  }
  return results.errors.length ? 1 : 0;
}

/** The command: parse, run, write. Returns the exit status. */
export async function main(argv: readonly string[]): Promise<number> {
  let opts: RunOptions | 'help';
  try {
    opts = parseRunArgs(argv);
  } catch (e) {
    process.stderr.write(`nfemu bench: ${e instanceof Error ? e.message : String(e)}\n${USAGE}\n`);
    return 2;
  }
  if (opts === 'help') {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  if (opts.renderOnly) {
    const results = JSON.parse(readFileSync(opts.renderOnly, 'utf8')) as ScalingResults;
    return finish({ ...opts, readme: opts.out === DEFAULT_OUT && !results.meta.quick && !argv.includes('--no-readme') }, results);
  }
  const results = await runScaling(opts);
  return finish(opts, results);
}
