/** Registers every match module (each file registers itself on import). */
import './packet/index.ts';
import './state/index.ts';
