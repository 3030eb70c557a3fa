/**
 * Printing in iptables-nft-save's canonical form (iptables 1.8.9, nf_tables back end):
 * tables in the back end's order (mangle, security, raw, filter, nat), built-in chains in
 * hook order then user chains by name, header options `-s -d -i -o -p -f`, matches in the
 * order loaded (implicit protocol matches as `-m tcp`), then `-j`/`-g` with options.
 */
import { formatCidr, protoName, type Family } from '../core/index.ts';
import { HOOK_NAMES, TABLE_HOOKS, tableByName } from '../netfilter/index.ts';
import { getMatch, getTarget } from './ext.ts';
import { TARGET_EXTENSION, TARGET_GOTO, ZERO_COUNTERS, type Chain, type MatchSpec, type Rule, type Ruleset, type Table } from './model.ts';

function builtinChainNames(table: string): string[] {
  const id = tableByName(table);
  return id < 0 ? [] : HOOK_NAMES.filter((_, h) => (TABLE_HOOKS[id]! & (1 << h)) !== 0);
}

/** Table print order of iptables-nft-save (enum nft_table_type). */
const NFT_TABLE_ORDER = ['mangle', 'security', 'raw', 'filter', 'nat'];

/** The rule after `-A CHAIN`, without counters: header, matches, target. */
export function printRuleBody(r: Rule, family: Family): string {
  const parts: string[] = [];
  const neg = (inv: boolean) => (inv ? '! ' : '');
  if (r.src) parts.push(`${neg(r.src.invert)}-s ${formatCidr(r.src.cidr)}`);
  if (r.dst) parts.push(`${neg(r.dst.invert)}-d ${formatCidr(r.dst.cidr)}`);
  if (r.inIface) parts.push(`${neg(r.inIface.invert)}-i ${r.inIface.name}`);
  if (r.outIface) parts.push(`${neg(r.outIface.invert)}-o ${r.outIface.name}`);
  if (r.proto && (r.proto.proto !== 0 || r.proto.invert)) parts.push(`${neg(r.proto.invert)}-p ${protoName(r.proto.proto, family)}`);
  if (r.fragment) parts.push(`${neg(r.fragment.invert)}-f`);
  for (const m of foldNativeMatches(r.matches)) {
    const ext = getMatch(m.name);
    const opts = ext ? ext.print(m.data, family) : '';
    parts.push(opts ? `-m ${m.name} ${opts}` : `-m ${m.name}`);
  }
  if (r.target) {
    if (r.target.kind === TARGET_GOTO) parts.push(`-g ${r.target.name}`);
    else if (r.target.kind === TARGET_EXTENSION) {
      const ext = getTarget(r.target.name)!;
      const opts = ext.print(r.target.data, family);
      parts.push(opts ? `-j ${r.target.name} ${opts}` : `-j ${r.target.name}`);
    } else parts.push(`-j ${r.target.name}`);
  }
  return parts.join(' ');
}

/** `-A CHAIN …` as iptables-save prints it (with `[p:b] ` first when counters are asked for). */
export function printRule(chain: string, r: Rule, family: Family, counters = false): string {
  const body = printRuleBody(r, family);
  const head = counters ? `[${r.counters.packets}:${r.counters.bytes}] ` : '';
  return body ? `${head}-A ${chain} ${body}` : `${head}-A ${chain}`;
}

/** A rule's identity for -D/-C: its canonical text. */
export function ruleKey(r: Rule, family: Family): string {
  return printRuleBody(r, family);
}

/**
 * Chains in the order iptables-nft-save prints them. It prints every built-in chain of the
 * table, also those that do not exist as nf_tables base chains (ACCEPT, [0:0]).
 */
export function chainsInSaveOrder(t: Table): Chain[] {
  const have = new Map(t.chains.filter((c) => c.builtin).map((c) => [c.name, c]));
  const builtin = builtinChainNames(t.name).map((n) => have.get(n) ?? { name: n, builtin: true, policy: 'ACCEPT' as const, counters: ZERO_COUNTERS, rules: [] });
  const user = t.chains.filter((c) => !c.builtin).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return [...builtin, ...user];
}

export interface SaveOptions {
  /** Print rule counters (`iptables-save -c`). Chain counters are always printed. */
  readonly counters?: boolean;
  /** Only this table. */
  readonly table?: string;
}

/** The whole ruleset as `iptables-nft-save` prints it (without the date comment lines). */
export function printSave(rs: Ruleset, opts: SaveOptions = {}): string {
  const out: string[] = [];
  for (const name of NFT_TABLE_ORDER) {
    if (opts.table && opts.table !== name) continue;
    const t = rs.tables[tableByName(name)];
    if (!t) continue;
    out.push(`*${name}`);
    const chains = chainsInSaveOrder(t);
    for (const c of chains) {
      out.push(`:${c.name} ${c.builtin ? c.policy ?? 'ACCEPT' : '-'} [${c.counters.packets}:${c.counters.bytes}]`);
    }
    for (const c of chains) for (const r of c.rules) out.push(printRule(c.name, r, rs.family, opts.counters));
    out.push('COMMIT');
  }
  return out.length ? out.join('\n') + '\n' : '';
}

/** The port/flag fields of tcp and udp data that iptables-nft keeps as native expressions. */
interface NativePortData {
  readonly spts: readonly [number, number];
  readonly dpts: readonly [number, number];
  readonly invSrc: boolean;
  readonly invDst: boolean;
  readonly flgMask?: number;
  readonly flgCmp?: number;
  readonly invFlags?: boolean;
}

/** Optional hooks of the tcp and udp modules: stored natively, and printed at all. */
interface NativeExt {
  omitted?(data: unknown): boolean;
  native?(data: unknown): boolean;
}

const FULL = (r: readonly [number, number]) => r[0] === 0 && r[1] === 65535;

/**
 * What iptables-nft-save prints for a rule's matches. tcp and udp matches become native
 * nf_tables expressions when loaded; reading them back, iptables-nft (nft_create_match
 * with reuse) puts every such field into the first tcp (udp) match of the rule — a later
 * field overwrites an earlier one of the same kind — and a match that left no
 * expression behind (`! --sport 0:65535`) is not printed at all. The rule's meaning is
 * kept in the model; only its printed form follows iptables-nft.
 */
function foldNativeMatches(ms: readonly MatchSpec[]): readonly MatchSpec[] {
  let native = 0;
  for (const m of ms) if (isNative(m)) native++;
  if (native === 0) return ms;
  const out: MatchSpec[] = [];
  const first = new Map<string, number>();
  for (const m of ms) {
    const ext = getMatch(m.name) as (NativeExt & object) | undefined;
    if (isNative(m)) {
      if (ext?.omitted?.(m.data)) continue;
      const at = first.get(m.name);
      if (at === undefined) {
        first.set(m.name, out.length);
        out.push(m);
        continue;
      }
      const a = out[at]!.data as NativePortData;
      const b = m.data as NativePortData;
      const merged: NativePortData = {
        ...a,
        ...(FULL(b.spts) && !b.invSrc ? {} : { spts: b.spts, invSrc: b.invSrc }),
        ...(FULL(b.dpts) && !b.invDst ? {} : { dpts: b.dpts, invDst: b.invDst }),
        ...(b.flgMask ? { flgMask: b.flgMask, flgCmp: b.flgCmp, invFlags: b.invFlags } : {}),
      };
      out[at] = { name: m.name, data: merged };
      continue;
    }
    out.push(m);
  }
  return out;
}

/** Whether iptables-nft keeps this match as native expressions (the module says; tcp/udp only). */
function isNative(m: MatchSpec): boolean {
  if (m.name !== 'tcp' && m.name !== 'udp') return false;
  const ext = getMatch(m.name) as (NativeExt & object) | undefined;
  return ext?.native?.(m.data) ?? false;
}
