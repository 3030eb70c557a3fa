/** `nfemu scenario [NAME…]`: runs scenarios/*.ts and prints each story and a summary table. */
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { NfemuError } from '../core/index.ts';
import { walkToJson, walkToMermaid, type Walk } from '../cluster/index.ts';
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

/** Where to write each walk a scenario makes (directories), if anywhere. */
export interface WalkOutput {
  readonly json?: string;
  readonly mermaid?: string;
}

/** Runs one scenario, collecting its story and checks (never throws for a failing check). */
export async function runScenario(s: Scenario, out: WalkOutput = {}): Promise<ScenarioReport> {
  const r: ScenarioReport = { name: s.name, title: s.title, checks: 0, failed: [], error: null, lines: [] };
  try {
    await s.run({
      say: (line) => r.lines.push(line),
      check: (cond, what) => {
        r.checks++;
        if (!cond) r.failed.push(what);
        r.lines.push(`  ${cond ? '✓' : '✗'} ${what}`);
      },
      walk: (name, w) => {
        const base = `${s.name}-${name.replace(/[^A-Za-z0-9._-]/g, '_')}`;
        if (out.json) {
          mkdirSync(out.json, { recursive: true });
          writeFileSync(join(out.json, `${base}.json`), JSON.stringify(walkToJson(w as Walk), null, 2) + '\n');
        }
        if (out.mermaid) {
          mkdirSync(out.mermaid, { recursive: true });
          writeFileSync(join(out.mermaid, `${base}.mmd`), walkToMermaid(w as Walk));
        }
      },
    });
  } catch (e) {
    r.error = e instanceof NfemuError ? e.located() : (e as Error).stack ?? String(e);
  }
  return r;
}

export async function runScenarios(argv: string[]): Promise<number> {
  const out: { json?: string; mermaid?: string } = {};
  const names: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--json' || a === '--mermaid') {
      const dir = argv[++i];
      if (!dir) throw new NfemuError('USAGE', `${a} needs a directory`);
      out[a === '--json' ? 'json' : 'mermaid'] = dir;
    } else if (a.startsWith('-')) {
      throw new NfemuError('USAGE', `unknown option ${a} (see nfemu scenario --help)`);
    } else names.push(a);
  }
  const all = await loadScenarios();
  for (const n of names) if (!all.some((s) => s.name === n)) throw new NfemuError('USAGE', `no scenario "${n}" (have: ${all.map((s) => s.name).join(', ')})`);
  const chosen = names.length ? all.filter((s) => names.includes(s.name)) : all;
  const reports: ScenarioReport[] = [];
  for (const s of chosen) {
    const r = await runScenario(s, out);
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
