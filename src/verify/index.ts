/**
 * verify: nfemu against the real kernel — the diff of two answers for the same case, and
 * (in kernel/) the runner that gets the kernel's answer in scratch network namespaces.
 */
export * from './diff.ts';
