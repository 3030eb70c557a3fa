/**
 * Match behaviour of -m icmp (ip_tables.c icmp_match) and -m icmp6 (ip6_tables.c
 * icmp6_match): type and code ranges, `any`, negation and fragments.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { checkWith, compiled, pkt, type PacketSpec } from './helpers.ts';

type Row = readonly [what: string, tokens: string, packet: PacketSpec, expect: boolean];

function table(name: string, module: string, family: 4 | 6, rows: readonly Row[]): void {
  const s = suite(name);
  for (const [what, tokens, p, expect] of rows) {
    s(`${what}: -m ${module} ${tokens}`, () => {
      const proto = family === 4 ? 'icmp' : 'icmpv6';
      const { m, ctx } = compiled(module, tokens.split(' ').filter(Boolean), { proto, family });
      assert.is(m.match(pkt({ family, proto: family === 4 ? 1 : 58, ...p }), ctx), expect);
    });
  }
  s.run();
}

table('icmp match', 'icmp', 4, [
  ['echo-request by name', '--icmp-type echo-request', { icmpType: 8, icmpCode: 0 }, true],
  ['any code of the type', '--icmp-type 3', { icmpType: 3, icmpCode: 13 }, true],
  ['another type', '--icmp-type 3', { icmpType: 11, icmpCode: 0 }, false],
  ['exact code', '--icmp-type 3/4', { icmpType: 3, icmpCode: 4 }, true],
  ['other code', '--icmp-type 3/4', { icmpType: 3, icmpCode: 3 }, false],
  ['code range 4:5', '--icmp-type 3/4:5', { icmpType: 3, icmpCode: 5 }, true],
  ['reversed code range never', '--icmp-type 3/5:4', { icmpType: 3, icmpCode: 4 }, false],
  ['named code', '--icmp-type port-unreachable', { icmpType: 3, icmpCode: 3 }, true],
  ['any', '--icmp-type any', { icmpType: 42, icmpCode: 7 }, true],
  ['! any never', '! --icmp-type any', { icmpType: 42, icmpCode: 7 }, false],
  ['negated type', '! --icmp-type 8', { icmpType: 0, icmpCode: 0 }, true],
  ['never a non-first fragment', '--icmp-type any', { icmpType: 8, fragment: true }, false],
  ['never a non-first fragment, negated', '! --icmp-type 8', { icmpType: 0, fragment: true }, false],
]);

table('icmp6 match', 'icmp6', 6, [
  ['echo-request', '--icmpv6-type echo-request', { icmpType: 128, icmpCode: 0 }, true],
  ['neighbour solicitation (US spelling)', '--icmpv6-type neighbor-solicitation', { icmpType: 135, icmpCode: 0 }, true],
  ['type 255 is a type, not any', '--icmpv6-type 255', { icmpType: 1, icmpCode: 0 }, false],
  ['type 255 itself', '--icmpv6-type 255', { icmpType: 255, icmpCode: 3 }, true],
  ['code', '--icmpv6-type 1/3', { icmpType: 1, icmpCode: 3 }, true],
  ['negated code', '! --icmpv6-type 1/3', { icmpType: 1, icmpCode: 4 }, true],
  ['never a non-first fragment', '--icmpv6-type 128', { icmpType: 128, fragment: true }, false],
]);

const s = suite('icmp/icmp6: kernel checks');
s('icmp needs -p icmp, not negated', () => {
  assert.is(checkWith('icmp', ['--icmp-type', '8'], { proto: 'tcp' }), 'x_tables: ip_tables: icmp match: only valid for protocol 1');
  assert.is(checkWith('icmp', ['--icmp-type', '8'], { proto: '! icmp' }), 'x_tables: ip_tables: icmp match: only valid for protocol 1');
  assert.is(checkWith('icmp', ['--icmp-type', '8'], { proto: 'icmp' }), null);
});
s('icmp6 needs -p icmpv6', () => {
  assert.is(checkWith('icmp6', ['--icmpv6-type', '1'], { proto: 'icmp', family: 6 }), 'x_tables: ip6_tables: icmp6 match: only valid for protocol 58');
  assert.is(checkWith('icmp6', ['--icmpv6-type', '1'], { proto: 'ipv6-icmp', family: 6 }), null);
});
s.run();
