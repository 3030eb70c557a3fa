/**
 * From a sync to what the node's tables hold: the host prelude (built-in chains, jumps,
 * canaries) restored as-is, then the payload with `--noflush`, through xtables' restore
 * (so the result is validated the way iptables-nft-restore validates it). Also kube-proxy's
 * test-suite ordering of restore text (sortIPTablesRules), used to compare with its dumps.
 */
import type { Family } from '../core/index.ts';
import { restore, type Ruleset } from '../xtables/index.ts';
import type { IptablesSync } from './iptables.ts';

/**
 * The node's ruleset after `sync`. Without `base` this is a fresh node: prelude, then the
 * payload. With `base` (the ruleset after the previous sync) only the payload is applied,
 * as kube-proxy does on a partial sync; the jumps are assumed to be in place.
 */
export function iptablesHostRuleset(sync: IptablesSync, base?: Ruleset, file = 'kube-proxy'): Ruleset {
  const family: Family = sync.family;
  const start = base ?? restore(sync.prelude, { family, file: `${file} (built-in jumps)` });
  return restore(sync.payload, { family, noflush: true, counters: true, file: `${file} (restore payload)` }, start);
}

/** The complete restore text of a fresh node: prelude then payload (for `iptables-restore --noflush` on an empty node). */
export function iptablesHostText(sync: IptablesSync): string {
  return sync.prelude + sync.payload;
}

function chainOrder(a: string, b: string): number {
  const rank = (c: string) => (c === 'KUBE-NODEPORTS' ? 0 : c === 'KUBE-SERVICES' ? 1 : c.startsWith('KUBE-') ? 2 : 3);
  const ra = rank(a);
  const rb = rank(b);
  if (ra !== rb) return ra - rb;
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Reorders restore text the way kube-proxy's tests do before comparing (sortIPTablesRules):
 * tables by name; in each, the chain declarations, then the rules grouped chain by chain,
 * chains ordered KUBE-NODEPORTS, KUBE-SERVICES, other KUBE-* by name, the rest by name;
 * rule order inside a chain kept; `-X` lines last, in the same chain order. Lines are kept
 * verbatim.
 */
export function sortRestoreText(text: string): string {
  interface T {
    name: string;
    chains: Map<string, { declared: string | null; rules: string[]; deleted: boolean }>;
  }
  const tables: T[] = [];
  let cur: T | null = null;
  const chainOf = (t: T, name: string) => {
    let c = t.chains.get(name);
    if (!c) t.chains.set(name, (c = { declared: null, rules: [], deleted: false }));
    return c;
  };
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    if (line.startsWith('*')) {
      cur = { name: line.slice(1).trim(), chains: new Map() };
      tables.push(cur);
    } else if (line === 'COMMIT') cur = null;
    else if (cur && line.startsWith(':')) chainOf(cur, line.slice(1).split(' ')[0]!).declared = line;
    else if (cur && line.startsWith('-A ')) chainOf(cur, line.split(' ')[1]!).rules.push(line);
    else if (cur && line.startsWith('-X ')) chainOf(cur, line.split(' ')[1]!).deleted = true;
  }
  tables.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const out: string[] = [];
  for (const t of tables) {
    const names = [...t.chains.keys()].sort(chainOrder);
    out.push(`*${t.name}`);
    for (const n of names) out.push(t.chains.get(n)!.declared ?? `:${n} - [0:0]`);
    for (const n of names) out.push(...t.chains.get(n)!.rules);
    for (const n of names) if (t.chains.get(n)!.deleted) out.push(`-X ${n}`);
    out.push('COMMIT');
  }
  out.push('');
  return out.join('\n');
}
