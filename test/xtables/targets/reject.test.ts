/**
 * REJECT: --reject-with names as iptables 1.8.9 reads and prints them (checked with
 * iptables-nft-restore / iptables-nft-save in a scratch netns), the kernel's table and
 * protocol rules (ipt_REJECT.c / ip6t_REJECT.c, messages from dmesg), and the response
 * packets of nf_send_reset / icmp_send.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  NF_DROP, NF_ACCEPT, NF_INET_FORWARD, NF_INET_LOCAL_IN, NF_INET_LOCAL_OUT, NF_INET_PRE_ROUTING,
  IP_CT_RELATED_REPLY, IP_CT_NEW,
} from '../../../src/netfilter/index.ts';
import { TCP_ACK, TCP_RST, PACKET_BROADCAST } from '../../../src/packet/index.ts';
import { check, compileTarget, hooks, makeCtx, packet, parseError, roundTrip } from './helpers.ts';

const INPUT = hooks(NF_INET_LOCAL_IN);

// ---- parse → print (iptables-nft-save output recorded from iptables 1.8.9) ----

const PRINT4: ReadonlyArray<readonly [string, string]> = [
  ['', '--reject-with icmp-port-unreachable'],
  ['--reject-with icmp-net-unreachable', '--reject-with icmp-net-unreachable'],
  ['--reject-with net-unreach', '--reject-with icmp-net-unreachable'],
  ['--reject-with icmp-host-unreachable', '--reject-with icmp-host-unreachable'],
  ['--reject-with host-unreach', '--reject-with icmp-host-unreachable'],
  ['--reject-with icmp-port-unreachable', '--reject-with icmp-port-unreachable'],
  ['--reject-with port-unreach', '--reject-with icmp-port-unreachable'],
  ['--reject-with icmp-proto-unreachable', '--reject-with icmp-proto-unreachable'],
  ['--reject-with proto-unreach', '--reject-with icmp-proto-unreachable'],
  ['--reject-with icmp-net-prohibited', '--reject-with icmp-net-prohibited'],
  ['--reject-with net-prohib', '--reject-with icmp-net-prohibited'],
  ['--reject-with icmp-host-prohibited', '--reject-with icmp-host-prohibited'],
  ['--reject-with host-prohib', '--reject-with icmp-host-prohibited'],
  ['--reject-with icmp-admin-prohibited', '--reject-with icmp-admin-prohibited'],
  ['--reject-with admin-prohib', '--reject-with icmp-admin-prohibited'],
  ['--reject-with tcp-reset', '--reject-with tcp-reset'],
  ['--reject-with tcp-rst', '--reject-with tcp-reset'],
  // strncasecmp(name, arg, strlen(arg)) in table order: any prefix, any case.
  ['--reject-with icmp-p', '--reject-with icmp-proto-unreachable'],
  ['--reject-with p', '--reject-with icmp-proto-unreachable'],
  ['--reject-with icmp-h', '--reject-with icmp-host-unreachable'],
  ['--reject-with icmp-host-p', '--reject-with icmp-host-prohibited'],
  ['--reject-with icmp', '--reject-with icmp-net-unreachable'],
  ['--reject-with t', '--reject-with tcp-reset'],
  ['--reject-with a', '--reject-with icmp-admin-prohibited'],
  ['--reject-with ICMP-HOST-PROHIBITED', '--reject-with icmp-host-prohibited'],
];

const PRINT6: ReadonlyArray<readonly [string, string]> = [
  ['', '--reject-with icmp6-port-unreachable'],
  ['--reject-with icmp6-no-route', '--reject-with icmp6-no-route'],
  ['--reject-with no-route', '--reject-with icmp6-no-route'],
  ['--reject-with icmp6-adm-prohibited', '--reject-with icmp6-adm-prohibited'],
  ['--reject-with adm-prohibited', '--reject-with icmp6-adm-prohibited'],
  ['--reject-with icmp6-addr-unreachable', '--reject-with icmp6-addr-unreachable'],
  ['--reject-with addr-unreach', '--reject-with icmp6-addr-unreachable'],
  ['--reject-with icmp6-port-unreachable', '--reject-with icmp6-port-unreachable'],
  ['--reject-with port-unreach', '--reject-with icmp6-port-unreachable'],
  ['--reject-with tcp-reset', '--reject-with tcp-reset'],
  ['--reject-with icmp6-policy-fail', '--reject-with icmp6-policy-fail'],
  ['--reject-with policy-fail', '--reject-with icmp6-policy-fail'],
  ['--reject-with icmp6-reject-route', '--reject-with icmp6-reject-route'],
  ['--reject-with reject-route', '--reject-with icmp6-reject-route'],
  ['--reject-with i', '--reject-with icmp6-no-route'],
  ['--reject-with p', '--reject-with icmp6-port-unreachable'],
  ['--reject-with r', '--reject-with icmp6-reject-route'],
  ['--reject-with ADM', '--reject-with icmp6-adm-prohibited'],
];

test('REJECT prints every IPv4 type, alias and prefix as iptables-nft-save does', () => {
  for (const [input, want] of PRINT4) assert.is(roundTrip('REJECT', input), want, input);
});

test('REJECT prints every IPv6 type, alias and prefix as ip6tables-nft-save does', () => {
  for (const [input, want] of PRINT6) assert.is(roundTrip('REJECT', input, { family: 6 }), want, input);
});

const REJECTED: ReadonlyArray<readonly [string, 4 | 6, string]> = [
  ['--reject-with foo', 4, 'unknown reject type "foo"'],
  ['--reject-with echo-reply', 4, 'unknown reject type "echo-reply"'],
  ['--reject-with icmp-echo-reply', 4, 'unknown reject type "icmp-echo-reply"'],
  ['--reject-with icmp6-port-unreachable', 4, 'unknown reject type "icmp6-port-unreachable"'],
  ['--reject-with icmp-port-unreachable', 6, 'unknown reject type "icmp-port-unreachable"'],
  ['--reject-with tcp-rst', 6, 'unknown reject type "tcp-rst"'],
  ['--reject-with icmp-host-prohibitedX', 4, 'unknown reject type "icmp-host-prohibitedX"'],
  ['--reject-with tcp-reset --reject-with icmp-net-unreachable', 4, 'REJECT: option "--reject-with" can only be used once.'],
];

test('REJECT rejects what iptables 1.8.9 rejects, with its wording', () => {
  for (const [input, family, want] of REJECTED) assert.is(parseError('REJECT', input, { family }), want, input);
});

// ---- checkentry (messages as the kernel logs them) ----

test('REJECT is valid in the filter table only (ipt_REJECT .table = "filter")', () => {
  assert.is(check('REJECT', '', { table: 'filter', hooks: INPUT }), null);
  assert.is(check('REJECT', '', { table: 'mangle', hooks: INPUT }), 'x_tables: ip_tables: REJECT target: only valid in filter table, not mangle');
  assert.is(check('REJECT', '', { table: 'raw', hooks: hooks(NF_INET_LOCAL_OUT) }), 'x_tables: ip_tables: REJECT target: only valid in filter table, not raw');
  assert.is(check('REJECT', '', { table: 'security', hooks: INPUT }), 'x_tables: ip_tables: REJECT target: only valid in filter table, not security');
  assert.is(check('REJECT', '', { family: 6, table: 'mangle', hooks: INPUT }), 'x_tables: ip6_tables: REJECT target: only valid in filter table, not mangle');
});

test('REJECT --reject-with tcp-reset needs -p tcp, not inverted', () => {
  const ok = { hooks: INPUT, proto: 6 };
  assert.is(check('REJECT', '--reject-with tcp-reset', ok), null);
  assert.is(check('REJECT', '--reject-with tcp-reset', { hooks: INPUT }), 'ipt_REJECT: TCP_RESET invalid for non-tcp');
  assert.is(check('REJECT', '--reject-with tcp-reset', { hooks: INPUT, proto: 6, protoInvert: true }), 'ipt_REJECT: TCP_RESET invalid for non-tcp');
  assert.is(check('REJECT', '--reject-with tcp-reset', { hooks: INPUT, proto: 17 }), 'ipt_REJECT: TCP_RESET invalid for non-tcp');
  assert.is(check('REJECT', '--reject-with tcp-reset', { family: 6, hooks: INPUT }), 'ip6t_REJECT: TCP_RESET illegal for non-tcp');
  assert.is(check('REJECT', '--reject-with icmp-port-unreachable', { hooks: INPUT }), null);
});

// ---- the response packets ----

const tcpIn = (flags: string, extra = {}) =>
  packet({ proto: 'tcp', src: '10.0.0.2', sport: 40000, dst: '10.0.0.1', dport: 80, tcp_flags: flags, in_iface: 'eth0', ...extra });

function rejectWith(type: string, hook = NF_INET_LOCAL_IN, family: 4 | 6 = 4) {
  const t = compileTarget('REJECT', `--reject-with ${type}`, { family, proto: 6 });
  const ctx = makeCtx(hook, 'filter', family);
  ctx.host.local.add(family === 4 ? '10.0.0.1' : 'fd00::1');
  return { t, ctx };
}

test('tcp-reset answers a SYN with RST|ACK from the original destination, ports swapped (nf_send_reset)', () => {
  const { t, ctx } = rejectWith('tcp-reset');
  assert.is(t.run(tcpIn('SYN'), ctx), NF_DROP);
  assert.is(ctx.emitted.length, 1);
  const r = ctx.emitted[0]!;
  assert.is(r.proto, 6);
  assert.equal([r.saddr[0], r.sport, r.daddr[0], r.dport], [0x0a000001, 80, 0x0a000002, 40000]);
  assert.is(r.tcpFlags, TCP_RST | TCP_ACK);
  assert.is(r.ttl, 64);
  assert.is(r.length, 40);
  assert.is(r.mark, 0);
});

test('tcp-reset answers a segment with ACK by a plain RST (seq = its ack_seq, no ACK flag)', () => {
  const { t, ctx } = rejectWith('tcp-reset');
  t.run(tcpIn('ACK'), ctx);
  assert.is(ctx.emitted[0]!.tcpFlags, TCP_RST);
});

const NO_RST: ReadonlyArray<readonly [string, () => ReturnType<typeof tcpIn>]> = [
  ['never a RST in reply to a RST', () => tcpIn('RST')],
  ['never a RST in reply to a RST,ACK', () => tcpIn('RST,ACK')],
  ['no RST for a non-first fragment (no TCP header)', () => { const p = tcpIn('SYN'); p.fragment = true; return p; }],
  ['no RST to a packet sent to the limited broadcast address (RTCF_BROADCAST)', () => tcpIn('SYN', { dst: '255.255.255.255' })],
  ['no RST to a packet sent to a multicast group (RTCF_MULTICAST)', () => tcpIn('SYN', { dst: '224.0.0.5' })],
  ['no RST for a packet that is not TCP', () => packet({ proto: 'udp', src: '10.0.0.2', sport: 1, dst: '10.0.0.1', dport: 2 })],
];

test('tcp-reset sends nothing where the kernel sends nothing, and still drops', () => {
  for (const [what, make] of NO_RST) {
    const { t, ctx } = rejectWith('tcp-reset');
    assert.is(t.run(make(), ctx), NF_DROP, what);
    assert.is(ctx.emitted.length, 0, what);
  }
});

test('tcp-reset for IPv6: 60-byte RST; none when either address is not unicast (nf_send_reset6)', () => {
  let { t, ctx } = rejectWith('tcp-reset', NF_INET_LOCAL_IN, 6);
  t.run(packet({ proto: 'tcp', src: 'fd00::2', sport: 5000, dst: 'fd00::1', dport: 22, tcp_flags: 'SYN' }), ctx);
  assert.is(ctx.emitted.length, 1);
  assert.is(ctx.emitted[0]!.length, 60);
  assert.is(ctx.emitted[0]!.dport, 5000);
  ({ t, ctx } = rejectWith('tcp-reset', NF_INET_LOCAL_IN, 6));
  t.run(packet({ proto: 'tcp', src: 'fd00::2', sport: 5000, dst: 'ff02::1', dport: 22, tcp_flags: 'SYN' }), ctx);
  assert.is(ctx.emitted.length, 0);
});

test('the RST is attached to the original connection as RELATED_REPLY (nf_ct_attach)', () => {
  const t = compileTarget('REJECT', '--reject-with tcp-reset', { proto: 6 });
  const ctx = makeCtx(NF_INET_LOCAL_IN, 'filter', 4, 'real');
  ctx.host.local.add('10.0.0.1');
  const p = tcpIn('SYN');
  assert.is(ctx.conntrack!.in(p, NF_INET_PRE_ROUTING), NF_ACCEPT);
  assert.is(p.ctinfo, IP_CT_NEW);
  t.run(p, ctx);
  assert.ok(p.ct !== null);
  assert.is(ctx.emitted[0]!.ct, p.ct);
  assert.is(ctx.emitted[0]!.ctinfo, IP_CT_RELATED_REPLY);
});

/** ICMP codes of ipt_REJECT.c: NET_UNREACH 0, HOST_UNREACH 1, PROT_UNREACH 2, PORT_UNREACH 3, NET_ANO 9, HOST_ANO 10, PKT_FILTERED 13. */
const CODES4: ReadonlyArray<readonly [string, number]> = [
  ['icmp-net-unreachable', 0], ['icmp-host-unreachable', 1], ['icmp-proto-unreachable', 2], ['icmp-port-unreachable', 3],
  ['icmp-net-prohibited', 9], ['icmp-host-prohibited', 10], ['icmp-admin-prohibited', 13],
];
/** ICMPv6 destination unreachable codes: NOROUTE 0, ADM_PROHIBITED 1, ADDR_UNREACH 3, PORT_UNREACH 4, POLICY_FAIL 5, REJECT_ROUTE 6. */
const CODES6: ReadonlyArray<readonly [string, number]> = [
  ['icmp6-no-route', 0], ['icmp6-adm-prohibited', 1], ['icmp6-addr-unreachable', 3], ['icmp6-port-unreachable', 4],
  ['icmp6-policy-fail', 5], ['icmp6-reject-route', 6],
];

const udpIn = (extra = {}) => packet({ proto: 'udp', src: '10.0.0.2', sport: 40000, dst: '10.0.0.1', dport: 53, in_iface: 'eth0', ...extra });

test('each IPv4 reject type sends destination unreachable (type 3) with its code', () => {
  for (const [type, code] of CODES4) {
    const { t, ctx } = rejectWith(type);
    assert.is(t.run(udpIn(), ctx), NF_DROP);
    const e = ctx.emitted[0]!;
    assert.equal([e.proto, e.icmpType, e.icmpCode], [1, 3, code], type);
  }
});

test('each IPv6 reject type sends ICMPv6 destination unreachable (type 1) with its code', () => {
  for (const [type, code] of CODES6) {
    const { t, ctx } = rejectWith(type, NF_INET_LOCAL_IN, 6);
    t.run(packet({ proto: 'udp', src: 'fd00::2', sport: 1000, dst: 'fd00::1', dport: 53 }), ctx);
    const e = ctx.emitted[0]!;
    assert.equal([e.proto, e.icmpType, e.icmpCode], [58, 1, code], type);
  }
});

test('the ICMP error goes from the local destination back to the source, quoting the original', () => {
  const { t, ctx } = rejectWith('icmp-port-unreachable');
  t.run(udpIn({ length: 28 }), ctx);
  const e = ctx.emitted[0]!;
  assert.equal([e.saddr[0], e.daddr[0]], [0x0a000001, 0x0a000002]);
  // IP header + ICMP header + the whole 28-byte original; TOS (orig & 0x1e) | IPTOS_PREC_INTERNETCONTROL.
  assert.is(e.length, 20 + 8 + 28);
  assert.is(e.tos, 0xc0);
  assert.is(e.payload, 'quoted: udp 10.0.0.2:40000 -> 10.0.0.1:53');
});

test('the quoted TCP segment keeps its flags (as the kernel\'s icmp_inner shows them)', () => {
  const { t, ctx } = rejectWith('icmp-port-unreachable');
  t.run(tcpIn('SYN', { dst: '172.30.0.41' }), ctx);
  assert.is(ctx.emitted[0]!.payload, 'quoted: tcp 10.0.0.2:40000 -> 172.30.0.41:80 [SYN]');
});

test('the ICMP error quotes at most 576 bytes in all (IPv4) and 1280 (IPv6)', () => {
  let { t, ctx } = rejectWith('icmp-port-unreachable');
  t.run(udpIn({ length: 1500 }), ctx);
  assert.is(ctx.emitted[0]!.length, 576);
  ({ t, ctx } = rejectWith('icmp6-port-unreachable', NF_INET_LOCAL_IN, 6));
  t.run(packet({ proto: 'udp', src: 'fd00::2', sport: 1000, dst: 'fd00::1', dport: 53, length: 1500 }), ctx);
  assert.is(ctx.emitted[0]!.length, 1280);
});

test('a forwarded packet is answered from the address routing picks towards its source', () => {
  // The route back leaves by the incoming interface: that interface's address.
  let { t, ctx } = rejectWith('icmp-port-unreachable', NF_INET_FORWARD);
  ctx.host.ifaces.set('wlan0', '192.168.0.10');
  ctx.host.ifaces.set('virbr0', '192.168.122.1');
  t.run(udpIn({ src: '192.168.122.50', dst: '8.8.8.8', in_iface: 'virbr0' }), ctx);
  assert.is(ctx.emitted[0]!.saddr[0], 0xc0a87a01);
  // It leaves by another device (firewalld-fedora27 recorded answer: 192.168.0.10 for a
  // packet from 203.0.113.7 on virbr0 whose route back is the default via wlan0).
  ({ t, ctx } = rejectWith('icmp-port-unreachable', NF_INET_FORWARD));
  ctx.host.ifaces.set('wlan0', '192.168.0.10');
  ctx.host.ifaces.set('virbr0', '192.168.122.1');
  ctx.host.asymmetric.add('203.0.113.7');
  t.run(udpIn({ src: '203.0.113.7', dst: '8.8.8.8', in_iface: 'virbr0' }), ctx);
  assert.is(ctx.emitted[0]!.saddr[0], 0xc0a8000a);
});

test('a locally generated packet rejected in OUTPUT gets the error from its own source address', () => {
  const { t, ctx } = rejectWith('icmp-port-unreachable', NF_INET_LOCAL_OUT);
  t.run(packet({ proto: 'udp', src: '10.0.0.1', sport: 5000, dst: '8.8.8.8', dport: 53 }), ctx);
  assert.equal([ctx.emitted[0]!.saddr[0], ctx.emitted[0]!.daddr[0]], [0x0a000001, 0x0a000001]);
});

const icmpIn = (type: number) => packet({ proto: 'icmp', src: '10.0.0.2', dst: '10.0.0.1', icmp_type: type, icmp_code: 0, length: 84 });

test('never an ICMP error about an ICMP error (icmp_pointers[].error, unknown types > 18 count as errors)', () => {
  const sent = (type: number) => {
    const { t, ctx } = rejectWith('icmp-port-unreachable');
    t.run(icmpIn(type), ctx);
    return ctx.emitted.length;
  };
  for (const err of [3, 4, 5, 11, 12, 1, 2, 6, 7, 9, 10, 19, 40]) assert.is(sent(err), 0, `type ${err}`);
  for (const query of [0, 8, 13, 14, 15, 16, 17, 18]) assert.is(sent(query), 1, `type ${query}`);
});

test('never an ICMPv6 error about an ICMPv6 error (types < 128); echo requests are answered', () => {
  const sent = (type: number) => {
    const { t, ctx } = rejectWith('icmp6-port-unreachable', NF_INET_LOCAL_IN, 6);
    t.run(packet({ proto: 'icmpv6', src: 'fd00::2', dst: 'fd00::1', icmp_type: type, icmp_code: 0 }), ctx);
    return ctx.emitted.length;
  };
  assert.is(sent(1), 0);
  assert.is(sent(3), 0);
  assert.is(sent(128), 1);
});

const NO_ICMP: ReadonlyArray<readonly [string, () => ReturnType<typeof udpIn>]> = [
  ['to the limited broadcast address', () => udpIn({ dst: '255.255.255.255' })],
  ['to a directed broadcast address of the host', () => udpIn({ dst: '10.0.0.255' })],
  ['to a multicast group', () => udpIn({ dst: '239.1.1.1' })],
  ['received as link-layer broadcast (pkt_type != PACKET_HOST)', () => { const p = udpIn(); p.pktType = PACKET_BROADCAST; return p; }],
  ['from 0.0.0.0', () => udpIn({ src: '0.0.0.0' })],
  ['from a multicast source', () => udpIn({ src: '224.0.0.9' })],
  ['for a non-first fragment', () => { const p = udpIn(); p.fragment = true; return p; }],
];

test('no ICMP error to broadcast/multicast destinations or sources, nor for fragments; the packet is still dropped', () => {
  for (const [what, make] of NO_ICMP) {
    const { t, ctx } = rejectWith('icmp-port-unreachable');
    ctx.host.broadcast.add('10.0.0.255');
    assert.is(t.run(make(), ctx), NF_DROP, what);
    assert.is(ctx.emitted.length, 0, what);
  }
});

test('no ICMPv6 error for an unspecified or multicast source (RFC 4443 2.4) or a multicast destination', () => {
  for (const [src, dst] of [['::', 'fd00::1'], ['ff02::1', 'fd00::1'], ['fd00::2', 'ff02::1']] as const) {
    const { t, ctx } = rejectWith('icmp6-port-unreachable', NF_INET_LOCAL_IN, 6);
    t.run(packet({ proto: 'udp', src, sport: 1, dst, dport: 2 }), ctx);
    assert.is(ctx.emitted.length, 0, `${src} -> ${dst}`);
  }
});

test('the ICMP error is attached to a confirmed connection only (conntrack finds confirmed entries)', () => {
  const t = compileTarget('REJECT', '--reject-with icmp-port-unreachable');
  const ctx = makeCtx(NF_INET_LOCAL_IN, 'filter', 4, 'real');
  ctx.host.local.add('10.0.0.1');
  const ct = ctx.conntrack!;
  const first = udpIn();
  ct.in(first, NF_INET_PRE_ROUTING);
  t.run(first, ctx);
  assert.is(ctx.emitted[0]!.ct, null, 'the first packet has an unconfirmed entry');
  // Let the first packet through, then reject the next one of the same flow.
  const ok = udpIn();
  ct.in(ok, NF_INET_PRE_ROUTING);
  ct.confirm(ok);
  const again = udpIn();
  ct.in(again, NF_INET_PRE_ROUTING);
  t.run(again, ctx);
  assert.is(ctx.emitted[1]!.ct, again.ct);
  assert.is(ctx.emitted[1]!.ctinfo, IP_CT_RELATED_REPLY);
});

test.run();
