/** Human-readable forms of results (the default output of `nfemu trace`). */
import type { CaseResultJson, FinalJson, PacketResultJson, TraceEntry } from '../host/index.ts';

function finalLine(f: FinalJson): string {
  const ports = f.sport !== undefined ? `:${f.sport}` : '';
  const dports = f.dport !== undefined ? `:${f.dport}` : '';
  const by = f.by ? ` by ${f.by.table}:${f.by.chain}${f.by.rule_index !== null ? '#' + f.by.rule_index : ''} ${f.by.target}` : '';
  const reason = f.reason ? ` (${f.reason})` : '';
  const iface = f.out_iface ? ` out ${f.out_iface}` : f.in_iface ? ` in ${f.in_iface}` : '';
  const ct = f.ct_state ? ` ct ${f.ct_state}${f.ct_status ? ' [' + f.ct_status + ']' : ''}` : '';
  return `${f.verdict}, ${f.fate}${by}${reason}: ${f.proto} ${f.src}${ports} -> ${f.dst}${dports}${iface} mark ${f.mark}${ct}`;
}

export function formatTrace(entries: TraceEntry[], indent: string): string[] {
  const out: string[] = [];
  let hook = '';
  for (const e of entries) {
    if (e.hook !== hook) {
      hook = e.hook;
      out.push(`${indent}${hook}`);
    }
    for (const s of e.skipped ?? []) out.push(`${indent}    · ${e.table}:${s.rule.split(' ')[1]}#${s.rule_index} no match: ${s.why}`);
    const where = `${e.table}:${e.chain}${e.rule_index !== null ? '#' + e.rule_index : ''}`;
    out.push(`${indent}  ${where} ${e.verdict}${e.rule ? `   ${e.rule}` : ''}`);
    if (e.nat) {
      out.push(`${indent}      before: ${e.nat.before}`);
      out.push(`${indent}      after:  ${e.nat.after}`);
    }
  }
  return out;
}

export function formatPacketResult(r: PacketResultJson, n: number): string {
  const p = r.packet;
  const sp = p.sport !== undefined ? `:${p.sport}` : '';
  const dp = p.dport !== undefined ? `:${p.dport}` : '';
  const lines: string[] = [];
  lines.push(`packet ${n}: ${p.proto} ${p.src}${sp} -> ${p.dst}${dp}${p.in_iface ? ' in ' + p.in_iface : ''} (${p.hook ?? (p.in_iface ? 'PREROUTING' : 'OUTPUT')})`);
  if (r.outcomes) {
    lines.push(`  ${r.outcomes.length} random branches:`);
    r.outcomes.forEach((o, i) => {
      lines.push(`  branch ${i + 1}, probability ${o.probability.toPrecision(10)}:`);
      lines.push(...formatTrace(o.trace, '    '));
      lines.push(`    => ${finalLine(o.final)}`);
    });
  } else {
    lines.push(...formatTrace(r.trace, '  '));
    lines.push(`  => ${finalLine(r.final)}`);
  }
  for (const e of r.emitted) {
    const sp2 = e.sport !== undefined ? `:${e.sport}` : '';
    const dp2 = e.dport !== undefined ? `:${e.dport}` : '';
    const icmp = e.icmp_type !== undefined ? ` type ${e.icmp_type} code ${e.icmp_code}` : '';
    lines.push(`  host sent: ${e.proto} ${e.src}${sp2} -> ${e.dst}${dp2}${icmp}${e.tcp_flags ? ' [' + e.tcp_flags + ']' : ''}${e.out_iface ? ' out ' + e.out_iface : ''}`);
  }
  for (const l of r.logs) lines.push(`  log: ${l}`);
  return lines.join('\n');
}

export function formatCaseResult(res: CaseResultJson): string {
  return res.results.map((r, i) => formatPacketResult(r, i + 1)).join('\n\n');
}
