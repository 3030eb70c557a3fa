/**
 * -m statistic: the probability stored as the kernel stores it and printed with %.11f,
 * rejections, the exact branch probability handed to ctx.chance(), and the per-rule nth
 * counter of xt_statistic.c.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { getMatch } from '../../../src/xtables/ext.ts';
import { compileEnv, makeCtx, matcher, packet, parse, parseError, roundTrip, States } from './helpers.ts';

const statistic = getMatch('statistic')!;

const PRINTS: ReadonlyArray<readonly [string, string]> = [
  ['--mode random --probability 0.50000000000', '--mode random --probability 0.50000000000'],
  ['--mode random --probability 0.33333333349', '--mode random --probability 0.33333333349'], // kube-proxy's 1/3
  ['--mode random --probability 0.333333333', '--mode random --probability 0.33333333302'],
  ['--mode random --probability 0.000244140625', '--mode random --probability 0.00024414062'], // exact tie: glibc rounds to even
  ['--mode random ! --probability 1', '--mode random ! --probability 1.00000000000'],
  ['--mode random --probability 0', '--mode random --probability 0.00000000000'],
  ['--mode random --probability 1e-1', '--mode random --probability 0.10000000009'],
  ['--mode nth ! --every 3 --packet 2', '--mode nth ! --every 3 --packet 2'],
  ['--mode nth --every 2 --packet 0', '--mode nth --every 2 --packet 0'],
];

test('statistic: printed as iptables-nft-save prints it', () => {
  for (const [w, s] of PRINTS) assert.is(roundTrip(statistic, w), s, w);
});

const REJECTS: ReadonlyArray<readonly [string, string]> = [
  ['--mode random --probability 1.5', 'statistic: bad value for option "--probability", or out of range (0-1).'],
  ['--mode random --probability abc', 'statistic: bad value for option "--probability", or out of range (0-1).'],
  ['--mode nth --every 3', 'statistic: option "--every" also requires "--packet".'],
  ['--mode nth --every 3 --packet 3', 'the --packet p must be 0 <= p <= n-1'],
  ['--mode nth --packet 0', 'statistic: option "--packet" also requires "--every".'],
  ['--mode nth --every 0', 'statistic: bad value for option "--every", or out of range (1-4294967295).'],
  ['--mode random', '--probability must be specified when using random mode'],
  ['--mode nth', '--every and --packet must be specified when using nth mode'],
  ['--mode foo', 'Bad mode "foo"'],
  ['--probability 0.5', 'statistic: option "--mode" must be specified'],
  ['--mode random --every 2', '--probability must be specified when using random mode'],
  ['--mode nth --probability 0.5', '--every and --packet must be specified when using nth mode'],
  ['--mode random --every 3 --probability 0.5', 'statistic: option "--probability" cannot be used together with "--every".'],
  ['--mode random --probability 0.1 --mode nth', 'statistic: option "--mode" can only be used once.'],
];

test('statistic: rejected with iptables wording', () => {
  for (const [w, msg] of REJECTS) assert.is(parseError(statistic, w), msg, w);
  assert.is(parseError(statistic, '! --mode random --probability 0.1'), 'statistic: option "--mode" cannot be inverted.');
});

test('random: the kernel keeps lround(2^31 * p) and matches with exactly that / 2^31', () => {
  // lround(2147483648 * 0.33333333349) = 715827883; lround(2147483648 * 0.1) = 214748365.
  const rows: ReadonlyArray<readonly [string, number]> = [
    ['--mode random --probability 0.33333333349', 715827883 / 2 ** 31],
    ['--mode random --probability 0.5', 0.5],
    ['--mode random --probability 0.1', 214748365 / 2 ** 31],
    ['--mode random --probability 1', 1],
    ['--mode random --probability 0', 0],
  ];
  for (const [opts, p] of rows) {
    const ctx = makeCtx(new States());
    const m = matcher(statistic, opts);
    ctx.chanceAnswer = true;
    assert.is(m.match(packet('10.0.0.1', '10.0.0.2'), ctx), true, opts);
    ctx.chanceAnswer = false;
    assert.is(m.match(packet('10.0.0.1', '10.0.0.2'), ctx), false, opts);
    assert.equal(ctx.chances, [p, p], opts);
  }
  const ctx = makeCtx(new States());
  const inv = matcher(statistic, '--mode random ! --probability 0.25');
  ctx.chanceAnswer = true;
  assert.is(inv.match(packet('10.0.0.1', '10.0.0.2'), ctx), false, '! inverts the branch');
  assert.equal(ctx.chances, [0.25]);
});

function run(opts: string, n: number, states = new States(), key = 'filter/INPUT/1'): string {
  const ctx = makeCtx(states);
  const m = statistic.compile(parse(statistic, opts), compileEnv(states, key));
  let out = '';
  for (let i = 0; i < n; i++) out += m.match(packet('10.0.0.1', '10.0.0.2'), ctx) ? 'x' : '.';
  return out;
}

test('nth: the (p+1)th packet and every nth after it; ! inverts', () => {
  assert.is(run('--mode nth --every 3 --packet 0', 9), 'x..x..x..');
  assert.is(run('--mode nth --every 3 --packet 2', 9), '..x..x..x');
  assert.is(run('--mode nth --every 1 --packet 0', 3), 'xxx');
  assert.is(run('--mode nth ! --every 2 --packet 0', 6), '.x.x.x');
});

test('nth: one counter per rule, kept across recompiles of the same rule', () => {
  const states = new States();
  assert.is(run('--mode nth --every 3 --packet 0', 2, states, 'nat/KUBE-SVC-X/1'), 'x.');
  assert.is(run('--mode nth --every 3 --packet 0', 2, states, 'nat/KUBE-SVC-X/2'), 'x.', 'another rule counts on its own');
  assert.is(run('--mode nth --every 3 --packet 0', 2, states, 'nat/KUBE-SVC-X/1'), '.x', 'the first rule goes on where it was');
});

test.run();
