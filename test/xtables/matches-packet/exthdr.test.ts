/**
 * IPv6 extension-header matches and the upper-layer headers nfemu packets do not carry.
 * The kernel's frag/rt/hbh/dst/ah (IPv6) matches look the header up with ipv6_find_hdr() and
 * return false when it is absent, before `!` is applied: they never match, negated or not.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { NfemuError } from '../../../src/core/index.ts';
import { checkWith, compiled, pkt } from './helpers.ts';

const s = suite('IPv6 extension headers are absent on nfemu packets');
const never: Array<[string, string]> = [
  ['frag', '--fragid 5'],
  ['frag', '! --fragid 5'],
  ['frag', ''],
  ['rt', '--rt-type 0 --rt-segsleft 0'],
  ['rt', '! --rt-type 0'],
  ['hbh', '! --hbh-len 0'],
  ['dst', '--dst-opts 1'],
  ['ah', '! --ahspi 5'],
  ['ah', ''],
];
for (const [mod, tokens] of never) {
  s(`-m ${mod} ${tokens} never matches`, () => {
    const { m, ctx } = compiled(mod, tokens.split(' ').filter(Boolean), { family: 6 });
    assert.is(m.match(pkt({ family: 6, proto: 6 }), ctx), false);
    assert.is(m.match(pkt({ family: 6, proto: 6, fragment: true }), ctx), false);
  });
}
s.run();

const u = suite('upper-layer headers nfemu does not model (esp, IPv4 ah, mh)');
u('esp without an SPI restriction matches every first fragment', () => {
  const { m, ctx } = compiled('esp', [], { proto: 'esp' });
  assert.is(m.match(pkt({ proto: 50 }), ctx), true);
  assert.is(m.match(pkt({ proto: 50, fragment: true }), ctx), false);
});
u('! --espspi 0:4294967295 keeps the inversion: never matches', () => {
  const { m, ctx } = compiled('esp', ['!', '--espspi', '0:4294967295'], { proto: 'esp' });
  assert.is(m.match(pkt({ proto: 50 }), ctx), false);
});
for (const [mod, tokens, family, proto] of [
  ['esp', '--espspi 500', 4, 'esp'],
  ['ah', '--ahspi 5', 4, 'ah'],
  ['mh', '--mh-type 5', 6, 'mh'],
] as const) {
  u(`-m ${mod} ${tokens} is refused at compile (UNSUPPORTED)`, () => {
    try {
      compiled(mod, tokens.split(' '), { family, proto });
      assert.unreachable('compile should refuse');
    } catch (e) {
      assert.instance(e, NfemuError);
      assert.is((e as NfemuError).code, 'UNSUPPORTED');
      assert.ok((e as NfemuError).message.startsWith(`${mod}: `));
    }
  });
}
u('kernel protocol checks', () => {
  assert.is(checkWith('esp', ['--espspi', '5'], { proto: 'tcp' }), 'x_tables: ip_tables: esp match: only valid for protocol 50');
  assert.is(checkWith('ah', ['--ahspi', '5'], { proto: 'tcp' }), 'x_tables: ip_tables: ah match: only valid for protocol 51');
  assert.is(checkWith('ah', ['--ahspi', '5'], { family: 6 }), null, 'IPv6 ah is an extension header: no protocol needed');
  assert.is(checkWith('mh', [], { family: 6, proto: 'tcp' }), 'x_tables: ip6_tables: mh match: only valid for protocol 135');
});
u.run();
