/**
 * -m owner: parse/print as iptables-nft 1.8.9 saves it, rejections (user and group names
 * cannot be resolved by nfemu), hooks, and xt_owner.c behaviour with and without a socket.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { NF_INET_LOCAL_IN, NF_INET_LOCAL_OUT, NF_INET_POST_ROUTING } from '../../../src/netfilter/index.ts';
import { getMatch, type CheckEnv } from '../../../src/xtables/ext.ts';
import { makeCtx, matcher, packet, parse, parseError, roundTrip, States } from './helpers.ts';

const owner = getMatch('owner')!;

test('owner: printed as iptables-nft-save prints it (socket-exists, uid, gid, suppl-groups)', () => {
  const rows: ReadonlyArray<readonly [string, string]> = [
    ['--uid-owner 1337', '--uid-owner 1337'],
    ['! --uid-owner 5678', '! --uid-owner 5678'],
    ['--uid-owner 4-5', '--uid-owner 4-5'],
    ['--uid-owner 5-5', '--uid-owner 5'],
    ['--uid-owner 4:5', '--uid-owner 4-5'],
    ['--uid-owner 0x10', '--uid-owner 16'],
    ['--uid-owner 4294967294', '--uid-owner 4294967294'],
    ['! --uid-owner 0-10 --gid-owner 5 --suppl-groups ! --socket-exists', '! --socket-exists ! --uid-owner 0-10 --gid-owner 5 --suppl-groups'],
    ['--socket-exists --gid-owner 5 --uid-owner 7', '--socket-exists --uid-owner 7 --gid-owner 5'],
  ];
  for (const [w, s] of rows) assert.is(roundTrip(owner, w), s, w);
});

test('owner: rejected with iptables wording; names are refused with a clear message', () => {
  const rows: ReadonlyArray<readonly [string, string]> = [
    ['--suppl-groups', 'owner: Bad value for "--suppl-groups" option: "you need to use --gid-owner first"'],
    ['--suppl-groups --gid-owner 1', 'owner: Bad value for "--suppl-groups" option: "you need to use --gid-owner first"'],
    ['', 'owner: At least one of --uid-owner, --gid-owner or --socket-exists is required'],
    ['--uid-owner 4294967295', 'owner: Bad value for "--uid-owner" option: "4294967295"'], // -1 is reserved
    ['--uid-owner 5x', 'owner: Bad value for "--uid-owner" option: "5x"'],
    ['--gid-owner java', "owner: cannot resolve group name `java' (nfemu knows no user database; use the numeric id)"],
    ['--uid-owner root', "owner: cannot resolve user name `root' (nfemu knows no user database; use the numeric id)"],
    ['--uid-owner 1 --uid-owner 2', 'owner: option "--uid-owner" can only be used once.'],
  ];
  for (const [w, msg] of rows) assert.is(parseError(owner, w), msg, w);
});

function check(text: string, hooks: number[]): string | null {
  const env = { family: 4, table: 'filter', hooks: hooks.reduce((m, h) => m | (1 << h), 0), rule: null, sets: null } as unknown as CheckEnv;
  return owner.check!(parse(owner, text), env);
}

test('owner is valid from OUTPUT and POSTROUTING only; a reversed range is refused', () => {
  assert.is(check('--uid-owner 0', [NF_INET_LOCAL_OUT, NF_INET_POST_ROUTING]), null);
  assert.is(check('--uid-owner 0', []), null);
  assert.is(check('--uid-owner 0', [NF_INET_LOCAL_IN]), 'owner match: used from hooks INPUT, but only valid from OUTPUT/POSTROUTING');
  assert.ok(check('--uid-owner 10-5', [NF_INET_LOCAL_OUT]));
});

test('with a socket: fsuid / fsgid in range, xor ! per option', () => {
  const ctx = makeCtx(new States());
  const p = packet('192.168.1.10', '10.96.0.1');
  p.uid = 1337;
  p.gid = 1337;
  const rows: ReadonlyArray<readonly [string, boolean]> = [
    ['--uid-owner 1337', true],
    ['--uid-owner 0-1000', false],
    ['! --uid-owner 1337', false],
    ['! --uid-owner 0', true],
    ['--uid-owner 1000-2000 --gid-owner 1337', true],
    ['--uid-owner 1337 ! --gid-owner 1337', false],
    ['--socket-exists', true],
    ['! --socket-exists', false],
    ['--gid-owner 1 --suppl-groups', false], // nfemu models no supplementary groups
  ];
  for (const [opts, want] of rows) assert.is(matcher(owner, opts).match(p, ctx), want, opts);
});

test('without a socket: matches exactly when every option given is inverted', () => {
  const ctx = makeCtx(new States());
  const p = packet('10.0.0.1', '10.96.0.1'); // forwarded: uid -1
  const rows: ReadonlyArray<readonly [string, boolean]> = [
    ['--uid-owner 1337', false],
    ['! --uid-owner 1337', true],
    ['! --uid-owner 1337 ! --gid-owner 1', true],
    ['! --uid-owner 1337 --gid-owner 1', false],
    ['--socket-exists', false],
    ['! --socket-exists', true],
    ['! --gid-owner 1 --suppl-groups', false], // --suppl-groups is a non-inverted bit
  ];
  for (const [opts, want] of rows) assert.is(matcher(owner, opts).match(p, ctx), want, opts);
});

test.run();
