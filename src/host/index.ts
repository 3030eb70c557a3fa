/**
 * host: one network namespace — interfaces, addresses, routes, sysctls, ruleset, ipsets,
 * conntrack — calling the netfilter hooks at the kernel's points in priority order, the
 * routing decisions, fates and traces; and case files run on such a host.
 */
export * from './host.ts';
export * from './routing.ts';
export * from './trace.ts';
export * from './case.ts';
