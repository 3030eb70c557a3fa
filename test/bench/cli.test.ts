/**
 * `nfemu bench`: the help entry, and the pass-through of options to the harness (which runs
 * in a child process): a bad option is reported by the harness with exit status 2, and
 * `--render-only` redraws an earlier run without measuring anything.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../support/shared.ts';

const BIN = join(PROJECT_ROOT, 'bin', 'nfemu.mjs');

function nfemu(args: string[]) {
  return spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', cwd: PROJECT_ROOT, timeout: 60000 });
}

test('nfemu bench --help prints the usage', () => {
  const r = nfemu(['bench', '--help']);
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, /^usage: nfemu bench \[--quick\] \[--out DIR\]/);
  assert.match(nfemu(['--help']).stdout, /nfemu bench\s+\[--quick\] \[--out DIR\]/);
});

test('options reach the harness: a bad one exits 2 with its message', () => {
  const r = nfemu(['bench', '--modes', 'nftables']);
  assert.is(r.status, 2);
  assert.match(r.stderr, /--modes: unknown mode "nftables"/);
});

test('--render-only redraws the table and charts of a results.json into --out', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nfemu-bench-cli-'));
  try {
    const results = {
      meta: { generatedAt: '2025-01-01T00:00:00.000Z', quick: true, sizes: [100], endpoints: 4, modes: ['iptables'], node: 'v20', cpus: 2, cpuModel: 'cpu', kernel: '6.x', durationS: 1 },
      nfemu: [{
        mode: 'iptables', services: 100, endpoints: 4,
        cost: Object.fromEntries(['first', 'middle', 'last', 'established'].map((k) => [k, { rules: 10, rulesByTable: { nat: 10 }, lookups: 4, lookupsByTable: { conntrack: 4, ipset: 0, ipvs: 0 }, fate: 'forwarded', to: '10.128.0.1:8080' }])),
        speed: null,
        control: { full: { generateMs: 1, applyMs: 2, restoreBytes: 100, restoreLines: 3, ipvsOps: null }, fullSyncRuns: 1, change: { generateMs: 1, applyMs: 1, restoreBytes: 50, restoreLines: 2, ipvsOps: null } },
        memory: { heapBytes: 1e6, rssBytes: 1e7 },
      }],
      kernel: { available: false, reason: 'not requested', ipvs: { available: false, reason: 'none' }, method: '', results: [] },
      errors: [],
    };
    const file = join(dir, 'in.json');
    writeFileSync(file, JSON.stringify(results));
    const out = join(dir, 'out');
    const r = nfemu(['bench', '--render-only', file, '--out', out]);
    assert.is(r.status, 0, r.stderr);
    assert.match(r.stdout, /iptables\s+100\s+10 \/ 10 \/ 10/);
    assert.ok(existsSync(join(out, 'results.json')));
    assert.ok(readdirSync(out).some((f) => f.endsWith('.svg')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
