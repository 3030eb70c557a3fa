/**
 * xtables: the iptables rule model, iptables-save / iptables-restore / `iptables` command
 * parsing and printing, validation, compilation and evaluation, and the match and target
 * modules. In the packet path it is what each table's chain at a hook does
 * (DESIGN.md §1, §3). Imports core, packet, netfilter and conntrack only; the engine never
 * sees text.
 */
import './matches/index.ts';
import './targets/index.ts';
export * from './model.ts';
export * from './ext.ts';
export { restore, RestoreError, tableOf, type RestoreOptions } from './parse/restore.ts';
export { applyCommand, applyCommands, type CommandOptions } from './command.ts';
export { parseCommandArgs, type ParsedCommand, type UnknownMatchPolicy } from './parse/rule.ts';
export { tokenizeRuleLine } from './parse/tokenize.ts';
export { printSave, printRule, printRuleBody, chainsInSaveOrder, type SaveOptions } from './print.ts';
export { CompiledTable, StateRegistry } from './compile.ts';
export { evaluate, headerMatches, type RuleTracer, type Decision } from './eval.ts';
export { validateTable, reachableHooks, NFT_JUMP_STACK_SIZE } from './validate.ts';
