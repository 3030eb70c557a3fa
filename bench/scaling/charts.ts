/**
 * SVG charts of the results, made with Vega-Lite (compiled to Vega and rendered headless by
 * `view.toSVG()`: no browser, no canvas). Every chart has the number of services on a log
 * x axis, one line per mode (nfemu, solid) and per kernel back end (kernel twins, dashed).
 * `chartSpecs` is pure (results → specs); `renderCharts` writes the SVG files.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import type { ScalingResults } from './results.ts';

/** One point of a chart. */
export interface ChartRow {
  readonly services: number;
  readonly value: number;
  /** The line's name, e.g. "nfemu iptables", "kernel iptables-legacy". */
  readonly series: string;
  /** nfemu lines are solid, kernel twins dashed. */
  readonly kind: 'nfemu' | 'kernel';
}

export interface ChartDef {
  /** File name (…svg). */
  readonly file: string;
  readonly title: string;
  readonly yTitle: string;
  readonly logY: boolean;
  readonly rows: readonly ChartRow[];
}

const KERNEL_NAME: Record<string, string> = { nft: 'kernel iptables-nft', legacy: 'kernel iptables-legacy' };

function minOf(xs: readonly number[] | undefined): number | null {
  return xs && xs.length ? Math.min(...xs) : null;
}

/** The charts of a run (rows with no value are left out). */
export function chartDefs(r: ScalingResults): ChartDef[] {
  const rows = (pick: (x: ScalingResults['nfemu'][number]) => number | null, kernel?: (k: ScalingResults['kernel']['results'][number]) => number | null, label = (m: string) => `nfemu ${m}`): ChartRow[] => {
    const out: ChartRow[] = [];
    for (const x of r.nfemu) {
      const v = pick(x);
      if (v !== null && Number.isFinite(v)) out.push({ services: x.services, value: v, series: label(x.mode), kind: 'nfemu' });
    }
    if (kernel) {
      for (const k of r.kernel.results) {
        const v = kernel(k);
        if (v !== null && Number.isFinite(v)) out.push({ services: k.services, value: v, series: KERNEL_NAME[k.backend] ?? k.backend, kind: 'kernel' });
      }
    }
    return out;
  };
  const defs: ChartDef[] = [
    {
      file: 'cost-rules.svg', title: 'Rules evaluated: first packet to the last service', yTitle: 'rules evaluated (cost model)', logY: true,
      rows: rows((x) => x.cost.last.rules),
    },
    {
      file: 'cost-lookups.svg', title: 'Hash lookups: first packet to the last service', yTitle: 'hash lookups (cost model)', logY: false,
      rows: rows((x) => x.cost.last.lookups),
    },
    {
      file: 'first-packet.svg', title: 'First packet of a connection to the last service', yTitle: 'ns per packet', logY: true,
      rows: rows((x) => x.speed?.firstToLast.nsPerPacket ?? null, (k) => minOf(k.bursts?.last)),
    },
    {
      file: 'first-packet-first-service.svg', title: 'First packet of a connection to the first service', yTitle: 'ns per packet', logY: true,
      rows: rows((x) => x.speed?.firstToFirst.nsPerPacket ?? null, (k) => minOf(k.bursts?.first)),
    },
    {
      file: 'established.svg', title: 'Packet of an established connection', yTitle: 'ns per packet', logY: true,
      rows: rows((x) => x.speed?.established.nsPerPacket ?? null),
    },
    {
      file: 'full-sync.svg', title: 'Full sync: generate + apply (nfemu), iptables-restore (kernel)', yTitle: 'ms', logY: true,
      rows: rows((x) => x.control.full.generateMs + x.control.full.applyMs, (k) => k.restoreFullMs),
    },
    {
      file: 'endpoint-change.svg', title: 'One endpoint change: generate + apply (nfemu), iptables-restore --noflush (kernel)', yTitle: 'ms', logY: true,
      rows: rows((x) => x.control.change.generateMs + x.control.change.applyMs, (k) => k.restoreChangeMs),
    },
    {
      file: 'restore-bytes.svg', title: 'Bytes kube-proxy sends to iptables-restore', yTitle: 'bytes', logY: true,
      rows: [
        ...rows((x) => x.control.full.restoreBytes, undefined, (m) => `${m}: full sync`),
        ...rows((x) => x.control.change.restoreBytes, undefined, (m) => `${m}: one endpoint change`),
      ],
    },
    {
      file: 'memory.svg', title: 'Memory of the programmed node (nfemu heap)', yTitle: 'MB', logY: true,
      rows: rows((x) => (x.memory.heapBytes > 0 ? x.memory.heapBytes / 1e6 : null)),
    },
  ];
  return defs.filter((d) => d.rows.length > 0);
}

/** Fixed colours, so a series looks the same on every chart: iptables reds, IPVS blue, kernel twins in their mode's hue. */
const COLORS: readonly [RegExp, string][] = [
  [/^nfemu iptables$|^iptables: full/, '#d62728'],
  [/^iptables: one/, '#ff7f0e'],
  [/^kernel iptables-legacy$/, '#8c564b'],
  [/^kernel iptables-nft$/, '#e377c2'],
  [/^nfemu ipvs$|^ipvs: full/, '#1f77b4'],
  [/^ipvs: one/, '#17becf'],
];

function colorScale(rows: readonly ChartRow[]): { domain: string[]; range: string[] } {
  const domain = [...new Set(rows.map((r) => r.series))].sort();
  return { domain, range: domain.map((s) => COLORS.find(([re]) => re.test(s))?.[1] ?? '#7f7f7f') };
}

/** The Vega-Lite spec of a chart. */
export function chartSpec(d: ChartDef): TopLevelSpec {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: d.title,
    width: 560,
    height: 320,
    background: 'white',
    data: { values: d.rows.map((r) => ({ ...r })) },
    mark: { type: 'line', point: true, strokeWidth: 2 },
    encoding: {
      x: { field: 'services', type: 'quantitative', title: 'services (log scale)', scale: { type: 'log', domain: [Math.min(...d.rows.map((r) => r.services)), Math.max(...d.rows.map((r) => r.services))] }, axis: { values: [...new Set(d.rows.map((r) => r.services))].sort((a, b) => a - b), format: ',d' } },
      y: { field: 'value', type: 'quantitative', title: d.yTitle, scale: d.logY ? { type: 'log' } : { zero: true }, axis: { format: '~s', tickCount: 6 } },
      color: { field: 'series', type: 'nominal', title: null, scale: colorScale(d.rows), legend: { orient: 'bottom', columns: 2, labelLimit: 320 } },
      strokeDash: {
        field: 'kind', type: 'nominal', title: null,
        scale: { domain: ['nfemu', 'kernel'], range: [[1, 0], [6, 4]] },
        legend: null,
      },
    },
  };
}

/** Renders a Vega-Lite spec to SVG text, headless. */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** Writes every chart of `r` into `dir`; returns the files written with their titles. */
export async function renderCharts(dir: string, r: ScalingResults): Promise<{ file: string; title: string }[]> {
  mkdirSync(dir, { recursive: true });
  const out: { file: string; title: string }[] = [];
  for (const d of chartDefs(r)) {
    writeFileSync(join(dir, d.file), await renderSvg(chartSpec(d)));
    out.push({ file: d.file, title: d.title });
  }
  return out;
}
