/**
 * nfemu core: addresses, protocol numbers, seeded randomness, the clock and error types.
 * Bottom of the layering (DESIGN.md §2): imports nothing outside this folder.
 */
export * from './addr.ts';
export * from './proto.ts';
export * from './rng.ts';
export * from './clock.ts';
export * from './errors.ts';
export * from './hash.ts';
