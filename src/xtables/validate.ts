/**
 * Table validation at load, as the kernel does on commit: targets exist, no jump loops,
 * jump depth within nf_tables' stack, and every extension's checkentry with the hooks its
 * chain is reachable from (mark_source_chains). Errors carry the offending rule's line.
 */
import { NfemuError, type Family } from '../core/index.ts';
import { HOOK_NAMES, hookByName } from '../netfilter/index.ts';
import { getMatch, getTarget, type IpsetView } from './ext.ts';
import { TARGET_EXTENSION, TARGET_GOTO, TARGET_JUMP, type Chain, type Rule, type Table } from './model.ts';

/** NFT_JUMP_STACK_SIZE: nf_tables refuses deeper chain nesting. */
export const NFT_JUMP_STACK_SIZE = 16;

export interface ValidateWhere {
  readonly file?: string;
  /** Line to blame when a rule has none (the COMMIT line). */
  readonly line?: number;
  readonly sets: IpsetView | null;
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

/** Throws NfemuError('VALIDATE') for the first problem the kernel would refuse the table for. */
export function validateTable(t: Table, family: Family, where: ValidateWhere): void {
  const byName = new Map<string, Chain>(t.chains.map((c) => [c.name, c]));
  const fail = (msg: string, r: Rule | null, token?: string): never => {
    throw new NfemuError('VALIDATE', msg, { file: where.file, line: r?.line ?? where.line, token });
  };

  // Targets exist.
  for (const c of t.chains) {
    for (const r of c.rules) {
      if (r.target && (r.target.kind === TARGET_JUMP || r.target.kind === TARGET_GOTO) && !byName.has(r.target.name)) {
        fail(`Chain '${r.target.name}' does not exist (jump from ${c.name})`, r, r.target.name);
      }
    }
  }

  // Loops and depth: depth-first over user chains with colours.
  const state = new Map<string, number>(); // 0 new, 1 on stack, 2 done
  const depth = new Map<string, number>(); // longest call chain below (in jumps)
  const visit = (name: string, path: string[]): number => {
    const s = state.get(name) ?? 0;
    if (s === 1) {
      const from = path.indexOf(name);
      const loop = [...path.slice(from), name].join(' -> ');
      const c = byName.get(path[path.length - 1]!)!;
      const r = c.rules.find((x) => x.target && x.target.name === name) ?? null;
      fail(`jump loop: ${loop} (the kernel refuses the table: Too many levels of symbolic links)`, r, name);
    }
    if (s === 2) return depth.get(name)!;
    state.set(name, 1);
    path.push(name);
    let d = 0;
    for (const r of byName.get(name)!.rules) {
      if (!r.target || (r.target.kind !== TARGET_JUMP && r.target.kind !== TARGET_GOTO)) continue;
      const sub = visit(r.target.name, path) + (r.target.kind === TARGET_JUMP ? 1 : 0);
      if (sub > d) d = sub;
    }
    path.pop();
    state.set(name, 2);
    depth.set(name, d);
    return d;
  };
  for (const c of t.chains) {
    const d = visit(c.name, []);
    if (c.builtin && d >= NFT_JUMP_STACK_SIZE) {
      fail(`chain ${c.name}: jumps nest ${d} deep, more than nf_tables allows (${NFT_JUMP_STACK_SIZE}): Too many links`, null, c.name);
    }
  }

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
