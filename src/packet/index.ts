/**
 * The packet: one class with numeric fields (addresses as four words), its builders from
 * case files and packet strings, and one-line formatting. Imports core only.
 */
export * from './packet.ts';
export * from './build.ts';
export * from './format.ts';
