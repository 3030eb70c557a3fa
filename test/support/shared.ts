/**
 * Where ../shared (the team's reference data beside the project) is, and a way to skip
 * tests that need it with a printed reason when it is absent (a fresh clone alone).
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const SHARED = resolve(PROJECT_ROOT, '..', 'shared');

/** The path under ../shared, or null (after printing why) when ../shared is absent. */
export function sharedPath(rel: string, what: string): string | null {
  const p = join(SHARED, rel);
  if (!existsSync(p)) {
    console.log(`skipped ${what}: ${p} is absent (../shared is not beside this checkout)`);
    return null;
  }
  return p;
}
