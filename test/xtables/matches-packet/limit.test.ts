/**
 * -m limit as the kernel runs it for iptables-nft 1.8.9: a native nf_tables `limit`
 * expression (nft_limit.c): nanosecond tokens, cost unit·10⁹/rate per packet, `burst` packets
 * of capacity, full at start, refilled by elapsed time; a packet short of tokens takes none.
 * Expected values are worked out from those formulas in the comments; the property compares
 * the matcher with a direct BigInt transcription of nft_limit_eval.
 */
import fc from 'fast-check';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { limitBucket, nftLimitRate, type LimitData } from '../../../src/xtables/matches/packet/limit.ts';
import { compiled, context, ext, parseWith, pkt, States } from './helpers.ts';

function run(tokens: string[], times: readonly number[], states = new States(), ruleKey = 'filter/T/1'): boolean[] {
  const { m } = compiled('limit', tokens, {}, states, ruleKey);
  return times.map((t) => m.match(pkt(), context(states, t)));
}

const s = suite('limit: nft_limit token bucket on ctx.nowMs');

s('3/min, default burst 5: five packets at once, then one per 20 s (cost 60·10⁹/3 ns)', () => {
  assert.equal(run(['--limit', '3/min'], [0, 0, 0, 0, 0, 0]), [true, true, true, true, true, false]);
  // After 5 packets the bucket is empty; 19.999 s later it holds 19.999e9 < 20e9 ns.
  assert.equal(run(['--limit', '3/min'], [0, 0, 0, 0, 0, 19999, 20000, 20000]), [true, true, true, true, true, false, true, false]);
});

s('a packet that does not match still moves the clock of the bucket (tokens accrue, none spent)', () => {
  // 1/sec burst 1: t=0 takes the token; t=500 finds 0.5e9 (no); t=1000 finds 1e9 (yes).
  assert.equal(run(['--limit', '1/sec', '--limit-burst', '1'], [0, 500, 1000, 1500, 1999, 2000]), [true, false, true, false, false, true]);
});

s('sub-millisecond cost is kept exactly: 7/sec costs 142857142 ns', () => {
  // t=0 yes (tokens 0); t=142: 142e6 < cost; t=143: 143e6 ≥ cost, 142858 ns left;
  // t=285: 142858 + 142e6 = 142142858 < cost; t=286: 143142858 ≥ cost.
  assert.equal(run(['--limit', '7/sec', '--limit-burst', '1'], [0, 142, 143, 285, 286]), [true, false, true, false, true]);
});

s('the bucket never holds more than burst packets', () => {
  const r = run(['--limit', '1/sec', '--limit-burst', '3'], [0, 0, 0, 100000, 100000, 100000, 100000]);
  assert.equal(r, [true, true, true, true, true, true, false]);
});

s('burst 0 is the default 5 (nft_limit_init)', () => {
  assert.equal(run(['--limit', '1/hour', '--limit-burst', '0'], [0, 0, 0, 0, 0, 0]), [true, true, true, true, true, false]);
});

s('add_nft_limit picks the unit from the stored average', () => {
  const avg = (t: string): number => (parseWith('limit', ['--limit', t]) as LimitData).avg;
  assert.equal(nftLimitRate(avg('3/min')), { rate: 3, unitSec: 60 });
  assert.equal(nftLimitRate(avg('120/hour')), { rate: 2, unitSec: 60 });
  assert.equal(nftLimitRate(avg('86401/day')), { rate: 1, unitSec: 1 });
  assert.equal(nftLimitRate(avg('1000/hour')), { rate: 1000, unitSec: 3600 });
  assert.equal(nftLimitRate(avg('10000/sec')), { rate: 10000, unitSec: 1 });
});

s('each rule has its own bucket; a recompile of the same rule keeps it', () => {
  const states = new States();
  assert.equal(run(['--limit', '1/hour', '--limit-burst', '1'], [0, 0], states, 'filter/INPUT/1'), [true, false]);
  assert.equal(run(['--limit', '1/hour', '--limit-burst', '1'], [0], states, 'filter/INPUT/2'), [true]);
  assert.equal(run(['--limit', '1/hour', '--limit-burst', '1'], [10], states, 'filter/INPUT/1'), [false]);
});

s('a cloned state carries the bucket on (host clone)', () => {
  const states = new States();
  const { m } = compiled('limit', ['--limit', '1/hour', '--limit-burst', '1'], {}, states);
  assert.is(m.match(pkt(), context(states, 0)), true);
  const copy = new States();
  for (const st of states.states) copy.states.push(st.clone());
  states.states.length = 0;
  for (const st of copy.states) states.states.push(st.clone());
  assert.is(m.match(pkt(), context(states, 1)), false);
});

s.run();

const p = suite('limit: property against a BigInt transcription of nft_limit_eval');
p('same answers for random rates, bursts and arrival times', () => {
  const seed = Number(process.env.FC_SEED ?? Date.now() % 2 ** 31);
  console.log(`limit property seed ${seed}`);
  const units = ['sec', 'min', 'hour', 'day'];
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 10000 }),
      fc.integer({ min: 0, max: 3 }),
      fc.integer({ min: 0, max: 50 }),
      fc.array(fc.integer({ min: 0, max: 400000 }), { minLength: 1, maxLength: 60 }),
      (n, u, burst, gaps) => {
        const text = `${n}/${units[u]}`;
        let data: LimitData;
        try {
          data = ext('limit').parse([{ name: 'limit', args: [text], invert: false, token: '--limit' }, { name: 'limit-burst', args: [String(burst)], invert: false, token: '--limit-burst' }], {
            family: 4, table: 'filter', proto: null, protoInvert: false, fail: (m: string) => { throw new Error(m); },
          }) as LimitData;
        } catch {
          return true; // "Rate too fast": nothing to run
        }
        const { rate, unitSec } = nftLimitRate(data.avg);
        // Reference: nft_limit_init / nft_limit_eval in plain ns.
        const cost = (BigInt(unitSec) * 1000000000n) / BigInt(rate);
        const max = cost * BigInt(burst === 0 ? 5 : burst);
        assert.equal(limitBucket(data.avg, burst).costMs, Number(cost / 1000000n));
        let tokens = max;
        let last = -1n;
        const states = new States();
        const { m } = compiled('limit', ['--limit', text, '--limit-burst', String(burst)], {}, states);
        let t = 0;
        for (const g of gaps) {
          t += g;
          const now = BigInt(t) * 1000000n;
          if (last >= 0n) tokens += now - last;
          if (tokens > max) tokens = max;
          last = now;
          let want: boolean;
          if (tokens - cost >= 0n) {
            tokens -= cost;
            want = true;
          } else want = false;
          if (m.match(pkt(), context(states, t)) !== want) return false;
        }
        return true;
      },
    ),
    { seed, numRuns: 300 },
  );
});
p.run();
