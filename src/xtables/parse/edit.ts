/**
 * Applying iptables commands (-A -I -D -R -N -X -F -Z -P -E) to one table, with the
 * checks and wording of iptables-nft 1.8.9. Works on a mutable table (the restore
 * parser's or applyCommand's working copy); chains are found through an index kept
 * alongside.
 *
 * iptables-nft reports a failing command in two ways, and so does this editor:
 * - the tool's own checks against its cache (chain exists, rule number in range, policy
 *   name): `line N failed: MESSAGE.` — thrown at once as NfemuError('VALIDATE');
 * - errors the kernel returns for the batch (deleting a busy chain, a rule the kernel
 *   refuses): `line N: CHAIN_DEL failed (…)` — collected in `batchErrors` and reported
 *   after the whole table was applied, because the kernel only sees the batch at COMMIT.
 */
import { NfemuError, cidrIsAny, type Family } from '../../core/index.ts';
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

/**
 * A table being edited. iptables-nft creates a table, and each built-in chain, only when a
 * command needs it; `exists` says whether the table itself exists (it may exist with no
 * chains, and built-in chains may be missing: iptables-nft-save prints a missing one as
 * `:NAME ACCEPT [0:0]`, but no packet passes through it).
 */
export interface MutableTable {
  name: string;
  exists: boolean;
  chains: MutableChain[];
}

interface Where {
  readonly file?: string;
  readonly line?: number;
}

/** A jump or goto to a chain that does not exist when the rule is added. */
export class MissingChainError extends NfemuError {
  constructor(readonly chain: string, where: Where) {
    super('VALIDATE', `Chain '${chain}' does not exist`, { ...where, token: chain });
  }
}

/** An error the kernel returns for one message of the batch (reported at COMMIT). */
export interface BatchError {
  readonly line: number | undefined;
  readonly message: string;
  readonly token: string;
}

/** The nf_tables batch operation a command turns into, as iptables names it in errors. */
export const BATCH_OP: Readonly<Record<string, string>> = { A: 'RULE_APPEND', I: 'RULE_INSERT', R: 'RULE_REPLACE' };

/** The built-in chain names of a table, in hook order. */
export function builtinChains(table: string): string[] {
  const id = tableByName(table);
  if (id < 0) return [];
  const mask = TABLE_HOOKS[id]!;
  return HOOK_NAMES.filter((_, h) => (mask & (1 << h)) !== 0);
}

/** A table that does not exist yet (see MutableTable). */
export function newMutableTable(name: string): MutableTable {
  return { name, exists: false, chains: [] };
}

export function toMutable(t: Table): MutableTable {
  return { name: t.name, exists: true, chains: t.chains.map((c) => ({ ...c, rules: c.rules.slice() })) };
}

/** The finished table, or undefined when the table does not exist. */
export function freezeTable(t: MutableTable): Table | undefined {
  if (!t.exists) return undefined;
  return { name: t.name, chains: t.chains.map((c): Chain => ({ name: c.name, builtin: c.builtin, policy: c.policy, counters: c.counters, rules: c.rules })) };
}

/** Whether a rule jumps or goes to `chain`. */
export function refersTo(r: Rule, chain: string): boolean {
  return r.target !== null && (r.target.kind === TARGET_JUMP || r.target.kind === TARGET_GOTO) && r.target.name === chain;
}

/** Edits one table. Keeps a name → chain index so large restores stay linear. */
export class TableEditor {
  private readonly index = new Map<string, MutableChain>();
  /** Chains created in this transaction (nf_tables cannot rename those in the same batch). */
  private readonly created = new Set<string>();
  /** Built-in chains that existed before this transaction, with their policies then. */
  private readonly policyBefore = new Map<string, 'ACCEPT' | 'DROP' | null>();
  private readonly builtinNames: readonly string[];
  /** Kernel errors for the batch, in command order (see the file comment). */
  readonly batchErrors: BatchError[] = [];

  constructor(readonly table: MutableTable, private readonly family: Family) {
    for (const c of table.chains) {
      this.index.set(c.name, c);
      if (c.builtin) this.policyBefore.set(c.name, c.policy);
    }
    this.builtinNames = builtinChains(table.name);
  }

  has(name: string): boolean {
    return this.index.has(name);
  }

  get(name: string): MutableChain | undefined {
    return this.index.get(name);
  }

  /** Whether the table exists. */
  get exists(): boolean {
    return this.table.exists;
  }

  /** Whether `name` is one of the table's built-in chains (existing or not). */
  isBuiltinName(name: string): boolean {
    return this.builtinNames.includes(name);
  }

  /** Creates the table if it does not exist yet (nft_table_builtin_add). */
  ensureTable(): void {
    this.table.exists = true;
  }

  /**
   * Creates a built-in chain (policy ACCEPT) if it is missing, and the table with it
   * (nft_chain_builtin_init); built-in chains stay first, in hook order. Other names: no-op.
   */
  ensureBuiltin(name: string | undefined): void {
    if (name === undefined || !this.isBuiltinName(name) || this.index.has(name)) return;
    this.ensureTable();
    const rank = this.builtinNames.indexOf(name);
    let at = 0;
    while (at < this.table.chains.length && this.table.chains[at]!.builtin && this.builtinNames.indexOf(this.table.chains[at]!.name) < rank) at++;
    const c: MutableChain = { name, builtin: true, policy: 'ACCEPT', counters: ZERO_COUNTERS, rules: [] };
    this.table.chains.splice(at, 0, c);
    this.index.set(name, c);
    this.created.add(name);
  }

  private fail(message: string, where: Where, token?: string): never {
    throw new NfemuError('VALIDATE', message, { ...where, token });
  }

  /** The chain a command names; ENOENT in the tool's words when there is none. */
  private need(name: string | undefined, where: Where): MutableChain {
    const c = name === undefined ? undefined : this.index.get(name);
    if (!c) this.fail(`No chain/target/match by that name`, where, name);
    return c!;
  }

  private batch(where: Where, message: string, token: string): void {
    this.batchErrors.push({ line: where.line, message, token });
  }

  /** Restore's `:NAME -` line: creates a user chain, or flushes it if it exists. */
  declareChain(name: string, where: Where, flushExisting: boolean): MutableChain {
    void where;
    this.ensureTable();
    const c = this.index.get(name);
    if (c) {
      if (flushExisting) c.rules = [];
      return c;
    }
    return this.addChain(name);
  }

  private addChain(name: string): MutableChain {
    const c: MutableChain = { name, builtin: false, policy: null, counters: ZERO_COUNTERS, rules: [] };
    this.table.chains.push(c);
    this.index.set(name, c);
    this.created.add(name);
    return c;
  }

  /** `-N NAME` (the name was checked when the line was parsed). */
  newChain(name: string, where: Where): MutableChain {
    this.ensureTable();
    if (this.index.has(name) || this.isBuiltinName(name)) this.fail(`Chain already exists`, where, name);
    return this.addChain(name);
  }

  /** Sets a built-in chain's policy (`:INPUT DROP [p:b]` or -P); `-` leaves it as it is. */
  setPolicy(name: string, policy: string, counters: Counters | null, where: Where): void {
    this.ensureBuiltin(name);
    const c = this.index.get(name);
    if (!c || !c.builtin) this.fail(`Bad built-in chain name`, where, name);
    // `:INPUT - [p:b]` keeps the policy (only a restore line can say `-`).
    if (policy !== '-') {
      if (policy !== 'ACCEPT' && policy !== 'DROP') this.fail(`Bad policy name`, where, policy);
      c!.policy = policy as 'ACCEPT' | 'DROP';
    }
    if (counters) c!.counters = counters;
  }

  /** Kernel checks of one rule as it is added (nf_tables_newrule), recorded as batch errors. */
  private checkNewRule(cmd: string, chain: string, r: Rule, where: Where): void {
    const op = BATCH_OP[cmd] ?? 'RULE_APPEND';
    if (r.target && (r.target.kind === TARGET_JUMP || r.target.kind === TARGET_GOTO)) {
      const to = this.index.get(r.target.name);
      // A built-in chain name passes iptables' own check; the kernel then refuses a jump
      // to a chain that does not exist (ENOENT) or to a base chain (nft_verdict_init).
      if (!to) this.batch(where, `${op} failed (No such file or directory): rule in chain ${chain}`, r.target.name);
      else if (to.builtin) this.batch(where, `${op} failed (Operation not supported): rule in chain ${chain}`, r.target.name);
    }
    // A negated match-everything address compares zero bytes: the kernel refuses it.
    if ((r.src && r.src.invert && cidrIsAny(r.src.cidr)) || (r.dst && r.dst.invert && cidrIsAny(r.dst.cidr))) {
      this.batch(where, `${op} failed (Invalid argument): rule in chain ${chain}`, r.src?.invert ? '-s' : '-d');
    }
  }

  /** Jump and goto targets must exist when the rule is added (iptables-nft checks its cache). */
  private checkTargets(rules: readonly Rule[], where: Where): void {
    for (const r of rules) {
      if (r.target && (r.target.kind === TARGET_JUMP || r.target.kind === TARGET_GOTO) && !this.index.has(r.target.name) && !this.isBuiltinName(r.target.name)) {
        throw new MissingChainError(r.target.name, where);
      }
    }
  }

  /** Applies one parsed command. */
  apply(cmd: ParsedCommand, where: Where): void {
    if (cmd.skip) return;
    switch (cmd.command) {
      case 'A': {
        this.ensureBuiltin(cmd.chain);
        this.checkTargets(cmd.rules, where);
        const c = this.need(cmd.chain, where);
        for (const r of cmd.rules) {
          this.checkNewRule('A', c.name, r, where);
          c.rules.push(r);
        }
        return;
      }
      case 'I': {
        this.ensureBuiltin(cmd.chain);
        this.checkTargets(cmd.rules, where);
        const c = this.need(cmd.chain, where);
        const pos = (cmd.rulenum ?? 1) - 1;
        if (pos > c.rules.length) this.fail(`Index of insertion too big`, where, String(cmd.rulenum));
        for (const r of cmd.rules) this.checkNewRule('I', c.name, r, where);
        c.rules.splice(pos, 0, ...cmd.rules);
        return;
      }
      case 'R': {
        this.checkTargets(cmd.rules, where);
        const c = this.need(cmd.chain, where);
        // iptables-nft finds no rule at all in an empty chain (ENOENT), else E2BIG.
        if (c.rules.length === 0) this.fail(`No chain/target/match by that name`, where, String(cmd.rulenum));
        const pos = cmd.rulenum! - 1;
        if (pos >= c.rules.length) this.fail(`Index of replacement too big`, where, String(cmd.rulenum));
        this.checkNewRule('R', c.name, cmd.rules[0]!, where);
        c.rules[pos] = cmd.rules[0]!;
        return;
      }
      case 'D': {
        // Deleting or checking by rule: iptables-nft reports a missing chain as a missing rule.
        if (cmd.rulenum === undefined && !this.has(cmd.chain!)) this.fail(`Bad rule (does a matching rule exist in that chain?)`, where, cmd.chain);
        const c = this.need(cmd.chain, where);
        if (cmd.rulenum !== undefined) {
          if (c.rules.length === 0) this.fail(`No chain/target/match by that name`, where, String(cmd.rulenum));
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
        if (!this.has(cmd.chain!)) this.fail(`Bad rule (does a matching rule exist in that chain?)`, where, cmd.chain);
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
        const busy = (c: MutableChain): boolean =>
          c.rules.length > 0 || this.table.chains.some((o) => o.rules.some((r) => refersTo(r, c.name)));
        if (cmd.chain === undefined) {
          // Every user chain; nf_tables refuses (EBUSY) one that has rules or is referenced.
          // iptables-nft 1.8.9 also deletes the built-in chains this transaction created
          // that have no rules (their policy is gone with them).
          for (const c of this.table.chains) {
            if (!c.builtin && busy(c)) this.batch(where, `CHAIN_DEL failed (Device or resource busy): chain ${c.name}`, c.name);
          }
          const gone = (c: MutableChain) => !c.builtin || (this.created.has(c.name) && c.rules.length === 0);
          for (const c of this.table.chains) if (gone(c)) this.index.delete(c.name);
          this.table.chains = this.table.chains.filter((c) => !gone(c));
          return;
        }
        const c = this.need(cmd.chain, where);
        // iptables-nft looks the name up among user chains only.
        if (c.builtin) this.fail(`No chain/target/match by that name`, where, c.name);
        if (busy(c)) this.batch(where, `CHAIN_DEL failed (Device or resource busy): chain ${c.name}`, c.name);
        this.table.chains = this.table.chains.filter((x) => x !== c);
        this.index.delete(c.name);
        return;
      }
      case 'F':
        if (cmd.chain === undefined) {
          for (const c of this.table.chains) c.rules = [];
        } else {
          this.ensureBuiltin(cmd.chain);
          this.need(cmd.chain, where).rules = [];
        }
        return;
      case 'Z': {
        if (cmd.rulenum !== undefined) {
          // CMD_ZERO_NUM: iptables-nft 1.8.9 fails the line without a reason.
          this.fail(`line failed (iptables-nft does not zero single rules: -Z CHAIN RULENUM)`, where, String(cmd.rulenum));
        }
        // iptables-nft 1.8.9 re-adds a built-in chain to zero it, with the policy it had
        // before this transaction (ACCEPT for a chain this transaction created).
        const zero = (c: MutableChain) => {
          c.counters = ZERO_COUNTERS;
          if (c.builtin) c.policy = this.policyBefore.get(c.name) ?? 'ACCEPT';
          c.rules = c.rules.map((r) => (r.counters === ZERO_COUNTERS ? r : { ...r, counters: ZERO_COUNTERS }));
        };
        if (cmd.chain === undefined) this.table.chains.forEach(zero);
        else zero(this.need(cmd.chain, where));
        return;
      }
      case 'P':
        this.setPolicy(cmd.chain!, cmd.policy!, null, where);
        return;
      case 'E': {
        const c = this.need(cmd.chain, where);
        // Deviation: iptables-nft 1.8.9 renames even a built-in chain (the table then
        // holds an incompatible base chain); nfemu refuses it.
        if (c.builtin) this.fail(`No chain/target/match by that name (nfemu does not rename built-in chains)`, where, c.name);
        const to = cmd.newName!;
        if (this.index.has(to)) this.fail(`File exists`, where, to);
        if (this.created.has(c.name)) {
          this.batch(where, `CHAIN_RENAME failed (No such file or directory): chain ${to}`, to);
        }
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
        // Listing changes nothing; the chain must exist when one is named.
        if (cmd.chain !== undefined && !builtinChains(this.table.name).includes(cmd.chain)) this.need(cmd.chain, where);
        return;
    }
  }
}
