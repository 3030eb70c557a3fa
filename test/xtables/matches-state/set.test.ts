/**
 * -m set (revision 4): parse/print as iptables-nft 1.8.9 saves it, rejections, the
 * existence check, and match behaviour through an IpsetHandle (directions, family and
 * dimension rules of ip_set_test, inversion).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { NfemuError } from '../../../src/core/index.ts';
import type { Packet } from '../../../src/packet/index.ts';
import { getMatch, type CheckEnv, type IpsetHandle, type IpsetView } from '../../../src/xtables/ext.ts';
import { compileEnv, makeCtx, packet, parse, parseError, roundTrip, States } from './helpers.ts';

const set = getMatch('set')!;

test('set: printed as iptables-nft-save prints it', () => {
  const rows: ReadonlyArray<readonly [string, string]> = [
    ['--match-set azure-npm-2173871756 dst', '--match-set azure-npm-2173871756 dst'],
    ['! --match-set s1 src', '! --match-set s1 src'],
    ['--match-set s2 dst,dst', '--match-set s2 dst,dst'],
    ['! --match-set s1 dst --return-nomatch ! --update-counters ! --update-subcounters --packets-gt 5 ! --bytes-eq 100',
      '! --match-set s1 dst --return-nomatch ! --update-counters ! --update-subcounters --packets-gt 5 ! --bytes-eq 100'],
    ['--match-set s2 src,dst --packets-lt 3 --bytes-gt 7', '--match-set s2 src,dst --packets-lt 3 --bytes-gt 7'],
    ['--match-set s2 dst,dst,src,src,dst,src', '--match-set s2 dst,dst,src,src,dst,src'],
    ['--set s1 src', '--match-set s1 src'], // deprecated spelling
    ['--match-set s1 src --update-counters', '--match-set s1 src'], // the default, not printed
    ['--match-set s1 src --packets-eq 18446744073709551615', '--match-set s1 src --packets-eq 18446744073709551615'],
  ];
  for (const [w, s] of rows) assert.is(roundTrip(set, w), s, w);
});

test('set: rejected with iptables wording (sic: "spefify")', () => {
  const rows: ReadonlyArray<readonly [string, string]> = [
    ['--match-set s2 dst,dst,src,src,dst,src,src', "Can't be more src/dst options than 6."],
    ['--match-set s1 foo', "You must spefify (the comma separated list of) 'src' or 'dst'."],
    ['--match-set s1 source', "You must spefify (the comma separated list of) 'src' or 'dst'."],
    ['--match-set s1 src,', "You must spefify (the comma separated list of) 'src' or 'dst'."],
    ['--match-set s1 src --match-set s2 dst', '--match-set can be specified only once'],
    ['--match-set s1 src --packets-eq 1 --packets-gt 2', 'only one of the --packets-[eq|lt|gt] is allowed'],
    ['--return-nomatch', "You must specify `--match-set' with proper arguments"],
    ['--match-set aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa src', "setname `aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa' too long, max 31 characters."],
  ];
  for (const [w, msg] of rows) assert.is(parseError(set, w), msg, w);
});

/** A set holding source addresses (or address,port pairs) by text, recording what it was asked. */
class FakeSet implements IpsetHandle {
  readonly typeName: string;
  asked: number[][] = [];
  constructor(readonly name: string, readonly family: 4 | 6 | 0, readonly dimensions: number, private readonly has: (p: Packet, dirs: Uint8Array) => boolean) {
    this.typeName = dimensions === 1 ? 'hash:net' : 'hash:ip,port';
  }
  test(pkt: Packet, dirs: Uint8Array): boolean {
    this.asked.push(Array.from(dirs));
    return this.has(pkt, dirs);
  }
  add(): void {}
  del(): void {}
}

const view = (...sets: FakeSet[]): IpsetView => ({ get: (n) => sets.find((s) => s.name === n) ?? null });

test('set exists check: check() with loaded sets, compile() always', () => {
  const env = (sets: IpsetView | null) => ({ family: 4, table: 'filter', hooks: 0, rule: null, sets }) as unknown as CheckEnv;
  const d = parse(set, '--match-set nosuch src');
  assert.is(set.check!(d, env(view())), "Set nosuch doesn't exist.");
  assert.is(set.check!(d, env(null)), null, 'no sets loaded: not checked');
  try {
    set.compile(d, compileEnv(new States(), 'filter/INPUT/1', 4, view()));
    assert.unreachable('compile should throw');
  } catch (e) {
    assert.ok(e instanceof NfemuError);
    assert.is((e as NfemuError).code, 'VALIDATE');
    assert.is((e as NfemuError).message, "Set nosuch doesn't exist.");
  }
});

test('match: the set is asked along the directions given; ! inverts', () => {
  const s = new FakeSet('allowed', 4, 1, (p, dirs) => (dirs[0] ? p.saddr[0] : p.daddr[0]) === 0x0a000001);
  const states = new States();
  const ctx = makeCtx(states);
  const m = (opts: string) => set.compile(parse(set, opts), compileEnv(states, 'filter/INPUT/1', 4, view(s)));
  const from = packet('10.0.0.1', '10.0.0.2');
  const to = packet('10.0.0.2', '10.0.0.1');
  assert.is(m('--match-set allowed src').match(from, ctx), true);
  assert.is(m('--match-set allowed src').match(to, ctx), false);
  assert.is(m('--match-set allowed dst').match(to, ctx), true);
  assert.is(m('! --match-set allowed src').match(to, ctx), true);
  assert.equal(s.asked, [[1], [1], [0], [1]]);
});

test('ip_set_test: fewer directions than the set has dimensions, or another family, never match', () => {
  const pairs = new FakeSet('svc', 4, 2, () => true);
  const v6 = new FakeSet('six', 6, 1, () => true);
  const states = new States();
  const ctx = makeCtx(states);
  const m = (opts: string) => set.compile(parse(set, opts), compileEnv(states, 'filter/INPUT/1', 4, view(pairs, v6)));
  const p = packet('10.0.0.1', '10.0.0.2');
  assert.is(m('--match-set svc dst').match(p, ctx), false, '1 direction for a 2-dimensional set');
  assert.is(m('! --match-set svc dst').match(p, ctx), true);
  assert.is(m('--match-set svc dst,dst').match(p, ctx), true);
  assert.is(m('--match-set svc dst,dst,src').match(p, ctx), true, 'extra directions are ignored by the set');
  assert.is(m('--match-set six src').match(p, ctx), false, 'an IPv6 set never holds an IPv4 packet');
  assert.equal(pairs.asked, [[0, 0], [0, 0, 1]]);
});

test.run();
