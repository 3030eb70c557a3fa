/**
 * iptables-restore input → Ruleset, with iptables-nft-restore 1.8.9's semantics
 * (iptables/xtables-restore.c):
 * - `*table` … `COMMIT` blocks, each committed atomically: a failing block changes
 *   nothing, blocks committed before it stay (RestoreError.committed);
 * - without --noflush a block replaces its table (a block that creates no chain leaves no
 *   table); with --noflush declared user chains are flushed (created if missing), built-in
 *   chains keep their rules, the rest of the table is kept;
 * - rule lines are iptables commands (-A -I -D -R -N -X -F -Z -P -E -L -S).
 *
 * Errors come at the line the kernel tool reports them: option parsing fails at once;
 * commands are applied at COMMIT in order, each failing at its own line, except a jump to
 * a missing chain (reported at the COMMIT line, as iptables-nft does); then what the
 * kernel refuses for the batch (busy chains, jumps nested too deep), at the line of the
 * command that made the table invalid.
 */
import { NfemuError, type Family } from '../../core/index.ts';
import { tableByName } from '../../netfilter/index.ts';
import { emptyRuleset, type Counters, type Ruleset, type Table } from '../model.ts';
import { chainNameProblem, parseCommandArgs, type ParsedCommand, type UnknownMatchPolicy } from './rule.ts';
import { tokenizeRuleLine } from './tokenize.ts';
import { BATCH_OP, MissingChainError, TableEditor, builtinChains, freezeTable, newMutableTable, toMutable } from './edit.ts';
import { jumpDepthProblem, validateTable } from '../validate.ts';
import type { IpsetView } from '../ext.ts';

export interface RestoreOptions {
  readonly family?: Family;
  /** File name for messages. */
  readonly file?: string;
  /** --noflush: keep what the tables hold, flush only declared chains. */
  readonly noflush?: boolean;
  /** --counters: take `[p:b]` counters from the input (otherwise zero). */
  readonly counters?: boolean;
  /** What to do with match modules nfemu does not know (default: error). */
  readonly unknownMatches?: UnknownMatchPolicy;
  readonly warn?: (message: string) => void;
  /** Sets the ruleset refers to (for `-m set` checks); null: not checked. */
  readonly sets?: IpsetView | null;
}

/** A restore that failed part way: the error, and the ruleset with the blocks committed before it. */
export class RestoreError extends NfemuError {
  constructor(readonly error: NfemuError, readonly committed: Ruleset) {
    super(error.code, error.message, { file: error.file, line: error.line, token: error.token });
  }
}

/** One queued operation of a table block, applied at COMMIT. */
type Op =
  | { readonly kind: 'chain'; readonly chain: string; readonly line: number }
  | { readonly kind: 'policy'; readonly chain: string; readonly policy: string; readonly counters: Counters | null; readonly line: number }
  | { readonly kind: 'cmd'; readonly cmd: ParsedCommand; readonly line: number };

interface Block {
  readonly name: string;
  readonly id: number;
  readonly startLine: number;
  /** The table the block starts from (--noflush only). */
  readonly initial: Table | undefined;
  readonly ops: Op[];
}

/** parse_counters: sscanf("[%llu:%llu]"), trailing text ignored. */
const POLICY_COUNTERS_RE = /^\[\s*\+?(\d+):\s*\+?(\d+)\]?/;

/**
 * Applies restore input to `base` (default: an empty ruleset) and returns the new ruleset.
 * Throws RestoreError (carrying the blocks committed before the failure) on bad input.
 */
export function restore(text: string, opts: RestoreOptions = {}, base?: Ruleset): Ruleset {
  const family: Family = opts.family ?? base?.family ?? 4;
  const prog = family === 6 ? 'ip6tables-restore' : 'iptables-restore';
  let committed: Ruleset = base ?? emptyRuleset(family);
  const lines = text.split('\n');
  // A final line without newline is still a line (iptables-nft-restore reads it).
  if (lines.length && lines[lines.length - 1] === '') lines.pop();
  let cur: Block | null = null;
  const file = opts.file;
  /** Chain names `:NAME` lines announced (xtables_announce_chain): -j NAME jumps there. */
  const announced = new Set<string>();

  const commit = (b: Block, commitLine: number): void => {
    const table = applyBlock(b, family, file, commitLine);
    if (table) validateTable(table, family, { file, line: commitLine, sets: opts.sets ?? null });
    const tables = committed.tables.slice();
    tables[b.id] = table;
    committed = { family, tables };
  };

  try {
    for (let n = 0; n < lines.length; n++) {
      const lineNo = n + 1;
      const raw = lines[n]!;
      const fail = (message: string, token?: string): never => {
        throw new NfemuError('PARSE', message, { file, line: lineNo, token });
      };
      if (raw === '' || raw[0] === '#') continue;
      if (cur && raw === 'COMMIT') {
        commit(cur, lineNo);
        cur = null;
        continue;
      }
      if (raw[0] === '*' && !cur) {
        const name = strtokWords(raw.slice(1))[0];
        if (name === undefined) fail(`${prog}: line ${lineNo} table name invalid`, raw);
        const id = tableByName(name!);
        if (id < 0) fail(`${prog}: line ${lineNo} table name '${name}' invalid`, name);
        cur = { name: name!, id, startLine: lineNo, initial: opts.noflush ? committed.tables[id] : undefined, ops: [] };
        continue;
      }
      if (raw[0] === ':' && cur) {
        const words = strtokWords(raw.slice(1));
        const chain = words[0];
        if (chain === undefined) fail(`${prog}: line ${lineNo} chain name invalid`, raw);
        announced.add(chain!);
        const problem = chainNameProblem(chain!, family, true);
        if (problem) fail(problem, chain);
        const policy = words[1];
        if (policy === undefined) fail(`${prog}: line ${lineNo} policy invalid`, raw);
        if (builtinChains(cur.name).includes(chain!)) {
          let counters: Counters | null = null;
          if (opts.counters) {
            // Policy counters are read only with --counters (then they must be there).
            const m = words[2] === undefined ? null : POLICY_COUNTERS_RE.exec(words[2]);
            if (!m) fail(`invalid policy counters for chain '${chain}'`, words[2] ?? chain);
            counters = { packets: Number(m![1]), bytes: Number(m![2]) };
          }
          cur.ops.push({ kind: 'policy', chain: chain!, policy: policy!, counters, line: lineNo });
        } else {
          // A user chain: the policy word is not looked at.
          cur.ops.push({ kind: 'chain', chain: chain!, line: lineNo });
        }
        continue;
      }
      if (!cur) throw fail(`${prog}: line ${lineNo} failed (not inside a table: expected \`*table', found \`${raw.trim().split(/\s+/)[0] ?? ''}')`, raw.trim().split(/\s+/)[0] || raw);
      // A rule line: optional [p:b] counters (tokenize_rule_counters), then an iptables command.
      let body = raw;
      let setCounters: { packets: string; bytes: string } | undefined;
      if (raw[0] === '[') {
        const close = raw.indexOf(']');
        if (close < 0) fail(`Bad line ${lineNo}: need ]`, raw.split(/\s/)[0]);
        let k = 1;
        while (raw[k] === ':') k++;
        if (k >= raw.length) fail(`Bad line ${lineNo}: need :`, raw.split(/\s/)[0]);
        const colon = raw.indexOf(':', k);
        if (colon < 0) fail(`Bad line ${lineNo}: need ]`, raw.split(/\s/)[0]);
        let b = colon + 1;
        while (raw[b] === ']') b++;
        const bEnd = raw.indexOf(']', b);
        const bytes = raw.slice(b, bEnd < 0 ? raw.length : bEnd);
        if (bytes === '') fail(`Bad line ${lineNo}: need ]`, raw.split(/\s/)[0]);
        if (opts.counters) setCounters = { packets: raw.slice(k, colon), bytes };
        body = raw.slice(close + 1);
      }
      // The input's newline belongs to the line as fgets() reads it (it ends up inside an
      // unterminated quoted argument).
      const argv = tokenizeRuleLine(body, { unterminated: n < lines.length - 1 || text.endsWith('\n') ? '\n' : '' })!;
      const cmd = parseCommandArgs(argv, {
        family,
        table: cur.name,
        isChain: (c) => announced.has(c),
        file,
        line: lineNo,
        restore: true,
        unknownMatches: opts.unknownMatches ?? 'error',
        warn: opts.warn,
        ...(setCounters ? { setCounters } : {}),
      });
      if (!cmd.skip) cur.ops.push({ kind: 'cmd', cmd, line: lineNo });
    }
    if (cur) {
      throw new NfemuError('PARSE', `${prog}: COMMIT expected at line ${lines.length + 1} (table \`${cur.name}' opened at line ${cur.startLine} is never committed)`, { file, line: lines.length + 1 });
    }
  } catch (e) {
    if (e instanceof NfemuError) throw new RestoreError(e, committed);
    throw e;
  }
  return committed;
}

/** strtok(s, " \t\n") words. */
function strtokWords(s: string): string[] {
  return s.split(/[ \t]+/).filter((w) => w !== '');
}

function runOp(editor: TableEditor, op: Op, file: string | undefined): void {
  const where = { file, line: op.line };
  switch (op.kind) {
    case 'chain': editor.declareChain(op.chain, where, true); return;
    case 'policy': editor.setPolicy(op.chain, op.policy, op.counters, where); return;
    case 'cmd': editor.apply(op.cmd, where); return;
  }
}

/**
 * Applies a block's operations in order, then the kernel's batch checks; returns the
 * table (undefined when the block leaves none). Throws at the line the kernel tool names.
 */
function applyBlock(b: Block, family: Family, file: string | undefined, commitLine: number): Table | undefined {
  const start = () => (b.initial ? toMutable(b.initial) : newMutableTable(b.name));
  const editor = new TableEditor(start(), family);
  for (const op of b.ops) {
    try {
      runOp(editor, op, file);
    } catch (e) {
      // iptables-nft reports a jump to a missing chain while preparing the commit.
      if (e instanceof MissingChainError) throw new NfemuError(e.code, e.message, { file, line: commitLine, token: e.chain });
      throw e;
    }
  }
  const first = editor.batchErrors[0];
  if (first) throw new NfemuError('VALIDATE', first.message, { file, line: first.line, token: first.token });
  if (!editor.exists) return undefined;
  if (jumpDepthProblem(editor.table) !== null) {
    // The kernel validates after each rule it adds (when replaying the batch): blame the
    // first command after which the table nests too deep.
    const replay = new TableEditor(start(), family);
    for (const op of b.ops) {
      runOp(replay, op, file);
      if (op.kind !== 'cmd' || !(op.cmd.command in BATCH_OP)) continue;
      const p = jumpDepthProblem(replay.table);
      if (p) {
        throw new NfemuError('VALIDATE', `${BATCH_OP[op.cmd.command]} failed (Too many links): rule in chain ${op.cmd.chain} (${p.text})`, { file, line: op.line, token: op.cmd.chain });
      }
    }
  }
  return freezeTable(editor.table);
}

/** Tables present in a ruleset, by name. */
export function tableOf(rs: Ruleset, name: string): Table | undefined {
  const id = tableByName(name);
  return id < 0 ? undefined : rs.tables[id];
}
