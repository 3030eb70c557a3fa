/**
 * The scaling harness's outputs on tiny inputs: CSV and JSON writing, slopes, the terminal
 * and README tables, the README section replacement, the Vega-Lite charts rendered to SVG,
 * and the command-line options.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { csvField, csvRows, slope, slopes, toCsv, writeResults, type NfemuResult, type ScalingResults } from '../../bench/scaling/results.ts';
import { chartDefs, chartSpec, renderSvg } from '../../bench/scaling/charts.ts';
import { fmtNs, readmeSection, replaceSection, terminalReport, textTable } from '../../bench/scaling/report.ts';
import { parseRunArgs, DEFAULT_OUT } from '../../bench/scaling/run.ts';
import type { KernelMeasurement } from '../../bench/scaling/kernel.ts';

const packet = (rules: number, lookups = 4) => ({ rules, rulesByTable: { nat: rules - 7, filter: 7 }, lookups, lookupsByTable: { conntrack: lookups, ipset: 0, ipvs: 0 }, fate: 'forwarded', to: '10.128.0.1:8080' });
const speed = (ns: number) => ({ hz: 1e9 / ns, rme: 1.5, nsPerPacket: ns, samples: 20 });
const sync = (bytes: number) => ({ generateMs: 10, applyMs: 20, restoreBytes: bytes, restoreLines: bytes / 100, ipvsOps: null });

/** iptables: last-service cost 15 + (N − 1) rules and 1000 + 30·N ns; ipvs: flat. */
function nfemu(mode: 'iptables' | 'ipvs', n: number): NfemuResult {
  const ipt = mode === 'iptables';
  return {
    mode, services: n, endpoints: 4,
    cost: { first: packet(15), middle: packet(ipt ? 15 + (n >> 1) : 14), last: packet(ipt ? 14 + n : 14), established: packet(5, 1) },
    speed: { firstToFirst: speed(1000), firstToLast: speed(ipt ? 1000 + 30 * n : 5000), established: speed(800) },
    control: { full: sync(ipt ? 150 * n : 1892), fullSyncRuns: 1, change: sync(ipt ? 15 * n : 1892) },
    memory: { heapBytes: ipt ? 25000 * n : 10000 * n, rssBytes: 1e8 },
  };
}

function kernel(backend: 'nft' | 'legacy', n: number): KernelMeasurement {
  // 10 ns per service walked (legacy), 40 (nft), on a 5 µs base.
  const per = backend === 'legacy' ? 10 : 40;
  return {
    backend, services: n, endpoints: 4, restoreFullMs: n / 10, restoreChangeMs: n / 100, rules: 14 * n, firstNs: 5000, lastNs: 5000 + per * (n - 1),
    bursts: { first: [5100, 5000], last: [5000 + per * (n - 1), 6000 + per * (n - 1)] }, packetsPerBurst: 100, note: '',
  };
}

function fixture(): ScalingResults {
  return {
    meta: { generatedAt: '2025-01-01T00:00:00.000Z', quick: false, sizes: [100, 1000], endpoints: 4, modes: ['iptables', 'ipvs'], node: 'v20', cpus: 2, cpuModel: 'cpu', kernel: '6.x', durationS: 90 },
    nfemu: [nfemu('iptables', 100), nfemu('ipvs', 100), nfemu('iptables', 1000), nfemu('ipvs', 1000)],
    kernel: { available: true, reason: 'ok', ipvs: { available: false, reason: 'no IPVS' }, method: 'bursts', results: [kernel('legacy', 100), kernel('legacy', 1000), kernel('nft', 100)] },
    errors: [],
  };
}

test('csvField quotes commas, quotes and line breaks (RFC 4180) and leaves the rest alone', () => {
  assert.is(csvField('plain'), 'plain');
  assert.is(csvField('a,b'), '"a,b"');
  assert.is(csvField('say "hi"'), '"say ""hi"""');
  assert.is(csvField('two\nlines'), '"two\nlines"');
  assert.is(csvField(null), '');
  assert.is(csvField(42), '42');
  assert.is(csvField(1 / 3), '0.333');
});

test('CSV: a header and one long-format row per measurement', () => {
  const r = fixture();
  const rows = csvRows(r);
  // Per nfemu record: 4 probes × 2 cost metrics + 3 benchmarks × 3 + 2 syncs × 4 + 2 memory = 27.
  // Per kernel record: 7 metrics.
  assert.is(rows.length, 4 * 27 + 3 * 7);
  const text = toCsv(rows);
  const lines = text.trimEnd().split('\n');
  assert.is(lines[0], 'source,variant,services,endpoints,metric,value,unit');
  assert.is(lines.length, rows.length + 1);
  assert.ok(lines.includes('nfemu,iptables,1000,4,cost.last.rules,1014,rules'));
  assert.ok(lines.includes('kernel,legacy,1000,4,packet.lastMin,14990,ns'));
});

test('writeResults writes JSON that reads back equal and the CSV beside it', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nfemu-bench-test-'));
  try {
    const r = fixture();
    const f = writeResults(dir, r);
    assert.equal(JSON.parse(readFileSync(f.json, 'utf8')), r);
    assert.is(readFileSync(f.csv, 'utf8'), toCsv(csvRows(r)));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('slope: least squares; slopes: per service and per rule, kernel from the best bursts', () => {
  assert.is(slope([{ x: 1, y: 3 }, { x: 2, y: 5 }, { x: 4, y: 9 }]), 2);
  assert.is(slope([{ x: 1, y: 3 }]), null);
  const s = slopes(fixture());
  // iptables: rules 114 → 1014 over 100 → 1000 services: 1 rule/service; 30 ns/service; 30 ns/rule.
  assert.is(s.nfemu['iptables']!.rulesPerService, 1);
  assert.ok(Math.abs(s.nfemu['iptables']!.nsPerService! - 30) < 1e-9);
  assert.ok(Math.abs(s.nfemu['iptables']!.nsPerRule! - 30) < 1e-9);
  assert.is(s.nfemu['ipvs']!.rulesPerService, 0);
  assert.is(s.nfemu['ipvs']!.nsPerRule, null);
  // Kernel legacy: best last − best first = 10·(N − 1) at both sizes → 10 ns per service.
  assert.ok(Math.abs(s.kernel['legacy']!.nsPerService! - 10) < 1e-9);
  // nft has one size only: no slope.
  assert.is(s.kernel['nft']!.nsPerService, null);
});

test('text tables align columns; durations pick their unit', () => {
  assert.is(textTable(['a', 'bb'], [['xyz', '1'], ['q', '22']]), 'a    bb\n───  ──\nxyz   1\nq    22');
  assert.is(fmtNs(512), '512 ns');
  assert.is(fmtNs(1500), '1.5 µs');
  assert.is(fmtNs(2_500_000), '2.50 ms');
  assert.is(fmtNs(null), '–');
});

test('the terminal report has both tables and the slopes', () => {
  const t = terminalReport(fixture());
  assert.match(t, /iptables\s+1,000\s+15 \/ 515 \/ 1,014/);
  assert.match(t, /nfemu iptables: 1\.00 rules\/service, 30\.0 ns\/service, 30\.0 ns\/rule/);
  assert.match(t, /kernel legacy: 10\.0 ns\/service/);
  assert.match(t, /IPVS kernel twin: not available \(no IPVS\)/);
});

test('replaceSection appends a missing section and replaces only its own', () => {
  const sec = '## Results\n\nnew\n';
  assert.is(replaceSection('# T\n\n## A\n\ntext\n', sec), '# T\n\n## A\n\ntext\n\n## Results\n\nnew\n');
  assert.is(replaceSection('# T\n\n## Results\n\nold\n', sec), '# T\n\n## Results\n\nnew\n');
  assert.is(replaceSection('# T\n\n## Results\n\nold\nmore\n\n## Later\n\nkeep\n', sec), '# T\n\n## Results\n\nnew\n\n## Later\n\nkeep\n');
  // Idempotent.
  const once = replaceSection('# T\n', sec);
  assert.is(replaceSection(once, sec), once);
});

test('the README section embeds the charts and quotes the run', () => {
  const r = fixture();
  const s = readmeSection(r, 'bench/results', [{ file: 'first-packet.svg', title: 'First packet' }]);
  assert.ok(s.startsWith('## Results\n'));
  assert.match(s, /!\[First packet\]\(bench\/results\/first-packet\.svg\)/);
  assert.match(s, /1\.00 rules per added service/);
  // iptables is slower than IPVS (5 µs flat) from 1000 + 30·N > 5000, i.e. N = 1000 of the sizes.
  assert.match(s, /iptables mode's first packet is slower than IPVS mode's from 1,000 services on/);
});

test('charts: one line per mode, kernel twins dashed, log-scale services, rendered to SVG', async () => {
  const defs = chartDefs(fixture());
  const first = defs.find((d) => d.file === 'first-packet.svg')!;
  assert.ok(first);
  const series = [...new Set(first.rows.map((r) => r.series))].sort();
  assert.equal(series, ['kernel iptables-legacy', 'kernel iptables-nft', 'nfemu iptables', 'nfemu ipvs']);
  assert.ok(first.rows.filter((r) => r.series.startsWith('kernel')).every((r) => r.kind === 'kernel'));
  const spec = chartSpec(first) as unknown as { encoding: { x: { scale: { type: string } }; strokeDash: { scale: { domain: string[]; range: number[][] } } } };
  assert.is(spec.encoding.x.scale.type, 'log');
  assert.equal(spec.encoding.strokeDash.scale.domain, ['nfemu', 'kernel']);
  assert.equal(spec.encoding.strokeDash.scale.range[0], [1, 0]);
  const svg = await renderSvg(chartSpec(first));
  assert.ok(svg.startsWith('<svg'));
  for (const name of series) assert.ok(svg.includes(name), `legend shows ${name}`);
  assert.ok(svg.includes('First packet of a connection to the last service'));
  // Kernel lines are drawn dashed.
  assert.match(svg, /stroke-dasharray="6,4"/);
});

test('command line: --quick sizes, defaults, README only for a full default run, bad values refused', () => {
  const q = parseRunArgs(['--quick']);
  if (q === 'help') throw new Error('help');
  assert.equal(q.sizes, [100, 1000, 5000]);
  assert.is(q.readme, false);
  const f = parseRunArgs([]);
  if (f === 'help') throw new Error('help');
  assert.equal(f.sizes, [100, 1000, 5000, 10000, 20000, 50000]);
  assert.is(f.out, DEFAULT_OUT);
  assert.is(f.readme, true);
  const o = parseRunArgs(['--out', '/tmp/x', '--sizes', '300,100,300', '--modes', 'ipvs']);
  if (o === 'help') throw new Error('help');
  assert.equal(o.sizes, [100, 300]);
  assert.equal(o.modes, ['ipvs']);
  assert.is(o.readme, false);
  assert.is(o.renderOnly, null);
  assert.is(parseRunArgs(['--help']), 'help');
  assert.throws(() => parseRunArgs(['--modes', 'nftables']), /unknown mode "nftables"/);
  assert.throws(() => parseRunArgs(['--sizes', '10,x']), /--sizes/);
});

test.run();
