/**
 * Property: whatever DNAT / SNAT ranges apply (random address ranges, port ranges, random
 * and persistent flags, random other connections already holding tuples), the reply to a
 * translated packet is translated back to exactly the inverse of the packet the client
 * sent, and the translated packet lies inside the ranges. This is what nf_nat_packet
 * guarantees by making each direction look like the inverse of the other's tuple.
 *
 * Replay a failure with FC_SEED=<seed printed below>.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { SeededRng, formatIpv4, formatWords } from '../../src/core/index.ts';
import { NF_ACCEPT, NF_INET_POST_ROUTING, NF_INET_PRE_ROUTING, IP_CT_ESTABLISHED_REPLY, IP_CT_NEW } from '../../src/netfilter/index.ts';
import type { Packet } from '../../src/packet/index.ts';
import {
  makeNatRange, NF_NAT_MANIP_DST, NF_NAT_MANIP_SRC, NF_NAT_RANGE_MAP_IPS, NF_NAT_RANGE_PERSISTENT, NF_NAT_RANGE_PROTO_RANDOM,
  NF_NAT_RANGE_PROTO_RANDOM_FULLY, NF_NAT_RANGE_PROTO_SPECIFIED, type ConntrackTable, type Conn, type NatRange,
} from '../../src/conntrack/index.ts';
import { icmp, table, tcp, udp, words } from './helpers.ts';

const seed = Number(process.env.FC_SEED ?? Date.now() % 2 ** 31);
console.log(`conntrack NAT property: FC_SEED=${seed}`);

const v4 = (base: number) => fc.integer({ min: 0, max: 15 }).map((i) => formatIpv4((base + i) >>> 0));

interface RangeSpec {
  lo: number;
  span: number;
  ports: [number, number] | null;
  flags: number;
}
const rangeArb = (base: number) => fc.record({
  lo: fc.integer({ min: 0, max: 20 }),
  span: fc.integer({ min: 0, max: 5 }),
  ports: fc.option(fc.tuple(fc.integer({ min: 1, max: 65535 }), fc.integer({ min: 0, max: 40 })).map(([a, n]): [number, number] => [a, Math.min(65535, a + n)]), { nil: null }),
  flags: fc.constantFrom(0, NF_NAT_RANGE_PROTO_RANDOM, NF_NAT_RANGE_PROTO_RANDOM_FULLY, NF_NAT_RANGE_PERSISTENT),
}).map((r) => ({ ...r, base }));

function toRange(r: RangeSpec & { base: number }): NatRange {
  const lo = words(formatIpv4((r.base + r.lo) >>> 0));
  const hi = words(formatIpv4((r.base + r.lo + r.span) >>> 0));
  const flags = NF_NAT_RANGE_MAP_IPS | r.flags | (r.ports ? NF_NAT_RANGE_PROTO_SPECIFIED : 0);
  return makeNatRange(flags, lo, hi, r.ports?.[0] ?? 0, r.ports?.[1] ?? 0);
}

type Proto = 'tcp' | 'udp' | 'icmp';
function pkt(proto: Proto, src: string, sport: number, dst: string, dport: number, reply: boolean): Packet {
  if (proto === 'tcp') return tcp(src, sport, dst, dport, reply ? 'SYN,ACK' : 'SYN');
  if (proto === 'udp') return udp(src, sport, dst, dport);
  return icmp(src, dst, reply ? 0 : 8, 0, sport);
}

/** A router: conntrack, DNAT (or null binding), SNAT (or null binding), confirm. */
function route(ct: ConntrackTable, p: Packet, dnat: NatRange | null, snat: NatRange | null): number {
  if (ct.in(p, NF_INET_PRE_ROUTING) !== NF_ACCEPT || p.ct === null) return NF_ACCEPT;
  for (const [hook, manip, range] of [[NF_INET_PRE_ROUTING, NF_NAT_MANIP_DST, dnat], [NF_INET_POST_ROUTING, NF_NAT_MANIP_SRC, snat]] as const) {
    const c = p.ct as Conn;
    if (p.ctinfo === IP_CT_NEW && !ct.natInitialized(c, manip)) {
      if (range) ct.setupNat(c, range, manip);
      else ct.allocNullBinding(c, manip, hook);
    }
    ct.natPacket(p, hook);
  }
  return ct.confirm(p);
}

function inAddrRange(w: Uint32Array, r: NatRange): boolean {
  return w[0]! >= r.minAddr[0]! && w[0]! <= r.maxAddr[0]!;
}

test('un-NAT after NAT restores the original tuple for the reply (DNAT and SNAT, random ranges)', () => {
  const flowArb = fc.record({
    proto: fc.constantFrom<Proto>('tcp', 'udp', 'icmp'),
    client: v4(0x0a000000), // 10.0.0.x
    sport: fc.integer({ min: 1, max: 65535 }),
    vip: v4(0x0a600000), // 10.96.0.x
    dport: fc.integer({ min: 1, max: 65535 }),
  });
  fc.assert(
    fc.property(
      fc.array(flowArb, { minLength: 0, maxLength: 12 }),
      flowArb,
      fc.option(rangeArb(0x0af40000), { nil: null }), // DNAT to 10.244.0.x
      fc.option(rangeArb(0xcb007100), { nil: null }), // SNAT to 203.0.113.x
      fc.integer({ min: 0, max: 2 ** 31 - 1 }),
      (others, f, dnatSpec, snatSpec, rngSeed) => {
        const { ct } = table({}, new SeededRng(rngSeed));
        const dnat = dnatSpec ? toRange(dnatSpec) : null;
        const snat = snatSpec ? toRange(snatSpec) : null;
        // Other connections through the same rules hold tuples the new one may clash with.
        for (const o of others) route(ct, pkt(o.proto, o.client, o.sport, o.vip, o.dport, false), dnat, snat);
        const failedBefore = ct.stats.insertFailed;
        const p = pkt(f.proto, f.client, f.sport, f.vip, f.dport, false);
        const v = route(ct, p, dnat, snat);
        if (p.ct === null || p.ctinfo !== IP_CT_NEW) return; // the flow already existed among the others
        if (v !== NF_ACCEPT) {
          assert.ok(ct.stats.insertFailed > failedBefore, 'a drop is a clash at confirm');
          return;
        }
        const isIcmp = f.proto === 'icmp';
        if (dnat) assert.ok(inAddrRange(p.daddr, dnat), `DNAT address ${formatWords(4, p.daddr)} in range`);
        if (snat) assert.ok(inAddrRange(p.saddr, snat), `SNAT address ${formatWords(4, p.saddr)} in range`);
        if (dnat && snatSpec === null && dnatSpec!.ports && !isIcmp) {
          assert.ok(p.dport >= dnat.minProto && p.dport <= dnat.maxProto, 'DNAT port in range');
        }
        if (snat && snatSpec!.ports) {
          const key = isIcmp ? p.icmpId : p.sport;
          assert.ok(key >= snat.minProto && key <= snat.maxProto, `SNAT port/id ${key} in range`);
        }
        // The server answers what it received.
        const serverPort = isIcmp ? p.icmpId : p.dport;
        const clientPort = isIcmp ? p.icmpId : p.sport;
        const r = pkt(f.proto, formatWords(4, p.daddr), serverPort, formatWords(4, p.saddr), clientPort, true);
        if (isIcmp) r.icmpId = p.icmpId;
        assert.is(route(ct, r, null, null), NF_ACCEPT);
        assert.is(r.ct, p.ct, 'the reply finds the connection');
        assert.is(r.ctinfo, IP_CT_ESTABLISHED_REPLY);
        assert.is(formatWords(4, r.saddr), f.vip, 'reply source = original destination');
        assert.is(formatWords(4, r.daddr), f.client, 'reply destination = original source');
        if (isIcmp) {
          assert.is(r.icmpId, f.sport, 'ICMP id restored');
        } else {
          assert.is(r.sport, f.dport, 'reply source port = original destination port');
          assert.is(r.dport, f.sport, 'reply destination port = original source port');
        }
      },
    ),
    { seed, numRuns: 400 },
  );
});

test.run();
