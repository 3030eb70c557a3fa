/**
 * Table validation at load, as the kernel does on commit: jump targets exist and are not
 * base chains, jumps nest no deeper than nf_tables allows from a base chain (which also
 * catches every loop a packet could enter), and every extension's checkentry with the
 * hooks its chain is reachable from (mark_source_chains). Errors carry the offending
 * rule's line.
 */
import { NfemuError, cidrIsAny, type Family } from '../core/index.ts';
import { HOOK_NAMES, hookByName } from '../netfilter/index.ts';
import { getMatch, getTarget, type IpsetView } from './ext.ts';
import { TARGET_EXTENSION, TARGET_GOTO, TARGET_JUMP, type Chain, type Rule, type Table } from './model.ts';

/** NFT_JUMP_STACK_SIZE: a chain reached through this many jumps/gotos from a base chain is refused (EMLINK). */
export const NFT_JUMP_STACK_SIZE = 16;

export interface ValidateWhere {
  readonly file?: string;
  /** Line to blame when a rule has none (the COMMIT line). */
  readonly line?: number;
  readonly sets: IpsetView | null;
}

/** The parts of a table the structural checks read (a Table or an editor's working copy). */
interface ChainsView {
  readonly chains: readonly { readonly name: string; readonly builtin: boolean; readonly rules: readonly Rule[] }[];
}

/** Mask of hooks each chain is reachable from (1 << NF_INET_*), by chain name. */
export function reachableHooks(t: Table): Map<string, number> {
  const byName = new Map<string, Chain>(t.chains.map((c) => [c.name, c]));
  const hooks = new Map<string, number>(t.chains.map((c) => [c.name, 0]));
  for (const c of t.chains) {
    if (!c.builtin) continue;
    const h = hookByName(c.name);
    const bit = 1 << h;
    const stack: string[] = [c.name];
    hooks.set(c.name, hooks.get(c.name)! | bit);
    while (stack.length) {
      const name = stack.pop()!;
      for (const r of byName.get(name)!.rules) {
        if (!r.target || (r.target.kind !== TARGET_JUMP && r.target.kind !== TARGET_GOTO)) continue;
        const to = r.target.name;
        const have = hooks.get(to);
        if (have === undefined) continue;
        if ((have & bit) === 0) {
          hooks.set(to, have | bit);
          stack.push(to);
        }
      }
    }
  }
  return hooks;
}

function textifyHooks(mask: number): string {
  return HOOK_NAMES.filter((_, h) => mask & (1 << h)).join('/');
}

/** Where jumps nest too deep: the rule that enters the chain at depth NFT_JUMP_STACK_SIZE. */
export interface DepthProblem {
  /** The chain holding the blamed rule, and the rule. */
  readonly chain: string;
  readonly rule: Rule;
  /** `INPUT -> A -> B -> A …`, for the message. */
  readonly text: string;
}

/**
 * nft_chain_validate: walking from every base chain, each jump or goto goes one level
 * deeper; reaching level NFT_JUMP_STACK_SIZE is refused (EMLINK, "Too many links"). A
 * loop reachable from a base chain is therefore refused; one that is not is accepted, as
 * the kernel does. Jumps to missing or base chains are left to other checks.
 */
export function jumpDepthProblem(t: ChainsView): DepthProblem | null {
  const byName = new Map(t.chains.map((c) => [c.name, c]));
  const memo = new Map<string, number>(); // longest jump path below a chain
  const onStack = new Set<string>();
  const depth = (name: string): number => {
    const m = memo.get(name);
    if (m !== undefined) return m;
    if (onStack.has(name)) return Infinity;
    onStack.add(name);
    let d = 0;
    for (const r of byName.get(name)!.rules) {
      const to = jumpTarget(r, byName);
      if (to === null) continue;
      const sub = 1 + depth(to);
      if (sub > d) d = sub;
      if (d === Infinity) break;
    }
    onStack.delete(name);
    memo.set(name, d);
    return d;
  };
  for (const c of t.chains) {
    if (!c.builtin || depth(c.name) < NFT_JUMP_STACK_SIZE) continue;
    // Follow a deepest path down to the rule that enters level NFT_JUMP_STACK_SIZE.
    const path = [c.name];
    let name = c.name;
    for (let level = 1; ; level++) {
      const here = depth(name);
      const rule = byName.get(name)!.rules.find((r) => {
        const to = jumpTarget(r, byName);
        return to !== null && (here === Infinity ? depth(to) === Infinity : 1 + depth(to) === here);
      })!;
      const to = jumpTarget(rule, byName)!;
      path.push(to);
      if (level === NFT_JUMP_STACK_SIZE) {
        return { chain: name, rule, text: `jumps nest deeper than ${NFT_JUMP_STACK_SIZE - 1} chains: ${path.join(' -> ')}` };
      }
      name = to;
    }
  }
  return null;
}

function jumpTarget(r: Rule, byName: ReadonlyMap<string, { readonly builtin: boolean }>): string | null {
  if (!r.target || (r.target.kind !== TARGET_JUMP && r.target.kind !== TARGET_GOTO)) return null;
  const to = byName.get(r.target.name);
  return to && !to.builtin ? r.target.name : null;
}

/** Throws NfemuError('VALIDATE') for the first problem the kernel would refuse the table for. */
export function validateTable(t: Table, family: Family, where: ValidateWhere): void {
  const byName = new Map<string, Chain>(t.chains.map((c) => [c.name, c]));
  const fail = (msg: string, r: Rule | null, token?: string): never => {
    throw new NfemuError('VALIDATE', msg, { file: where.file, line: r?.line ?? where.line, token });
  };

  // Rules the kernel refuses on their own (a table built without the restore parser).
  for (const c of t.chains) {
    for (const r of c.rules) {
      if (r.target && (r.target.kind === TARGET_JUMP || r.target.kind === TARGET_GOTO)) {
        const to = byName.get(r.target.name);
        if (!to) fail(`Chain '${r.target.name}' does not exist`, r, r.target.name);
        if (to!.builtin) fail(`RULE_APPEND failed (Operation not supported): rule in chain ${c.name}`, r, r.target.name);
      }
      if ((r.src && r.src.invert && cidrIsAny(r.src.cidr)) || (r.dst && r.dst.invert && cidrIsAny(r.dst.cidr))) {
        fail(`RULE_APPEND failed (Invalid argument): rule in chain ${c.name}`, r);
      }
    }
  }

  const deep = jumpDepthProblem(t);
  if (deep) fail(`RULE_APPEND failed (Too many links): rule in chain ${deep.chain} (${deep.text})`, deep.rule, deep.chain);

  // Extension checks with the hooks each chain is reachable from.
  const hooks = reachableHooks(t);
  for (const c of t.chains) {
    const mask = hooks.get(c.name) ?? 0;
    for (const r of c.rules) {
      for (const m of r.matches) {
        const ext = getMatch(m.name);
        if (!ext?.check) continue;
        const msg = ext.check(m.data, { family, table: t.name, hooks: mask, rule: r, sets: where.sets });
        if (msg) fail(`${msg} (chain ${c.name}${mask ? `, reached from ${textifyHooks(mask)}` : ''})`, r, m.name);
      }
      if (r.target && r.target.kind === TARGET_EXTENSION) {
        const ext = getTarget(r.target.name);
        const msg = ext?.check?.(r.target.data, { family, table: t.name, hooks: mask, rule: r, sets: where.sets });
        if (msg) fail(`${msg} (chain ${c.name}${mask ? `, reached from ${textifyHooks(mask)}` : ''})`, r, r.target.name);
      }
    }
  }
}

export { textifyHooks };
