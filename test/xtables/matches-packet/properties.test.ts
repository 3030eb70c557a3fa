/**
 * Seeded properties: the compiled multiport and port-range matches agree with direct
 * transcriptions of the kernel predicates (xt_multiport ports_match_v1, xt_tcpudp
 * port_match) on random rules and packets. Set FC_SEED to replay a failure.
 */
import fc from 'fast-check';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { compiled, pkt } from './helpers.ts';

const seed = Number(process.env.FC_SEED ?? Date.now() % 2 ** 31);
const s = suite('port match properties');

s('multiport equals ports_match_v1', () => {
  console.log(`multiport property seed ${seed}`);
  const item = fc.oneof(
    fc.integer({ min: 0, max: 65535 }).map((p) => ({ lo: p, hi: p, range: false })),
    fc.tuple(fc.integer({ min: 0, max: 65534 }), fc.integer({ min: 1, max: 2000 })).map(([lo, w]) => ({ lo, hi: Math.min(65535, lo + w), range: true })),
  );
  fc.assert(
    fc.property(
      fc.array(item, { minLength: 1, maxLength: 7 }),
      fc.constantFrom('sports', 'dports', 'ports'),
      fc.boolean(),
      fc.integer({ min: 0, max: 65535 }),
      fc.integer({ min: 0, max: 65535 }),
      fc.boolean(),
      (items, opt, invert, sport, dport, fragment) => {
        const list = items.map((i) => (i.range ? `${i.lo}:${i.hi}` : String(i.lo))).join(',');
        const tokens = [...(invert ? ['!'] : []), `--${opt}`, list];
        const { m, ctx } = compiled('multiport', tokens, { proto: 'tcp' });
        let want: boolean;
        if (fragment) want = false;
        else {
          let hit = false;
          for (const i of items) {
            const inS = sport >= i.lo && sport <= i.hi;
            const inD = dport >= i.lo && dport <= i.hi;
            if ((opt === 'sports' && inS) || (opt === 'dports' && inD) || (opt === 'ports' && (inS || inD))) {
              hit = true;
              break;
            }
          }
          want = hit !== invert;
        }
        return m.match(pkt({ sport, dport, fragment }), ctx) === want;
      },
    ),
    { seed, numRuns: 500 },
  );
});

s('tcp/udp port ranges equal port_match, and fragments never match', () => {
  fc.assert(
    fc.property(
      fc.constantFrom('tcp', 'udp'),
      fc.integer({ min: 0, max: 65535 }),
      fc.integer({ min: 0, max: 65535 }),
      fc.boolean(),
      fc.integer({ min: 0, max: 65535 }),
      fc.boolean(),
      (module, a, b, invert, port, fragment) => {
        const lo = Math.min(a, b);
        const hi = Math.max(a, b);
        if (lo === 0 && hi === 65535) return true; // not emitted by iptables-nft (covered elsewhere)
        const { m, ctx } = compiled(module, [...(invert ? ['!'] : []), '--dport', `${lo}:${hi}`], { proto: module });
        const want = !fragment && (port >= lo && port <= hi) !== invert;
        return m.match(pkt({ proto: module === 'tcp' ? 6 : 17, dport: port, fragment }), ctx) === want;
      },
    ),
    { seed, numRuns: 500 },
  );
  assert.ok(true);
});

s.run();
