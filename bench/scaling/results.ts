/**
 * The scaling harness's results: one record per (mode, size) for nfemu, one per (back end,
 * size) for the kernel twins, written as JSON (everything) and CSV (one flat row per
 * record and measurement), plus the derived numbers the README section quotes (slopes).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CostProbes } from './cost.ts';
import type { KernelMeasurement } from './kernel.ts';
import type { ModeName, SyncCost } from './modes.ts';
import type { SpeedProbes } from './speed.ts';

/** nfemu at one size in one mode. */
export interface NfemuResult {
  readonly mode: ModeName;
  readonly services: number;
  readonly endpoints: number;
  readonly cost: CostProbes;
  /** null when the speed benchmarks were not run. */
  readonly speed: SpeedProbes | null;
  readonly control: {
    /** Median over `fullSyncRuns` fresh nodes. */
    readonly full: SyncCost;
    readonly fullSyncRuns: number;
    readonly change: SyncCost;
  };
  readonly memory: {
    /** Heap held by the programmed node (after GC, minus the heap before it was built), bytes. */
    readonly heapBytes: number;
    /** Resident set of the measuring process once the node was built, bytes. */
    readonly rssBytes: number;
  };
}

/** Everything one run produced. */
export interface ScalingResults {
  readonly meta: {
    readonly generatedAt: string;
    readonly quick: boolean;
    readonly sizes: readonly number[];
    readonly endpoints: number;
    readonly modes: readonly ModeName[];
    readonly node: string;
    readonly cpus: number;
    readonly cpuModel: string;
    readonly kernel: string;
    readonly durationS: number;
  };
  readonly nfemu: readonly NfemuResult[];
  readonly kernel: {
    readonly available: boolean;
    readonly reason: string;
    readonly ipvs: { readonly available: boolean; readonly reason: string };
    readonly method: string;
    readonly results: readonly KernelMeasurement[];
  };
  /** Modes or sizes that failed, with the error. */
  readonly errors: readonly string[];
}

/** One CSV row: the long format (a record, a metric, a value) that any tool can pivot. */
export interface CsvRow {
  readonly source: 'nfemu' | 'kernel';
  /** Mode (iptables, ipvs) for nfemu; back end (nft, legacy) for the kernel. */
  readonly variant: string;
  readonly services: number;
  readonly endpoints: number;
  readonly metric: string;
  readonly value: number | null;
  readonly unit: string;
}

/** Flattens the results into CSV rows (long format). */
export function csvRows(r: ScalingResults): CsvRow[] {
  const rows: CsvRow[] = [];
  const push = (source: CsvRow['source'], variant: string, services: number, endpoints: number, metric: string, value: number | null, unit: string) =>
    rows.push({ source, variant, services, endpoints, metric, value, unit });
  for (const x of r.nfemu) {
    const p = (m: string, v: number | null, u: string) => push('nfemu', x.mode, x.services, x.endpoints, m, v, u);
    for (const k of ['first', 'middle', 'last', 'established'] as const) {
      p(`cost.${k}.rules`, x.cost[k].rules, 'rules');
      p(`cost.${k}.lookups`, x.cost[k].lookups, 'lookups');
    }
    if (x.speed) {
      for (const k of ['firstToFirst', 'firstToLast', 'established'] as const) {
        p(`speed.${k}.hz`, x.speed[k].hz, 'packets/s');
        p(`speed.${k}.rme`, x.speed[k].rme, '%');
        p(`speed.${k}.ns`, x.speed[k].nsPerPacket, 'ns');
      }
    }
    for (const k of ['full', 'change'] as const) {
      const c = x.control[k];
      p(`control.${k}.generate`, c.generateMs, 'ms');
      p(`control.${k}.apply`, c.applyMs, 'ms');
      p(`control.${k}.restoreBytes`, c.restoreBytes, 'bytes');
      p(`control.${k}.restoreLines`, c.restoreLines, 'lines');
      if (c.ipvsOps) p(`control.${k}.ipvsOps`, c.ipvsOps.total, 'operations');
    }
    p('memory.heap', x.memory.heapBytes, 'bytes');
    p('memory.rss', x.memory.rssBytes, 'bytes');
  }
  for (const k of r.kernel.results) {
    const p = (m: string, v: number | null, u: string) => push('kernel', k.backend, k.services, k.endpoints, m, v, u);
    p('restore.full', k.restoreFullMs, 'ms');
    p('restore.change', k.restoreChangeMs, 'ms');
    p('rules', k.rules, 'rules');
    p('packet.first', k.firstNs, 'ns');
    p('packet.last', k.lastNs, 'ns');
    p('packet.firstMin', k.bursts ? Math.min(...k.bursts.first) : null, 'ns');
    p('packet.lastMin', k.bursts ? Math.min(...k.bursts.last) : null, 'ns');
  }
  return rows;
}

/** RFC 4180 field: quoted when it holds a comma, quote or line break. */
export function csvField(v: string | number | null): string {
  if (v === null) return '';
  const s = typeof v === 'number' ? (Number.isInteger(v) ? String(v) : String(Math.round(v * 1000) / 1000)) : v;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export const CSV_HEADER = ['source', 'variant', 'services', 'endpoints', 'metric', 'value', 'unit'] as const;

/** The CSV text (header, then one line per row, CRLF-free). */
export function toCsv(rows: readonly CsvRow[]): string {
  const lines = [CSV_HEADER.join(',')];
  for (const r of rows) lines.push(CSV_HEADER.map((h) => csvField(r[h])).join(','));
  return lines.join('\n') + '\n';
}

/** Writes results.json and results.csv into `dir` (created if needed); returns their paths. */
export function writeResults(dir: string, r: ScalingResults): { json: string; csv: string } {
  mkdirSync(dir, { recursive: true });
  const json = join(dir, 'results.json');
  const csv = join(dir, 'results.csv');
  writeFileSync(json, JSON.stringify(r, null, 2) + '\n');
  writeFileSync(csv, toCsv(csvRows(r)));
  return { json, csv };
}

/** Least-squares slope of y over x (null with fewer than two points). */
export function slope(points: readonly { x: number; y: number }[]): number | null {
  if (points.length < 2) return null;
  const n = points.length;
  let sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (const p of points) {
    sx += p.x;
    sy += p.y;
    sxx += p.x * p.x;
    sxy += p.x * p.y;
  }
  const d = n * sxx - sx * sx;
  return d === 0 ? null : (n * sxy - sx * sy) / d;
}

/** Derived numbers: per-service slopes of the first-packet cost to the last service. */
export interface Slopes {
  /** nfemu, per mode: rules per service (cost model) and ns per service (wall clock). */
  readonly nfemu: Record<string, { rulesPerService: number | null; nsPerService: number | null; nsPerRule: number | null }>;
  /** Kernel, per back end: ns per service through KUBE-SERVICES (see slopes()). */
  readonly kernel: Record<string, { nsPerService: number | null }>;
}

/**
 * Per-service slopes. nfemu: least squares over sizes of the last-service first packet
 * (rules, ns); ns per rule = ns slope / rules slope. Kernel: least squares over sizes of
 * (last − first) against N − 1, from the least-disturbed burst of each (the first and the
 * last service differ only in how much of KUBE-SERVICES the packet walks).
 */
export function slopes(r: ScalingResults): Slopes {
  const nfemu: Slopes['nfemu'] = {};
  for (const mode of r.meta.modes) {
    const xs = r.nfemu.filter((x) => x.mode === mode);
    const rules = slope(xs.map((x) => ({ x: x.services, y: x.cost.last.rules })));
    const ns = slope(xs.filter((x) => x.speed).map((x) => ({ x: x.services, y: x.speed!.firstToLast.nsPerPacket })));
    nfemu[mode] = { rulesPerService: rules, nsPerService: ns, nsPerRule: rules && ns !== null && rules > 0.5 ? ns / rules : null };
  }
  const kernel: Slopes['kernel'] = {};
  for (const k of r.kernel.results) kernel[k.backend] ??= { nsPerService: null };
  for (const b of Object.keys(kernel)) {
    const pts = r.kernel.results
      .filter((k) => k.backend === b && k.bursts && k.services > 1)
      .map((k) => ({ x: k.services - 1, y: Math.min(...k.bursts!.last) - Math.min(...k.bursts!.first) }));
    kernel[b] = { nsPerService: slope(pts) };
  }
  return { nfemu, kernel };
}
