/**
 * Conformance against what the kernel's own tools did with real rulesets:
 * - every file of shared/corpus/kernel-save/index.json: accepted files must load and print
 *   back byte for byte as iptables-nft-save printed them; rejected files must be rejected
 *   at the line iptables-nft-restore 1.8.9 named;
 * - the kube-proxy vectors of shared/conformance/kube-proxy must load on top of their
 *   preludes with --noflush semantics, except the two unquoted-comment TestTracePacket(s)
 *   rulesets, which must be rejected (their `rulesetStrict` must load).
 * The shared data lives beside the project (../shared); without it the checks are skipped.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { NfemuError, type Family } from '../../src/core/index.ts';
import { printSave, restore, type Ruleset } from '../../src/xtables/index.ts';
import { sharedPath } from '../support/shared.ts';

interface IndexEntry {
  readonly accepted: boolean;
  readonly family: Family;
  readonly save?: string;
  readonly error?: readonly string[];
}

/**
 * Where index.json disagrees with the kernel for the file as stored. index.json records
 * vsrv as accepted, but that verdict was taken on the CRLF→LF cleaned copy (see
 * corpus/real/SOURCES.md); the file itself has CRLF line ends and iptables-nft-restore
 * 1.8.9 rejects it: "iptables-nft-restore: line 2 table name 'nat\r' invalid", checked in
 * a scratch network namespace. The cleaned copy is compared with the .save instead.
 */
const KERNEL_AS_STORED: Readonly<Record<string, { readonly line: number; readonly error: string; readonly cleanedSave: true }>> = {
  'net-network/vsrv.iptables-save': { line: 2, error: "line 2 table name 'nat\r' invalid", cleanedSave: true },
};

/** The line iptables-nft-restore named: "Error occurred at line: N", "line N failed", "line N: …". */
function kernelLine(error: readonly string[]): number | null {
  for (const e of error) {
    const m = /Error occurred at line: (\d+)/.exec(e) ?? /\bline (\d+)\b/.exec(e);
    if (m) return Number(m[1]);
  }
  return null;
}

/** The kernel tool's message without its program prefix ("iptables-nft-restore v1.8.9 (nf_tables): "). */
function kernelMessage(error: readonly string[]): string {
  const first = error.find((e) => !e.startsWith('Error occurred at line')) ?? '';
  return first.replace(/^ip6?tables-nft-restore( v[\d.]+ \(nf_tables\))?: /, '');
}

function firstDifference(expected: string, got: string): string {
  const a = expected.split('\n');
  const b = got.split('\n');
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    if (a[i] !== b[i]) return `line ${i + 1}\n      expected: ${JSON.stringify(a[i] ?? '<end>')}\n      got:      ${JSON.stringify(b[i] ?? '<end>')}`;
  }
  return 'identical';
}

function describe(e: unknown): string {
  return e instanceof NfemuError ? e.located() : String((e as Error)?.stack ?? e);
}

const corpusRoot = sharedPath('corpus', 'kernel-save corpus');
if (corpusRoot) {
  const KERNEL_SAVE = join(corpusRoot, 'kernel-save') + '/';
  const REAL = join(corpusRoot, 'real') + '/';
  test('kernel-save corpus: nfemu loads, prints and rejects what iptables-nft 1.8.9 did', () => {
    const index = JSON.parse(readFileSync(`${KERNEL_SAVE}index.json`, 'utf8')) as Record<string, IndexEntry>;
    let accepted = 0;
    let loaded = 0;
    let identical = 0;
    let rejected = 0;
    let rejectedAtLine = 0;
    let sameWording = 0;
    const problems: string[] = [];
    const wording: string[] = [];

    const checkAccepted = (name: string, text: string, entry: IndexEntry, savePath: string): void => {
      accepted++;
      let rs: Ruleset;
      try {
        rs = restore(text, { family: entry.family, file: name });
      } catch (e) {
        problems.push(`${name}: the kernel accepts it, nfemu rejects it: ${describe(e)}`);
        return;
      }
      loaded++;
      const expected = readFileSync(savePath, 'utf8');
      const got = printSave(rs);
      if (got === expected) identical++;
      else problems.push(`${name}: save differs at ${firstDifference(expected, got)}`);
    };

    const checkRejected = (name: string, text: string, family: Family, line: number | null, message: string): void => {
      rejected++;
      try {
        restore(text, { family, file: name });
        problems.push(`${name}: the kernel rejects it (line ${line}: ${message}), nfemu loads it`);
        return;
      } catch (e) {
        if (!(e instanceof NfemuError)) {
          problems.push(`${name}: nfemu threw a non-NfemuError: ${describe(e)}`);
          return;
        }
        if (e.line === line) rejectedAtLine++;
        else problems.push(`${name}: rejected at line ${e.line}, the kernel at line ${line}\n      expected: ${message}\n      got:      ${e.message}`);
        const core = message.replace(/^line \d+ failed:? ?/, '').replace(/\.$/, '');
        if (e.message.includes(core)) sameWording++;
        else wording.push(`${name}:${line}: kernel: ${JSON.stringify(message)}; nfemu: ${JSON.stringify(e.message)}`);
      }
    };

    for (const [name, entry] of Object.entries(index)) {
      const text = readFileSync(`${REAL}${name}`, 'utf8');
      const asStored = KERNEL_AS_STORED[name];
      if (asStored) {
        checkRejected(name, text, entry.family, asStored.line, asStored.error);
        if (entry.accepted && entry.save) checkAccepted(`${name} (CRLF→LF)`, text.replace(/\r\n/g, '\n'), entry, `${KERNEL_SAVE}${entry.save}`);
        continue;
      }
      if (entry.accepted) checkAccepted(name, text, entry, `${KERNEL_SAVE}${entry.save}`);
      else checkRejected(name, text, entry.family, kernelLine(entry.error ?? []), kernelMessage(entry.error ?? []));
    }

    console.log(`corpus: loaded ${loaded}/${accepted} accepted files, ${identical}/${accepted} byte-identical saves, rejected ${rejectedAtLine}/${rejected} at the kernel's line (${sameWording}/${rejected} with the kernel's wording)`);
    for (const p of problems) console.log(`  MISMATCH ${p}`);
    for (const w of wording) console.log(`  wording  ${w}`);
    assert.is(problems.length, 0, `${problems.length} corpus file(s) differ from the kernel (listed above)`);
  });
}

/** What iptables-nft-restore 1.8.9 said about the unquoted-comment rulesets (checked in a scratch netns). */
const TRACE_REJECTS: Readonly<Record<string, { readonly line: number; readonly error: string }>> = {
  'current.TestTracePacket.json': { line: 11, error: "Bad argument `health'" },
  '2023.TestTracePackets.json': { line: 10, error: "Bad argument `health'" },
};

interface KubeVector {
  readonly kind: string;
  readonly prelude: string | null;
  readonly hostPrelude: string | null;
  readonly ruleset: string;
  readonly rulesetStrict?: string;
}

const kubeRoot = sharedPath('conformance/kube-proxy', 'kube-proxy vectors');
if (kubeRoot) {
  const KUBE = kubeRoot + '/';
  test('kube-proxy vectors load on their preludes with --noflush (unquoted comments rejected)', () => {
    const files = readdirSync(KUBE)
      .filter((f) => f.endsWith('.json'))
      .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
    const problems: string[] = [];
    let runs = 0;
    let ok = 0;
    /** TestSyncProxyRulesRepeated steps build on each other: state per sequence and prelude. */
    const sequences = new Map<string, Ruleset>();
    for (const f of files) {
      const v = JSON.parse(readFileSync(`${KUBE}${f}`, 'utf8')) as KubeVector;
      if (v.kind !== 'dump-only' && v.kind !== 'complete') continue;
      const family: Family = /IPv6/.test(f) ? 6 : 4;
      const trace = TRACE_REJECTS[f];
      if (trace) {
        runs++;
        try {
          restore(v.ruleset, { family, file: f, noflush: true });
          problems.push(`${f}: the unquoted-comment ruleset loads; the kernel rejects it at line ${trace.line} (${trace.error})`);
        } catch (e) {
          if (e instanceof NfemuError && e.line === trace.line && e.message.includes(trace.error)) ok++;
          else problems.push(`${f}: expected rejection at line ${trace.line} (${trace.error}), got ${describe(e)}`);
        }
        runs++;
        try {
          restore(v.rulesetStrict!, { family, file: `${f} rulesetStrict`, noflush: true });
          ok++;
        } catch (e) {
          problems.push(`${f} rulesetStrict: ${describe(e)}`);
        }
        continue;
      }
      const seq = /^(.*\.TestSyncProxyRulesRepeated)\.(\d+)\.json$/.exec(f);
      for (const which of ['prelude', 'hostPrelude'] as const) {
        const prelude = v[which];
        runs++;
        try {
          let base: Ruleset | undefined = prelude ? restore(prelude, { family, file: `${f} ${which}` }) : undefined;
          if (seq && seq[2] !== '1') base = sequences.get(`${seq[1]}/${which}`);
          if (seq && seq[2] !== '1' && !base) throw new Error(`step ${seq[2]} has no earlier step to build on`);
          const rs = restore(v.ruleset, { family, file: f, noflush: true }, base);
          if (seq) sequences.set(`${seq[1]}/${which}`, rs);
          ok++;
        } catch (e) {
          problems.push(`${f} on its ${which}: ${describe(e)}`);
        }
      }
    }
    console.log(`kube-proxy: ${ok}/${runs} vectors behave as the kernel does (rulesets on prelude and on hostPrelude, TestTracePacket(s) unquoted rejected / strict accepted)`);
    for (const p of problems) console.log(`  MISMATCH ${p}`);
    assert.is(problems.length, 0, `${problems.length} kube-proxy vector(s) misbehave (listed above)`);
  });
}

test.run();
