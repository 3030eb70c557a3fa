/**
 * DNAT, SNAT, MASQUERADE, REDIRECT, NETMAP: range syntax as libxt_NAT / libipt_NETMAP of
 * iptables 1.8.9 read and print it (each row checked with iptables-nft-restore and
 * iptables-nft-save in a scratch netns), the kernel's table/hook rules (xt_nat.c,
 * xt_MASQUERADE.c, xt_REDIRECT.c, xt_NETMAP.c; messages as dmesg shows them), and the
 * ranges handed to nf_nat_setup_info.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  NF_ACCEPT, NF_DROP, NF_INET_LOCAL_IN, NF_INET_LOCAL_OUT, NF_INET_POST_ROUTING, NF_INET_PRE_ROUTING,
  IP_CT_ESTABLISHED, IP_CT_NEW, IP_CT_RELATED, IP_CT_RELATED_REPLY,
} from '../../../src/netfilter/index.ts';
import type { Packet } from '../../../src/packet/index.ts';
import { check, compileTarget, hooks, makeCtx, packet, parseError, roundTrip, w, type ParseOpts } from './helpers.ts';

const TCP: ParseOpts = { proto: 6 };
const UDP: ParseOpts = { proto: 17 };
const V6TCP: ParseOpts = { family: 6, proto: 6 };

type Row = readonly [string, ParseOpts, string];

const DNAT_PRINT: readonly Row[] = [
  ['--to-destination 1.2.3.4', {}, '--to-destination 1.2.3.4'],
  ['--to-destination 1.2.3.4:80-90', TCP, '--to-destination 1.2.3.4:80-90'],
  ['--to-destination 1.2.3.4-1.2.3.9:80-90 --random --persistent', TCP, '--to-destination 1.2.3.4-1.2.3.9:80-90 --random --persistent'],
  ['--persistent --random --to-destination 1.2.3.4', TCP, '--to-destination 1.2.3.4 --random --persistent'],
  ['--to-destination :80', TCP, '--to-destination :80'],
  ['--to-destination 1.2.3.4:80', { proto: 1 }, '--to-destination 1.2.3.4:80'],
  ['--to-destination 1.2.3.4:5', { proto: 17, protoInvert: true }, '--to-destination 1.2.3.4:5'],
  ['--to-destination 1.2.3.4:http', UDP, '--to-destination 1.2.3.4:80'],
  ['--to-destination 1.2.3.4:80-90/100', UDP, '--to-destination 1.2.3.4:80-90/100'],
  ['--to-destination 1.2.3.4:0', UDP, '--to-destination 1.2.3.4:0'],
  ['--to-destination 1.2.3.4:0-0', TCP, '--to-destination 1.2.3.4:0'],
  ['--to-destination 1.2.3.4:0-5', UDP, '--to-destination 1.2.3.4:0-5'],
  ['--to-destination 1.2.3.9-1.2.3.4', UDP, '--to-destination 1.2.3.9-1.2.3.4'],
  ['--to-destination 1.2.3.4-1.2.3.4', UDP, '--to-destination 1.2.3.4'],
  ['--to-destination 0.0.0.0', UDP, '--to-destination 0.0.0.0'],
  ['--to-destination 1.2.3.4:10-20/http', TCP, '--to-destination 1.2.3.4:10-20/80'],
  ['--to-destination 1.2.3.4:10-20/30x', TCP, '--to-destination 1.2.3.4:10-20/30'],
  ['--to-destination 1.2.3.4:0x10', TCP, '--to-destination 1.2.3.4:16'],
  ['--to-destination 1.2.3.4:+5', TCP, '--to-destination 1.2.3.4:5'],
  ['--to-destination fd00::1', { family: 6 }, '--to-destination fd00::1'],
  ['--to-destination [fd00::1]:80', V6TCP, '--to-destination [fd00::1]:80'],
  ['--to-destination [fd00::1-fd00::5]:80-90', V6TCP, '--to-destination [fd00::1-fd00::5]:80-90'],
  ['--to-destination fd00::1-fd00::5', V6TCP, '--to-destination fd00::1-fd00::5'],
  ['--to-destination [fd00::1]', V6TCP, '--to-destination fd00::1'],
  ['--to-destination fd00::1:80', V6TCP, '--to-destination fd00::1:80'],
  ['--to-destination []:80', V6TCP, '--to-destination :80'],
  ['--to-destination :80', V6TCP, '--to-destination :80'],
  ['--to-destination [fd00::1]:80-90/85', V6TCP, '--to-destination [fd00::1]:80-90/85'],
];

const SNAT_PRINT: readonly Row[] = [
  ['--to-source 1.2.3.4 --random-fully --persistent --random', {}, '--to-source 1.2.3.4 --random --random-fully --persistent'],
  ['--to-source 1.2.3.4:1000-2000', TCP, '--to-source 1.2.3.4:1000-2000'],
  ['--to-source :1000', TCP, '--to-source :1000'],
  // SNAT revisions 0 (IPv4) and 1 (IPv6) have no base port: the offset flag stays, the base prints as 0.
  ['--to-source 1.2.3.4:1000-2000/1500', TCP, '--to-source 1.2.3.4:1000-2000/0'],
  ['--to-source [fd00::1]:1000-2000/1500', V6TCP, '--to-source [fd00::1]:1000-2000/0'],
  ['--to-source fd00::1-fd00::3 --random-fully', V6TCP, '--to-source fd00::1-fd00::3 --random-fully'],
  ['--to-source [::ffff:1.2.3.4]:80', V6TCP, '--to-source [::ffff:1.2.3.4]:80'],
  ['--to-source [fd00::1]', V6TCP, '--to-source fd00::1'],
];

const MASQ_PRINT: readonly Row[] = [
  ['', {}, ''],
  ['--to-ports 1024-65535 --random --random-fully', TCP, '--to-ports 1024-65535 --random --random-fully'],
  ['--random-fully', {}, '--random-fully'],
  ['--to-ports 80-90/100', UDP, '--to-ports 80-90/0'],
  ['--to-ports ssh', UDP, '--to-ports 22'],
  ['--to-ports 1000-2000/1500', V6TCP, '--to-ports 1000-2000/0'],
  ['--to-ports 5-6 --random', V6TCP, '--to-ports 5-6 --random'],
];

const REDIRECT_PRINT: readonly Row[] = [
  ['', TCP, ''],
  ['--to-ports 80 --random', TCP, '--to-ports 80 --random'],
  ['--to-ports 80-90', TCP, '--to-ports 80-90'],
  ['--to-ports 0', V6TCP, '--to-ports 0'],
  ['--to-ports 0-0 --random', TCP, '--to-ports 0 --random'],
  ['--to-ports 15001', TCP, '--to-ports 15001'],
];

const NETMAP_PRINT: readonly Row[] = [
  ['--to 10.0.0.0/8', {}, '--to 10.0.0.0/8'],
  ['--to 10.1.2.3/255.255.0.0', {}, '--to 10.1.0.0/16'],
  ['--to 10.1.2.3/255.255.255.0', {}, '--to 10.1.2.0/24'],
  // A non-contiguous mask, or a number past 32 that inet_aton reads as one, keeps every bit.
  ['--to 10.1.2.3/255.0.255.0', {}, '--to 10.1.2.3/32'],
  ['--to 10.1.2.3/255.255.0.255', {}, '--to 10.1.2.3/32'],
  ['--to 10.1.2.3/33', {}, '--to 10.1.2.3/32'],
  ['--to 10.1.2.3/1000', {}, '--to 10.1.2.3/32'],
  ['--to 10.1.2.3', {}, '--to 10.1.2.3/32'],
  ['--to 10.1.2.3/24', {}, '--to 10.1.2.0/24'],
  ['--to 10.1.2.3/0', {}, '--to 0.0.0.0/0'],
  ['--to 10.1.2.3/0.0.0.0', {}, '--to 0.0.0.0/0'],
  ['--to 10.1.2.3/0x18', {}, '--to 10.1.2.0/24'],
  ['--to 10.1.2.3/024', {}, '--to 10.1.0.0/20'],
  ['--to 10.1', {}, '--to 10.0.0.1/32'],
  ['--to 0x0a010203/8', {}, '--to 10.0.0.0/8'],
  ['--to fd00::1/64', { family: 6 }, '--to fd00::/64'],
  ['--to fd00::1', { family: 6 }, '--to fd00::1/128'],
  ['--to fd00::1/ffff:ffff::', { family: 6 }, '--to fd00::/32'],
];

test('DNAT prints --to-destination as iptables-nft-save does', () => {
  for (const [i, o, want] of DNAT_PRINT) assert.is(roundTrip('DNAT', i, o), want, i);
});
test('SNAT prints --to-source as iptables-nft-save does', () => {
  for (const [i, o, want] of SNAT_PRINT) assert.is(roundTrip('SNAT', i, { family: 4, ...o }), want, i);
});
test('MASQUERADE prints --to-ports and flags as iptables-nft-save does', () => {
  for (const [i, o, want] of MASQ_PRINT) assert.is(roundTrip('MASQUERADE', i, o), want, i);
});
test('REDIRECT prints --to-ports as iptables-nft-save does', () => {
  for (const [i, o, want] of REDIRECT_PRINT) assert.is(roundTrip('REDIRECT', i, o), want, i);
});
test('NETMAP prints --to address/prefix as iptables-nft-save does', () => {
  for (const [i, o, want] of NETMAP_PRINT) assert.is(roundTrip('NETMAP', i, o), want, i);
});

const ERRORS: ReadonlyArray<readonly [string, string, ParseOpts, string]> = [
  ['DNAT', '--to-destination 1.2.3.4:80', {}, 'Need TCP, UDP, SCTP or DCCP with port specification'],
  ['DNAT', '--to-destination 1.2.3.4:80-http', UDP, "Port `http' not valid"],
  ['DNAT', '--to-destination 1.2.3.4:90-80', UDP, "Port range `80' funky"],
  ['DNAT', '--to-destination 1.2.3.4:80:90', UDP, 'Bad IP address "1.2.3.4:80:90"'],
  ['DNAT', '--to-destination 1.2.3.4:80x', UDP, "Garbage after port value: `x'"],
  ['DNAT', '--to-destination 1.2.3.4:65536', UDP, "Port `65536' not valid"],
  ['DNAT', '--to-destination 1.2.3.4 --to-destination 1.2.3.5', UDP, 'DNAT: option "--to-destination" can only be used once.'],
  ['DNAT', '--to-destination 1.2.3', UDP, 'Bad IP address "1.2.3"'],
  ['DNAT', '--to-destination [1.2.3.4]:80', UDP, 'Invalid address format'],
  ['DNAT', '', UDP, 'DNAT: option "--to-destination" must be specified'],
  ['DNAT', '--to-destination 1.2.3.4:', UDP, "Port `' not valid"],
  ['DNAT', '--to-destination 1.2.3.4:5-', UDP, "Port `' not valid"],
  ['DNAT', '--to-destination 1.2.3.4:10-20/0', TCP, "Port `0' not valid"],
  ['DNAT', '--to-destination 1.2.3.4:10/20', TCP, "Garbage after port value: `/20'"],
  ['DNAT', '--to-destination 1.2.3.4-:5', TCP, 'Bad IP address ""'],
  ['DNAT', '--to-destination -1.2.3.4', TCP, 'Bad IP address ""'],
  ['DNAT', '--to-destination 1.2.3.4-1.2.3.5-1.2.3.6', TCP, 'Bad IP address "1.2.3.5-1.2.3.6"'],
  ['DNAT', '--to-destination [fd00::1', V6TCP, 'Invalid address format'],
  ['DNAT', '--to-destination 1.2.3.4', V6TCP, 'Bad IP address "1.2.3.4"'],
  ['SNAT', '', {}, 'SNAT: option "--to-source" must be specified'],
  ['MASQUERADE', '--to-ports 1024', {}, 'Need TCP, UDP, SCTP or DCCP with port specification'],
  ['MASQUERADE', '--to-ports 80:90', UDP, 'Invalid port:port syntax - use dash'],
  ['MASQUERADE', '--to-ports 1.2.3.4:80', UDP, "Garbage after port value: `.2.3.4:80'"],
  ['MASQUERADE', '--to-ports 1024-65535 --to-ports 5', UDP, 'MASQUERADE: option "--to-ports" can only be used once.'],
  ['MASQUERADE', '--random --random', UDP, 'MASQUERADE: option "--random" can only be used once.'],
  ['REDIRECT', '--to-ports 80', {}, 'Need TCP, UDP, SCTP or DCCP with port specification'],
  ['REDIRECT', '--to-ports 1.2.3.4', TCP, "Garbage after port value: `.2.3.4'"],
  ['REDIRECT', '--to-ports 80-90/85', TCP, 'Shifted portmap ranges not supported with this kernel'],
  ['REDIRECT', '--to-ports 80-90/85', V6TCP, 'Shifted portmap ranges not supported with this kernel'],
  ['NETMAP', '', {}, 'NETMAP: option "--to" must be specified'],
  ['NETMAP', '--to 10.1.2.3/16 --to 1.1.1.1/8', {}, 'NETMAP: option "--to" can only be used once.'],
  ['NETMAP', '--to 10.1.2.3/-1', {}, 'NETMAP: bad value for option "--to", neither a valid network mask nor valid CIDR (0-32).'],
  ['NETMAP', '--to 10.1.2.3/', {}, 'NETMAP: bad value for option "--to", neither a valid network mask nor valid CIDR (0-32).'],
  ['NETMAP', '--to 10.1.2.3/24/8', {}, 'NETMAP: bad value for option "--to", neither a valid network mask nor valid CIDR (0-32).'],
  ['NETMAP', '--to 10.1.2.0/24:80', TCP, 'NETMAP: bad value for option "--to", neither a valid network mask nor valid CIDR (0-32).'],
  ['NETMAP', '--to fd00::1/129', { family: 6 }, 'NETMAP: bad value for option "--to", neither a valid network mask nor valid CIDR (0-128).'],
  ['NETMAP', '--to foo', {}, 'getaddrinfo: Temporary failure in name resolution'],
  ['NETMAP', '--to 10.1.2.0-10.1.2.255', {}, 'getaddrinfo: Temporary failure in name resolution'],
];

test('NAT targets reject what iptables 1.8.9 rejects, with its wording', () => {
  for (const [name, i, o, want] of ERRORS) assert.is(parseError(name, i, o), want, `${name} ${i}`);
});

const CHECKS: ReadonlyArray<readonly [string, string, string, number, string | null]> = [
  ['DNAT', '--to-destination 1.2.3.4', 'nat', hooks(NF_INET_PRE_ROUTING, NF_INET_LOCAL_OUT), null],
  ['DNAT', '--to-destination 1.2.3.4', 'nat', hooks(NF_INET_POST_ROUTING), 'x_tables: ip_tables: DNAT target: used from hooks POSTROUTING, but only usable from PREROUTING/OUTPUT'],
  ['DNAT', '--to-destination 1.2.3.4', 'nat', hooks(NF_INET_LOCAL_IN), 'x_tables: ip_tables: DNAT target: used from hooks INPUT, but only usable from PREROUTING/OUTPUT'],
  ['DNAT', '--to-destination 1.2.3.4', 'nat', hooks(NF_INET_PRE_ROUTING, NF_INET_POST_ROUTING), 'x_tables: ip_tables: DNAT target: used from hooks PREROUTING/POSTROUTING, but only usable from PREROUTING/OUTPUT'],
  ['DNAT', '--to-destination 1.2.3.4', 'nat', 0, null],
  ['DNAT', '--to-destination 1.2.3.4', 'filter', hooks(NF_INET_LOCAL_IN), 'x_tables: ip_tables: DNAT target: only valid in nat table, not filter'],
  ['SNAT', '--to-source 1.2.3.4', 'nat', hooks(NF_INET_LOCAL_IN, NF_INET_POST_ROUTING), null],
  ['SNAT', '--to-source 1.2.3.4', 'nat', hooks(NF_INET_LOCAL_OUT), 'x_tables: ip_tables: SNAT target: used from hooks OUTPUT, but only usable from INPUT/POSTROUTING'],
  ['MASQUERADE', '', 'nat', hooks(NF_INET_POST_ROUTING), null],
  ['MASQUERADE', '', 'nat', hooks(NF_INET_PRE_ROUTING), 'x_tables: ip_tables: MASQUERADE target: used from hooks PREROUTING, but only usable from POSTROUTING'],
  ['MASQUERADE', '', 'nat', hooks(NF_INET_LOCAL_IN), 'x_tables: ip_tables: MASQUERADE target: used from hooks INPUT, but only usable from POSTROUTING'],
  ['REDIRECT', '', 'nat', hooks(NF_INET_POST_ROUTING), 'x_tables: ip_tables: REDIRECT target: used from hooks POSTROUTING, but only usable from PREROUTING/OUTPUT'],
  ['NETMAP', '--to 10.0.0.0/8', 'nat', hooks(NF_INET_PRE_ROUTING, NF_INET_POST_ROUTING, NF_INET_LOCAL_IN, NF_INET_LOCAL_OUT), null],
  ['NETMAP', '--to 10.0.0.0/8', 'filter', hooks(NF_INET_LOCAL_IN), 'x_tables: ip_tables: NETMAP target: only valid in nat table, not filter'],
];

test('NAT targets: table and hook checks with the kernel log text', () => {
  for (const [name, i, table, h, want] of CHECKS) assert.is(check(name, i, { table, hooks: h, proto: 6 }), want, `${name} ${table} ${h}`);
});

// ---- what the targets hand to nf_nat_setup_info ----

/** A packet with a stand-in conntrack entry (the stub table only records setupNat). */
function withCt(p: Packet, ctinfo = IP_CT_NEW, origSrc: Uint32Array = p.saddr): Packet {
  p.ct = { id: 1, orig: { src: Uint32Array.from(origSrc) } } as unknown as Packet['ct'];
  p.ctinfo = ctinfo;
  return p;
}

const syn = (dst = '10.96.0.10', extra = {}) =>
  packet({ proto: 'tcp', src: '10.0.0.2', sport: 40000, dst, dport: 80, tcp_flags: 'SYN', in_iface: 'eth0', ...extra });

test('DNAT hands its range to setupNat as a destination manip (flags MAP_IPS|PROTO_SPECIFIED)', () => {
  const t = compileTarget('DNAT', '--to-destination 10.244.1.5:8080', TCP);
  const ctx = makeCtx(NF_INET_PRE_ROUTING, 'nat');
  assert.is(t.run(withCt(syn()), ctx), NF_ACCEPT);
  assert.equal(ctx.natCalls, [{ flags: 3, minAddr: '10.244.1.5', maxAddr: '10.244.1.5', minProto: 8080, maxProto: 8080, baseProto: 0, manip: 1 }]);
});

test('DNAT --random --persistent and a shifted port map keep their flags and base (revision 2)', () => {
  const t = compileTarget('DNAT', '--to-destination 10.0.0.1-10.0.0.3:1000-2000/80 --random --persistent', TCP);
  const ctx = makeCtx(NF_INET_LOCAL_OUT, 'nat');
  t.run(withCt(syn()), ctx);
  // MAP_IPS 1 | PROTO_SPECIFIED 2 | PROTO_RANDOM 4 | PERSISTENT 8 | PROTO_OFFSET 32
  assert.equal(ctx.natCalls[0], { flags: 47, minAddr: '10.0.0.1', maxAddr: '10.0.0.3', minProto: 1000, maxProto: 2000, baseProto: 80, manip: 1 });
});

test('xt_nat_setup_info: NAT only for NEW and RELATED (and RELATED_REPLY for SNAT); no entry, no NAT', () => {
  const cases: ReadonlyArray<readonly [string, number, number, boolean]> = [
    ['DNAT', NF_INET_PRE_ROUTING, IP_CT_NEW, true],
    ['DNAT', NF_INET_PRE_ROUTING, IP_CT_RELATED, true],
    ['DNAT', NF_INET_PRE_ROUTING, IP_CT_RELATED_REPLY, false],
    ['DNAT', NF_INET_PRE_ROUTING, IP_CT_ESTABLISHED, false],
    ['SNAT', NF_INET_POST_ROUTING, IP_CT_RELATED_REPLY, true],
    ['SNAT', NF_INET_POST_ROUTING, IP_CT_ESTABLISHED, false],
  ];
  for (const [name, hook, ctinfo, called] of cases) {
    const t = compileTarget(name, name === 'DNAT' ? '--to-destination 1.2.3.4' : '--to-source 1.2.3.4');
    const ctx = makeCtx(hook, 'nat');
    assert.is(t.run(withCt(syn(), ctinfo), ctx), NF_ACCEPT);
    assert.is(ctx.natCalls.length, called ? 1 : 0, `${name} ctinfo ${ctinfo}`);
  }
  const t = compileTarget('DNAT', '--to-destination 1.2.3.4');
  const ctx = makeCtx(NF_INET_PRE_ROUTING, 'nat');
  assert.is(t.run(syn(), ctx), NF_ACCEPT);
  assert.is(ctx.natCalls.length, 0);
});

test('SNAT is a source manip', () => {
  const t = compileTarget('SNAT', '--to-source 192.0.2.1:1024-2048 --random-fully', TCP);
  const ctx = makeCtx(NF_INET_POST_ROUTING, 'nat');
  t.run(withCt(syn()), ctx);
  // MAP_IPS | PROTO_SPECIFIED | PROTO_RANDOM_FULLY (16)
  assert.equal(ctx.natCalls[0], { flags: 19, minAddr: '192.0.2.1', maxAddr: '192.0.2.1', minProto: 1024, maxProto: 2048, baseProto: 0, manip: 0 });
});

test('MASQUERADE takes the address the host picks for the outgoing interface; none drops (EADDRNOTAVAIL)', () => {
  const t = compileTarget('MASQUERADE', '--to-ports 1024-65535', TCP);
  let ctx = makeCtx(NF_INET_POST_ROUTING, 'nat');
  ctx.host.masq = '192.168.1.10';
  assert.is(t.run(withCt(syn('8.8.8.8', { out_iface: 'eth1' })), ctx), NF_ACCEPT);
  assert.equal(ctx.natCalls[0], { flags: 3, minAddr: '192.168.1.10', maxAddr: '192.168.1.10', minProto: 1024, maxProto: 65535, baseProto: 0, manip: 0 });
  ctx = makeCtx(NF_INET_POST_ROUTING, 'nat');
  assert.is(t.run(withCt(syn('8.8.8.8')), ctx), NF_DROP);
  assert.is(ctx.natCalls.length, 0);
});

test('MASQUERADE leaves an entry whose original source is 0.0.0.0 alone', () => {
  const t = compileTarget('MASQUERADE', '');
  const ctx = makeCtx(NF_INET_POST_ROUTING, 'nat');
  ctx.host.masq = '192.168.1.10';
  assert.is(t.run(withCt(syn(), IP_CT_NEW, w('0.0.0.0')), ctx), NF_ACCEPT);
  assert.is(ctx.natCalls.length, 0);
});

test('MASQUERADE reuses one range: a second packet gets its own address, not the first one', () => {
  const t = compileTarget('MASQUERADE', '');
  const ctx = makeCtx(NF_INET_POST_ROUTING, 'nat');
  ctx.host.masq = '192.168.1.10';
  t.run(withCt(syn()), ctx);
  ctx.host.masq = '172.16.0.1';
  t.run(withCt(syn()), ctx);
  assert.equal(ctx.natCalls.map((c) => c.minAddr), ['192.168.1.10', '172.16.0.1']);
});

test('REDIRECT: to the incoming interface address at PREROUTING, loopback at OUTPUT, drop without an address', () => {
  const t = compileTarget('REDIRECT', '--to-ports 15001', TCP);
  let ctx = makeCtx(NF_INET_PRE_ROUTING, 'nat');
  ctx.host.ifaces.set('eth0', '10.0.0.1');
  t.run(withCt(syn()), ctx);
  assert.equal(ctx.natCalls[0], { flags: 3, minAddr: '10.0.0.1', maxAddr: '10.0.0.1', minProto: 15001, maxProto: 15001, baseProto: 0, manip: 1 });
  ctx = makeCtx(NF_INET_LOCAL_OUT, 'nat');
  t.run(withCt(syn()), ctx);
  assert.is(ctx.natCalls[0]!.minAddr, '127.0.0.1');
  ctx = makeCtx(NF_INET_PRE_ROUTING, 'nat');
  assert.is(t.run(withCt(syn()), ctx), NF_DROP);
  assert.is(ctx.natCalls.length, 0);
  const t6 = compileTarget('REDIRECT', '', V6TCP);
  ctx = makeCtx(NF_INET_LOCAL_OUT, 'nat', 6);
  t6.run(withCt(packet({ proto: 'tcp', src: 'fd00::2', sport: 1, dst: 'fd00::9', dport: 80 })), ctx);
  assert.is(ctx.natCalls[0]!.minAddr, '::1');
});

test('NETMAP keeps the host bits: destination at PREROUTING/OUTPUT, source at POSTROUTING/INPUT', () => {
  const t = compileTarget('NETMAP', '--to 192.168.0.0/16');
  let ctx = makeCtx(NF_INET_PRE_ROUTING, 'nat');
  t.run(withCt(syn('10.1.2.3')), ctx);
  assert.equal(ctx.natCalls[0], { flags: 1, minAddr: '192.168.2.3', maxAddr: '192.168.2.3', minProto: 0, maxProto: 0, baseProto: 0, manip: 1 });
  ctx = makeCtx(NF_INET_POST_ROUTING, 'nat');
  t.run(withCt(packet({ proto: 'udp', src: '10.5.6.7', sport: 1, dst: '8.8.8.8', dport: 53 })), ctx);
  assert.equal([ctx.natCalls[0]!.minAddr, ctx.natCalls[0]!.manip], ['192.168.6.7', 0]);
  const t6 = compileTarget('NETMAP', '--to fd00:1::/32', { family: 6 });
  ctx = makeCtx(NF_INET_LOCAL_OUT, 'nat', 6);
  t6.run(withCt(packet({ proto: 'udp', src: 'fd00::2', sport: 1, dst: '2001:db8::42', dport: 53 })), ctx);
  assert.is(ctx.natCalls[0]!.minAddr, 'fd00:1::42');
});

test('with the real conntrack table, DNAT then nf_nat_packet rewrites the destination', () => {
  const t = compileTarget('DNAT', '--to-destination 10.244.1.5:8080', TCP);
  const ctx = makeCtx(NF_INET_PRE_ROUTING, 'nat', 4, 'real');
  const p = syn();
  ctx.conntrack!.in(p, NF_INET_PRE_ROUTING);
  assert.is(t.run(p, ctx), NF_ACCEPT);
  ctx.conntrack!.natPacket(p, NF_INET_PRE_ROUTING);
  assert.equal([p.daddr[0], p.dport], [0x0af40105, 8080]);
});

test.run();
