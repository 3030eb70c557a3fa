/**
 * The iptables rule model: plain readonly data (DESIGN.md §3). Produced by the restore and
 * command parsers and by generators, edited through immer, compiled for evaluation.
 * The engine never sees text; extensions own the shape of their `data`.
 */
import type { Cidr, Family } from '../core/index.ts';

export interface Counters {
  readonly packets: number;
  readonly bytes: number;
}

export const ZERO_COUNTERS: Counters = Object.freeze({ packets: 0, bytes: 0 });

/** `-s` / `-d`, possibly negated. */
export interface AddrMatch {
  readonly cidr: Cidr;
  readonly invert: boolean;
}

/** `-i` / `-o`: a name, where a trailing `+` matches any name with that prefix. */
export interface IfaceMatch {
  readonly name: string;
  readonly invert: boolean;
}

/** `-p`: protocol number (0 = all), as written (for messages), possibly negated. */
export interface ProtoMatch {
  readonly proto: number;
  readonly invert: boolean;
}

/** One `-m NAME` (or an implicit protocol match) with its parsed options. */
export interface MatchSpec {
  /** Registered extension name, e.g. `tcp`, `conntrack`. */
  readonly name: string;
  /** Parsed options; the extension defines the shape. Readonly plain data. */
  readonly data: unknown;
}

export const TARGET_VERDICT = 0; // ACCEPT, DROP, RETURN, QUEUE
export const TARGET_JUMP = 1; // -j CHAIN
export const TARGET_GOTO = 2; // -g CHAIN
export const TARGET_EXTENSION = 3; // -j DNAT …

export interface TargetSpec {
  readonly kind: number; // TARGET_*
  /** ACCEPT/DROP/RETURN/QUEUE, the chain name, or the extension name. */
  readonly name: string;
  /** Extension data (TARGET_EXTENSION only). */
  readonly data: unknown;
}

export interface Rule {
  readonly src: AddrMatch | null;
  readonly dst: AddrMatch | null;
  readonly inIface: IfaceMatch | null;
  readonly outIface: IfaceMatch | null;
  readonly proto: ProtoMatch | null;
  /** `-f` (IPv4 only): non-first fragments; `! -f`: first fragments and unfragmented. */
  readonly fragment: { readonly invert: boolean } | null;
  readonly matches: readonly MatchSpec[];
  /** null: no target (a counting-only rule). */
  readonly target: TargetSpec | null;
  readonly counters: Counters;
  /** Source line, for messages only (not part of a rule's identity). */
  readonly line?: number;
}

export interface Chain {
  readonly name: string;
  readonly builtin: boolean;
  /** Built-in chains only. */
  readonly policy: 'ACCEPT' | 'DROP' | null;
  readonly counters: Counters;
  readonly rules: readonly Rule[];
}

/** A table: its chains, built-in chains first in hook order, then user chains in creation order. */
export interface Table {
  readonly name: string;
  readonly chains: readonly Chain[];
}

/** All tables of one family. `tables[TABLE_*]` is undefined when the table does not exist. */
export interface Ruleset {
  readonly family: Family;
  readonly tables: readonly (Table | undefined)[];
}

export function emptyRuleset(family: Family): Ruleset {
  return { family, tables: [undefined, undefined, undefined, undefined, undefined] };
}

export function findChain(table: Table, name: string): Chain | undefined {
  return table.chains.find((c) => c.name === name);
}
