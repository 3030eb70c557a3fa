/**
 * -m mark and -m connmark: parse/print as iptables-nft 1.8.9 saves them, rejections, and
 * xt_mark / xt_connmark behaviour.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { IP_CT_ESTABLISHED, IP_CT_UNTRACKED } from '../../../src/netfilter/index.ts';
import { getMatch } from '../../../src/xtables/ext.ts';
import { conn, makeCtx, matcher, packet, parseError, roundTrip, States } from './helpers.ts';

const mark = getMatch('mark')!;
const connmark = getMatch('connmark')!;

// Written form -> what iptables-nft-save printed (corpus kernel-save files and a scratch
// namespace running iptables-nft 1.8.9).
const PRINTS: ReadonlyArray<readonly [string, string]> = [
  ['--mark 0x4000/0x4000', '--mark 0x4000/0x4000'],
  ['--mark 1337', '--mark 0x539'],
  ['--mark 0x539/0xfff', '--mark 0x539/0xfff'],
  ['! --mark 0x0', '! --mark 0x0'],
  ['! --mark 0x0/0xff0000', '! --mark 0x0/0xff0000'],
  ['! --mark 5/0xffffffff', '! --mark 0x5'], // full mask is left out
  ['--mark 010', '--mark 0x8'], // C number: leading 0 is octal
  ['--mark 5/0', '--mark 0x5/0x0'], // value printed as given, not masked
  ['--mark 0xffffffff', '--mark 0xffffffff'],
];

test('mark: printed as iptables-nft-save prints it', () => {
  for (const [written, saved] of PRINTS) {
    assert.is(roundTrip(mark, written), saved, written);
    assert.is(roundTrip(connmark, written), saved, `connmark ${written}`);
  }
});

const REJECTS: ReadonlyArray<readonly [string, string]> = [
  ['--mark 4294967296', 'mark: bad integer value for option "--mark", or out of range.'],
  ['--mark abc', 'mark: bad integer value for option "--mark", or out of range.'],
  ['--mark -1', 'mark: bad integer value for option "--mark", or out of range.'],
  ['--mark 1/abc', 'mark: bad integer value for option "--mark", or out of range.'],
  ['--mark 1/2/3', 'mark: trailing garbage after value for option "--mark".'],
  ['--mark 1 --mark 2', 'mark: option "--mark" can only be used once.'],
  ['', 'mark: option "--mark" must be specified'],
];

test('mark: rejected with iptables wording', () => {
  for (const [written, msg] of REJECTS) assert.is(parseError(mark, written), msg, written);
  assert.is(parseError(connmark, ''), 'connmark: option "--mark" must be specified');
});

test('mark: (skb->mark & mask) == value, xor !', () => {
  const cases: ReadonlyArray<readonly [string, number, boolean]> = [
    ['--mark 0x4000/0x4000', 0x4000, true],
    ['--mark 0x4000/0x4000', 0xc000, true],
    ['--mark 0x4000/0x4000', 0x8000, false],
    ['--mark 0x2000', 0x2000, true],
    ['--mark 0x2000', 0x2001, false], // no mask: the whole mark must equal
    ['! --mark 0x0/0xff0000', 0x10000, true],
    ['! --mark 0x0/0xff0000', 0x00ffff, false],
    ['--mark 5/0', 5, false], // value outside the mask never matches
    ['--mark 0xffffffff', 0xffffffff, true],
  ];
  for (const [opts, pktMark, want] of cases) {
    const p = packet('10.0.0.1', '10.0.0.2');
    p.mark = pktMark;
    assert.is(matcher(mark, opts).match(p, makeCtx(new States())), want, `${opts} mark=${pktMark.toString(16)}`);
  }
});

test('connmark: reads ct->mark; no entry (INVALID or UNTRACKED) never matches, even with !', () => {
  const ctx = makeCtx(new States());
  const p = packet('10.0.0.1', '10.0.0.2');
  p.mark = 0x1; // the packet mark is not what connmark reads
  const m = matcher(connmark, '--mark 0x1');
  const inv = matcher(connmark, '! --mark 0x1');
  assert.is(m.match(p, ctx), false, 'no entry');
  assert.is(inv.match(p, ctx), false, '! with no entry');
  p.ctinfo = IP_CT_UNTRACKED;
  assert.is(inv.match(p, ctx), false, '! untracked');
  const c = conn(['10.0.0.1', 40000, '10.0.0.2', 80], { mark: 0x111 });
  p.ct = c;
  p.ctinfo = IP_CT_ESTABLISHED;
  assert.is(m.match(p, ctx), false, 'ct mark 0x111 vs 0x1');
  assert.is(inv.match(p, ctx), true);
  assert.is(matcher(connmark, '--mark 0x1/0xf').match(p, ctx), true, '0x111 & 0xf == 0x1');
  assert.is(matcher(connmark, '--mark 0x111/0xfff').match(p, ctx), true);
});

test.run();
