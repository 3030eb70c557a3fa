/** `nfemu scenario [NAME…]`: runs scenarios/*.ts and prints each story and a summary table. */
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { NfemuError } from '../core/index.ts';
import type { Scenario } from '../scenario.ts';

const SCENARIO_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'scenarios');

export async function loadScenarios(): Promise<Scenario[]> {
  const files = readdirSync(SCENARIO_DIR).filter((f) => f.endsWith('.ts')).sort();
  const out: Scenario[] = [];
  for (const f of files) {
    const mod = (await import(pathToFileURL(join(SCENARIO_DIR, f)).href)) as { default?: Scenario };
    if (!mod.default || typeof mod.default.run !== 'function') throw new NfemuError('INTERNAL', `scenario file ${f} has no default export with run()`);
    out.push(mod.default);
  }
  return out;
}

export interface ScenarioReport {
  name: string;
  title: string;
  checks: number;
  failed: string[];
  error: string | null;
  lines: string[];
}

/** Runs one scenario, collecting its story and checks (never throws for a failing check). */
export async function runScenario(s: Scenario): Promise<ScenarioReport> {
  const r: ScenarioReport = { name: s.name, title: s.title, checks: 0, failed: [], error: null, lines: [] };
  try {
    await s.run({
      say: (line) => r.lines.push(line),
      check: (cond, what) => {
        r.checks++;
        if (!cond) r.failed.push(what);
        r.lines.push(`  ${cond ? '✓' : '✗'} ${what}`);
      },
    });
  } catch (e) {
    r.error = e instanceof NfemuError ? e.located() : (e as Error).stack ?? String(e);
  }
  return r;
}

export async function runScenarios(names: string[]): Promise<number> {
  const all = await loadScenarios();
  for (const n of names) if (!all.some((s) => s.name === n)) throw new NfemuError('USAGE', `no scenario "${n}" (have: ${all.map((s) => s.name).join(', ')})`);
  const chosen = names.length ? all.filter((s) => names.includes(s.name)) : all;
  const reports: ScenarioReport[] = [];
  for (const s of chosen) {
    const r = await runScenario(s);
    reports.push(r);
    process.stdout.write(`\n━━ ${s.title} (${s.name}) ━━\n${r.lines.join('\n')}\n`);
    if (r.error) process.stdout.write(`  ✗ error: ${r.error}\n`);
  }
  process.stdout.write('\nscenario                     checks  result\n');
  for (const r of reports) {
    const ok = !r.error && r.failed.length === 0;
    process.stdout.write(`${r.name.padEnd(28)} ${String(r.checks).padStart(6)}  ${ok ? 'pass' : 'FAIL'}\n`);
  }
  const bad = reports.filter((r) => r.error || r.failed.length).length;
  process.stdout.write(`${reports.length - bad} passed, ${bad} failed\n`);
  return bad ? 1 : 0;
}
