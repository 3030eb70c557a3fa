/**
 * A walk as JSON (every hop with its trace and conntrack entry), as a Mermaid sequence
 * diagram (hosts as participants, one arrow per wire crossing, notes for NAT, drops and
 * what processes did), and as story lines for scenarios.
 */
import type { PacketJson, TraceEntry } from '../host/index.ts';
import type { ExchangeResult, Hop, Leg, Walk } from './types.ts';

/** Format version of `walkToJson`. */
export const WALK_JSON_VERSION = 1;

function exchangeJson(r: ExchangeResult): Record<string, unknown> {
  return {
    ok: r.ok, reply: r.reply, served_by: r.servedBy, failure: r.failure, socket: r.socket,
    request_leg: r.request.id, reply_leg: r.replyLeg?.id ?? null, upstream: r.upstream.map(exchangeJson),
  };
}

/** The walk as plain JSON data (legs reference each other by id). */
export function walkToJson(walk: Walk): Record<string, unknown> {
  return {
    version: WALK_JSON_VERSION,
    title: walk.title,
    legs: walk.legs.map((l) => ({
      id: l.id, parent: l.parent, depth: l.depth, kind: l.kind, from: l.from, label: l.label, payload: l.payload,
      hops: l.hops, end: l.end, notes: l.notes,
    })),
    result: walk.result ? exchangeJson(walk.result) : null,
  };
}

/** `10.0.0.1:80` (or the address alone without ports). */
function endpoint(p: PacketJson, side: 'src' | 'dst'): string {
  const port = side === 'src' ? p.sport : p.dport;
  return port === undefined ? p[side] : `${p[side]}:${port}`;
}

/** `tcp 10.0.0.1:4000 → 10.0.0.2:80 [SYN]`. */
export function packetLine(p: PacketJson): string {
  return `${p.proto} ${endpoint(p, 'src')} → ${endpoint(p, 'dst')}${p.tcp_flags ? ` [${p.tcp_flags}]` : ''}`;
}

/** What the hop rewrote: `dst 10.96.0.10:80 → 10.244.1.5:8080`, `src … → …`, or ''. */
export function natChange(h: Hop): string {
  const out: string[] = [];
  const a = h.before;
  const b = h.after;
  if (a.src !== b.src || a.sport !== b.sport) out.push(`src ${endpoint(a, 'src')} → ${endpoint(b, 'src')}`);
  if (a.dst !== b.dst || a.dport !== b.dport) out.push(`dst ${endpoint(a, 'dst')} → ${endpoint(b, 'dst')}`);
  return out.join(', ');
}

/** `nat:KUBE-SVC-X#2 JUMP:KUBE-SEP-Y` per trace entry. */
export function traceLines(trace: readonly TraceEntry[]): string[] {
  return trace.map((e) => `${e.hook.padEnd(11)} ${e.table}:${e.chain}${e.rule_index !== null ? `#${e.rule_index}` : ''} ${e.verdict}`);
}

/** One line for a hop: where it entered, what changed, where it went. */
export function hopLine(h: Hop): string {
  const where = h.hook === 'OUTPUT' ? 'sent by a local process' : `in ${h.in_iface}`;
  const nat = natChange(h);
  let fate: string;
  switch (h.fate) {
    case 'local': fate = 'delivered locally'; break;
    case 'dropped': fate = `DROPPED${h.by ? ` by ${h.by.table}:${h.by.chain}${h.by.rule_index !== null ? `#${h.by.rule_index}` : ''} (${h.by.target})` : ''}`; break;
    case 'stack_drop': fate = `not routed: ${h.reason}`; break;
    default: fate = `${h.fate === 'sent' ? 'sent' : 'forwarded'} out ${h.after.out_iface}${h.next ? ` to ${h.next.host}` : ''}`;
  }
  return `${h.host}: ${where}, ${packetLine(h.before)}${nat ? `; rewrites ${nat}` : ''}; ${fate}`;
}

export interface StoryOptions {
  /** Print each hop's rule trace (default false). */
  readonly trace?: boolean;
  /** Print each hop's conntrack entry (default false). */
  readonly conntrack?: boolean;
  /** Indentation of the first level (default ''). */
  readonly indent?: string;
}

/** The walk as story lines: one block per leg, one line per hop, the processes' notes. */
export function walkToLines(walk: Walk, o: StoryOptions = {}): string[] {
  const out: string[] = [];
  const base = o.indent ?? '';
  for (const l of walk.legs) {
    const ind = base + '  '.repeat(l.depth);
    const arrow = l.kind === 'reply' ? '←' : l.kind === 'emitted' ? '↩' : '→';
    out.push(`${ind}${arrow} ${l.label}${l.payload ? `  [${l.payload}]` : ''}`);
    for (const h of l.hops) {
      out.push(`${ind}    ${hopLine(h)}`);
      if (h.note) out.push(`${ind}      (${h.note})`);
      if (o.trace) for (const t of traceLines(h.trace)) out.push(`${ind}      ${t}`);
      if (o.conntrack && h.conntrack) {
        const c = h.conntrack;
        const t = (x: typeof c.original) => `${x.src}:${x.sport ?? ''} → ${x.dst}:${x.dport ?? ''}`;
        out.push(`${ind}      conntrack: ${t(c.original)}  reply ${t(c.reply)}${c.state ? ` ${c.state}` : ''}`);
      }
    }
    if (l.end.kind !== 'delivered') out.push(`${ind}    ✗ ${l.end.detail}`);
    for (const n of l.notes) out.push(`${ind}    • ${n}`);
  }
  return out;
}

function mermaidText(s: string): string {
  // One pass: escaping '#' first would leave a ';' for the second replacement to mangle.
  return s.replace(/[#;\n]/g, (ch) => (ch === '#' ? '#35;' : ch === ';' ? '#59;' : ' '));
}

/** The walk as a Mermaid sequence diagram. */
export function walkToMermaid(walk: Walk): string {
  const ids = new Map<string, string>();
  const order: string[] = [];
  const id = (host: string): string => {
    let v = ids.get(host);
    if (v === undefined) {
      v = `h${ids.size}`;
      ids.set(host, v);
      order.push(host);
    }
    return v;
  };
  const body: string[] = [];
  for (const l of walk.legs) {
    id(l.from);
    for (const h of l.hops) {
      id(h.host);
      if (h.next) id(h.next.host);
    }
  }
  for (const l of walk.legs) {
    const dashed = l.kind !== 'request';
    body.push(`  Note over ${id(l.from)}: ${mermaidText(`${l.label}${l.payload ? ` (${l.payload})` : ''}`)}`);
    for (const h of l.hops) {
      const nat = natChange(h);
      if (nat) body.push(`  Note over ${id(h.host)}: ${mermaidText(nat)}`);
      if (h.note) body.push(`  Note over ${id(h.host)}: ${mermaidText(h.note)}`);
      if (h.next) body.push(`  ${id(h.host)}${dashed ? '-->>' : '->>'}${id(h.next.host)}: ${mermaidText(packetLine(h.after))}`);
    }
    const last = l.hops[l.hops.length - 1];
    const endHost = id(l.end.host);
    if (l.end.kind === 'delivered') body.push(`  Note over ${endHost}: ${mermaidText(`delivered: ${packetLine(l.end.packet)}`)}`);
    else body.push(`  Note over ${last ? id(last.host) : endHost}: ${mermaidText(`✗ ${l.end.detail}`)}`);
    for (const n of l.notes) body.push(`  Note over ${endHost}: ${mermaidText(n)}`);
  }
  const head = ['sequenceDiagram'];
  if (walk.title) head.push(`  title ${mermaidText(walk.title)}`);
  for (const h of order) head.push(`  participant ${ids.get(h)} as ${mermaidText(h)}`);
  return [...head, ...body].join('\n') + '\n';
}

/** Hands a walk to a scenario runner that collects them (`io.walk(name, walk)`, used by `--json` / `--mermaid`). */
export function emitWalk(io: object, name: string, walk: Walk): void {
  const f = (io as { walk?: unknown }).walk;
  if (typeof f === 'function') (f as (n: string, w: Walk) => void).call(io, name, walk);
}

/** All legs of an exchange and its nested exchanges, in walk order. */
export function legsOf(r: ExchangeResult): Leg[] {
  const out: Leg[] = [r.request];
  for (const u of r.upstream) out.push(...legsOf(u));
  if (r.replyLeg) out.push(r.replyLeg);
  return out.sort((a, b) => a.id - b.id);
}
