/**
 * iptables-nft-save against `nfemu save`, live: each iptables-format corpus file
 * (../shared/corpus/real, listed in ../shared/corpus/kernel-save/index.json) is restored
 * with iptables-nft-restore in a scratch network namespace, read back with
 * iptables-nft-save, and compared byte for byte with what nfemu prints for the same file;
 * files the kernel refuses must be refused by nfemu at the same line.
 * Needs root and iptables-nft; with CI=true it must run.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { restore, printSave, NfemuError } from '../../src/index.ts';
import { sharedPath } from '../support/shared.ts';

const corpus = sharedPath('corpus', 'live iptables-nft-save comparison');

function sh(argv: string[], input?: string): { code: number; out: string; err: string } {
  const r = spawnSync(argv[0]!, argv.slice(1), { input, encoding: 'utf8', timeout: 30_000 });
  return { code: r.status ?? -1, out: r.stdout ?? '', err: r.stderr ?? (r.error ? String(r.error) : '') };
}

function available(): string | null {
  if (process.getuid?.() !== 0) return 'not root';
  for (const t of ['ip', 'iptables-nft-restore', 'iptables-nft-save', 'ip6tables-nft-restore', 'ip6tables-nft-save', 'ipset']) {
    if (sh(['sh', '-c', `command -v ${t}`]).code !== 0) return `missing: ${t}`;
  }
  return null;
}

/** Sets named by -m set, created empty first as the kernel-save README says. */
function setsFor(text: string, family: 4 | 6): string {
  const out: string[] = [];
  const seen = new Set<string>();
  for (const m of text.matchAll(/--match-set\s+(\S+)\s+(\S+)/g)) {
    const name = m[1]!;
    if (seen.has(name)) continue;
    seen.add(name);
    const dims = m[2]!.split(',').length;
    const type = dims === 1 ? 'hash:net' : dims === 2 ? 'hash:ip,port' : 'hash:ip,port,ip';
    out.push(`create ${name} ${type} family ${family === 6 ? 'inet6' : 'inet'}`);
  }
  return out.join('\n') + (out.length ? '\n' : '');
}

test('iptables-nft-save after iptables-nft-restore = nfemu save, file by file (live kernel)', () => {
  if (!corpus) return;
  const why = available();
  if (why) {
    if (process.env.CI === 'true') assert.unreachable(`kernel save test cannot run in CI: ${why}`);
    console.log(`kernel tests skipped: ${why}`);
    return;
  }
  const index = JSON.parse(readFileSync(join(corpus, 'kernel-save', 'index.json'), 'utf8')) as Record<string, { accepted: boolean; family: 4 | 6; error?: string[] }>;
  const ns = `nfemu-save-${process.pid.toString(36)}`;
  let same = 0;
  let accepted = 0;
  let rejectedSame = 0;
  let rejected = 0;
  const diffs: string[] = [];
  assert.is(sh(['ip', 'netns', 'add', ns]).code, 0, 'ip netns add');
  try {
    for (const [rel, info] of Object.entries(index)) {
      const text = readFileSync(join(corpus, 'real', rel), 'utf8');
      const fam = info.family;
      const v = fam === 6 ? 'ip6tables' : 'iptables';
      // A clean namespace state per file: flush everything this file may have created.
      sh(['ip', 'netns', 'exec', ns, 'nft', 'flush', 'ruleset']);
      sh(['ip', 'netns', 'exec', ns, 'ipset', 'destroy']);
      const sets = setsFor(text, fam);
      if (sets) sh(['ip', 'netns', 'exec', ns, 'ipset', 'restore'], sets);
      const k = sh(['ip', 'netns', 'exec', ns, `${v}-nft-restore`], text);
      let mine: string | NfemuError;
      try {
        mine = printSave(restore(text, { family: fam, file: rel }));
      } catch (e) {
        if (!(e instanceof NfemuError)) throw e;
        mine = e;
      }
      if (k.code !== 0) {
        rejected++;
        const line = /line:? (\d+)/.exec(k.err)?.[1];
        if (mine instanceof NfemuError && line !== undefined && mine.line === Number(line)) rejectedSame++;
        else diffs.push(`${rel}: kernel rejects (${k.err.trim().split('\n').join(' / ')}); nfemu ${mine instanceof NfemuError ? `rejects at line ${mine.line}: ${mine.message}` : 'accepts'}`);
        continue;
      }
      accepted++;
      const kernelSave = sh(['ip', 'netns', 'exec', ns, `${v}-nft-save`]).out.split('\n').filter((l) => !l.startsWith('# ')).join('\n');
      if (typeof mine === 'string' && mine === kernelSave) {
        same++;
        continue;
      }
      if (typeof mine !== 'string') {
        diffs.push(`${rel}: kernel accepts; nfemu rejects: ${mine.located()}`);
        continue;
      }
      const a = kernelSave.split('\n');
      const b = mine.split('\n');
      const i = a.findIndex((l, j) => l !== b[j]);
      diffs.push(`${rel}: line ${i + 1} differs\n  kernel: ${a[i]}\n  nfemu:  ${b[i]}`);
    }
  } finally {
    sh(['ip', 'netns', 'del', ns]);
  }
  console.log(`kernel save: ${same}/${accepted} accepted files byte-identical, ${rejectedSame}/${rejected} rejected files refused by nfemu at the kernel's line`);
  if (diffs.length) console.log(diffs.join('\n'));
  assert.is(same, accepted);
  assert.is(rejectedSame, rejected);
});

test.run();
