/**
 * -m nfacct, connlimit, helper, socket, cgroup, string and u32: parse/print as
 * iptables-nft 1.8.9 saves them, rejections, checks, and behaviour where nfemu models it
 * (cgroup, string and u32 compile to UNSUPPORTED).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { NfemuError } from '../../../src/core/index.ts';
import { IP_CT_ESTABLISHED, IP_CT_NEW, IPS_CONFIRMED, NF_INET_FORWARD, NF_INET_LOCAL_IN, NF_INET_LOCAL_OUT, NF_INET_PRE_ROUTING } from '../../../src/netfilter/index.ts';
import { TCP_CONNTRACK_ESTABLISHED, TCP_CONNTRACK_TIME_WAIT, type Conn, type ConntrackTable } from '../../../src/conntrack/index.ts';
import { getMatch, type CheckEnv, type MatchExt } from '../../../src/xtables/ext.ts';
import { compileEnv, conn, makeCtx, matcher, packet, parse, parseError, roundTrip, States } from './helpers.ts';

const nfacct = getMatch('nfacct')!;
const connlimit = getMatch('connlimit')!;
const helper = getMatch('helper')!;
const socket = getMatch('socket')!;
const cgroup = getMatch('cgroup')!;
const string = getMatch('string')!;
const u32 = getMatch('u32')!;

function check(ext: MatchExt, text: string, hooks: number[]): string | null {
  const env = { family: 4, table: 'filter', hooks: hooks.reduce((m, h) => m | (1 << h), 0), rule: null, sets: null } as unknown as CheckEnv;
  return ext.check!(parse(ext, text), env);
}

function unsupported(ext: MatchExt, text: string): string {
  try {
    ext.compile(parse(ext, text), compileEnv(new States()));
  } catch (e) {
    assert.ok(e instanceof NfemuError);
    assert.is((e as NfemuError).code, 'UNSUPPORTED');
    return (e as NfemuError).message;
  }
  throw new Error('compile did not throw');
}

test('nfacct: printed back; always matches and counts packets and bytes per name', () => {
  assert.is(roundTrip(nfacct, '--nfacct-name http-in'), '--nfacct-name http-in');
  assert.is(parseError(nfacct, ''), 'nfacct: option "--nfacct-name" must be specified');
  const states = new States();
  const ctx = makeCtx(states);
  const a = matcher(nfacct, '--nfacct-name x', states, 'filter/INPUT/1');
  const b = matcher(nfacct, '--nfacct-name x', states, 'filter/OUTPUT/1');
  const p = packet('10.0.0.1', '10.0.0.2');
  p.length = 100;
  assert.ok(a.match(p, ctx));
  assert.ok(b.match(p, ctx));
  const c = states.slots[0] as unknown as { packets: number; bytes: number };
  assert.is(c.packets, 2, 'one object shared by both rules');
  assert.is(c.bytes, 200);
});

test('connlimit: printed as saved (upto/above, mask length, saddr/daddr always shown)', () => {
  const rows: ReadonlyArray<readonly [string, string]> = [
    ['--connlimit-above 6298 --connlimit-mask 32 --connlimit-saddr', '--connlimit-above 6298 --connlimit-mask 32 --connlimit-saddr'],
    ['--connlimit-above 3', '--connlimit-above 3 --connlimit-mask 32 --connlimit-saddr'],
    ['--connlimit-upto 3 --connlimit-mask 24 --connlimit-daddr', '--connlimit-upto 3 --connlimit-mask 24 --connlimit-daddr'],
    ['! --connlimit-upto 3', '--connlimit-above 3 --connlimit-mask 32 --connlimit-saddr'],
    ['! --connlimit-above 3', '--connlimit-upto 3 --connlimit-mask 32 --connlimit-saddr'],
    ['--connlimit-above 3 --connlimit-mask 255.255.255.0', '--connlimit-above 3 --connlimit-mask 24 --connlimit-saddr'],
    ['--connlimit-above 3 --connlimit-mask 33', '--connlimit-above 3 --connlimit-mask 32 --connlimit-saddr'],
  ];
  for (const [w, s] of rows) assert.is(roundTrip(connlimit, w), s, w);
  assert.is(roundTrip(connlimit, '--connlimit-above 3', 6), '--connlimit-above 3 --connlimit-mask 128 --connlimit-saddr');
  const rejects: ReadonlyArray<readonly [string, string]> = [
    ['', 'You must specify "--connlimit-above" or "--connlimit-upto".'],
    ['--connlimit-mask 24', 'You must specify "--connlimit-above" or "--connlimit-upto".'],
    ['--connlimit-above 3 --connlimit-upto 4', 'connlimit: option "--connlimit-upto" cannot be used together with "--connlimit-above".'],
    ['--connlimit-above 3 --connlimit-saddr --connlimit-daddr', 'connlimit: option "--connlimit-saddr" cannot be used together with "--connlimit-daddr".'],
  ];
  for (const [w, msg] of rejects) assert.is(parseError(connlimit, w), msg, w);
});

/** A conntrack table that only lists entries (what connlimit reads). */
const tableOf = (entries: Conn[]) => ({ entries: () => entries }) as unknown as ConntrackTable;

test('connlimit: counts entries of the masked source, including the packet\'s own new one', () => {
  const est = (src: string, sport: number) => {
    const c = conn([src, sport, '192.168.1.10', 22], { status: IPS_CONFIRMED });
    c.tcpState = TCP_CONNTRACK_ESTABLISHED;
    return c;
  };
  const entries = [est('10.0.0.1', 1000), est('10.0.0.1', 1001), est('10.0.0.2', 1002)];
  const ctx = makeCtx(new States(), tableOf(entries));
  const own = conn(['10.0.0.1', 1003, '192.168.1.10', 22]); // unconfirmed: not listed yet
  const p = packet('10.0.0.1', '192.168.1.10', 6, 1003, 22);
  p.ct = own;
  p.ctinfo = IP_CT_NEW;
  // 10.0.0.1 has 2 listed + this one = 3 connections; with /24 the key 10.0.0.0 has 4.
  const rows: ReadonlyArray<readonly [string, boolean]> = [
    ['--connlimit-above 2', true],
    ['--connlimit-above 3', false],
    ['--connlimit-upto 3', true],
    ['--connlimit-upto 2', false],
    ['--connlimit-above 3 --connlimit-mask 24', true],
    ['--connlimit-above 4 --connlimit-mask 24', false],
    ['--connlimit-above 0 --connlimit-daddr', true],
  ];
  for (const [opts, want] of rows) assert.is(matcher(connlimit, opts).match(p, ctx), want, opts);
  // A packet of a listed connection is not counted twice; TIME_WAIT entries do not count.
  const q = packet('10.0.0.1', '192.168.1.10', 6, 1000, 22);
  q.ct = entries[0]!;
  q.ctinfo = IP_CT_ESTABLISHED;
  assert.is(matcher(connlimit, '--connlimit-above 2').match(q, ctx), false, '2 connections');
  entries[1]!.tcpState = TCP_CONNTRACK_TIME_WAIT;
  assert.is(matcher(connlimit, '--connlimit-above 1').match(q, ctx), false, 'TIME_WAIT not counted');
});

test('helper: printed back (names cut to 29 bytes); matches the master connection\'s helper by prefix', () => {
  assert.is(roundTrip(helper, '--helper ftp'), '--helper ftp');
  assert.is(roundTrip(helper, '! --helper ftp-2121'), '! --helper ftp-2121');
  assert.is(roundTrip(helper, '--helper aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'), '--helper aaaaaaaaaaaaaaaaaaaaaaaaaaaaa');
  assert.is(parseError(helper, ''), 'helper: option "--helper" must be specified');
  const ctx = makeCtx(new States());
  const data = conn(['10.0.0.1', 40001, '192.168.1.10', 20]) as Conn & { master?: unknown };
  const p = packet('10.0.0.1', '192.168.1.10');
  p.ct = data;
  p.ctinfo = IP_CT_ESTABLISHED;
  assert.is(matcher(helper, '--helper ftp').match(p, ctx), false, 'no master');
  assert.is(matcher(helper, '! --helper ftp').match(p, ctx), true, 'no master gives !');
  data.master = Object.assign(conn(['10.0.0.1', 40000, '192.168.1.10', 21]), { helper: 'ftp' });
  assert.is(matcher(helper, '--helper ftp').match(p, ctx), true);
  assert.is(matcher(helper, '--helper ftp-2121').match(p, ctx), true, 'strncmp over strlen("ftp")');
  assert.is(matcher(helper, '--helper ft').match(p, ctx), false);
  assert.is(matcher(helper, '--helper sip').match(p, ctx), false);
});

test('socket: printed back, PREROUTING/INPUT only, asks the host with its flags', () => {
  assert.is(roundTrip(socket, ''), '');
  assert.is(roundTrip(socket, '--restore-skmark --nowildcard --transparent'), '--transparent --nowildcard --restore-skmark');
  assert.is(check(socket, '', [NF_INET_PRE_ROUTING, NF_INET_LOCAL_IN]), null);
  assert.is(check(socket, '', [NF_INET_LOCAL_OUT]), 'socket match: used from hooks OUTPUT, but only valid from PREROUTING/INPUT');
  assert.is(check(socket, '', [NF_INET_FORWARD]), 'socket match: used from hooks FORWARD, but only valid from PREROUTING/INPUT');
  const ctx = makeCtx(new States());
  ctx.host.socket = true;
  assert.ok(matcher(socket, '--transparent').match(packet('10.0.0.1', '10.0.0.2'), ctx));
  assert.equal(ctx.host.lastSocketQuery, [true, false]);
  ctx.host.socket = false;
  assert.not.ok(matcher(socket, '--nowildcard').match(packet('10.0.0.1', '10.0.0.2'), ctx));
  assert.equal(ctx.host.lastSocketQuery, [false, true]);
});

test('cgroup: printed back, checked, UNSUPPORTED at compile', () => {
  assert.is(roundTrip(cgroup, '--cgroup 5'), '--cgroup 5');
  assert.is(roundTrip(cgroup, '! --cgroup 0x10'), '! --cgroup 16');
  assert.is(roundTrip(cgroup, '--path /sys/a'), '--path /sys/a');
  assert.is(check(cgroup, '', [NF_INET_LOCAL_OUT]), 'cgroup: no path or classid specified');
  assert.is(check(cgroup, '--path a --cgroup 1', [NF_INET_LOCAL_OUT]), 'cgroup: path and classid specified');
  assert.is(check(cgroup, '--cgroup 1', [NF_INET_FORWARD]), 'cgroup match: used from hooks FORWARD, but only valid from INPUT/OUTPUT/POSTROUTING');
  assert.match(unsupported(cgroup, '--cgroup 1'), 'cgroup');
});

test('string: printed back (hex when not printable, --to unless 65535), rejections, UNSUPPORTED', () => {
  const rows: ReadonlyArray<readonly [string, string]> = [
    ['--string foo --algo bm', '--string "foo" --algo bm'],
    ['! --string "a b" --algo kmp --from 5 --to 100 --icase', '! --string "a b" --algo kmp --from 5 --to 100 --icase'],
    ['--hex-string "|41 42|c" --algo bm', '--string "ABc" --algo bm'],
    ['--hex-string "|00 01|ab" --algo kmp --to 100', '--hex-string "|00016162|" --algo kmp --to 100'],
    ['--string "a\\"b" --algo bm', '--string "a\\"b" --algo bm'],
    ['--string foo --algo bm --to 65535', '--string "foo" --algo bm'],
    ['--string foo --algo bm --to 0 --from 0', '--string "foo" --algo bm --to 0'],
  ];
  for (const [w, s] of rows) assert.is(roundTrip(string, w), s, w);
  const rejects: ReadonlyArray<readonly [string, string]> = [
    ['--string foo', 'string: option "--algo" must be specified'],
    ['--algo bm', "STRING match: You must specify `--string' or `--hex-string'"],
    ['--string foo --hex-string "|41|" --algo bm', 'string: option "--string" cannot be used together with "--hex-string".'],
    ['--hex-string "|4|" --algo bm', 'Invalid hex block'],
  ];
  for (const [w, msg] of rejects) assert.is(parseError(string, w), msg, w);
  assert.ok(check(string, '--string foo --algo bm --from 10 --to 5', []), 'from beyond to');
  assert.ok(check(string, '--string foo --algo xyz', []), 'unknown algorithm');
  assert.is(check(string, '--string foo --algo kmp', []), null);
  assert.match(unsupported(string, '--string foo --algo bm'), 'string');
});

test('u32: printed back in hex without spaces, rejections, UNSUPPORTED', () => {
  const rows: ReadonlyArray<readonly [string, string]> = [
    ['--u32 "0>>22&0x3C@12>>26&0x3C@0=0x1000000"', '--u32 "0x0>>0x16&0x3c@0xc>>0x1a&0x3c@0x0=0x1000000"'],
    ['! --u32 "6&0xFF=1:0x11 && 0=5"', '! --u32 "0x6&0xff=0x1:0x11&&0x0=0x5"'],
    ['--u32 "0 = 1"', '--u32 "0x0=0x1"'],
    ['--u32 "0=1,5:6"', '--u32 "0x0=0x1,0x5:0x6"'],
  ];
  for (const [w, s] of rows) assert.is(roundTrip(u32, w), s, w);
  assert.is(parseError(u32, '--u32 "0=1&&"'), 'u32: abrupt end of input after location specifier');
  // iptables says "u32: at char 22: too many operators"; nfemu's character position may differ.
  assert.match(parseError(u32, '--u32 "0@1@2@3@4@5@6@7@8@9@10@11=1"') ?? '', /^u32: at char \d+: too many operators$/);
  assert.match(unsupported(u32, '--u32 "0=1"'), 'u32');
});

test.run();
