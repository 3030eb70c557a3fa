/**
 * Human forms of the results: the terminal table printed at the end of a run, and the
 * `## Results` section of README.md (charts, tables and what they show), regenerated from
 * results.json by every full run.
 */
import type { KernelMeasurement } from './kernel.ts';
import { slopes, type NfemuResult, type ScalingResults } from './results.ts';

/** Formats a number with thousands separators and `digits` decimals. */
export function fmt(n: number | null | undefined, digits = 0): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '–';
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

/** A duration in ns, as ns / µs / ms. */
export function fmtNs(ns: number | null | undefined): string {
  if (ns === null || ns === undefined || !Number.isFinite(ns)) return '–';
  if (ns < 1e3) return `${fmt(ns, 0)} ns`;
  if (ns < 1e6) return `${fmt(ns / 1e3, 1)} µs`;
  return `${fmt(ns / 1e6, 2)} ms`;
}

export function fmtMs(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '–';
  return ms < 1000 ? `${fmt(ms, ms < 10 ? 1 : 0)} ms` : `${fmt(ms / 1000, 1)} s`;
}

export function fmtBytes(b: number | null | undefined): string {
  if (b === null || b === undefined || !Number.isFinite(b)) return '–';
  if (b < 1e3) return `${b} B`;
  if (b < 1e6) return `${fmt(b / 1e3, 1)} kB`;
  return `${fmt(b / 1e6, 1)} MB`;
}

/** Lays out rows as a fixed-width table: first column left-aligned, the others right-aligned. */
export function textTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const w = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: readonly string[]) => r.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  ');
  return [line(header), w.map((n) => '─'.repeat(n)).join('  '), ...rows.map(line)].join('\n');
}

/** Markdown table (same cells). */
export function mdTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const esc = (c: string) => c.replace(/\|/g, '\\|');
  return [`| ${header.map(esc).join(' | ')} |`, `|${header.map((_, i) => (i === 0 ? ' --- ' : ' ---: ')).join('|')}|`, ...rows.map((r) => `| ${r.map(esc).join(' | ')} |`)].join('\n');
}

function nfemuRows(r: ScalingResults): string[][] {
  return r.nfemu.map((x: NfemuResult) => [
    x.mode,
    fmt(x.services),
    `${fmt(x.cost.first.rules)} / ${fmt(x.cost.middle.rules)} / ${fmt(x.cost.last.rules)}`,
    fmt(x.cost.established.rules),
    `${fmt(x.cost.last.lookups)} / ${fmt(x.cost.established.lookups)}`,
    x.speed ? `${fmtNs(x.speed.firstToFirst.nsPerPacket)} / ${fmtNs(x.speed.firstToLast.nsPerPacket)} ±${fmt(x.speed.firstToLast.rme, 1)}%` : '–',
    x.speed ? `${fmtNs(x.speed.established.nsPerPacket)} ±${fmt(x.speed.established.rme, 1)}%` : '–',
    fmtMs(x.control.full.generateMs + x.control.full.applyMs),
    fmtMs(x.control.change.generateMs + x.control.change.applyMs),
    x.control.full.ipvsOps
      ? `${fmt(x.control.full.ipvsOps.total)} ops / ${fmt(x.control.change.ipvsOps!.total)} ops`
      : `${fmtBytes(x.control.full.restoreBytes)} / ${fmtBytes(x.control.change.restoreBytes)}`,
    fmt(x.memory.heapBytes / 1e6, 0),
  ]);
}

const NFEMU_HEADER = [
  'mode', 'services', 'rules 1st pkt (first/mid/last svc)', 'rules est.', 'lookups (last/est.)', 'first pkt first/last svc', 'established',
  'full sync', '1 endpoint change', 'kernel work (full / change)', 'heap MB',
];

function kernelRows(r: ScalingResults): string[][] {
  return r.kernel.results.map((k: KernelMeasurement) => [
    k.backend === 'nft' ? 'iptables-nft' : 'iptables-legacy',
    fmt(k.services),
    fmt(k.rules),
    fmtMs(k.restoreFullMs),
    fmtMs(k.restoreChangeMs),
    k.bursts ? `${fmtNs(Math.min(...k.bursts.first))} / ${fmtNs(Math.min(...k.bursts.last))}` : '–',
    k.bursts ? `${fmtNs(k.firstNs)} / ${fmtNs(k.lastNs)}` : '–',
    k.note,
  ]);
}

const KERNEL_HEADER = ['kernel', 'services', 'rules', 'restore full', 'restore change', 'first pkt first/last (best)', '(median)', 'note'];

/** The terminal report. */
export function terminalReport(r: ScalingResults): string {
  const out: string[] = [];
  out.push(`nfemu (${r.meta.endpoints} endpoints per service; rules and lookups from the cost model, times from benchmark.js):`);
  out.push(textTable(NFEMU_HEADER, nfemuRows(r)));
  if (r.kernel.results.length) {
    out.push('', `kernel twins (${r.meta.kernel}):`);
    out.push(textTable(KERNEL_HEADER, kernelRows(r)));
  } else {
    out.push('', `kernel twins: not run (${r.kernel.reason})`);
  }
  if (!r.kernel.ipvs.available) out.push(`IPVS kernel twin: not available (${r.kernel.ipvs.reason})`);
  const s = slopes(r);
  out.push('', 'slopes (first packet to the last service, per added service):');
  for (const [mode, v] of Object.entries(s.nfemu)) {
    out.push(`  nfemu ${mode}: ${fmt(v.rulesPerService, 2)} rules/service, ${fmt(v.nsPerService, 1)} ns/service${v.nsPerRule !== null ? `, ${fmt(v.nsPerRule, 1)} ns/rule` : ''}`);
  }
  for (const [b, v] of Object.entries(s.kernel)) out.push(`  kernel ${b}: ${fmt(v.nsPerService, 1)} ns/service (= ns per KUBE-SERVICES rule)`);
  if (r.errors.length) out.push('', 'errors:', ...r.errors.map((e) => `  ${e}`));
  return out.join('\n');
}

export const README_HEADING = '## Results';

/**
 * The README section: the charts (relative to README.md at the project root), what they
 * show with the run's own numbers, the tables, and how the numbers were made.
 */
export function readmeSection(r: ScalingResults, chartDir: string, charts: readonly { file: string; title: string }[]): string {
  const s = slopes(r);
  const ipt = s.nfemu['iptables'];
  const ipvs = s.nfemu['ipvs'];
  const at = (mode: string, n: number) => r.nfemu.find((x) => x.mode === mode && x.services === n);
  const maxN = Math.max(...r.nfemu.map((x) => x.services));
  const minN = Math.min(...r.nfemu.map((x) => x.services));
  const big = at('iptables', maxN);
  const bigIpvs = at('ipvs', maxN);
  const small = at('iptables', minN);
  const smallIpvs = at('ipvs', minN);
  // The first size at which nfemu's iptables first packet (to the last service) is slower than its IPVS one.
  const cross = r.nfemu
    .filter((x) => x.mode === 'iptables' && x.speed)
    .find((x) => {
      const v = at('ipvs', x.services);
      return v?.speed && x.speed!.firstToLast.nsPerPacket > v.speed.firstToLast.nsPerPacket;
    });
  const lines: string[] = [];
  lines.push(README_HEADING, '');
  lines.push(`Regenerate with \`npm run bench\` (about ${Math.ceil(r.meta.durationS / 60)} minutes here; \`npm run bench -- --quick\` in under two). It writes \`bench/results/results.json\`, \`results.csv\` and the charts below, and rewrites this section. This run: ${r.meta.quick ? 'quick, ' : ''}${r.meta.sizes.map((n) => fmt(n)).join(', ')} ClusterIP services × ${r.meta.endpoints} endpoints, ${r.meta.cpus} × ${r.meta.cpuModel}, Node ${r.meta.node}, kernel ${r.meta.kernel}, ${r.meta.generatedAt.slice(0, 10)}.`, '');
  for (const c of charts) lines.push(`![${c.title}](${chartDir}/${c.file})`, '');
  lines.push('### What they show', '');
  if (ipt && ipvs) {
    lines.push(`- **iptables mode is linear in the number of services, IPVS mode is flat.** The first packet of a connection to the last service evaluates ${fmt(small?.cost.last.rules)} rules at ${fmt(minN)} services and ${fmt(big?.cost.last.rules)} at ${fmt(maxN)}: ${fmt(ipt.rulesPerService, 2)} rules per added service (one KUBE-SERVICES rule per ClusterIP). In IPVS mode it is ${fmt(smallIpvs?.cost.last.rules)} rules and ${fmt(smallIpvs?.cost.last.lookups)} hash lookups at every size (${fmt(bigIpvs?.cost.last.rules)} / ${fmt(bigIpvs?.cost.last.lookups)} at ${fmt(maxN)}): the virtual server is found by one hash lookup, the ipsets by a few.`);
    lines.push(`- **Where the curves part.** To the *first* service both modes cost about the same (${fmt(small?.cost.first.rules)} rules in iptables mode, ${fmt(smallIpvs?.cost.first.rules)} in IPVS mode); every service ahead of the target in KUBE-SERVICES adds one rule in iptables mode, so the curves part from the first service on and the gap is the target's position. On nfemu's wall clock ${cross ? `iptables mode's first packet is slower than IPVS mode's from ${fmt(cross.services)} services on` : "IPVS mode's first packet stays slower than iptables mode's at every size measured (next point)"}. An established packet never walks KUBE-SERVICES (nat is consulted only for a connection's first packet): ${fmt(big?.cost.established.rules)} rules in iptables mode and ${fmt(bigIpvs?.cost.established.rules)} in IPVS mode at ${fmt(maxN)} services.`);
    const kernelPer = Object.entries(s.kernel).filter(([, v]) => v.nsPerService !== null).map(([b, v]) => `${fmt(v.nsPerService, 1)} ns with ${b === 'nft' ? 'iptables-nft' : 'iptables-legacy'}`);
    lines.push(`- **nfemu's per-rule cost against the kernel's.** The slope of the first packet to the last service is ${fmt(ipt.nsPerService, 1)} ns per added service in nfemu's iptables mode, ${ipt.nsPerRule !== null ? `${fmt(ipt.nsPerRule, 1)} ns per rule evaluated` : 'per rule: –'} (least squares over the sizes).${kernelPer.length ? ` The kernel spends ${kernelPer.join(' and ')} per KUBE-SERVICES rule (bursts of SYNs, see below). The two back ends are different evaluators of the same rules: nf_tables walks each translated rule as a list of expressions (nft_do_chain), x_tables walks packed entries with a fixed header compare and match calls (ipt_do_table).` : ''}`);
    if (ipvs.nsPerService !== null) {
      // Flat: within 1 ns per added service (the noise of a loaded 2-core machine).
      lines.push(Math.abs(ipvs.nsPerService) < 1
        ? `- **nfemu's IPVS mode is flat on the wall clock too** (${fmt(ipvs.nsPerService, 1)} ns per added service): its routing finds kube-ipvs0's addresses (every ClusterIP) through an exact-match index, as the kernel's fib_trie finds them without scanning.`
        : `- **nfemu's IPVS mode is not flat on the wall clock** (${fmt(ipvs.nsPerService, 1)} ns per added service) although its rules and hash lookups are: a per-service cost remains in nfemu's own code, which the kernel's IPVS mode does not have.`);
    }
  }
  const ctl = big?.control;
  if (ctl && bigIpvs) {
    lines.push(`- **Control plane.** At ${fmt(maxN)} services a full iptables-mode sync sends ${fmtBytes(ctl.full.restoreBytes)} (${fmt(ctl.full.restoreLines)} lines) to iptables-restore; one endpoint change (a partial sync: only that service's chains plus the top-level chains, of which KUBE-SERVICES still has one rule per service) sends ${fmtBytes(ctl.change.restoreBytes)} (${fmt(ctl.change.restoreLines)} lines). IPVS mode sends a fixed ${fmtBytes(bigIpvs.control.full.restoreBytes)} of iptables rules and makes ${fmt(bigIpvs.control.full.ipvsOps?.total)} IPVS/address/ipset operations on a fresh node, ${fmt(bigIpvs.control.change.ipvsOps?.total)} for one endpoint change.`);
  }
  const kr = r.kernel.results;
  if (kr.length) {
    const nft = kr.filter((k) => k.backend === 'nft');
    const legacy = kr.filter((k) => k.backend === 'legacy');
    const lastOk = (xs: readonly KernelMeasurement[]) => xs.filter((k) => k.restoreFullMs !== null).pop();
    const ln = lastOk(legacy);
    const nn = lastOk(nft);
    const describe = (xs: readonly KernelMeasurement[], tool: string) => {
      const ok = xs.filter((k) => k.restoreFullMs !== null);
      const bad = xs.filter((k) => k.restoreFullMs === null);
      if (!xs.length) return '';
      return `${tool} loads the whole ruleset in ${ok.map((k) => `${fmtMs(k.restoreFullMs)} (${fmt(k.services)})`).join(', ') || '–'}${bad.length ? `; ${bad.map((k) => fmt(k.services)).join(', ')} services: ${bad[0]!.note.startsWith('not attempted') ? 'not attempted, predicted past' : 'did not finish within'} the ${bad[0]!.note.match(/the (\d+) s limit/)?.[1] ?? bad[0]!.note.match(/in (\d+) s/)?.[1] ?? '?'} s limit${bad.some((k) => k.note.startsWith('not attempted')) && !bad.every((k) => k.note.startsWith('not attempted')) ? ' (the larger ones not attempted)' : ''}` : ''}`;
    };
    lines.push(`- **Kernel restore times grow faster than linearly.** ${[describe(legacy, 'iptables-legacy-restore'), describe(nft, 'iptables-nft-restore (iptables 1.8.9)')].filter(Boolean).join('. ')}. One endpoint change (kube-proxy's partial payload, \`--noflush\`) still costs ${fmtMs(ln?.restoreChangeMs)} with legacy at ${fmt(ln?.services)} services${nn ? ` and ${fmtMs(nn.restoreChangeMs)} with nft at ${fmt(nn.services)}` : ''}: the partial payload still rewrites KUBE-SERVICES whole (one rule per service), and the legacy tool reads the whole table from the kernel and hands it back whole (x_tables replaces a table as one blob).`);
  }
  lines.push('', '### Numbers', '');
  lines.push(mdTable(NFEMU_HEADER, nfemuRows(r)), '');
  if (kr.length) lines.push(mdTable(KERNEL_HEADER, kernelRows(r)), '');
  lines.push('### How they were made', '');
  lines.push(
    '- **Cluster**: N ClusterIP Services (one TCP port, 80 → 8080) × E endpoints on other nodes; the node under test has a client pod on cni0 whose first packet (SYN) goes to the first, middle and last service in KUBE-SERVICES order. Both modes are generated from the same kube-proxy state: iptables mode by src/kube (`syncIptablesRules`, full then partial sync as MinimizeIPTablesRestore does), IPVS mode by src/kube (`syncIpvsRules`: virtual servers, kube-ipvs0 addresses, ipsets, the fixed iptables rules) run on src/ipvs, a later sync\'s changes applied as kube-proxy makes them (bench/scaling/ipvs-ops.ts counts them). nfacct is off (kube-proxy leaves it out when the kernel has no nfacct objects, as in the scratch namespaces).',
    '- **Cost model**: rules evaluated (matched or passed over, every table and hook) by a counting TraceCollector(why=true); hash lookups = conntrack hash-chain walks, ipset tests, IPVS service and connection table lookups; counted after the timed part.',
    '- **nfemu speed**: benchmark.js, packets/s ± RME; each first packet is a new connection (a new client port; conntrack and IPVS connections are forgotten every 64k ports).',
    '- **Control plane**: generate = kube-proxy\'s work (building the payload); apply = nfemu parsing, validating, compiling and loading it; kernel: the wall time of `iptables-restore --noflush` for the same text.',
    '- **Memory**: heap of the measuring process after GC with the node programmed, minus before; each (mode, size) runs in a fresh process.',
    `- **Kernel twins**: ${r.kernel.method}`,
    `- **IPVS in the kernel**: ${r.kernel.ipvs.available ? 'available' : `not measured: ${r.kernel.ipvs.reason}`}.`,
  );
  if (r.errors.length) lines.push('', '### Errors in this run', '', ...r.errors.map((e) => `- ${e}`));
  return lines.join('\n') + '\n';
}

/**
 * README.md with its `## Results` section replaced by `section` (or appended at the end
 * when there is none). The section runs from its heading to the next `## ` heading.
 */
export function replaceSection(readme: string, section: string): string {
  const lines = readme.split('\n');
  const start = lines.findIndex((l) => l.trim() === README_HEADING);
  if (start < 0) return readme.replace(/\n*$/, '\n\n') + section;
  let end = lines.length;
  for (let i = start + 1; i < lines.length; i++) {
    if (/^## /.test(lines[i]!)) {
      end = i;
      break;
    }
  }
  const before = lines.slice(0, start).join('\n');
  const after = lines.slice(end).join('\n');
  return (before ? before.replace(/\n*$/, '\n\n') : '') + section + (after ? '\n' + after : '');
}
