/**
 * The connection table against nf_conntrack_core.c and the UDP / ICMP / generic trackers
 * (Linux 6.18): lookup in both directions, zones, unconfirmed entries, timeouts, the table
 * limit with early_drop, clash resolution at confirmation, ICMP errors as RELATED, and the
 * `conntrack -L` JSON shape.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { IPPROTO_GRE, IPPROTO_UDP, IPPROTO_ICMP } from '../../src/core/index.ts';
import {
  IP_CT_ESTABLISHED, IP_CT_ESTABLISHED_REPLY, IP_CT_INVALID, IP_CT_NEW, IP_CT_RELATED, IP_CT_RELATED_REPLY, IP_CT_UNTRACKED,
  IPS_ASSURED, IPS_CONFIRMED, IPS_FIXED_TIMEOUT, IPS_NAT_CLASH, IPS_SEEN_REPLY, NF_ACCEPT, NF_DROP, NF_INET_LOCAL_OUT,
  NF_INET_PRE_ROUTING, NF_INET_FORWARD,
} from '../../src/netfilter/index.ts';
import { buildPacket } from '../../src/packet/index.ts';
import {
  connToJson, makeNatRange, NF_NAT_MANIP_DST, NF_NAT_RANGE_MAP_IPS, NF_NAT_RANGE_PROTO_SPECIFIED, type Conn,
} from '../../src/conntrack/index.ts';
import { conn, forward, icmp, table, tcp, tuple, udp, words } from './helpers.ts';

const A = '192.168.1.10';
const B = '198.51.100.5';
const C = '198.51.100.77';

// ---------------------------------------------------------------------------------------
// Lookup

test('the reply tuple is the inverse of the original; a reply finds the entry as ESTABLISHED_REPLY', () => {
  const { ct } = table();
  const p = udp(A, 5000, B, 53);
  assert.is(forward(ct, p), NF_ACCEPT);
  const c = conn(p);
  assert.equal([...c.reply.src], [...words(B)]);
  assert.equal([...c.reply.dst], [...words(A)]);
  assert.is(c.reply.sport, 53);
  assert.is(c.reply.dport, 5000);
  assert.is(p.ctinfo, IP_CT_NEW);
  const r = udp(B, 53, A, 5000);
  forward(ct, r);
  assert.is(r.ct, c);
  assert.is(r.ctinfo, IP_CT_ESTABLISHED_REPLY);
  assert.ok(c.status & IPS_SEEN_REPLY, 'SEEN_REPLY on the first reply');
  const again = udp(A, 5000, B, 53);
  forward(ct, again);
  assert.is(again.ct, c);
  assert.is(again.ctinfo, IP_CT_ESTABLISHED, 'original direction after a reply: ESTABLISHED');
});

test('an unconfirmed entry is not in the table: a reply before confirmation starts its own entry', () => {
  const { ct } = table();
  const p = udp(A, 5000, B, 53);
  ct.in(p, NF_INET_PRE_ROUTING);
  assert.is(p.ctinfo, IP_CT_NEW);
  assert.is(conn(p).status & IPS_CONFIRMED, 0);
  assert.is(ct.entries().length, 0, 'conntrack -L does not list unconfirmed entries');
  const r = udp(B, 53, A, 5000);
  ct.in(r, NF_INET_PRE_ROUTING);
  assert.is(r.ctinfo, IP_CT_NEW, 'not found: a new connection the other way');
  assert.is.not(r.ct, p.ct);
});

test('zones separate tables: the same tuple in zone 0 and zone 1 are two entries', () => {
  const { ct } = table();
  const p0 = udp(A, 5000, B, 53);
  const p1 = udp(A, 5000, B, 53);
  p1.ctZone = 1;
  forward(ct, p0);
  forward(ct, p1);
  assert.is(p1.ctinfo, IP_CT_NEW);
  assert.is.not(p0.ct, p1.ct);
  assert.is(conn(p1).zone, 1);
  const r1 = udp(B, 53, A, 5000);
  r1.ctZone = 1;
  forward(ct, r1);
  assert.is(r1.ct, p1.ct, 'the reply in zone 1 finds the zone 1 entry');
  assert.is(ct.entries().length, 2);
});

test('conntrack skips UNTRACKED packets (raw NOTRACK) and packets that already have an entry', () => {
  const { ct } = table();
  const p = udp(A, 5000, B, 53);
  p.ctinfo = IP_CT_UNTRACKED;
  assert.is(ct.in(p, NF_INET_PRE_ROUTING), NF_ACCEPT);
  assert.is(p.ct, null);
  assert.is(p.ctinfo, IP_CT_UNTRACKED);
  assert.is(ct.confirm(p), NF_ACCEPT);
  assert.is(ct.entries().length, 0);
  // Looped back: the entry from LOCAL_OUT is kept at PRE_ROUTING.
  const q = udp('127.0.0.1', 5000, '127.0.0.1', 53);
  ct.in(q, NF_INET_LOCAL_OUT);
  ct.confirm(q);
  const c = q.ct;
  assert.is(ct.in(q, NF_INET_PRE_ROUTING), NF_ACCEPT);
  assert.is(q.ct, c);
  assert.is(q.ctinfo, IP_CT_NEW);
});

test('in() is only for PRE_ROUTING and LOCAL_OUT', () => {
  const { ct } = table();
  assert.throws(() => ct.in(udp(A, 1, B, 2), NF_INET_FORWARD), /PRE_ROUTING or LOCAL_OUT/);
});

// ---------------------------------------------------------------------------------------
// UDP, ICMP, generic

test('UDP: 30 s unreplied; 30 s on replies within 2 s; 120 s and ASSURED once replied and still active after 2 s', () => {
  const { ct, clock } = table();
  const p = udp(A, 5000, B, 9999);
  forward(ct, p);
  const c = conn(p);
  const left = () => (c.timeoutAt - clock.nowMs()) / 1000;
  assert.is(left(), 30);
  clock.advance(1000);
  forward(ct, udp(B, 9999, A, 5000));
  assert.is(left(), 30, 'first reply: the tracker runs before SEEN_REPLY is set');
  assert.is(c.status & IPS_ASSURED, 0);
  clock.advance(1000); // exactly 2 s after the first packet: not yet "after" stream_ts
  forward(ct, udp(A, 5000, B, 9999));
  assert.is(left(), 30);
  assert.is(c.status & IPS_ASSURED, 0);
  clock.advance(1);
  forward(ct, udp(A, 5000, B, 9999));
  assert.is(left(), 120);
  assert.ok(c.status & IPS_ASSURED, 'ASSURED');
});

test('timeouts: an entry is alive 1 ms before its timeout and gone at it; a new packet then starts a NEW entry', () => {
  const { ct, clock } = table();
  const p = udp(A, 5000, B, 53);
  forward(ct, p);
  clock.advance(30_000 - 1);
  assert.is(ct.entries().length, 1);
  clock.advance(1);
  const q = udp(A, 5000, B, 53);
  forward(ct, q);
  assert.is(q.ctinfo, IP_CT_NEW);
  assert.is.not(q.ct, p.ct);
  assert.is(ct.entries().length, 1);
  clock.advanceSeconds(31);
  assert.is(ct.expire(), 1);
  assert.is(ct.entries().length, 0);
});

test('ICMP echo: tracked by id, 30 s, the reply is ESTABLISHED_REPLY, never ASSURED', () => {
  const { ct, clock } = table();
  const p = icmp(A, B, 8, 0, 777);
  forward(ct, p);
  const c = conn(p);
  assert.is(c.orig.sport, 777, 'the id is the "source port"');
  assert.is(c.orig.dport, 8 << 8, 'type 8 code 0');
  assert.is(c.reply.dport, 0, 'the reply tuple has type 0 (echo reply)');
  assert.is((c.timeoutAt - clock.nowMs()) / 1000, 30);
  clock.advanceSeconds(5);
  const r = icmp(B, A, 0, 0, 777);
  forward(ct, r);
  assert.is(r.ct, c);
  assert.is(r.ctinfo, IP_CT_ESTABLISHED_REPLY);
  assert.is((c.timeoutAt - clock.nowMs()) / 1000, 30);
  assert.is(c.status & IPS_ASSURED, 0);
  const other = icmp(A, B, 8, 0, 778);
  forward(ct, other);
  assert.is.not(other.ct, c, 'another id is another connection');
});

test('ICMP: an echo reply with no request, a type without a reply type, and unknown types are INVALID', () => {
  const cases: [number, string, keyof ReturnType<typeof table>['ct']['stats']][] = [
    [0, 'echo reply cannot create an entry (valid_new)', 'invalid'],
    [9, 'router advertisement has no inverse (invmap)', 'invalid'],
    [19, 'above NR_ICMP_TYPES', 'error'],
    [3, 'an error quoting nothing we track', 'error'],
  ];
  for (const [type, why, stat] of cases) {
    const { ct } = table();
    const p = icmp(A, B, type, 0, 1);
    assert.is(forward(ct, p), NF_ACCEPT);
    assert.is(p.ct, null, why);
    assert.is(p.ctinfo, IP_CT_INVALID, why);
    assert.is(ct.stats[stat], 1, `${why}: counted as ${stat}`);
  }
});

test('ICMP errors quoting a tracked connection are RELATED (reply direction: RELATED_REPLY)', () => {
  const { ct, clock } = table();
  const p = udp(A, 5000, B, 53);
  forward(ct, p);
  const c = conn(p);
  const before = c.timeoutAt;
  clock.advanceSeconds(3);
  // B answers with port unreachable, quoting A's datagram.
  const unreach = icmp(B, A, 3, 3, 0);
  forward(ct, unreach, tuple(IPPROTO_UDP, A, 5000, B, 53));
  assert.is(unreach.ct, c);
  assert.is(unreach.ctinfo, IP_CT_RELATED_REPLY);
  assert.is(c.timeoutAt, before, 'RELATED packets do not refresh the entry');
  assert.is(c.status & IPS_SEEN_REPLY, 0, 'nor count as a reply');
  // A router on the way reports "time exceeded" to A: also the reply direction.
  const te = icmp('10.9.9.9', A, 11, 0, 0);
  forward(ct, te, tuple(IPPROTO_UDP, A, 5000, B, 53));
  assert.is(te.ctinfo, IP_CT_RELATED_REPLY);
  // An error about B's reply, sent towards B: original direction.
  const orig = icmp(A, B, 3, 1, 0);
  forward(ct, orig, tuple(IPPROTO_UDP, B, 53, A, 5000));
  assert.is(orig.ct, c);
  assert.is(orig.ctinfo, IP_CT_RELATED);
  // Addressed elsewhere than the connection's endpoint: INVALID.
  const bogus = icmp(B, C, 3, 3, 0);
  forward(ct, bogus, tuple(IPPROTO_UDP, A, 5000, B, 53));
  assert.is(bogus.ct, null);
  assert.is(bogus.ctinfo, IP_CT_INVALID);
  // No quoted header given: nothing to relate to.
  const bare = icmp(B, A, 3, 3, 0);
  forward(ct, bare);
  assert.is(bare.ctinfo, IP_CT_INVALID);
  assert.is(ct.entries().length, 1, 'errors never create entries');
});

test('ICMP errors about an echo request relate to the ICMP entry', () => {
  const { ct } = table();
  const p = icmp(A, B, 8, 0, 42);
  forward(ct, p);
  const err = icmp('10.9.9.9', A, 11, 0, 0);
  forward(ct, err, tuple(IPPROTO_ICMP, A, 42, B, 8 << 8));
  assert.is(err.ct, p.ct);
  assert.is(err.ctinfo, IP_CT_RELATED_REPLY);
});

test('ICMPv6: echo tracked; neighbour discovery is UNTRACKED; errors are RELATED', () => {
  const { ct } = table();
  const A6 = '2001:db8::10', B6 = '2001:db8:1::5';
  const p = icmp(A6, B6, 128, 0, 9);
  forward(ct, p);
  assert.is(p.ctinfo, IP_CT_NEW);
  const r = icmp(B6, A6, 129, 0, 9);
  forward(ct, r);
  assert.is(r.ct, p.ct);
  assert.is(r.ctinfo, IP_CT_ESTABLISHED_REPLY);
  const ns = icmp('fe80::1', 'ff02::1:ff00:5', 135, 0, 0);
  forward(ct, ns);
  assert.is(ns.ct, null);
  assert.is(ns.ctinfo, IP_CT_UNTRACKED);
  const u = udp(A6, 4000, B6, 53);
  forward(ct, u);
  const unreach = icmp(B6, A6, 1, 4, 0);
  forward(ct, unreach, tuple(IPPROTO_UDP, A6, 4000, B6, 53));
  assert.is(unreach.ct, u.ct);
  assert.is(unreach.ctinfo, IP_CT_RELATED_REPLY);
});

test('generic protocols (GRE) are tracked by addresses with the 600 s timeout', () => {
  const { ct, clock } = table();
  const p = buildPacket({ proto: 'gre', src: A, dst: B });
  forward(ct, p);
  const c = conn(p);
  assert.is(c.orig.proto, IPPROTO_GRE);
  assert.is((c.timeoutAt - clock.nowMs()) / 1000, 600);
  const r = buildPacket({ proto: 'gre', src: B, dst: A });
  forward(ct, r);
  assert.is(r.ct, c);
  assert.is(r.ctinfo, IP_CT_ESTABLISHED_REPLY);
  assert.is(c.status & IPS_ASSURED, 0);
});

// ---------------------------------------------------------------------------------------
// Table limit

test('table full: early_drop evicts the non-ASSURED entries of the bucket, the new packet goes through', () => {
  const { ct } = table({ max: 2, buckets: 1 });
  forward(ct, udp(A, 1, B, 53));
  forward(ct, udp(A, 2, B, 53));
  assert.is(ct.entries().length, 2);
  const p = udp(A, 3, B, 53);
  assert.is(forward(ct, p), NF_ACCEPT);
  assert.is(ct.stats.earlyDrop, 2, 'every non-assured entry in the bucket goes (early_drop_list)');
  assert.equal(ct.entries().map((c) => c.orig.sport), [3]);
});

test('table full of ASSURED entries: the new packet is dropped and counted', () => {
  const { ct } = table({ max: 2, buckets: 1 });
  for (const port of [1, 2]) {
    forward(ct, tcp(A, port, B, 80, 'SYN'));
    forward(ct, tcp(B, 80, A, port, 'SYN,ACK'));
    forward(ct, tcp(A, port, B, 80, 'ACK'));
  }
  assert.ok(ct.entries().every((c) => c.status & IPS_ASSURED));
  const p = tcp(A, 3, B, 80, 'SYN');
  assert.is(ct.in(p, NF_INET_PRE_ROUTING), NF_DROP);
  assert.is(p.ct, null);
  assert.is(ct.stats.drop, 1);
  assert.is(ct.stats.earlyDrop, 0);
  assert.is(ct.entries().length, 2);
});

test('table limit: expired entries do not count (the gc worker reaps them)', () => {
  const { ct, clock } = table({ max: 1, buckets: 1 });
  forward(ct, udp(A, 1, B, 53));
  clock.advanceSeconds(30);
  assert.is(forward(ct, udp(A, 2, B, 53)), NF_ACCEPT);
  assert.is(ct.stats.earlyDrop, 0);
  assert.is(ct.entries().length, 1);
});

// ---------------------------------------------------------------------------------------
// Clash at confirmation

test('clash: two UDP packets of the same new flow both unconfirmed; the second adopts the first entry (clash_resolve)', () => {
  const { ct } = table();
  const p1 = udp(A, 5000, B, 53);
  const p2 = udp(A, 5000, B, 53);
  ct.in(p1, NF_INET_PRE_ROUTING);
  ct.in(p2, NF_INET_PRE_ROUTING);
  assert.is.not(p1.ct, p2.ct, 'both got their own unconfirmed entry');
  assert.is(ct.confirm(p1), NF_ACCEPT);
  assert.is(ct.confirm(p2), NF_ACCEPT);
  assert.is(p2.ct, p1.ct);
  assert.is(p2.ctinfo, IP_CT_NEW);
  assert.is(ct.stats.clashResolve, 1);
  assert.is(ct.entries().length, 1);
});

test('clash: the same race for TCP is dropped (no allow_clash)', () => {
  const { ct } = table();
  const p1 = tcp(A, 5000, B, 80, 'SYN');
  const p2 = tcp(A, 5000, B, 80, 'SYN');
  ct.in(p1, NF_INET_PRE_ROUTING);
  ct.in(p2, NF_INET_PRE_ROUTING);
  assert.is(ct.confirm(p1), NF_ACCEPT);
  assert.is(ct.confirm(p2), NF_DROP);
  assert.is(ct.stats.insertFailed, 1);
  assert.is(ct.stats.drop, 1);
  assert.is(ct.entries().length, 1);
});

test('clash: UDP race DNATed to two backends: the loser is inserted for its reply only, 1 s, hidden (NAT_CLASH)', () => {
  const { ct, clock } = table();
  const vip = '10.96.0.10';
  const p1 = udp(A, 5000, vip, 53);
  const p2 = udp(A, 5000, vip, 53);
  ct.in(p1, NF_INET_PRE_ROUTING);
  ct.in(p2, NF_INET_PRE_ROUTING);
  const dnat = (ip: string) => makeNatRange(NF_NAT_RANGE_MAP_IPS | NF_NAT_RANGE_PROTO_SPECIFIED, words(ip), words(ip), 53, 53);
  ct.setupNat(conn(p1), dnat('10.244.1.2'), NF_NAT_MANIP_DST);
  ct.setupNat(conn(p2), dnat('10.244.2.2'), NF_NAT_MANIP_DST);
  assert.is(ct.confirm(p1), NF_ACCEPT);
  assert.is(ct.confirm(p2), NF_ACCEPT);
  const loser = conn(p2);
  assert.is.not(loser, p1.ct);
  assert.ok(loser.status & IPS_NAT_CLASH);
  assert.ok(loser.status & IPS_FIXED_TIMEOUT);
  assert.ok(loser.status & IPS_CONFIRMED);
  assert.is(loser.timeoutAt - clock.nowMs(), 1000);
  assert.is(ct.stats.clashResolve, 1);
  assert.equal(ct.entries().map((c) => c.id), [conn(p1).id], 'conntrack -L shows only the winner');
  // The second backend's answer still finds the loser.
  const r = udp('10.244.2.2', 53, A, 5000);
  forward(ct, r);
  assert.is(r.ct, loser);
  assert.is(r.ctinfo, IP_CT_ESTABLISHED_REPLY);
  assert.is(loser.timeoutAt - clock.nowMs(), 1000, 'fixed timeout: not refreshed');
  assert.is(loser.status & IPS_ASSURED, 0);
  // A further request still matches the winner.
  const again = udp(A, 5000, vip, 53);
  forward(ct, again);
  assert.is(again.ct, p1.ct);
  clock.advanceSeconds(1);
  ct.expire();
  assert.is(ct.connById(loser.id), null, 'gone after 1 s');
});

// ---------------------------------------------------------------------------------------
// Lifecycle, clone, JSON

test('release() frees an unconfirmed entry whose packet died; attachRelated makes a RELATED reply', () => {
  const { ct } = table();
  const p = tcp(A, 5000, B, 80, 'SYN');
  ct.in(p, NF_INET_PRE_ROUTING);
  const id = conn(p).id;
  const rst = tcp(B, 80, A, 5000, 'RST,ACK');
  ct.attachRelated(rst, p);
  assert.is(rst.ct, p.ct);
  assert.is(rst.ctinfo, IP_CT_RELATED_REPLY);
  assert.is(ct.in(rst, NF_INET_LOCAL_OUT), NF_ACCEPT, 'conntrack leaves it alone');
  assert.is(rst.ctinfo, IP_CT_RELATED_REPLY);
  assert.is(ct.confirm(rst), NF_ACCEPT, 'a reply-direction packet does not confirm');
  assert.is(ct.entries().length, 0);
  ct.release(p);
  assert.is(ct.connById(id), null);
  assert.is(ct.confirm(p), NF_DROP, 'a freed entry cannot be confirmed');
});

test('clone() is independent and keeps ids (unconfirmed entries included)', () => {
  const { ct } = table();
  forward(ct, udp(A, 1, B, 53));
  const p = udp(A, 2, B, 53);
  ct.in(p, NF_INET_PRE_ROUTING);
  const copy = ct.clone();
  const c2 = copy.connById(conn(p).id)!;
  assert.ok(c2);
  assert.is.not(c2, p.ct);
  p.ct = c2;
  assert.is(copy.confirm(p), NF_ACCEPT);
  assert.is(copy.entries().length, 2);
  assert.is(ct.entries().length, 1, 'the original table is untouched');
  forward(copy, udp(A, 3, B, 53));
  assert.is(copy.entries().length, 3);
  assert.is(ct.entries().length, 1);
  assert.equal(copy.entries().map((c) => c.id), [1, 2, 3]);
  // Using the original's entry on the clone is a mistake, caught rather than corrupting either table.
  const q = udp(A, 4, B, 53);
  ct.in(q, NF_INET_PRE_ROUTING);
  const other = ct.clone();
  assert.throws(() => other.confirm(q), /belongs to another table/);
  assert.is(ct.confirm(q), NF_ACCEPT);
});

test('connToJson has the recorded kernel shape and key order', () => {
  const { ct, clock } = table();
  const t = tcp('10.0.0.2', 40000, '172.30.1.1', 80, 'SYN');
  forward(ct, t);
  assert.is(
    JSON.stringify(connToJson(conn(t), clock.nowMs())),
    '{"original":{"src":"10.0.0.2","dst":"172.30.1.1","proto":"tcp","sport":40000,"dport":80},' +
      '"reply":{"src":"172.30.1.1","dst":"10.0.0.2","proto":"tcp","sport":80,"dport":40000},' +
      '"state":"SYN_SENT","mark":0,"timeout":120,"flags":["unreplied"]}',
  );
  const u = udp('10.244.1.10', 41000, '127.0.0.53', 53);
  u.ctZone = 2;
  forward(ct, u);
  clock.advance(400);
  assert.is(
    JSON.stringify(connToJson(conn(u), clock.nowMs())),
    '{"original":{"src":"10.244.1.10","dst":"127.0.0.53","proto":"udp","sport":41000,"dport":53},' +
      '"reply":{"src":"127.0.0.53","dst":"10.244.1.10","proto":"udp","sport":53,"dport":41000},' +
      '"mark":0,"zone":2,"timeout":29,"flags":["unreplied"]}',
  );
  const i = icmp('192.168.1.50', '192.168.1.100', 8, 0, 41003);
  forward(ct, i);
  forward(ct, icmp('192.168.1.100', '192.168.1.50', 0, 0, 41003));
  assert.is(
    JSON.stringify(connToJson(conn(i), clock.nowMs())),
    '{"original":{"src":"192.168.1.50","dst":"192.168.1.100","proto":"icmp"},' +
      '"reply":{"src":"192.168.1.100","dst":"192.168.1.50","proto":"icmp"},"mark":0,"timeout":30}',
  );
  // An assured UDP stream.
  const s = udp(A, 7000, B, 7000);
  forward(ct, s);
  forward(ct, udp(B, 7000, A, 7000));
  clock.advanceSeconds(3);
  forward(ct, udp(A, 7000, B, 7000));
  conn(s).mark = 0x4000;
  assert.equal(connToJson(conn(s), clock.nowMs()), {
    original: { src: A, dst: B, proto: 'udp', sport: 7000, dport: 7000 },
    reply: { src: B, dst: A, proto: 'udp', sport: 7000, dport: 7000 },
    mark: 0x4000,
    timeout: 120,
    flags: ['assured'],
  });
});

test('flush() empties the table (conntrack -F)', () => {
  const { ct } = table();
  for (let i = 1; i <= 5; i++) forward(ct, udp(A, i, B, 53));
  assert.is(ct.entries().length, 5);
  ct.flush();
  assert.is(ct.entries().length, 0);
  assert.is(ct.count, 0);
  const p = udp(A, 1, B, 53);
  forward(ct, p);
  assert.is(p.ctinfo, IP_CT_NEW);
});

test('many entries: the table grows and every entry stays reachable from both directions', () => {
  const { ct } = table();
  const n = 3000;
  for (let i = 0; i < n; i++) forward(ct, udp(A, 1024 + i, B, 53));
  assert.is(ct.count, n);
  for (let i = 0; i < n; i += 7) {
    const r = udp(B, 53, A, 1024 + i);
    forward(ct, r);
    assert.is(r.ctinfo, IP_CT_ESTABLISHED_REPLY, `reply ${i}`);
    assert.is((r.ct as Conn).orig.sport, 1024 + i);
  }
});

test.run();
