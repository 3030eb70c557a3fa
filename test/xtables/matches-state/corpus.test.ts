/**
 * Every use of these modules in the real-ruleset corpus prints back exactly as
 * iptables-nft-save printed it after the kernel accepted the file
 * (../shared/corpus/kernel-save, see its README): print(parse(x)) is the saved text for
 * every saved use, and the written uses of each accepted file print to the same multiset.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Family } from '../../../src/core/index.ts';
import { getMatch, type MatchExt } from '../../../src/xtables/ext.ts';
import { sharedPath } from '../../support/shared.ts';
import { parse, words } from './helpers.ts';

const MODULES = ['mark', 'connmark', 'conntrack', 'state', 'addrtype', 'statistic', 'recent', 'owner', 'set', 'nfacct', 'connlimit', 'helper', 'socket', 'cgroup', 'string', 'u32'];

/** The option text of each use of one of MODULES on the rule lines of a file (getopt-style: only the module's own options). */
function uses(text: string): { ext: MatchExt; opts: string }[] {
  const out: { ext: MatchExt; opts: string }[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\r$/, '').trim().replace(/^\[\d+:\d+\]\s+/, '');
    if (!/^-[AI] /.test(line)) continue;
    const toks = words(line);
    for (let i = 0; i < toks.length; i++) {
      if (toks[i] !== '-m' || !MODULES.includes(toks[i + 1] ?? '')) continue;
      const ext = getMatch(toks[i + 1]!)!;
      const mine: string[] = [];
      let j = i + 2;
      for (; j < toks.length; j++) {
        const t = toks[j]!;
        if (t === '-m' || t === '-j' || t === '-g') break;
        const inv = t === '!' ? 1 : 0;
        const name = (toks[j + inv] ?? '').replace(/^--/, '');
        const def = (toks[j + inv] ?? '').startsWith('--') ? ext.options.find((o) => o.name === name || (o.aliases ?? []).includes(name)) : undefined;
        if (!def) continue;
        const take = toks.slice(j, j + inv + 1 + def.args).map((w) => (/[\s"]/.test(w) || w === '' ? `"${w.replace(/["\\]/g, (c) => `\\${c}`)}"` : w));
        mine.push(...take);
        j += inv + def.args;
      }
      out.push({ ext, opts: mine.join(' ') });
      i = j - 1;
    }
  }
  return out;
}

const root = sharedPath('corpus/kernel-save', 'corpus round trips of the state/host matches');

if (root) {
  const index = JSON.parse(readFileSync(join(root, 'index.json'), 'utf8')) as Record<string, { accepted: boolean; family: Family; save?: string }>;
  const accepted = Object.entries(index).filter(([, v]) => v.accepted && v.save);

  test('saved uses print back byte for byte', () => {
    let n = 0;
    for (const [, v] of accepted) {
      for (const u of uses(readFileSync(join(root, v.save!), 'utf8'))) {
        assert.is(u.ext.print(parse(u.ext, u.opts, v.family), v.family), u.opts, `${v.save}: -m ${u.ext.name} ${u.opts}`);
        n++;
      }
    }
    assert.ok(n > 500, `found ${n} uses`);
  });

  test('written uses of each accepted file print to what was saved', () => {
    for (const [file, v] of accepted) {
      const written = uses(readFileSync(join(root, '..', 'real', file), 'utf8'))
        .map((u) => `${u.ext.name} ${u.ext.print(parse(u.ext, u.opts, v.family), v.family)}`)
        .sort();
      const saved = uses(readFileSync(join(root, v.save!), 'utf8')).map((u) => `${u.ext.name} ${u.opts}`).sort();
      assert.equal(written, saved, file);
    }
  });
}

test.run();
