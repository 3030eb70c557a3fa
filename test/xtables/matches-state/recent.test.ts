/**
 * -m recent (revision 1): parse/print as iptables-nft 1.8.9 saves it, rejections, the
 * kernel's checkentry rules (Linux 6.x), and xt_recent.c behaviour: shared named tables,
 * timestamp windows and hit counts, update/remove/reap, masks, TTLs and the entry limit.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { getMatch, type CheckEnv, type Matcher } from '../../../src/xtables/ext.ts';
import { compileEnv, makeCtx, packet, parse, parseError, roundTrip, States, type Ctx } from './helpers.ts';

const recent = getMatch('recent')!;

test('recent: printed as iptables-nft-save prints it (name, mask and side always shown)', () => {
  const rows: ReadonlyArray<readonly [string, string]> = [
    ['--set', '--set --name DEFAULT --mask 255.255.255.255 --rsource'],
    ['--set --name ratessh --rsource', '--set --name ratessh --mask 255.255.255.255 --rsource'],
    ['--update --seconds 60 --hitcount 41 --name ratessh --rsource', '--update --seconds 60 --hitcount 41 --name ratessh --mask 255.255.255.255 --rsource'],
    ['--name x --rcheck --seconds 10 --reap --hitcount 5 --rttl --rdest --mask 255.255.0.0', '--rcheck --seconds 10 --reap --hitcount 5 --rttl --name x --mask 255.255.0.0 --rdest'],
    ['! --update --name y', '! --update --name y --mask 255.255.255.255 --rsource'],
    ['--remove', '--remove --name DEFAULT --mask 255.255.255.255 --rsource'],
    ['--set --rsource --rdest', '--set --name DEFAULT --mask 255.255.255.255 --rdest'], // the last side wins
    ['--update --mask 1.2.3.4', '--update --name DEFAULT --mask 1.2.3.4 --rsource'],
    ['--update --hitcount 0', '--update --name DEFAULT --mask 255.255.255.255 --rsource'],
  ];
  for (const [w, s] of rows) assert.is(roundTrip(recent, w), s, w);
  assert.is(roundTrip(recent, '--set', 6), '--set --name DEFAULT --mask ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff --rsource');
  assert.is(roundTrip(recent, '--set --mask ffff::', 6), '--set --name DEFAULT --mask ffff:: --rsource');
});

test('recent: rejected with iptables wording', () => {
  const rows: ReadonlyArray<readonly [string, string]> = [
    ['--rcheck --reap', 'recent: option "--reap" also requires "--seconds".'],
    ['--set --rcheck', 'recent: option "--set" cannot be used together with "--rcheck".'],
    ['--rcheck --set', 'recent: option "--set" cannot be used together with "--rcheck".'],
    ['--update --rcheck', 'recent: option "--rcheck" cannot be used together with "--update".'],
    ['--name x', "recent: you must specify one of `--set', `--rcheck' `--update' or `--remove'"],
    ['--update --seconds 0', 'recent: bad value for option "--seconds", or out of range (1-4294967295).'],
    ['--set --rttl', 'recent: option "--rttl" cannot be used together with "--set".'],
    ['--set --reap', 'recent: option "--reap" also requires "--seconds".'],
    ['--rcheck --name a --name b', 'recent: option "--name" can only be used once.'],
  ];
  for (const [w, msg] of rows) assert.is(parseError(recent, w), msg, w);
});

function check(text: string): string | null {
  return recent.check!(parse(recent, text), { family: 4, table: 'filter', hooks: 0, rule: null, sets: null } as unknown as CheckEnv);
}

test('recent checkentry (Linux 6.x): what the kernel refuses with EINVAL', () => {
  assert.is(check('--rcheck --hitcount 65535'), null, 'hitcounts up to 65535 since ip_pkt_list_tot became legacy');
  assert.is(check('--rcheck --hitcount 348'), null, 'corpus home-user: accepted by 6.18');
  assert.ok(check('--rcheck --hitcount 65536'));
  assert.ok(check('--set --seconds 5'), '--set takes no --seconds');
  assert.ok(check('--remove --hitcount 2'));
  assert.ok(check('--rcheck --name .'), 'name "."');
  assert.ok(check('--rcheck --name ..'));
  assert.ok(check('--rcheck --name a/b'));
  assert.is(check('--update --seconds 60 --name DEFAULT'), null);
});

/** Rules of one host sharing states; `at` runs a packet from `src` through a rule at a time. */
class Host {
  readonly states = new States();
  readonly ctx: Ctx = makeCtx(this.states);
  private n = 0;
  rule(text: string, family: 4 | 6 = 4): Matcher {
    return recent.compile(parse(recent, text, family), compileEnv(this.states, `filter/INPUT/${++this.n}`, family));
  }
  at(ms: number, m: Matcher, src: string, dst = '192.168.1.10', ttl = 64): boolean {
    this.ctx.nowMs = ms;
    const p = packet(src, dst);
    p.ttl = ttl;
    return m.match(p, this.ctx);
  }
}

test('--set records the source; --rcheck finds it, in any rule naming the same table', () => {
  const h = new Host();
  const set = h.rule('--set --name ssh');
  const check = h.rule('--rcheck --name ssh');
  const other = h.rule('--rcheck --name web');
  assert.is(h.at(0, check, '10.0.0.1'), false, 'empty table');
  assert.is(h.at(0, set, '10.0.0.1'), true, '--set always matches');
  assert.is(h.at(1, check, '10.0.0.1'), true);
  assert.is(h.at(1, check, '10.0.0.2'), false, 'another source');
  assert.is(h.at(1, other, '10.0.0.1'), false, 'another table');
  assert.is(h.at(1, h.rule('! --rcheck --name ssh'), '10.0.0.2'), true, '! matches an absent address');
});

test('SSH brute-force pattern: --update --seconds 60 --hitcount 4 matches the 4th packet in 60 s', () => {
  const h = new Host();
  const set = h.rule('--set --name SSH');
  const upd = h.rule('--update --seconds 60 --hitcount 4 --name SSH');
  const seen: boolean[] = [];
  for (const t of [0, 10_000, 20_000, 30_000, 40_000]) {
    h.at(t, set, '10.0.0.9');
    seen.push(h.at(t, upd, '10.0.0.9'));
  }
  assert.equal(seen, [false, false, false, true, true]);
  // 61 s after the last packet only the new stamp is in the window.
  h.at(101_001, set, '10.0.0.9');
  assert.is(h.at(101_001, upd, '10.0.0.9'), false);
});

test('--seconds window: a stamp counts while it is no older than the window', () => {
  const h = new Host();
  const set = h.rule('--set');
  const chk = h.rule('--rcheck --seconds 10');
  h.at(5_000, set, '10.0.0.1');
  assert.is(h.at(15_000, chk, '10.0.0.1'), true, 'exactly 10 s old');
  assert.is(h.at(15_001, chk, '10.0.0.1'), false, 'older');
  assert.is(h.at(15_001, h.rule('--rcheck'), '10.0.0.1'), true, 'no window: any stamp');
});

test('--update refreshes only when it matches; --rcheck never records', () => {
  const h = new Host();
  const set = h.rule('--set');
  const upd = h.rule('--update --seconds 10');
  const chk = h.rule('--rcheck --seconds 10');
  h.at(0, set, '10.0.0.1');
  assert.is(h.at(8_000, chk, '10.0.0.1'), true);
  assert.is(h.at(16_000, chk, '10.0.0.1'), false, 'rcheck at 8 s recorded nothing');
  h.at(20_000, set, '10.0.0.1');
  assert.is(h.at(28_000, upd, '10.0.0.1'), true);
  assert.is(h.at(36_000, upd, '10.0.0.1'), true, 'the update at 28 s recorded a stamp');
});

test('--remove drops the entry (and matches only if there was one)', () => {
  const h = new Host();
  const set = h.rule('--set');
  const rm = h.rule('--remove');
  const chk = h.rule('--rcheck');
  h.at(0, set, '10.0.0.1');
  assert.is(h.at(1, rm, '10.0.0.1'), true);
  assert.is(h.at(2, rm, '10.0.0.1'), false);
  assert.is(h.at(3, chk, '10.0.0.1'), false);
});

test('--rdest keys by destination; the table mask is the first rule\'s', () => {
  const h = new Host();
  const set = h.rule('--set --name scan --mask 255.255.255.0');
  const chk = h.rule('--rcheck --name scan'); // its own mask (/32) is ignored: the table has /24
  h.at(0, set, '10.0.0.1');
  assert.is(h.at(1, chk, '10.0.0.77'), true, 'same /24');
  assert.is(h.at(1, chk, '10.0.1.1'), false);
  const h2 = new Host();
  h2.at(0, h2.rule('--set --rdest'), '10.0.0.1', '192.168.1.10');
  assert.is(h2.at(1, h2.rule('--rcheck --rsource'), '192.168.1.10'), true, 'the destination was recorded');
});

test('--hitcount beyond the default 32 stamps: the ring grows to roundup_pow_of_two(hitcount)', () => {
  const h = new Host();
  const set = h.rule('--set');
  const chk = h.rule('--rcheck --hitcount 40');
  for (let i = 0; i < 39; i++) h.at(i, set, '10.0.0.1');
  assert.is(h.at(100, chk, '10.0.0.1'), false, '39 stamps');
  h.at(101, set, '10.0.0.1');
  assert.is(h.at(102, chk, '10.0.0.1'), true, '40 stamps kept');
});

test('a table holds ip_list_tot = 100 addresses and drops the least recently used', () => {
  const h = new Host();
  const set = h.rule('--set');
  const chk = h.rule('--rcheck');
  for (let i = 0; i < 100; i++) h.at(i, set, `10.0.${i >> 8}.${i & 255}`);
  h.at(200, set, '10.0.0.0'); // refresh the oldest: 10.0.0.1 becomes least recently used
  h.at(300, set, '10.9.9.9'); // the 101st address
  assert.is(h.at(400, chk, '10.0.0.0'), true);
  assert.is(h.at(400, chk, '10.0.0.1'), false, 'evicted');
  assert.is(h.at(400, chk, '10.0.0.2'), true);
});

test('--reap drops the least recently used entry once its newest stamp leaves the window', () => {
  const h = new Host();
  const set = h.rule('--set');
  h.at(0, set, '10.0.0.1');
  h.at(50_000, set, '10.0.0.2');
  assert.is(h.at(65_000, h.rule('--rcheck --seconds 10 --reap'), '10.0.0.2'), false, 'out of the window');
  assert.is(h.at(65_000, h.rule('--rcheck'), '10.0.0.1'), false, '10.0.0.1 was reaped');
  assert.is(h.at(65_000, h.rule('--rcheck'), '10.0.0.2'), true, 'only the LRU head is reaped');
});

test('--rttl: the entry\'s TTL must equal the packet\'s', () => {
  const h = new Host();
  h.at(0, h.rule('--set'), '10.0.0.1', '192.168.1.10', 64);
  const chk = h.rule('--rcheck --rttl');
  assert.is(h.at(1, chk, '10.0.0.1', '192.168.1.10', 64), true);
  assert.is(h.at(1, chk, '10.0.0.1', '192.168.1.10', 63), false);
  assert.is(h.at(1, h.rule('--rcheck'), '10.0.0.1', '192.168.1.10', 63), true, 'without --rttl any TTL');
});

test('IPv6 addresses are recorded and compared on all four words', () => {
  const h = new Host();
  h.at(0, h.rule('--set --name both', 6), '2001:db8::1');
  assert.is(h.at(1, h.rule('--rcheck --name both', 6), '2001:db8::1'), true);
  assert.is(h.at(1, h.rule('--rcheck --name both', 6), '2001:db8::2'), false);
});

test.run();
