/**
 * MARK and CONNMARK: every option form and how iptables-nft-save 1.8.9 prints it back
 * (rows checked in a scratch netns), the option conflicts libxtables reports, and the
 * kernel's arithmetic (xt_mark.c mark_tg, xt_connmark.c connmark_tg_shift).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { NF_INET_PRE_ROUTING, XT_CONTINUE, IP_CT_UNTRACKED } from '../../../src/netfilter/index.ts';
import type { Packet } from '../../../src/packet/index.ts';
import { check, compileTarget, makeCtx, packet, parseError, roundTrip } from './helpers.ts';

const MARK_PRINT: ReadonlyArray<readonly [string, string]> = [
  ['--set-mark 1338', '--set-xmark 0x53a/0xffffffff'],
  ['--set-mark 0x10/0xff', '--set-xmark 0x10/0xff'],
  ['--set-mark 5/5', '--set-xmark 0x5/0x5'],
  // --set-mark v/m clears v|m: the value's bits are always in the mask.
  ['--set-mark 0x10/0x0f', '--set-xmark 0x10/0x1f'],
  ['--set-xmark 0x10', '--set-xmark 0x10/0xffffffff'],
  ['--set-xmark 0x10/0xff', '--set-xmark 0x10/0xff'],
  ['--set-xmark 0x10/0x0f', '--set-xmark 0x10/0xf'],
  ['--and-mark 0xff', '--set-xmark 0x0/0xffffff00'],
  ['--or-mark 0x4000', '--set-xmark 0x4000/0x4000'],
  ['--xor-mark 0x4000', '--set-xmark 0x4000/0x0'],
  ['--set-mark 4294967295', '--set-xmark 0xffffffff/0xffffffff'],
  ['--set-mark 010', '--set-xmark 0x8/0xffffffff'],
  ['--set-mark 0X10', '--set-xmark 0x10/0xffffffff'],
  ['--set-mark 00', '--set-xmark 0x0/0xffffffff'],
  ['--set-xmark 0/0', '--set-xmark 0x0/0x0'],
];

test('MARK: every form prints back as --set-xmark value/mask', () => {
  for (const [i, want] of MARK_PRINT) assert.is(roundTrip('MARK', i), want, i);
});

const MARK_ERRORS: ReadonlyArray<readonly [string, string]> = [
  ['', 'MARK: One of the --set-xmark, --{and,or,xor,set}-mark options is required'],
  ['--set-mark 0x1 --or-mark 2', 'MARK: option "--set-mark" cannot be used together with "--or-mark".'],
  ['--or-mark 2 --set-mark 1', 'MARK: option "--set-mark" cannot be used together with "--or-mark".'],
  ['--xor-mark 2 --and-mark 1', 'MARK: option "--and-mark" cannot be used together with "--xor-mark".'],
  ['--set-mark 0x1 --set-mark 2', 'MARK: option "--set-mark" can only be used once.'],
  ['--set-mark 4294967296', 'MARK: bad integer value for option "--set-mark", or out of range.'],
  ['--set-mark -1', 'MARK: bad integer value for option "--set-mark", or out of range.'],
  ['--set-mark 0x1/0x', 'MARK: trailing garbage after value for option "--set-mark".'],
  ['--set-mark 1/', 'MARK: bad integer value for option "--set-mark", or out of range.'],
  ['--set-mark /5', 'MARK: bad integer value for option "--set-mark", or out of range.'],
  ['--set-mark 1x', 'MARK: trailing garbage after value for option "--set-mark".'],
  ['--set-mark 0x', 'MARK: trailing garbage after value for option "--set-mark".'],
  ['--set-mark 1/0xffffffff1', 'MARK: bad integer value for option "--set-mark", or out of range.'],
  ['--and-mark 0x10/0x5', 'MARK: bad value for option "--and-mark", or out of range (0-4294967295).'],
  ['--or-mark 08', 'MARK: bad value for option "--or-mark", or out of range (0-4294967295).'],
  ['--or-mark 4294967296', 'MARK: bad value for option "--or-mark", or out of range (0-4294967295).'],
];

test('MARK rejects what iptables 1.8.9 rejects', () => {
  for (const [i, want] of MARK_ERRORS) assert.is(parseError('MARK', i), want, i);
});

test('MARK is valid in every table (revision 2 has no table restriction)', () => {
  for (const table of ['filter', 'nat', 'raw', 'mangle', 'security']) assert.is(check('MARK', '--set-mark 1', { table }), null);
});

const markAfter = (opts: string, start: number): number => {
  const p = packet({ proto: 'udp', src: '10.0.0.1', sport: 1, dst: '10.0.0.2', dport: 2, mark: start });
  assert.is(compileTarget('MARK', opts).run(p, makeCtx(NF_INET_PRE_ROUTING, 'mangle')), XT_CONTINUE);
  return p.mark;
};

test('MARK arithmetic: mark = (mark & ~mask) ^ value', () => {
  assert.is(markAfter('--set-xmark 0x4000/0x4000', 0x1), 0x4001);
  assert.is(markAfter('--set-mark 0x10/0xf0', 0xfff), 0xf1f);
  assert.is(markAfter('--set-mark 0x2', 0xffff), 0x2);
  assert.is(markAfter('--and-mark 0xff00', 0x1234), 0x1200);
  assert.is(markAfter('--or-mark 0x8000', 0x1), 0x8001);
  assert.is(markAfter('--xor-mark 0xff', 0xf0f0), 0xf00f);
  // XOR, not OR: a set bit under a zero mask flips.
  assert.is(markAfter('--set-xmark 0x1/0x0', 0x1), 0x0);
  assert.is(markAfter('--set-mark 0xffffffff', 0), 0xffffffff);
});

test('MARK arithmetic agrees with a bit-by-bit model (property)', () => {
  const seed = Number(process.env.FC_SEED ?? Date.now() % 2 ** 31);
  console.log(`MARK property seed ${seed}`);
  fc.assert(
    fc.property(fc.nat(0xffffffff), fc.nat(0xffffffff), fc.nat(0xffffffff), (start, value, mask) => {
      const got = markAfter(`--set-xmark ${value}/${mask}`, start);
      let want = 0;
      for (let b = 31; b >= 0; b--) {
        const m = (mask >>> b) & 1;
        const s = (start >>> b) & 1;
        const v = (value >>> b) & 1;
        want = want * 2 + ((m ? 0 : s) ^ v);
      }
      return got === want;
    }),
    { seed, numRuns: 200 },
  );
});

const CONNMARK_PRINT: ReadonlyArray<readonly [string, string]> = [
  ['--set-xmark 0x1/0x1', '--set-xmark 0x1/0x1'],
  ['--set-xmark 0x1', '--set-xmark 0x1/0xffffffff'],
  ['--set-mark 5', '--set-xmark 0x5/0xffffffff'],
  ['--set-mark 5/0xf', '--set-xmark 0x5/0xf'],
  ['--set-mark 0x10/0xf', '--set-xmark 0x10/0x1f'],
  ['--and-mark 0xff', '--set-xmark 0x0/0xffffff00'],
  ['--or-mark 0x10', '--set-xmark 0x10/0x10'],
  ['--xor-mark 0x10', '--set-xmark 0x10/0x0'],
  ['--save-mark', '--save-mark --nfmask 0xffffffff --ctmask 0xffffffff'],
  ['--restore-mark', '--restore-mark --nfmask 0xffffffff --ctmask 0xffffffff'],
  ['--save-mark --mask 0xff', '--save-mark --nfmask 0xff --ctmask 0xff'],
  ['--restore-mark --mask 0xff', '--restore-mark --nfmask 0xff --ctmask 0xff'],
  ['--save-mark --nfmask 0xff', '--save-mark --nfmask 0xff --ctmask 0xffffffff'],
  ['--save-mark --ctmask 0xff', '--save-mark --nfmask 0xffffffff --ctmask 0xff'],
  ['--restore-mark --ctmask 0xf0 --nfmask 0x0f', '--restore-mark --nfmask 0xf --ctmask 0xf0'],
  ['--restore-mark --ctmask 0', '--restore-mark --nfmask 0xffffffff --ctmask 0x0'],
  // --mask after a set form replaces its ctmask; before it, the set form overwrites it.
  ['--set-mark 1 --mask 3', '--set-xmark 0x1/0x3'],
  ['--set-mark 0x10 --mask 0xf', '--set-xmark 0x10/0xf'],
  ['--mask 0xf --set-mark 0x10', '--set-xmark 0x10/0xffffffff'],
  ['--set-xmark 0x10/0xf0 --mask 0xf', '--set-xmark 0x10/0xf'],
  ['--and-mark 0xf0 --mask 0xf', '--set-xmark 0x0/0xf'],
  ['--set-mark 1 --ctmask 4', '--set-xmark 0x1/0x4'],
  ['--set-mark 1 --nfmask 3', '--set-xmark 0x1/0xffffffff'],
  ['--or-mark 0x10 --nfmask 0xf', '--set-xmark 0x10/0x10'],
  ['--save-mark --left-shift-mark 8', '--save-mark --nfmask 0xffffffff --ctmask 0xffffffff --left-shift-mark 8'],
  ['--restore-mark --right-shift-mark 8 --nfmask 0xff', '--restore-mark --nfmask 0xff --ctmask 0xffffffff --right-shift-mark 8'],
  ['--set-mark 1 --left-shift-mark 8', '--set-xmark 0x1/0xffffffff --left-shift-mark 8'],
  ['--save-mark --left-shift-mark 8 --right-shift-mark 3', '--save-mark --nfmask 0xffffffff --ctmask 0xffffffff --right-shift-mark 3'],
  ['--save-mark --left-shift-mark 0', '--save-mark --nfmask 0xffffffff --ctmask 0xffffffff'],
];

test('CONNMARK prints back as iptables-nft-save does', () => {
  for (const [i, want] of CONNMARK_PRINT) assert.is(roundTrip('CONNMARK', i), want, i);
});

const CONNMARK_ERRORS: ReadonlyArray<readonly [string, string]> = [
  ['', 'CONNMARK target: No operation specified'],
  ['--mask 3', 'CONNMARK target: No operation specified'],
  ['--save-mark --restore-mark', 'CONNMARK: option "--save-mark" cannot be used together with "--restore-mark".'],
  ['--set-mark 1 --save-mark', 'CONNMARK: option "--set-mark" cannot be used together with "--save-mark".'],
  ['--set-xmark 1/2 --set-mark 3', 'CONNMARK: option "--set-xmark" cannot be used together with "--set-mark".'],
  ['--save-mark --mask 1 --nfmask 2', 'CONNMARK: option "--nfmask" cannot be used together with "--mask".'],
  ['--save-mark --mask 0xf --ctmask 1', 'CONNMARK: option "--ctmask" cannot be used together with "--mask".'],
  ['--save-mark --save-mark', 'CONNMARK: option "--save-mark" can only be used once.'],
  ['--save-mark --mask 0x1 --mask 0x2', 'CONNMARK: option "--mask" can only be used once.'],
  ['--restore-mark --left-shift-mark 1 --left-shift-mark 2', 'CONNMARK: option "--left-shift-mark" can only be used once.'],
  ['--save-mark --left-shift-mark 33', 'CONNMARK: bad value for option "--left-shift-mark", or out of range (0-32).'],
];

test('CONNMARK rejects what iptables 1.8.9 rejects', () => {
  for (const [i, want] of CONNMARK_ERRORS) assert.is(parseError('CONNMARK', i), want, i);
});

test('CONNMARK: the kernel refuses a shift of 32 bits (connmark_tg_check_v2)', () => {
  assert.ok(check('CONNMARK', '--save-mark --left-shift-mark 32', { table: 'mangle' }) !== null);
  assert.is(check('CONNMARK', '--save-mark --right-shift-mark 31', { table: 'mangle' }), null);
});

/** Runs CONNMARK on a packet whose entry has ctmark `ct`; returns [packet mark, ct mark]. */
function connmark(opts: string, nfmark: number, ctmark: number): [number, number] {
  const p: Packet = packet({ proto: 'tcp', src: '10.0.0.1', sport: 1, dst: '10.0.0.2', dport: 2, mark: nfmark });
  const conn = { id: 1, mark: ctmark };
  p.ct = conn;
  p.ctinfo = 0;
  assert.is(compileTarget('CONNMARK', opts).run(p, makeCtx(NF_INET_PRE_ROUTING, 'mangle')), XT_CONTINUE);
  return [p.mark, conn.mark];
}

test('CONNMARK arithmetic (connmark_tg_shift)', () => {
  // set: ctmark = (ctmark & ~ctmask) ^ value
  assert.equal(connmark('--set-xmark 0x1/0x1', 0, 0xf0), [0, 0xf1]);
  assert.equal(connmark('--set-mark 0x100', 0, 0xffff), [0, 0x100]);
  assert.equal(connmark('--or-mark 0x2', 0, 0x1), [0, 0x3]);
  // save: ctmark = (ctmark & ~ctmask) ^ (nfmark & nfmask)
  assert.equal(connmark('--save-mark', 0x1234, 0xff), [0x1234, 0x1234]);
  assert.equal(connmark('--save-mark --nfmask 0xff0000 --ctmask 0xff0000', 0x00ab1234, 0x11000011), [0x00ab1234, 0x11ab0011]);
  // restore: nfmark = (nfmark & ~nfmask) ^ (ctmark & ctmask)
  assert.equal(connmark('--restore-mark', 0x5, 0x4000), [0x4000, 0x4000]);
  assert.equal(connmark('--restore-mark --nfmask 0xff --ctmask 0xff', 0xab00, 0x12), [0xab12, 0x12]);
  // shifts apply to the moved bits (and, for set, to the whole new mark)
  assert.equal(connmark('--save-mark --left-shift-mark 8', 0xab, 0), [0xab, 0xab00]);
  assert.equal(connmark('--restore-mark --right-shift-mark 8 --nfmask 0xff', 0xff00, 0x1200), [0xff12, 0x1200]);
  assert.equal(connmark('--set-xmark 0x1/0xffffffff --left-shift-mark 4', 0, 0), [0, 0x10]);
});

test('CONNMARK does nothing to a packet without an entry or an untracked one', () => {
  const p = packet({ proto: 'udp', src: '10.0.0.1', sport: 1, dst: '10.0.0.2', dport: 2, mark: 7 });
  p.ctinfo = IP_CT_UNTRACKED;
  assert.is(compileTarget('CONNMARK', '--restore-mark').run(p, makeCtx(NF_INET_PRE_ROUTING, 'mangle')), XT_CONTINUE);
  assert.is(p.mark, 7);
});

test.run();
