/**
 * `iptables …` / `ip6tables …` command lines applied to a ruleset through immer, so a user
 * can paste the commands an init container runs and scenarios can build rules as people
 * write them.
 */
import { produce } from 'immer';
import { NfemuError, type Family } from '../core/index.ts';
import { tableByName } from '../netfilter/index.ts';
import { emptyRuleset, type Ruleset, type Table } from './model.ts';
import { parseCommandArgs, type UnknownMatchPolicy } from './parse/rule.ts';
import { tokenizeRuleLine } from './parse/tokenize.ts';
import { TableEditor, freezeTable, newMutableTable, toMutable } from './parse/edit.ts';
import { validateTable } from './validate.ts';
import type { IpsetView } from './ext.ts';

export interface CommandOptions {
  readonly file?: string;
  readonly line?: number;
  readonly unknownMatches?: UnknownMatchPolicy;
  readonly sets?: IpsetView | null;
}

const PROGRAMS: Record<string, Family> = {
  iptables: 4, 'iptables-nft': 4, 'iptables-legacy': 4, ip6tables: 6, 'ip6tables-nft': 6, 'ip6tables-legacy': 6,
};

/**
 * Applies one command line (`iptables -t nat -A POSTROUTING -o eth0 -j MASQUERADE`) and
 * returns the new ruleset (the input is unchanged). The program name decides the family
 * and must match the ruleset's. Throws NfemuError on bad input; nothing is applied then.
 */
export function applyCommand(rs: Ruleset, line: string, opts: CommandOptions = {}): Ruleset {
  const where = { file: opts.file, line: opts.line };
  const argv = tokenizeRuleLine(line.trim());
  if (argv === null) throw new NfemuError('PARSE', 'Unterminated quoted argument', where);
  const prog = (argv[0] ?? '').split('/').pop()!;
  const family = PROGRAMS[prog];
  if (family === undefined) throw new NfemuError('PARSE', `not an iptables command: \`${argv[0] ?? ''}'`, { ...where, token: argv[0] });
  if (family !== rs.family) throw new NfemuError('PARSE', `${prog} edits IPv${family} rules, this ruleset is IPv${rs.family}`, { ...where, token: prog });
  const args = argv.slice(1);
  // Find -t first so chain resolution (-j CHAIN) sees the right table.
  let tableName = 'filter';
  for (let i = 0; i < args.length - 1; i++) if (args[i] === '-t' || args[i] === '--table') tableName = args[i + 1]!;
  const id = tableByName(tableName);
  if (id < 0) throw new NfemuError('PARSE', `can't initialize ${prog} table \`${tableName}': Table does not exist (do you need to insmod?)`, { ...where, token: tableName });
  const current: Table | undefined = rs.tables[id];
  const work = current ? toMutable(current) : newMutableTable(tableName);
  const editor = new TableEditor(work, family);
  const cmd = parseCommandArgs(args, {
    family, table: tableName, isChain: (c) => editor.has(c), file: opts.file, line: opts.line, restore: false,
    unknownMatches: opts.unknownMatches ?? 'error',
  });
  editor.apply(cmd, where);
  const batch = editor.batchErrors[0];
  if (batch) throw new NfemuError('VALIDATE', batch.message, { ...where, token: batch.token });
  const table = freezeTable(work);
  if (table) validateTable(table, family, { file: opts.file, line: opts.line, sets: opts.sets ?? null });
  return produce(rs, (draft) => {
    (draft.tables as (Table | undefined)[])[id] = table as Table | undefined;
  });
}

/** Applies several command lines in order (blank lines and `#` comments skipped). */
export function applyCommands(rs: Ruleset | Family, text: string, opts: CommandOptions = {}): Ruleset {
  let cur = typeof rs === 'number' ? emptyRuleset(rs) : rs;
  text.split('\n').forEach((l, n) => {
    const t = l.trim();
    if (t === '' || t.startsWith('#')) return;
    cur = applyCommand(cur, t, { ...opts, line: (opts.line ?? 0) + n + 1 });
  });
  return cur;
}
