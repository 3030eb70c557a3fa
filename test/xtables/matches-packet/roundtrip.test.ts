/**
 * Round trip through the generic restore parser and iptables-nft-save printer
 * (src/xtables: restore, printSave) for every fixture the kernel tool accepted: the rule as
 * nfemu prints it must carry `-m MODULE <what iptables-nft-save printed>`.
 */
import { readFileSync } from 'node:fs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Family } from '../../../src/core/index.ts';
import { printSave, restore } from '../../../src/xtables/index.ts';

interface Case {
  fam: Family;
  table: string;
  chain: string;
  pre: string[];
  module: string;
  args: string[];
  src: string;
  result: { out?: string | null; err?: string; kernel?: boolean };
}

const fixtures = JSON.parse(readFileSync(new URL('./fixtures.json', import.meta.url), 'utf8')) as { cases: Case[] };

const CHAINS: Record<string, string[]> = {
  filter: ['INPUT', 'FORWARD', 'OUTPUT'],
  raw: ['PREROUTING', 'OUTPUT'],
  mangle: ['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING'],
  nat: ['PREROUTING', 'INPUT', 'OUTPUT', 'POSTROUTING'],
};

function quote(t: string): string {
  return t === '' || /[\s"'\\]/.test(t) ? `"${t.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"` : t;
}

function restoreText(c: Case): string {
  const lines = [`*${c.table}`, ...CHAINS[c.table]!.map((n) => `:${n} ACCEPT [0:0]`)];
  if (c.chain === 'T') lines.push(':T - [0:0]');
  lines.push(`-A ${c.chain} ${[...c.pre, '-m', c.module, ...c.args].map(quote).join(' ')}`, 'COMMIT', '');
  return lines.join('\n');
}

const s = suite('round trip through restore() and printSave()');
s('every accepted fixture prints back as iptables-nft-save did', () => {
  const failures: string[] = [];
  let n = 0;
  for (const c of fixtures.cases) {
    const want = c.result.out;
    if (want === undefined || want === null) continue;
    n++;
    const module = c.module === 'icmpv6' ? 'icmp6' : c.module;
    const expected = want ? `-m ${module} ${want}` : `-m ${module}`;
    let line = '';
    try {
      const rs = restore(restoreText(c), { family: c.fam });
      line = printSave(rs).split('\n').find((l) => l.startsWith(`-A ${c.chain} `)) ?? '(no rule)';
    } catch (e) {
      line = `error: ${(e as Error).message}`;
    }
    const ok = line.endsWith(' ' + expected) || line.includes(' ' + expected + ' -');
    if (!ok) failures.push(`[${c.src}] ${c.pre.join(' ')} -m ${c.module} ${c.args.join(' ')}\n    want …${expected}\n    got  ${line}`);
  }
  assert.ok(n > 1000);
  assert.is(failures.length, 0, `${failures.length} of ${n}:\n${failures.slice(0, 40).join('\n')}`);
});
s.run();
