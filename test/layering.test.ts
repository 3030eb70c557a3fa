/**
 * The layering of DESIGN.md §2, read from the import lines: imports point one way only
 * (down the list), and a folder is entered only through its index.ts.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { PROJECT_ROOT } from './support/shared.ts';

/** Level of each top folder of src/: a folder may import only folders of a lower level. */
const LEVEL: Record<string, number> = {
  core: 0, packet: 1, netfilter: 2, conntrack: 3, xtables: 4, ipset: 5, ipvs: 6, nftables: 6,
  kube: 7, host: 8, cluster: 9, verify: 10, cli: 11, '(api)': 12,
  // src/scenario.ts: the scenario shape, a leaf that imports nothing.
  '(scenario)': -1,
};

/** The layer a path under src/ belongs to: its top folder, or a top-level file's own entry. */
function layer(rel: string): string {
  if (rel.includes('/')) return rel.split('/')[0]!;
  return rel === 'scenario.ts' ? '(scenario)' : '(api)';
}

function files(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir)) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) out.push(...files(p));
    else if (e.endsWith('.ts')) out.push(p);
  }
  return out;
}

test('imports point down the layers and go through index.ts', () => {
  const src = join(PROJECT_ROOT, 'src');
  const bad: string[] = [];
  let edges = 0;
  for (const f of files(src)) {
    const rel = relative(src, f);
    const from = layer(rel);
    assert.ok(from in LEVEL, `src/${rel}: folder ${from} has no level in DESIGN.md's table`);
    const text = readFileSync(f, 'utf8');
    for (const m of text.matchAll(/^\s*(?:import|export)\s[^'"]*?from\s+['"](\.[^'"]+)['"]|^\s*import\s+['"](\.[^'"]+)['"]/gm)) {
      const spec = (m[1] ?? m[2])!;
      const target = relative(src, resolve(dirname(f), spec));
      if (target.startsWith('..')) {
        bad.push(`src/${rel} imports ${spec}, outside src/`);
        continue;
      }
      const to = layer(target);
      if (to === from) continue;
      edges++;
      if (!(to in LEVEL)) bad.push(`src/${rel} imports unknown folder ${to}`);
      else if (LEVEL[to]! >= LEVEL[from]!) bad.push(`src/${rel} (${from}) imports ${spec} (${to}): an edge pointing up`);
      else if (target.includes('/') && !target.endsWith('/index.ts')) bad.push(`src/${rel} imports ${spec}: other folders are entered through index.ts`);
    }
  }
  if (bad.length) console.log(bad.join('\n'));
  assert.ok(edges > 20, `found only ${edges} cross-folder imports: the scan is broken`);
  assert.equal(bad, []);
});

test.run();
