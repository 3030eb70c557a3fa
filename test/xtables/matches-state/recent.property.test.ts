/**
 * Property: for one address, --set / --rcheck / --update with any --seconds and --hitcount
 * answer exactly as a naive model that keeps every timestamp forever (xt_recent keeps a
 * ring, but one at least as large as any rule's hitcount, and timestamps only grow, so
 * the answers are the same). Seeded; the seed is printed.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { getMatch, type Matcher } from '../../../src/xtables/ext.ts';
import { compileEnv, makeCtx, packet, parse, States } from './helpers.ts';

const recent = getMatch('recent')!;

type Step = { dt: number; op: 'set' | 'rcheck' | 'update'; seconds: number; hit: number };

const stepArb: fc.Arbitrary<Step> = fc.record({
  dt: fc.integer({ min: 0, max: 4000 }),
  op: fc.constantFrom('set' as const, 'rcheck' as const, 'update' as const),
  seconds: fc.constantFrom(0, 1, 3, 10),
  hit: fc.constantFrom(0, 1, 2, 5, 33, 70),
});

test('recent answers like a model that keeps every timestamp', () => {
  const seed = Number(process.env.FC_SEED ?? Date.now() % 2 ** 31);
  console.log(`recent property seed: ${seed} (FC_SEED=${seed} to replay)`);
  fc.assert(
    fc.property(fc.array(stepArb, { minLength: 1, maxLength: 120 }), (steps) => {
      const states = new States();
      const ctx = makeCtx(states);
      const rules = new Map<string, Matcher>();
      const rule = (s: Step): Matcher => {
        const text = s.op === 'set'
          ? '--set --name P'
          : `--${s.op} --name P${s.seconds ? ` --seconds ${s.seconds}` : ''}${s.hit ? ` --hitcount ${s.hit}` : ''}`;
        let m = rules.get(text);
        if (!m) {
          m = recent.compile(parse(recent, text), compileEnv(states, `filter/INPUT/${rules.size + 1}`));
          rules.set(text, m);
        }
        return m;
      };
      // Compile every rule first, as a table load does.
      for (const s of steps) rule(s);
      let now = 0;
      const stamps: number[] = [];
      let exists = false;
      for (const s of steps) {
        now += s.dt;
        ctx.nowMs = now;
        const got = rule(s).match(packet('10.0.0.1', '10.0.0.2'), ctx);
        let want: boolean;
        if (s.op === 'set') {
          want = true;
          exists = true;
          stamps.push(now);
        } else if (!exists) {
          want = false;
        } else {
          const inWindow = stamps.filter((t) => !s.seconds || t >= now - s.seconds * 1000).length;
          want = s.hit ? inWindow >= s.hit : inWindow > 0;
          if (want && s.op === 'update') stamps.push(now);
        }
        if (got !== want) return false;
      }
      return true;
    }),
    { seed, numRuns: 200 },
  );
  assert.ok(true);
});

test.run();
