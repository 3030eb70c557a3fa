/**
 * iptables-restore input → Ruleset, with iptables-nft-restore's semantics:
 * `*table` … `COMMIT` blocks, each committed atomically (a failing block changes nothing;
 * blocks committed before it stay, as in the kernel); without --noflush a block replaces
 * its table; with --noflush declared chains are flushed (created if missing) and the rest
 * of the table is kept. Rule lines are iptables commands (-A -I -D -R -N -X -F -Z -P -E).
 */
import { NfemuError, type Family } from '../../core/index.ts';
import { tableByName, TABLE_NAMES } from '../../netfilter/index.ts';
import { emptyRuleset, type Counters, type Ruleset, type Table } from '../model.ts';
import { parseCommandArgs, MAX_CHAIN_NAME, type UnknownMatchPolicy } from './rule.ts';
import { tokenizeRuleLine } from './tokenize.ts';
import { TableEditor, builtinChains, freezeTable, newMutableTable, toMutable } from './edit.ts';
import { validateTable } from '../validate.ts';
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

const COUNTERS_RE = /^\[(\d+):(\d+)\]$/;

/**
 * Applies restore input to `base` (default: an empty ruleset) and returns the new ruleset.
 * Throws RestoreError (carrying the blocks committed before the failure) on bad input.
 */
export function restore(text: string, opts: RestoreOptions = {}, base?: Ruleset): Ruleset {
  const family: Family = opts.family ?? base?.family ?? 4;
  let committed: Ruleset = base ?? emptyRuleset(family);
  const lines = text.split('\n');
  // A final line without newline is still a line (iptables-nft-restore reads it).
  if (lines.length && lines[lines.length - 1] === '') lines.pop();
  let cur: { name: string; editor: TableEditor; startLine: number } | null = null;
  const file = opts.file;

  try {
    for (let n = 0; n < lines.length; n++) {
      const lineNo = n + 1;
      const raw = lines[n]!;
      const where = { file, line: lineNo };
      const fail = (message: string, token?: string): never => {
        throw new NfemuError('PARSE', message, { ...where, token });
      };
      if (raw === '' || raw[0] === '#') continue;
      if (cur && raw.startsWith('COMMIT') && raw.length === 6) {
        const table = freezeTable(cur.editor.table);
        validateTable(table, family, { file, line: lineNo, sets: opts.sets ?? null });
        const tables = committed.tables.slice();
        tables[tableByName(cur.name)] = table;
        committed = { family, tables };
        cur = null;
        continue;
      }
      if (raw[0] === '*' && !cur) {
        const name = raw.slice(1).trim().split(/[ \t]/)[0] ?? '';
        if (name === '') fail(`${progName(family)}: line ${lineNo} failed: no table name after \`*'`, raw);
        const id = tableByName(name);
        if (id < 0) fail(`Table '${name}' does not exist (known: ${TABLE_NAMES.join(', ')})`, name);
        const existing = committed.tables[id];
        const mutable = opts.noflush && existing ? toMutable(existing) : newMutableTable(name);
        cur = { name, editor: new TableEditor(mutable, family), startLine: lineNo };
        continue;
      }
      if (raw[0] === ':' && cur) {
        const words = raw.slice(1).split(/[ \t]+/).filter((w) => w !== '');
        const chain = words[0];
        if (chain === undefined) fail(`${progName(family)}: line ${lineNo} chain name invalid`, raw);
        if (chain!.length > MAX_CHAIN_NAME) fail(`Invalid chain name \`${chain}' (${MAX_CHAIN_NAME} chars max)`, chain);
        const policy = words[1];
        if (policy === undefined) fail(`${progName(family)}: line ${lineNo} policy invalid`, raw);
        let counters: Counters | null = null;
        if (words[2] !== undefined) {
          const m = COUNTERS_RE.exec(words[2]);
          if (!m) fail(`invalid policy counters for chain '${chain}'`, words[2]);
          counters = opts.counters ? { packets: Number(m![1]), bytes: Number(m![2]) } : null;
        }
        const isBuiltin = builtinChains(cur.name).includes(chain!);
        if (isBuiltin) cur.editor.setPolicy(chain!, policy!, counters, where);
        else cur.editor.declareChain(chain!, where, true);
        continue;
      }
      if (!cur) fail(`${progName(family)}: line ${lineNo} failed: not inside a table (expected \`*table')`, raw.trim().split(/\s+/)[0] || raw);
      // A rule line: optional [p:b] counters, then an iptables command.
      let body = raw;
      let counters: Counters | null = null;
      const cm = /^\[(\d+):(\d+)\][ \t]*/.exec(body);
      if (cm) {
        counters = { packets: Number(cm[1]), bytes: Number(cm[2]) };
        body = body.slice(cm[0].length);
      } else if (body[0] === '[') {
        fail(`Bad counter line: missing ']'`, body.split(/\s/)[0]);
      }
      const argv = tokenizeRuleLine(body);
      if (argv === null) fail(`Unterminated quoted argument`, body);
      const editor = cur.editor;
      const tableName = cur.name;
      const cmd = parseCommandArgs(argv!, {
        family,
        table: tableName,
        isChain: (c) => editor.has(c),
        file,
        line: lineNo,
        restore: true,
        unknownMatches: opts.unknownMatches ?? 'error',
        warn: opts.warn,
      });
      if (counters && opts.counters && cmd.rules.length) {
        const c = counters;
        editor.apply({ ...cmd, rules: cmd.rules.map((r) => ({ ...r, counters: c })) }, where);
      } else {
        editor.apply(cmd, where);
      }
    }
    if (cur) {
      throw new NfemuError('PARSE', `${progName(family)}: COMMIT expected at line ${lines.length + 1} (table \`${cur.name}' opened at line ${cur.startLine} is never committed)`, { file, line: lines.length + 1 });
    }
  } catch (e) {
    if (e instanceof NfemuError) throw new RestoreError(e, committed);
    throw e;
  }
  return committed;
}

function progName(family: Family): string {
  return family === 6 ? 'ip6tables-restore' : 'iptables-restore';
}

/** Tables present in a ruleset, by name. */
export function tableOf(rs: Ruleset, name: string): Table | undefined {
  const id = tableByName(name);
  return id < 0 ? undefined : rs.tables[id];
}
