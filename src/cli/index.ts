/**
 * cli: the `nfemu` command and the human-readable forms of results.
 */
export { main } from './main.ts';
export { formatCaseResult, formatPacketResult, formatTrace } from './format.ts';
