/**
 * netfilter: hooks, priorities, verdict codes and table identities, as the kernel numbers
 * them. Sits between the packet and every table: the host calls the hooks in priority
 * order (DESIGN.md §1). Imports core only.
 */
export * from './hooks.ts';
export * from './verdict.ts';
export * from './ctinfo.ts';
