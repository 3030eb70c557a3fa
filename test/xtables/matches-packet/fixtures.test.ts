/**
 * Parse → print, rejections and kernel refusals for every case in fixtures.json: what the real
 * iptables-nft 1.8.9 (nf_tables back end) printed or reported for the option lists of
 * cases.txt and for every use of these modules in the real-ruleset corpus (real dumps and the
 * kernel-save files). Regenerate with gen-fixtures.py; the expected values come from the
 * kernel tool, never from nfemu.
 */
import { readFileSync } from 'node:fs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { NfemuError } from '../../../src/core/index.ts';
import type { Family } from '../../../src/core/index.ts';
import { checkEnv, ext, parseEnv, toOpts } from './helpers.ts';

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

/** `-p X` / `! -p X` of the case's generic part. */
function protoText(pre: readonly string[]): string {
  const i = pre.indexOf('-p');
  if (i < 0) return '';
  return (pre[i - 1] === '!' ? '! ' : '') + pre[i + 1];
}

function label(c: Case): string {
  return `[${c.src}] ip${c.fam === 6 ? '6' : ''}tables ${c.table} ${c.chain} ${c.pre.join(' ')} -m ${c.module} ${c.args.join(' ')}`;
}

/** Runs one case through nfemu: the printed text, null if the match vanishes, or the error. */
function run(c: Case): { out?: string | null; err?: string; kernel?: string } {
  const m = ext(c.module) as ReturnType<typeof ext> & { omitted?: (d: unknown) => boolean };
  const ctx = { family: c.fam, table: c.table, proto: protoText(c.pre), chain: c.chain };
  let data: unknown;
  try {
    data = m.parse(toOpts(m, c.args), parseEnv(ctx));
  } catch (e) {
    if (e instanceof NfemuError) return { err: e.message };
    throw e;
  }
  const k = m.check?.(data, checkEnv(ctx)) ?? null;
  if (k !== null) return { kernel: k };
  if (m.omitted?.(data)) return { out: null };
  return { out: m.print(data, c.fam) };
}

const byModule = new Map<string, Case[]>();
for (const c of fixtures.cases) {
  const key = c.module === 'icmpv6' ? 'icmp6' : c.module;
  if (!byModule.has(key)) byModule.set(key, []);
  byModule.get(key)!.push(c);
}

for (const [module, cases] of byModule) {
  const s = suite(`fixtures: -m ${module} as iptables-nft 1.8.9 prints or refuses it`);
  s(`${cases.length} cases`, () => {
    const failures: string[] = [];
    for (const c of cases) {
      const got = run(c);
      const want = c.result;
      let ok: boolean;
      if (want.kernel) ok = got.kernel !== undefined;
      // "TCP/UDP match requires '-p tcp'" is raised by iptables-nft when it builds the rule, after
      // every option is read; nfemu reports it from check(), which sees the whole rule.
      else if (want.err !== undefined) ok = got.err === want.err || (got.kernel === want.err && /match requires/.test(want.err));
      else ok = got.err === undefined && got.kernel === undefined && got.out === want.out;
      if (!ok) failures.push(`${label(c)}\n    want ${JSON.stringify(want)}\n    got  ${JSON.stringify(got)}`);
    }
    assert.is(failures.length, 0, failures.join('\n'));
  });
  s.run();
}
