/**
 * Comparing nfemu's answer for a case with the kernel's (recorded or live): per packet the
 * rule-by-rule trace, the final verdict, fate and tuple, and conntrack's tuples; random
 * outcomes are compared statistically (every branch the kernel took must exist in nfemu
 * and observed counts must fit nfemu's probabilities).
 */

export interface TraceStepLike {
  hook: string;
  table: string;
  chain: string;
  rule_index: number | null;
  verdict: string;
}

export interface FinalLike {
  verdict: string;
  fate: string;
  proto?: string;
  src?: string;
  sport?: number;
  dst?: string;
  dport?: number;
  [k: string]: unknown;
}

export interface PacketAnswer {
  trace: TraceStepLike[];
  final: FinalLike;
  conntrack?: unknown[];
  outcomes?: { probability?: number; count?: number; trace: TraceStepLike[]; final: FinalLike }[];
  samples?: number;
}

export interface PacketDiff {
  agree: boolean;
  /** Human-readable first divergence. */
  divergence: string | null;
}

function step(s: TraceStepLike): string {
  return `${s.hook} ${s.table}:${s.chain}${s.rule_index !== null ? '#' + s.rule_index : ''} ${s.verdict}`;
}

/** The first place two traces part ways, as a readable diff; null when equal. */
export function diffTrace(nfemu: TraceStepLike[], kernel: TraceStepLike[]): string | null {
  const n = Math.max(nfemu.length, kernel.length);
  for (let i = 0; i < n; i++) {
    const a = nfemu[i];
    const b = kernel[i];
    if (a && b && step(a) === step(b)) continue;
    const ctx: string[] = [];
    for (let j = Math.max(0, i - 2); j < i; j++) ctx.push(`    ${step(kernel[j]!)}`);
    return [`trace differs at step ${i + 1}:`, ...ctx, `  - kernel: ${b ? step(b) : '(trace ends)'}`, `  + nfemu:  ${a ? step(a) : '(trace ends)'}`].join('\n');
  }
  return null;
}

/** Differences between final answers (source port only when no SNAT chose it). */
export function diffFinal(nfemu: FinalLike, kernel: FinalLike, ignoreSport: boolean): string | null {
  const keys: (keyof FinalLike)[] = ['verdict', 'fate', 'src', 'dst', 'dport'];
  if (!ignoreSport) keys.push('sport');
  const bad: string[] = [];
  for (const k of keys) {
    if (kernel[k] === undefined) continue;
    if (nfemu[k] !== kernel[k]) bad.push(`${String(k)}: kernel ${JSON.stringify(kernel[k])}, nfemu ${JSON.stringify(nfemu[k])}`);
  }
  return bad.length ? `final differs: ${bad.join('; ')}` : null;
}

function outcomeKey(o: { trace: TraceStepLike[]; final: FinalLike }): string {
  return o.trace.map(step).join(' | ') + ' => ' + [o.final.verdict, o.final.fate, o.final.dst, o.final.dport].join(' ');
}

/**
 * Compares one packet's answers. With kernel `outcomes` (counts over `samples` sends),
 * each observed outcome must be one of nfemu's branches, and the counts must be within
 * 4.5 standard deviations of nfemu's probabilities (a false alarm rate below 1e-5 per branch).
 */
export function diffPacket(nfemu: PacketAnswer, kernel: PacketAnswer): PacketDiff {
  // A source port that SNAT/MASQUERADE chose is a choice (random when the original port
  // cannot be kept), not an outcome: compare ports only when neither side did SNAT.
  const snat = (f: FinalLike) => String(f.ct_status ?? '').split(',').includes('SRC_NAT');
  const ignoreSport = snat(nfemu.final) || snat(kernel.final);
  // When the stack drops a packet after a NAT, the kernel's answer only knows the tuple
  // from the last trace event (before that NAT), nfemu knows it after: compare the rest.
  const ignoreTuple = kernel.final.fate === 'stack_drop' && kernel.final.tuple_source === 'trace';
  if (kernel.outcomes && kernel.outcomes.length > 0 && (kernel.outcomes.length > 1 || (nfemu.outcomes?.length ?? 1) > 1)) {
    const mine = new Map<string, number>();
    for (const o of nfemu.outcomes ?? [{ probability: 1, trace: nfemu.trace, final: nfemu.final }]) {
      const k = outcomeKey(o);
      mine.set(k, (mine.get(k) ?? 0) + (o.probability ?? 0));
    }
    const total = kernel.outcomes.reduce((s, o) => s + (o.count ?? 0), 0);
    for (const o of kernel.outcomes) {
      const k = outcomeKey(o);
      const p = mine.get(k);
      if (p === undefined) {
        const closest = [...mine.keys()][0] ?? '';
        return { agree: false, divergence: `the kernel took a branch nfemu does not have:\n  kernel: ${k}\n  nfemu (first branch): ${closest}` };
      }
      const expected = total * p;
      const sd = Math.sqrt(total * p * (1 - p)) || 1e-9;
      if (Math.abs((o.count ?? 0) - expected) > 4.5 * sd + 1e-9) {
        return { agree: false, divergence: `branch counts do not fit: kernel ${o.count}/${total}, nfemu probability ${p}\n  ${k}` };
      }
    }
    return { agree: true, divergence: null };
  }
  const t = diffTrace(nfemu.trace, kernel.trace);
  if (t) return { agree: false, divergence: t };
  const f = ignoreTuple
    ? diffFinal({ verdict: nfemu.final.verdict, fate: nfemu.final.fate }, { verdict: kernel.final.verdict, fate: kernel.final.fate }, true)
    : diffFinal(nfemu.final, kernel.final, ignoreSport);
  if (f) return { agree: false, divergence: f };
  return { agree: true, divergence: null };
}
