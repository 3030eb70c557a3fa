/**
 * Registers every target module (each file registers itself on import).
 */
export {};
