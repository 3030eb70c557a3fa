/**
 * Reading `conntrack -L` (conntrack-tools' default output) into the result's conntrack
 * entries: `tcp 6 118 SYN_SENT src=… dst=… sport=… dport=… [UNREPLIED] src=… … mark=0 use=1`.
 */
import type { KernelConntrackEntry, KernelCtTuple } from './types.ts';

/** Parses every entry line; lines that are not entries (the summary on stderr, blanks) are skipped. */
export function parseConntrackList(text: string): KernelConntrackEntry[] {
  const out: KernelConntrackEntry[] = [];
  for (const line of text.split('\n')) {
    const e = parseConntrackLine(line);
    if (e) out.push(e);
  }
  return out;
}

export function parseConntrackLine(line: string): KernelConntrackEntry | null {
  const t = line.trim().split(/\s+/);
  if (t.length < 4) return null;
  // `ipv4 2 tcp 6 …` (-o extended) or `tcp 6 …` (default)
  let i = 0;
  if ((t[0] === 'ipv4' || t[0] === 'ipv6') && /^\d+$/.test(t[1]!)) i = 2;
  const proto = t[i]!;
  if (!/^\d+$/.test(t[i + 1] ?? '') || !/^\d+$/.test(t[i + 2] ?? '')) return null;
  const timeout = Number(t[i + 2]);
  i += 3;
  let state: string | undefined;
  if (t[i] !== undefined && !t[i]!.includes('=') && !t[i]!.startsWith('[')) state = t[i++];
  const tuples: KernelCtTuple[] = [];
  let cur: KernelCtTuple | null = null;
  const flags: string[] = [];
  let mark = 0;
  let zone: number | undefined;
  for (; i < t.length; i++) {
    const w = t[i]!;
    if (w.startsWith('[') && w.endsWith(']')) {
      flags.push(w.slice(1, -1).toLowerCase());
      continue;
    }
    const eq = w.indexOf('=');
    if (eq < 0) continue;
    const k = w.slice(0, eq);
    const v = w.slice(eq + 1);
    if (k === 'src') {
      if (tuples.length < 2) {
        cur = { src: v, dst: '', proto };
        tuples.push(cur);
      } else {
        cur = null;
      }
    } else if (k === 'dst' && cur) cur.dst = v;
    else if (k === 'sport' && cur) cur.sport = Number(v);
    else if (k === 'dport' && cur) cur.dport = Number(v);
    else if (k === 'mark') mark = Number(v);
    else if (k === 'zone') zone = Number(v);
  }
  if (tuples.length < 2) return null;
  const e = { original: tuples[0]!, reply: tuples[1]! } as KernelConntrackEntry;
  if (state !== undefined) e.state = state;
  e.mark = mark;
  if (zone !== undefined) e.zone = zone;
  e.timeout = timeout;
  if (flags.length > 0) e.flags = flags;
  return e;
}
