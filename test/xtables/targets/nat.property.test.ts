/**
 * Properties of the NAT range syntax: for any range a rule can hold, printing it and
 * parsing the printed text gives the same range back (iptables-nft-save output is
 * iptables-restore input), for both families. Seeded and replayable (FC_SEED).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import type { NatData } from '../../../src/xtables/targets/index.ts';
import { ext, parseEnv, uses } from './helpers.ts';

const seed = Number(process.env.FC_SEED ?? Date.now() % 2 ** 31);
console.log(`NAT range property seed ${seed} (FC_SEED=${seed} replays it)`);

const words4 = fc.nat(0xffffffff).map((v) => Uint32Array.of(v, 0, 0, 0));
const words6 = fc.tuple(fc.nat(0xffffffff), fc.nat(0xffffffff), fc.nat(0xffffffff), fc.nat(0xffffffff)).map((t) => Uint32Array.from(t));

/** A range DNAT can hold: optional addresses, optional ports (with an optional base), flags. */
function rangeArb(family: 4 | 6): fc.Arbitrary<NatData> {
  const addr = family === 4 ? words4 : words6;
  return fc
    .record({
      ips: fc.option(fc.tuple(addr, fc.option(addr)), { nil: null }),
      ports: fc.option(fc.tuple(fc.nat(65535), fc.nat(65535), fc.option(fc.integer({ min: 1, max: 65535 }), { nil: null })), { nil: null }),
      random: fc.boolean(),
      persistent: fc.boolean(),
    })
    .filter((r) => r.ips !== null || r.ports !== null)
    .map((r) => {
      let flags = 0;
      const min = new Uint32Array(4);
      const max = new Uint32Array(4);
      if (r.ips) {
        flags |= 1;
        min.set(r.ips[0]);
        max.set(r.ips[1] ?? r.ips[0]);
      }
      let lo = 0, hi = 0, base = 0;
      if (r.ports) {
        flags |= 2;
        lo = Math.min(r.ports[0], r.ports[1]);
        hi = Math.max(r.ports[0], r.ports[1]);
        // A base needs a range written with a dash, so only when lo < hi.
        if (r.ports[2] !== null && lo < hi) {
          flags |= 32;
          base = r.ports[2];
        }
      }
      if (r.random) flags |= 4;
      if (r.persistent) flags |= 8;
      return { flags, minAddr: min, maxAddr: max, minProto: lo, maxProto: hi, baseProto: base };
    });
}

for (const family of [4, 6] as const) {
  test(`DNAT (IPv${family}): parse(print(range)) is the range`, () => {
    const dnat = ext('DNAT');
    fc.assert(
      fc.property(rangeArb(family), (r) => {
        const text = dnat.print(r, family);
        const back = dnat.parse(uses(dnat, text), parseEnv({ family, proto: 6 })) as NatData;
        assert.is(back.flags, r.flags, text);
        assert.equal([back.minProto, back.maxProto, back.baseProto], [r.minProto, r.maxProto, r.baseProto], text);
        if (r.flags & 1) {
          assert.equal(Array.from(back.minAddr), Array.from(r.minAddr), text);
          assert.equal(Array.from(back.maxAddr), Array.from(r.maxAddr), text);
        }
        return true;
      }),
      { seed, numRuns: 300 },
    );
  });
}

test.run();
