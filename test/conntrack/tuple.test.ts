/**
 * Tuples: nf_ct_invert_tuple (ports swapped; ICMP types through the kernel's invmap, id
 * kept), reciprocal_scale exactness (the kernel computes it in 64 bits), the kernel's jhash2
 * on a known vector, and the per-protocol port fields.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { IPPROTO_GRE, IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP } from '../../src/core/index.ts';
import { buildPacket } from '../../src/packet/index.ts';
import { invertTuple, newTuple, packetTuple, tracksPorts } from '../../src/conntrack/index.ts';
import { jhash2Words4, reciprocalScale } from '../../src/conntrack/tuple.ts';
import { tuple } from './helpers.ts';

const seed = Number(process.env.FC_SEED ?? Date.now() % 2 ** 31);
console.log(`conntrack tuple properties: FC_SEED=${seed}`);

test('invert swaps addresses and ports', () => {
  const t = tuple(IPPROTO_TCP, '10.0.0.1', 1234, '10.0.0.2', 80);
  const r = newTuple();
  assert.ok(invertTuple(r, t));
  assert.equal([r.src[0], r.dst[0], r.sport, r.dport, r.proto], [t.dst[0], t.src[0], 80, 1234, IPPROTO_TCP]);
});

test('ICMP inversion follows invmap: echo, timestamp, info, address mask; other types have none', () => {
  const pairs: [number, number][] = [[8, 0], [0, 8], [13, 14], [14, 13], [15, 16], [16, 15], [17, 18], [18, 17]];
  for (const [type, inv] of pairs) {
    const t = tuple(IPPROTO_ICMP, '10.0.0.1', 99, '10.0.0.2', (type << 8) | 3);
    const r = newTuple();
    assert.ok(invertTuple(r, t), `type ${type}`);
    assert.is(r.dport, (inv << 8) | 3, `type ${type} -> ${inv}, code kept`);
    assert.is(r.sport, 99, 'id kept');
  }
  for (const type of [3, 5, 9, 10, 11, 12]) {
    assert.not.ok(invertTuple(newTuple(), tuple(IPPROTO_ICMP, '10.0.0.1', 0, '10.0.0.2', type << 8)), `type ${type}`);
  }
  const v6: [number, number][] = [[128, 129], [129, 128], [139, 140], [140, 139]];
  for (const [type, inv] of v6) {
    const r = newTuple();
    assert.ok(invertTuple(r, tuple(IPPROTO_ICMPV6, '2001:db8::1', 5, '2001:db8::2', type << 8)));
    assert.is(r.dport >>> 8, inv);
  }
  assert.not.ok(invertTuple(newTuple(), tuple(IPPROTO_ICMPV6, '2001:db8::1', 5, '2001:db8::2', 1 << 8)));
});

test('which protocols carry ports in the tuple (6.18: TCP, UDP, UDPLITE, SCTP; not DCCP, removed in 6.16)', () => {
  assert.ok(tracksPorts(IPPROTO_TCP) && tracksPorts(IPPROTO_UDP) && tracksPorts(136) && tracksPorts(IPPROTO_SCTP));
  assert.not.ok(tracksPorts(33) || tracksPorts(IPPROTO_GRE) || tracksPorts(IPPROTO_ICMP));
  const g = packetTuple(buildPacket({ proto: 'sctp', src: '10.0.0.1', sport: 5, dst: '10.0.0.2', dport: 6 }));
  assert.equal([g.sport, g.dport], [5, 6]);
  const i = packetTuple(buildPacket({ proto: 'icmp', src: '10.0.0.1', dst: '10.0.0.2', icmp_type: 8, icmp_code: 0, icmp_id: 4242 }));
  assert.equal([i.sport, i.dport], [4242, 8 << 8]);
});

test('reciprocal_scale is exact: ((u64)val * n) >> 32', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 0xffffffff }), (v, n) => {
      assert.is(reciprocalScale(v, n), Number((BigInt(v) * BigInt(n)) >> 32n));
    }),
    { seed, numRuns: 2000 },
  );
  assert.is(reciprocalScale(0xffffffff, 0xffffffff), 0xfffffffe);
  assert.is(reciprocalScale(0x80000000, 10), 5);
});

test('jhash2 over four words equals the kernel\'s (include/linux/jhash.h, vectors from a C build of it)', () => {
  // 192.168.1.10 as the kernel reads it from memory on x86, keyed by 198.51.100.5 likewise.
  assert.is(jhash2Words4(0x0a01a8c0, 0, 0, 0, 0x056433c6), 0xd8d71c0b);
  assert.is(jhash2Words4(1, 2, 3, 4, 0), 0x66491246);
});

test.run();
