/**
 * nfemu against the recorded answers of the real kernel (../shared/conformance/kernel-answers:
 * Linux 6.18, iptables-nft 1.8.9): for every case, every packet's rule-by-rule trace, final
 * verdict, fate and tuple must be what the kernel did; random branches must cover the
 * kernel's observed outcomes with fitting frequencies (src/verify/diff.ts).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { runCase, type CaseFile } from '../../src/index.ts';
import { diffPacket, type PacketAnswer } from '../../src/verify/index.ts';
import { sharedPath } from '../support/shared.ts';

const root = sharedPath('conformance/kernel-answers', 'recorded kernel answers');

test('nfemu agrees with the recorded kernel answers, packet by packet', () => {
  if (!root) return;
  let agree = 0;
  let total = 0;
  const failures: string[] = [];
  for (const dir of ['kubeproxy', 'real']) {
    for (const f of readdirSync(join(root, dir)).filter((x) => x.endsWith('.json') && !x.endsWith('.kernel.json') && !['flows.json', 'vectors.json', 'sources.json'].includes(x)).sort()) {
      const c = JSON.parse(readFileSync(join(root, dir, f), 'utf8')) as CaseFile;
      const k = JSON.parse(readFileSync(join(root, dir, f.replace(/\.json$/, '.kernel.json')), 'utf8')) as { results: PacketAnswer[] };
      let mine;
      try {
        mine = runCase({ ...c, fresh_conntrack: c.fresh_conntrack ?? true }, { baseDir: join(root, dir), file: f });
      } catch (e) {
        total += k.results.length;
        failures.push(`${dir}/${f}: does not run: ${(e as Error).message}`);
        continue;
      }
      mine.results.forEach((r, i) => {
        total++;
        const d = diffPacket(r as unknown as PacketAnswer, k.results[i]!);
        if (d.agree) agree++;
        else failures.push(`${dir}/${f} packet ${i + 1} (${JSON.stringify(r.packet)}):\n${d.divergence}`);
      });
    }
  }
  console.log(`recorded kernel agreement: ${agree}/${total} packets`);
  if (failures.length) console.log(failures.slice(0, 15).join('\n\n') + (failures.length > 15 ? `\n… and ${failures.length - 15} more` : ''));
  assert.is(agree, total, `${total - agree} packets diverge from the recorded kernel answers`);
});

test.run();
