/**
 * Applying iptables commands (-A -I -D -R -N -X -F -Z -P -E) to one table, with the
 * kernel tool's checks and wording. Works on a mutable table (an immer draft or the
 * restore parser's working copy); chains are found through an index kept alongside.
 */
import { NfemuError, type Family } from '../../core/index.ts';
import { TABLE_HOOKS, HOOK_NAMES, tableByName } from '../../netfilter/index.ts';
import { ZERO_COUNTERS, TARGET_GOTO, TARGET_JUMP, type Chain, type Counters, type Rule, type Table } from '../model.ts';
import type { ParsedCommand } from './rule.ts';
import { ruleKey } from '../print.ts';

export interface MutableChain {
  name: string;
  builtin: boolean;
  policy: 'ACCEPT' | 'DROP' | null;
  counters: Counters;
  rules: Rule[];
}

export interface MutableTable {
  name: string;
  chains: MutableChain[];
}

/** The built-in chain names of a table, in hook order. */
export function builtinChains(table: string): string[] {
  const id = tableByName(table);
  if (id < 0) return [];
  const mask = TABLE_HOOKS[id]!;
  return HOOK_NAMES.filter((_, h) => (mask & (1 << h)) !== 0);
}

/** A new table with all its built-in chains (policy ACCEPT), as iptables-nft creates it. */
export function newMutableTable(name: string): MutableTable {
  return {
    name,
    chains: builtinChains(name).map((c) => ({ name: c, builtin: true, policy: 'ACCEPT' as const, counters: ZERO_COUNTERS, rules: [] })),
  };
}

export function toMutable(t: Table): MutableTable {
  return { name: t.name, chains: t.chains.map((c) => ({ ...c, rules: c.rules.slice() })) };
}

export function freezeTable(t: MutableTable): Table {
  return { name: t.name, chains: t.chains.map((c): Chain => ({ name: c.name, builtin: c.builtin, policy: c.policy, counters: c.counters, rules: c.rules })) };
}

/** Edits one table. Keeps a name → chain index so large restores stay linear. */
export class TableEditor {
  private readonly index = new Map<string, MutableChain>();

  constructor(readonly table: MutableTable, private readonly family: Family) {
    for (const c of table.chains) this.index.set(c.name, c);
  }

  has(name: string): boolean {
    return this.index.has(name);
  }

  get(name: string): MutableChain | undefined {
    return this.index.get(name);
  }

  private fail(message: string, where: { file?: string; line?: number }, token?: string, code: 'PARSE' | 'VALIDATE' = 'VALIDATE'): never {
    throw new NfemuError(code, message, { ...where, token });
  }

  private need(name: string | undefined, where: { file?: string; line?: number }): MutableChain {
    if (name === undefined) this.fail('no chain given', where);
    const c = this.index.get(name!);
    if (!c) this.fail(`Chain '${name}' does not exist`, where, name);
    return c!;
  }

  /** Creates a user chain, or flushes it if it exists (restore's `:NAME -` line). */
  declareChain(name: string, where: { file?: string; line?: number }, flushExisting: boolean): MutableChain {
    const c = this.index.get(name);
    if (c) {
      if (flushExisting) c.rules = [];
      return c;
    }
    return this.newChain(name, where);
  }

  newChain(name: string, where: { file?: string; line?: number }): MutableChain {
    if (this.index.has(name)) this.fail(`Chain '${name}' already exists`, where, name);
    if (name.length > 28) this.fail(`Invalid chain name \`${name}' (28 chars max)`, where, name, 'PARSE');
    if (name.startsWith('-') || name === '!' || /[\s]/.test(name)) this.fail(`Invalid chain name \`${name}'`, where, name, 'PARSE');
    const c: MutableChain = { name, builtin: false, policy: null, counters: ZERO_COUNTERS, rules: [] };
    this.table.chains.push(c);
    this.index.set(name, c);
    return c;
  }

  /** Sets a built-in chain's policy (`:INPUT DROP [p:b]` or -P). */
  setPolicy(name: string, policy: string, counters: Counters | null, where: { file?: string; line?: number }): void {
    const c = this.index.get(name);
    if (!c || !c.builtin) this.fail(`Chain '${name}' is not a built-in chain: cannot set policy \`${policy}'`, where, name);
    if (policy !== 'ACCEPT' && policy !== 'DROP') {
      this.fail(`Can't set policy \`${policy}' on \`${name}': Bad policy name (built-in chains take ACCEPT or DROP)`, where, policy);
    }
    c!.policy = policy as 'ACCEPT' | 'DROP';
    if (counters) c!.counters = counters;
  }

  /** Applies one parsed command. */
  apply(cmd: ParsedCommand, where: { file?: string; line?: number }): void {
    switch (cmd.command) {
      case 'A': {
        const c = this.need(cmd.chain, where);
        for (const r of cmd.rules) c.rules.push(r);
        return;
      }
      case 'I': {
        const c = this.need(cmd.chain, where);
        const pos = (cmd.rulenum ?? 1) - 1;
        if (pos > c.rules.length) this.fail(`Index of insertion too big`, where, String(cmd.rulenum));
        c.rules.splice(pos, 0, ...cmd.rules);
        return;
      }
      case 'R': {
        const c = this.need(cmd.chain, where);
        const pos = cmd.rulenum! - 1;
        if (pos >= c.rules.length) this.fail(`Index of replacement too big`, where, String(cmd.rulenum));
        if (cmd.rules.length !== 1) this.fail(`-R takes exactly one rule (addresses expanded to ${cmd.rules.length})`, where);
        c.rules[pos] = cmd.rules[0]!;
        return;
      }
      case 'D': {
        const c = this.need(cmd.chain, where);
        if (cmd.rulenum !== undefined) {
          if (cmd.rulenum > c.rules.length) this.fail(`Index of deletion too big`, where, String(cmd.rulenum));
          c.rules.splice(cmd.rulenum - 1, 1);
          return;
        }
        for (const r of cmd.rules) {
          const k = ruleKey(r, this.family);
          const at = c.rules.findIndex((x) => ruleKey(x, this.family) === k);
          if (at < 0) this.fail(`Bad rule (does a matching rule exist in that chain?)`, where);
          c.rules.splice(at, 1);
        }
        return;
      }
      case 'C': {
        const c = this.need(cmd.chain, where);
        for (const r of cmd.rules) {
          const k = ruleKey(r, this.family);
          if (!c.rules.some((x) => ruleKey(x, this.family) === k)) this.fail(`Bad rule (does a matching rule exist in that chain?)`, where);
        }
        return;
      }
      case 'N':
        this.newChain(cmd.chain!, where);
        return;
      case 'X': {
        if (cmd.chain === undefined) {
          // Delete every user chain (each must be unreferenced from outside the user chains).
          for (const c of this.table.chains) {
            if (c.builtin) continue;
            for (const b of this.table.chains) {
              if (!b.builtin) continue;
              if (b.rules.some((r) => refersTo(r, c.name))) this.fail(`CHAIN_USER_DEL failed (Device or resource busy): chain ${c.name}`, where, c.name);
            }
          }
          this.table.chains = this.table.chains.filter((c) => c.builtin);
          for (const k of [...this.index.keys()]) if (!this.index.get(k)!.builtin) this.index.delete(k);
          return;
        }
        const c = this.need(cmd.chain, where);
        if (c.builtin) this.fail(`Cannot delete built-in chain \`${c.name}'`, where, c.name);
        for (const o of this.table.chains) {
          if (o.rules.some((r) => refersTo(r, c.name))) this.fail(`CHAIN_USER_DEL failed (Device or resource busy): chain ${c.name}`, where, c.name);
        }
        if (c.rules.length > 0) this.fail(`CHAIN_USER_DEL failed (Device or resource busy): chain ${c.name}`, where, c.name);
        this.table.chains = this.table.chains.filter((x) => x !== c);
        this.index.delete(c.name);
        return;
      }
      case 'F':
        if (cmd.chain === undefined) for (const c of this.table.chains) c.rules = [];
        else this.need(cmd.chain, where).rules = [];
        return;
      case 'Z': {
        const zero = (c: MutableChain) => {
          c.counters = ZERO_COUNTERS;
          c.rules = c.rules.map((r) => (r.counters === ZERO_COUNTERS ? r : { ...r, counters: ZERO_COUNTERS }));
        };
        if (cmd.chain === undefined) this.table.chains.forEach(zero);
        else zero(this.need(cmd.chain, where));
        return;
      }
      case 'P':
        this.need(cmd.chain, where);
        this.setPolicy(cmd.chain!, cmd.policy!, null, where);
        return;
      case 'E': {
        const c = this.need(cmd.chain, where);
        if (c.builtin) this.fail(`Can't rename built-in chain \`${c.name}'`, where, c.name);
        const to = cmd.newName!;
        if (this.index.has(to)) this.fail(`Chain '${to}' already exists`, where, to);
        if (to.length > 28) this.fail(`Invalid chain name \`${to}' (28 chars max)`, where, to, 'PARSE');
        this.index.delete(c.name);
        const from = c.name;
        c.name = to;
        this.index.set(to, c);
        for (const o of this.table.chains) {
          o.rules = o.rules.map((r) => (refersTo(r, from) ? { ...r, target: { ...r.target!, name: to } } : r));
        }
        return;
      }
      case 'L': case 'S':
        this.fail(`-${cmd.command} lists rules; nfemu applies only commands that change them here`, where, `-${cmd.command}`, 'PARSE');
    }
  }
}

export function refersTo(r: Rule, chain: string): boolean {
  return r.target !== null && (r.target.kind === TARGET_JUMP || r.target.kind === TARGET_GOTO) && r.target.name === chain;
}
