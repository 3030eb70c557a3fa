/**
 * -m addrtype (revision 1): parse/print as iptables-nft 1.8.9 saves it, rejections, the
 * kernel's checkentry rules, and xt_addrtype.c behaviour for IPv4 and IPv6.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { NF_INET_FORWARD, NF_INET_LOCAL_IN, NF_INET_LOCAL_OUT, NF_INET_POST_ROUTING, NF_INET_PRE_ROUTING } from '../../../src/netfilter/index.ts';
import { getMatch, RTN_BROADCAST, RTN_LOCAL, RTN_UNREACHABLE, type CheckEnv } from '../../../src/xtables/ext.ts';
import type { Family } from '../../../src/core/index.ts';
import { makeCtx, matcher, packet, parse, parseError, roundTrip, States } from './helpers.ts';

const addrtype = getMatch('addrtype')!;

test('addrtype: printed as iptables-nft-save prints it (types in RTN order)', () => {
  const rows: ReadonlyArray<readonly [string, string]> = [
    ['--dst-type LOCAL', '--dst-type LOCAL'],
    ['! --dst-type LOCAL', '! --dst-type LOCAL'],
    ['--src-type LOCAL,unicast ! --dst-type broadcast,MULTICAST,blackhole,unreachable,prohibit,throw,nat,xresolve,anycast,unspec',
      '--src-type UNICAST,LOCAL ! --dst-type UNSPEC,BROADCAST,ANYCAST,MULTICAST,BLACKHOLE,UNREACHABLE,PROHIBIT,THROW,NAT,XRESOLVE'],
    ['--dst-type LOC', '--dst-type LOCAL'],
    ['--limit-iface-in --dst-type LOCAL', '--dst-type LOCAL --limit-iface-in'],
    ['--dst-type LOCAL --limit-iface-out', '--dst-type LOCAL --limit-iface-out'],
  ];
  for (const [w, s] of rows) assert.is(roundTrip(addrtype, w), s, w);
});

test('addrtype: rejected with iptables wording', () => {
  const rows: ReadonlyArray<readonly [string, string]> = [
    ['--dst-type LOCAL --limit-iface-out --limit-iface-in', 'addrtype: option "--limit-iface-in" cannot be used together with "--limit-iface-out".'],
    ['', 'addrtype: you must specify --src-type or --dst-type'],
    ['--limit-iface-in', 'addrtype: you must specify --src-type or --dst-type'],
    ['--dst-type FOO', 'addrtype: bad type "FOO"'],
    ['--dst-type LOCAL,', 'addrtype: bad type ""'],
    ['--dst-type LOCAL --dst-type UNICAST', 'addrtype: option "--dst-type" can only be used once.'],
  ];
  for (const [w, msg] of rows) assert.is(parseError(addrtype, w), msg, w);
});

function check(text: string, hooks: number[], family: Family = 4): string | null {
  const env = { family, table: 'filter', hooks: hooks.reduce((m, h) => m | (1 << h), 0), rule: null, sets: null } as unknown as CheckEnv;
  return addrtype.check!(parse(addrtype, text, family), env);
}

test('addrtype checkentry: interface limits by hook, IPv6 types the kernel refuses', () => {
  assert.is(check('--dst-type LOCAL --limit-iface-in', [NF_INET_PRE_ROUTING, NF_INET_LOCAL_IN, NF_INET_FORWARD]), null);
  assert.is(check('--dst-type LOCAL --limit-iface-in', [NF_INET_LOCAL_OUT]), 'addrtype: input interface limitation not valid in POSTROUTING and OUTPUT');
  assert.is(check('--dst-type LOCAL --limit-iface-in', [NF_INET_POST_ROUTING]), 'addrtype: input interface limitation not valid in POSTROUTING and OUTPUT');
  assert.is(check('--dst-type LOCAL --limit-iface-out', [NF_INET_LOCAL_OUT, NF_INET_POST_ROUTING, NF_INET_FORWARD]), null);
  assert.is(check('--dst-type LOCAL --limit-iface-out', [NF_INET_LOCAL_IN]), 'addrtype: output interface limitation not valid in PREROUTING and INPUT');
  assert.is(check('--dst-type LOCAL --limit-iface-out', []), null, 'an unreachable chain has no hook restriction');
  assert.is(check('--dst-type BLACKHOLE', [], 6), 'addrtype: ipv6 BLACKHOLE matching not supported');
  assert.is(check('--src-type THROW', [], 6), 'addrtype: ipv6 PROHIBIT (THROW, NAT ..) matching not supported');
  assert.is(check('--dst-type BROADCAST', [], 6), 'addrtype: ipv6 does not support BROADCAST matching');
  assert.is(check('--dst-type BROADCAST', [], 4), null);
  assert.is(check('--dst-type LOCAL,UNICAST,MULTICAST,ANYCAST,UNREACHABLE,UNSPEC', [], 6), null);
});

test('IPv4: the route type of each address (inet_dev_addr_type) is tested, ! per side', () => {
  const states = new States();
  const ctx = makeCtx(states);
  ctx.host.types.set('192.168.1.10', RTN_LOCAL);
  ctx.host.types.set('192.168.1.255', RTN_BROADCAST);
  const toLocal = packet('10.0.0.1', '192.168.1.10');
  const toBcast = packet('10.0.0.1', '192.168.1.255');
  const fromLocal = packet('192.168.1.10', '8.8.8.8');
  const rows: ReadonlyArray<readonly [string, typeof toLocal, boolean]> = [
    ['--dst-type LOCAL', toLocal, true],
    ['--dst-type LOCAL', toBcast, false],
    ['! --dst-type LOCAL', toBcast, true],
    ['--dst-type LOCAL,BROADCAST', toBcast, true],
    ['--dst-type UNICAST', toBcast, false],
    ['--src-type LOCAL', fromLocal, true],
    ['--src-type LOCAL ! --dst-type LOCAL', fromLocal, true],
    ['--src-type LOCAL --dst-type LOCAL', fromLocal, false],
    ['! --src-type UNICAST --dst-type UNICAST', toLocal, false], // source 10.0.0.1 is unicast
  ];
  for (const [opts, p, want] of rows) assert.is(matcher(addrtype, opts, states).match(p, ctx), want, opts);
});

test('--limit-iface-in/out ask about the address as seen on the in/out device', () => {
  const ctx = makeCtx(new States());
  ctx.host.types.set('192.168.1.10%eth1', RTN_LOCAL); // local only when asked about eth1
  const p = packet('10.0.0.1', '192.168.1.10');
  p.inIface = 'eth0';
  p.outIface = 'eth1';
  assert.is(matcher(addrtype, '--dst-type LOCAL --limit-iface-in').match(p, ctx), false, 'asked about eth0');
  assert.is(matcher(addrtype, '--dst-type LOCAL --limit-iface-out').match(p, ctx), true, 'asked about eth1');
  p.inIface = '';
  assert.is(matcher(addrtype, '--dst-type UNICAST --limit-iface-in').match(p, ctx), true, 'no in device: no restriction');
});

test('IPv6 (match_type6): the listed types are requirements that must all hold', () => {
  const ctx = makeCtx(new States());
  const m6 = (opts: string) => matcher(addrtype, opts, new States(), undefined, 6);
  const mcast = packet('fd00::1', 'ff02::1');
  assert.ok(m6('--dst-type MULTICAST').match(mcast, ctx));
  assert.not.ok(m6('--dst-type UNICAST').match(mcast, ctx));
  assert.not.ok(m6('--dst-type UNICAST,MULTICAST').match(mcast, ctx), 'both required: never');
  assert.ok(m6('--dst-type UNICAST').match(packet('fd00::1', '2001:db8::1'), ctx));
  assert.ok(m6('--src-type UNSPEC').match(packet('::', 'ff02::1'), ctx));
  assert.not.ok(m6('--src-type UNICAST').match(packet('::ffff:10.0.0.1', 'ff02::1'), ctx), 'v4-mapped is not unicast');
  assert.ok(m6('--src-type UNICAST').match(packet('::1', 'ff02::1'), ctx), 'loopback is unicast');
  // LOCAL / UNREACHABLE come from the route lookup.
  const local = packet('2001:db8::1', 'fd00::10');
  ctx.host.types.set(Array.from(local.daddr).join(':'), RTN_LOCAL);
  assert.ok(m6('--dst-type LOCAL').match(local, ctx));
  assert.ok(m6('--dst-type UNICAST,LOCAL').match(local, ctx));
  assert.not.ok(m6('--dst-type UNREACHABLE').match(local, ctx));
  ctx.host.types.set(Array.from(local.daddr).join(':'), RTN_UNREACHABLE);
  assert.ok(m6('--dst-type UNREACHABLE').match(local, ctx));
});

test.run();
