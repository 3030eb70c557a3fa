/**
 * Property: hash:net answers like the kernel's rule, checked against a naive reference —
 * of the stored prefixes containing the address, the longest decides, and a `nomatch` entry
 * there makes it a non-match. Random adds (with -exist, so a re-add updates nomatch) and
 * deletes, small hash tables so buckets fill and the table resizes.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { formatIpv4 } from '../../src/core/index.ts';
import { dirs, mustGet, pkt, registry } from './helpers.ts';

const seed = Number(process.env.FC_SEED ?? Date.now() % 2 ** 31);
console.log(`  hash:net property seed: ${seed} (replay with FC_SEED=${seed})`);

/** Addresses in a small space (10.0.0.0/12) so prefixes overlap often. */
const addr = fc.integer({ min: 0, max: 0xfffff }).map((n) => (0x0a000000 | n) >>> 0);
const op = fc.record({
  del: fc.boolean(),
  net: addr,
  cidr: fc.integer({ min: 8, max: 32 }),
  nomatch: fc.boolean(),
});

function mask(c: number): number {
  return c === 0 ? 0 : (0xffffffff << (32 - c)) >>> 0;
}

test('hash:net test() agrees with longest-prefix containment with nomatch', () => {
  fc.assert(
    fc.property(fc.array(op, { minLength: 1, maxLength: 80 }), fc.array(addr, { maxLength: 30 }), (ops, probes) => {
      const ref = new Map<string, { net: number; cidr: number; nomatch: boolean }>();
      const lines = ['create s hash:net hashsize 64 bucketsize 2 initval 0x2a'];
      for (const o of ops) {
        const net = (o.net & mask(o.cidr)) >>> 0;
        const key = `${net}/${o.cidr}`;
        if (o.del) {
          lines.push(`del s ${formatIpv4(net)}/${o.cidr} -exist`);
          ref.delete(key);
        } else {
          lines.push(`add s ${formatIpv4(net)}/${o.cidr}${o.nomatch ? ' nomatch' : ''} -exist`);
          ref.set(key, { net, cidr: o.cidr, nomatch: o.nomatch });
        }
      }
      const { reg, clock } = registry(lines.join('\n') + '\n');
      const s = mustGet(reg, 's');
      const all = probes.concat(ops.map((o) => o.net));
      for (const a of all) {
        let best: { cidr: number; nomatch: boolean } | null = null;
        for (const e of ref.values()) {
          if (((a & mask(e.cidr)) >>> 0) !== e.net) continue;
          if (best === null || e.cidr > best.cidr) best = e;
        }
        const want = best !== null && !best.nomatch;
        const got = s.test(pkt({ proto: 'udp', src: formatIpv4(a), dst: '192.0.2.1' }), dirs('src'), clock.nowMs());
        if (got !== want) return false;
      }
      return s.size === ref.size;
    }),
    { seed, numRuns: 200 },
  );
  assert.ok(true);
});

test.run();
