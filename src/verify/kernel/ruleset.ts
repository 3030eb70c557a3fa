/**
 * Loading a case into the node namespace (ipsets with `ipset restore`, the ruleset with
 * `iptables-nft-restore` exactly as given), the runner's own nft table for tracing, and the
 * map from nf_tables rule handles back to iptables rule positions and text.
 */
import { NfemuError } from '../../core/index.ts';
import { run } from './exec.ts';

/** The runner's own table; its events are never part of a trace. */
export const TRACE_TABLE = 'nfemu_trace';

/** Priority of the trigger chains: before raw (-300) and conntrack (-200). */
export const TRIGGER_PRIORITY = -350;
/**
 * Priority of the observer chains at INPUT and POSTROUTING: after every iptables table
 * (the last is nat at 100) and before conntrack confirmation (INT_MAX), so their event shows
 * the packet as it leaves netfilter.
 */
export const OBSERVER_PRIORITY = 1000;

export interface RuleInfo {
  table: string;
  chain: string;
  /** 1-based position in its chain. */
  index: number;
  /** As iptables-nft-save prints it; null if the save output and nft disagree. */
  text: string | null;
}

export interface RuleMap {
  byHandle: Map<string, RuleInfo>;
  /** `table\0chain` → hook name (PREROUTING …) for base chains. */
  baseChains: Map<string, string>;
}

const HOOK_NAMES: Record<string, string> = {
  prerouting: 'PREROUTING',
  input: 'INPUT',
  forward: 'FORWARD',
  output: 'OUTPUT',
  postrouting: 'POSTROUTING',
};

export function key(table: string, chain: string): string {
  return `${table}\u0000${chain}`;
}

function nsExec(ns: string, argv: readonly string[]): string[] {
  return ['ip', 'netns', 'exec', ns, ...argv];
}

/** `ipset restore` inside the node; throws NfemuError('IO') with ipset's message on failure. */
export async function loadIpsets(ns: string, text: string): Promise<void> {
  const r = await run(nsExec(ns, ['ipset', 'restore']), { input: text.endsWith('\n') ? text : text + '\n', timeoutMs: 60000 });
  if (r.code !== 0) throw new NfemuError('IO', `ipset restore failed: ${r.stderr.trim() || `exit ${r.code}`}`);
}

/** `iptables-nft-restore` (or ip6tables-nft-restore) of the ruleset text, no --noflush. */
export async function loadRuleset(ns: string, family: 4 | 6, text: string, noflush = false): Promise<void> {
  const tool = family === 4 ? 'iptables-nft-restore' : 'ip6tables-nft-restore';
  const r = await run(nsExec(ns, [tool, ...(noflush ? ['--noflush'] : [])]), { input: text.endsWith('\n') ? text : text + '\n', timeoutMs: 120000 });
  if (r.code !== 0) throw new NfemuError('IO', `${tool} failed: ${r.stderr.trim() || `exit ${r.code}`}`);
}

/** The nft family word for the runner's table. */
export function nftFamily(family: 4 | 6): string {
  return family === 4 ? 'ip' : 'ip6';
}

/**
 * The runner's table: trigger chains at PREROUTING and OUTPUT (their rules, set per packet,
 * mark the runner's packet with `meta nftrace set 1`) and empty observer chains at INPUT and
 * POSTROUTING. It never drops or changes anything except the mark a case asks for.
 */
export function traceTableScript(family: 4 | 6): string {
  const f = nftFamily(family);
  return [
    `table ${f} ${TRACE_TABLE} {`,
    `  chain trigger_pre { type filter hook prerouting priority ${TRIGGER_PRIORITY}; policy accept; }`,
    `  chain trigger_out { type filter hook output priority ${TRIGGER_PRIORITY}; policy accept; }`,
    `  chain observe_in { type filter hook input priority ${OBSERVER_PRIORITY}; policy accept; }`,
    `  chain observe_post { type filter hook postrouting priority ${OBSERVER_PRIORITY}; policy accept; }`,
    `}`,
    '',
  ].join('\n');
}

/** The identifications (IPv4 id / IPv6 flow label) the runner gives its packets. */
export const IDENT_FIRST = 0x7a00;
export const IDENT_COUNT = 0x200;

/**
 * The rules of the trigger chains for one packet: trace every packet whose IPv4
 * identification (IPv6 flow label) is one of the runner's; for an arriving packet, also give
 * it the case's mark (a frame on the wire carries none). `outMatch` replaces the match in
 * the OUTPUT chain for packets sent from an ordinary socket, whose identification the kernel
 * picks (it may then also set the mark there).
 */
export function triggerScript(family: 4 | 6, preMark: number | null, outMatch: string | null): string {
  const f = nftFamily(family);
  const lo = IDENT_FIRST;
  const hi = IDENT_FIRST + IDENT_COUNT - 1;
  const id = family === 4 ? `ip id ${lo}-${hi}` : `ip6 flowlabel ${lo}-${hi}`;
  const mark = preMark !== null ? ` meta mark set 0x${(preMark >>> 0).toString(16)}` : '';
  return [
    `flush chain ${f} ${TRACE_TABLE} trigger_pre`,
    `flush chain ${f} ${TRACE_TABLE} trigger_out`,
    `add rule ${f} ${TRACE_TABLE} trigger_pre ${id}${mark} meta nftrace set 1`,
    `add rule ${f} ${TRACE_TABLE} trigger_out ${outMatch ?? id} meta nftrace set 1`,
    '',
  ].join('\n');
}

export async function nftScript(ns: string, script: string): Promise<void> {
  const r = await run(nsExec(ns, ['nft', '-f', '-']), { input: script, timeoutMs: 20000 });
  if (r.code !== 0) throw new NfemuError('IO', `nft -f failed: ${r.stderr.trim()}\n${script}`);
}

/** Parses iptables-save text into table → chain → rule lines (`-A CHAIN …`), in order. */
export function parseSave(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let table = '';
  for (const raw of text.split('\n')) {
    const line = raw.trimEnd();
    if (line.startsWith('*')) {
      table = line.slice(1).trim();
      continue;
    }
    if (!line.startsWith('-A ')) continue;
    const chain = line.slice(3).split(/\s+/, 1)[0]!;
    const k = key(table, chain);
    let list = out.get(k);
    if (!list) out.set(k, (list = []));
    list.push(line);
  }
  return out;
}

interface NftJson {
  nftables: Array<{
    chain?: { family: string; table: string; name: string; hook?: string };
    rule?: { family: string; table: string; chain: string; handle: number };
  }>;
}

/**
 * Builds the handle map from `nft -j list ruleset` and the save text: rule N of chain C in
 * the save output is the N-th rule of chain C in nf_tables (iptables-nft writes one nft rule
 * per iptables rule, in order).
 */
export function buildRuleMap(nftJson: string, saveText: string, family: 4 | 6): RuleMap {
  const f = nftFamily(family);
  const data = JSON.parse(nftJson) as NftJson;
  const save = parseSave(saveText);
  const byHandle = new Map<string, RuleInfo>();
  const baseChains = new Map<string, string>();
  const counters = new Map<string, number>();
  for (const item of data.nftables) {
    if (item.chain && item.chain.family === f && item.chain.hook) {
      const hook = HOOK_NAMES[item.chain.hook];
      if (hook) baseChains.set(key(item.chain.table, item.chain.name), hook);
    }
    const r = item.rule;
    if (!r || r.family !== f || r.table === TRACE_TABLE) continue;
    const k = key(r.table, r.chain);
    const index = (counters.get(k) ?? 0) + 1;
    counters.set(k, index);
    const lines = save.get(k);
    byHandle.set(key(r.table, String(r.handle)), { table: r.table, chain: r.chain, index, text: lines?.[index - 1] ?? null });
  }
  // Where nft and the save output disagree on a chain's length, the positions are not
  // trustworthy as text: keep the index, drop the text.
  for (const [k, n] of counters) {
    const lines = save.get(k);
    if ((lines?.length ?? 0) === n) continue;
    for (const info of byHandle.values()) if (key(info.table, info.chain) === k) info.text = null;
  }
  return { byHandle, baseChains };
}

/** Reads the current handles of the node's ruleset. */
export async function readRuleMap(ns: string, family: 4 | 6, saveText?: string): Promise<{ map: RuleMap; save: string }> {
  const j = await run(nsExec(ns, ['nft', '-j', 'list', 'ruleset']), { timeoutMs: 60000 });
  if (j.code !== 0) throw new NfemuError('IO', `nft -j list ruleset failed: ${j.stderr.trim()}`);
  let save = saveText;
  if (save === undefined) {
    const s = await run(nsExec(ns, [family === 4 ? 'iptables-nft-save' : 'ip6tables-nft-save']), { timeoutMs: 60000 });
    if (s.code !== 0) throw new NfemuError('IO', `iptables-nft-save failed: ${s.stderr.trim()}`);
    save = s.stdout;
  }
  return { map: buildRuleMap(j.stdout, save, family), save };
}
