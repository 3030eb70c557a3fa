/**
 * -m hashlimit (xt_hashlimit.c, revision 3, HZ 250): a bucket per key, credits in jiffies.
 * Worked numbers used below: CREDITS_PER_JIFFY = 2^39 = 549755813888; user2credits(x) =
 * x · 137438953; for 1/sec avg = 10^6, so one packet costs 137438953000000 credits, which
 * 249 jiffies (996 ms) do not earn (136889197658112) and 250 jiffies do (137438953472000).
 */
import fc from 'fast-check';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { compiled, context, pkt, States, v4, type PacketSpec } from './helpers.ts';

function hl(opts: string, states: States, ruleKey = 'filter/T/1') {
  return compiled('hashlimit', opts.split(' '), {}, states, ruleKey).m;
}

const at = (m: ReturnType<typeof hl>, states: States, t: number, p: PacketSpec = {}): boolean => m.match(pkt(p), context(states, t));

const A = { src: v4('10.0.0.1') };
const B = { src: v4('10.0.0.2') };
const C = { src: v4('10.0.1.1') };

const s = suite('hashlimit: per-key token buckets');

s('1/sec burst 2 per source: two at once, then the third waits 250 jiffies', () => {
  const st = new States();
  const m = hl('--hashlimit-upto 1/sec --hashlimit-burst 2 --hashlimit-mode srcip --hashlimit-name t1', st);
  assert.equal([at(m, st, 0, A), at(m, st, 0, A), at(m, st, 0, A)], [true, true, false]);
  assert.is(at(m, st, 0, B), true, 'another source has its own bucket');
  assert.is(at(m, st, 996, A), false, '249 jiffies earn less than one packet');
  assert.is(at(m, st, 1000, A), true, '250 jiffies earn one packet');
  assert.is(at(m, st, 1000, A), false);
});

s('--hashlimit-above inverts: the packets over the rate match', () => {
  const st = new States();
  const m = hl('--hashlimit-above 1/sec --hashlimit-burst 2 --hashlimit-mode srcip --hashlimit-name t2', st);
  assert.equal([at(m, st, 0, A), at(m, st, 0, A), at(m, st, 0, A)], [false, false, true]);
});

s('--hashlimit-srcmask groups sources under the prefix', () => {
  const st = new States();
  const m = hl('--hashlimit-upto 1/hour --hashlimit-burst 1 --hashlimit-mode srcip --hashlimit-srcmask 24 --hashlimit-name t3', st);
  assert.is(at(m, st, 0, A), true);
  assert.is(at(m, st, 0, B), false, '10.0.0.2 shares the /24 bucket of 10.0.0.1');
  assert.is(at(m, st, 0, C), true, '10.0.1.1 is another /24');
});

s('no --hashlimit-mode: one bucket for everything', () => {
  const st = new States();
  const m = hl('--hashlimit-upto 1/hour --hashlimit-burst 1 --hashlimit-name t4', st);
  assert.equal([at(m, st, 0, A), at(m, st, 0, C)], [true, false]);
});

s('dstport mode keys by destination port', () => {
  const st = new States();
  const m = hl('--hashlimit-upto 1/hour --hashlimit-burst 1 --hashlimit-mode dstport --hashlimit-name t5', st);
  assert.equal([at(m, st, 0, { dport: 80 }), at(m, st, 0, { dport: 443 }), at(m, st, 0, { dport: 80 })], [true, true, false]);
});

s('idle entries are collected by the gc after --hashlimit-htable-expire: a new, full bucket', () => {
  const st = new States();
  // expire 2000 ms = 500 jiffies after the entry's last packet; the gc runs every 250 jiffies
  // (counted from the first packet) and removes entries whose expiry has passed.
  const m = hl('--hashlimit-upto 1/hour --hashlimit-burst 1 --hashlimit-mode srcip --hashlimit-name t6 --hashlimit-htable-expire 2000', st);
  assert.is(at(m, st, 0, A), true, 'jiffy 0: full bucket; expiry 500');
  assert.is(at(m, st, 1996, A), false, 'jiffy 499: not expired, empty; expiry 999');
  assert.is(at(m, st, 3996, A), false, 'jiffy 999: expired, but the gc runs at 1000; expiry 1499');
  assert.is(at(m, st, 6000, A), true, 'jiffy 1500: the gc at 1500 removed it; a new full bucket');
});

s('a table is shared by name; the first rule configures it', () => {
  const st = new States();
  const first = hl('--hashlimit-upto 1/hour --hashlimit-burst 1 --hashlimit-name shared', st, 'filter/T/1');
  const second = hl('--hashlimit-upto 1000/sec --hashlimit-burst 1000 --hashlimit-name shared', st, 'filter/T/2');
  assert.is(at(first, st, 0), true);
  assert.is(at(second, st, 0), false, 'same bucket, with the first rule’s rate and burst');
});

s('byte mode (1kb/s, no burst): a new bucket lets two 500-byte packets through, not three', () => {
  const st = new States();
  const m = hl('--hashlimit-upto 1kb/s --hashlimit-name t7', st);
  // avg = U32_MAX / (1024/16 + 1) = 66076419; cost per 16-byte chunk = avg·HZ·2^24 >> 32 = 64527753;
  // a 500-byte packet is 32 chunks = 2064888096; a new bucket holds 250·2^24 = 4194304000.
  const lengths = [500, 500, 500];
  assert.equal(lengths.map((l) => at(m, st, 0, { length: l })), [true, true, false]);
});

s.run();

const p = suite('hashlimit: property against a BigInt transcription of the packet-mode bucket');
p('same answers for random rates, bursts and arrival times (one key)', () => {
  const seed = Number(process.env.FC_SEED ?? Date.now() % 2 ** 31);
  console.log(`hashlimit property seed ${seed}`);
  const units: Array<[string, bigint]> = [['sec', 1n], ['min', 60n], ['hour', 3600n], ['day', 86400n]];
  let run = 0;
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 5000 }),
      fc.integer({ min: 0, max: 3 }),
      fc.integer({ min: 1, max: 20 }),
      fc.array(fc.integer({ min: 0, max: 300000 }), { minLength: 1, maxLength: 50 }),
      (n, u, burst, gaps) => {
        const [unit, mult] = units[u]!;
        const avg = (1000000n * mult) / BigInt(n);
        const K = 137438953n;
        const U64 = (1n << 64n) - 1n;
        const cost = (avg * K) & U64;
        const cap = (avg * BigInt(burst) * K) & U64;
        if (cap < cost) return true; // refused by the kernel ("overflow, try lower")
        const st = new States();
        const m = hl(`--hashlimit-upto ${n}/${unit} --hashlimit-burst ${burst} --hashlimit-name p${run++} --hashlimit-htable-expire 100000000`, st);
        let credit = cap;
        let prev = -1n;
        let t = 0;
        for (const g of gaps) {
          t += g;
          const now = BigInt(Math.floor((t * 250) / 1000));
          if (prev >= 0n && now !== prev) {
            credit = (credit + (now - prev) * (1n << 39n)) & U64;
            if (credit > cap) credit = cap;
          }
          prev = now;
          let want = false;
          if (credit >= cost) {
            credit -= cost;
            want = true;
          }
          if (at(m, st, t) !== want) return false;
        }
        return true;
      },
    ),
    { seed, numRuns: 200 },
  );
});
p.run();
