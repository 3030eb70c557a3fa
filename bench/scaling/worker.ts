/**
 * One measurement job in its own process (forked by run.ts with --expose-gc): nfemu in one
 * mode at one size, or the kernel twins of one back end at one size. A fresh process per
 * job keeps the heap measurement clean (nothing of the previous size is left) and lets a
 * 50,000-service node use a large heap. Talks to the parent over IPC:
 *   parent → worker: argv[2] = the job as JSON;
 *   worker → parent: {type: 'step', label} while it runs, then {type: 'result', result} or
 *   {type: 'error', message}.
 *
 * Order inside an nfemu job: build the node (memory measured around it), more full syncs
 * for the timing median, the benchmark.js runs, then the cost model (its lookup counters
 * wrap methods, so it comes after everything timed), then the one-endpoint change.
 */
import { probeIndexes, type ClusterShape } from './cluster.ts';
import { LookupCounter, measureCost } from './cost.ts';
import { buildMode, iptablesKernelText, type ModeName, type SyncCost } from './modes.ts';
import { measureKernel, type Backend, type KernelMeasurement, type KernelOptions } from './kernel.ts';
import { measureSpeed, type SpeedOptions } from './speed.ts';
import type { NfemuResult } from './results.ts';

export type Job =
  | { readonly kind: 'nfemu'; readonly mode: ModeName; readonly shape: ClusterShape; readonly speed: SpeedOptions | null; readonly fullSyncRuns: number }
  | { readonly kind: 'kernel'; readonly backend: Backend; readonly shape: ClusterShape; readonly options: KernelOptions };

export type WorkerMessage =
  | { readonly type: 'step'; readonly label: string }
  | { readonly type: 'result'; readonly result: NfemuResult | KernelMeasurement }
  | { readonly type: 'error'; readonly message: string };

/** Steps a job reports (for the progress bar's total). */
export function jobSteps(job: Job): number {
  if (job.kind === 'kernel') return 2;
  return 3 + (job.speed ? 3 : 0);
}

function gc(): void {
  const g = (globalThis as { gc?: () => void }).gc;
  if (g) {
    g();
    g();
  }
}

function medianOf(xs: readonly SyncCost[]): SyncCost {
  const by = (k: 'generateMs' | 'applyMs') => {
    const s = xs.map((x) => x[k]).sort((a, b) => a - b);
    return s[s.length >> 1]!;
  };
  return { ...xs[0]!, generateMs: by('generateMs'), applyMs: by('applyMs') };
}

/** Runs an nfemu job. */
export function runNfemu(job: Extract<Job, { kind: 'nfemu' }>, step: (label: string) => void): NfemuResult {
  const { mode, shape } = job;
  step(`${mode} ${shape.services}: program the node`);
  gc();
  const heap0 = process.memoryUsage().heapUsed;
  const m = buildMode(mode, shape);
  gc();
  const heapBytes = Math.max(0, process.memoryUsage().heapUsed - heap0);
  const rssBytes = process.memoryUsage().rss;
  const fulls: SyncCost[] = [m.fullSync];
  for (let i = 1; i < job.fullSyncRuns; i++) {
    fulls.push(buildMode(mode, shape).fullSync);
    gc();
  }
  const speed = job.speed ? measureSpeed(m, job.speed, (what) => step(`${mode} ${shape.services}: ${what}`)) : null;
  step(`${mode} ${shape.services}: cost model`);
  const counter = new LookupCounter();
  counter.install(m.host, m.sets, m.ipvs, m.setNames);
  const cost = measureCost(m.host, counter, probeIndexes(shape.services));
  step(`${mode} ${shape.services}: one endpoint change`);
  const change = m.applyEndpointChange();
  return {
    mode, services: shape.services, endpoints: shape.endpoints, cost, speed,
    control: { full: medianOf(fulls), fullSyncRuns: fulls.length, change },
    memory: { heapBytes, rssBytes },
  };
}

/** Runs a kernel job: generates the iptables-mode texts, then measures in scratch namespaces. */
export async function runKernel(job: Extract<Job, { kind: 'kernel' }>, step: (label: string) => void): Promise<KernelMeasurement> {
  step(`kernel ${job.backend} ${job.shape.services}: generate the ruleset`);
  const text = iptablesKernelText(job.shape);
  step(`kernel ${job.backend} ${job.shape.services}: restore and packets`);
  return measureKernel(job.backend, job.shape.services, job.shape.endpoints, text, job.options);
}

async function main(): Promise<void> {
  const send = (m: WorkerMessage) => process.send?.(m);
  try {
    const job = JSON.parse(process.argv[2] ?? '') as Job;
    const step = (label: string) => send({ type: 'step', label });
    const result = job.kind === 'nfemu' ? runNfemu(job, step) : await runKernel(job, step);
    send({ type: 'result', result });
  } catch (e) {
    send({ type: 'error', message: e instanceof Error ? (e.stack ?? e.message) : String(e) });
  }
  process.disconnect?.();
}

// Run only as a forked job (tests import this file for jobSteps).
if (process.send && process.argv[1]?.endsWith('worker.ts')) await main();
