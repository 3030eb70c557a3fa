/**
 * LOG, NFLOG, TRACE, AUDIT: options as iptables-nft-save 1.8.9 prints them (checked in a
 * scratch netns), and the log lines in nf_log_syslog.c's format (dump_ipv4_packet,
 * dump_ipv6_packet, nf_log_dump_tcp_header …) and xt_AUDIT.c's record.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { NF_INET_LOCAL_IN, NF_INET_LOCAL_OUT, NF_INET_PRE_ROUTING, XT_CONTINUE } from '../../../src/netfilter/index.ts';
import { check, compileTarget, makeCtx, packet, parseError, roundTrip } from './helpers.ts';

const LOG_PRINT: ReadonlyArray<readonly [string, string]> = [
  ['', ''],
  ['--log-level 4', ''],
  ['--log-level warning', ''],
  ['--log-level debug', '--log-level 7'],
  ['--log-level panic', '--log-level 0'],
  ['--log-level emerg', '--log-level 0'],
  ['--log-level alert', '--log-level 1'],
  ['--log-level crit', '--log-level 2'],
  ['--log-level error', '--log-level 3'],
  ['--log-level notice', '--log-level 5'],
  ['--log-level info', '--log-level 6'],
  ['--log-level 0x3', '--log-level 3'],
  ['--log-level 03', '--log-level 3'],
  ['--log-prefix abc', '--log-prefix abc'],
  ['--log-prefix "[UFW BLOCK] "', '--log-prefix "[UFW BLOCK] "'],
  ['--log-prefix "iptables denied: " --log-level 7', '--log-prefix "iptables denied: " --log-level 7'],
  ['--log-level 6 --log-prefix "~%&/()=?"', '--log-prefix "~%&/()=?" --log-level 6'],
  ['--log-prefix "a\\"b"', '--log-prefix "a\\"b"'],
  ['--log-prefix "a\'b"', '--log-prefix "a\\\'b"'],
  ['--log-prefix "a\\\\b"', '--log-prefix "a\\\\b"'],
  // xt_log_info.prefix holds 29 characters: longer prefixes are cut.
  ['--log-prefix 123456789012345678901234567890', '--log-prefix 12345678901234567890123456789'],
  ['--log-tcp-sequence --log-tcp-options --log-ip-options --log-uid --log-macdecode',
    '--log-tcp-sequence --log-tcp-options --log-ip-options --log-uid --log-macdecode'],
  ['--log-macdecode --log-uid --log-ip-options --log-tcp-options --log-tcp-sequence --log-level 1 --log-prefix p',
    '--log-prefix p --log-level 1 --log-tcp-sequence --log-tcp-options --log-ip-options --log-uid --log-macdecode'],
];

test('LOG prints back as iptables-nft-save does (prefix quoted by xtables_save_string)', () => {
  for (const [i, want] of LOG_PRINT) assert.is(roundTrip('LOG', i), want, i);
});

test('LOG rejects unknown levels and an empty prefix', () => {
  assert.is(parseError('LOG', '--log-level 8'), 'log level "8" unknown');
  assert.is(parseError('LOG', '--log-level warn'), 'log level "warn" unknown');
  assert.is(parseError('LOG', '--log-level err'), 'log level "err" unknown');
  assert.is(parseError('LOG', '--log-level DEBUG'), 'log level "DEBUG" unknown');
  assert.is(parseError('LOG', '--log-prefix ""'), 'Argument must have a minimum length of 1 characters');
  assert.is(parseError('LOG', '--log-uid --log-uid'), 'LOG: option "--log-uid" can only be used once.');
});

const NFLOG_PRINT: ReadonlyArray<readonly [string, string]> = [
  ['', ''],
  ['--nflog-group 0', ''],
  ['--nflog-group 5', '--nflog-group 5'],
  ['--nflog-group 65535', '--nflog-group 65535'],
  ['--nflog-group 0x10', '--nflog-group 16'],
  ['--nflog-prefix abc', '--nflog-prefix abc'],
  ['--nflog-range 100', ''],
  ['--nflog-size 100', '--nflog-size 100'],
  ['--nflog-size 0', '--nflog-size 0'],
  ['--nflog-size 4294967295', '--nflog-size 4294967295'],
  ['--nflog-threshold 0', ''],
  ['--nflog-threshold 1', '--nflog-threshold 1'],
  ['--nflog-threshold 65535', '--nflog-threshold 65535'],
  ['--nflog-threshold 5 --nflog-size 3 --nflog-prefix x --nflog-group 2', '--nflog-prefix x --nflog-group 2 --nflog-size 3 --nflog-threshold 5'],
  ['--nflog-prefix "should use NFLOG" --nflog-group 1 --nflog-size 123 --nflog-threshold 42',
    '--nflog-prefix "should use NFLOG" --nflog-group 1 --nflog-size 123 --nflog-threshold 42'],
  ['--nflog-prefix 1234567890123456789012345678901234567890123456789012345678901234567890',
    '--nflog-prefix 1234567890123456789012345678901234567890123456789012345678901234567890'],
];

test('NFLOG prints back as iptables-nft-save does', () => {
  for (const [i, want] of NFLOG_PRINT) assert.is(roundTrip('NFLOG', i), want, i);
});

test('NFLOG rejects what iptables 1.8.9 rejects', () => {
  assert.is(parseError('NFLOG', '--nflog-group 65536'), 'NFLOG: bad value for option "--nflog-group", or out of range (0-65535).');
  assert.is(parseError('NFLOG', '--nflog-group -1'), 'NFLOG: bad value for option "--nflog-group", or out of range (0-65535).');
  assert.is(parseError('NFLOG', '--nflog-threshold 65536'), 'NFLOG: bad value for option "--nflog-threshold", or out of range (0-65535).');
  assert.is(parseError('NFLOG', '--nflog-size 4294967296'), 'NFLOG: bad value for option "--nflog-size", or out of range (0-4294967295).');
  assert.is(parseError('NFLOG', '--nflog-range 5 --nflog-size 6'), 'NFLOG: option "--nflog-range" cannot be used together with "--nflog-size".');
  assert.is(parseError('NFLOG', '--nflog-size 5 --nflog-range 6'), 'NFLOG: option "--nflog-range" cannot be used together with "--nflog-size".');
  assert.is(parseError('NFLOG', '--nflog-group 1 --nflog-group 2'), 'NFLOG: option "--nflog-group" can only be used once.');
});

// ---- log lines ----

function logLine(opts: string, hook: number, spec: Parameters<typeof packet>[0], family: 4 | 6 = 4): string {
  const ctx = makeCtx(hook, 'filter', family);
  const p = packet(spec);
  assert.is(compileTarget('LOG', opts, { family }).run(p, ctx), XT_CONTINUE);
  assert.is(ctx.logs.length, 1);
  assert.is(ctx.logs[0]!.kind, 'LOG');
  return ctx.logs[0]!.text;
}

const synIn = { proto: 'tcp', src: '10.0.0.2', sport: 40000, dst: '10.0.0.1', dport: 80, tcp_flags: 'SYN', in_iface: 'eth0', length: 60 };

test('LOG line for an incoming TCP SYN: prefix, interfaces, MAC, IP and TCP fields', () => {
  const spec = { ...synIn };
  const ctx = makeCtx(NF_INET_LOCAL_IN, 'filter');
  const p = packet(spec);
  p.macSource = 'aabbccddeeff';
  compileTarget('LOG', '--log-prefix "[UFW BLOCK] "').run(p, ctx);
  assert.is(
    ctx.logs[0]!.text,
    '[UFW BLOCK] IN=eth0 OUT= MAC=00:00:00:00:00:00:aa:bb:cc:dd:ee:ff:08:00 SRC=10.0.0.2 DST=10.0.0.1 LEN=60 TOS=0x00 PREC=0x00 TTL=64 ID=0 PROTO=TCP SPT=40000 DPT=80 WINDOW=0 RES=0x00 SYN URGP=0 ',
  );
});

test('LOG: --log-macdecode, --log-tcp-sequence, TOS/PREC split and a non-zero mark', () => {
  const ctx = makeCtx(NF_INET_LOCAL_IN, 'filter');
  const p = packet({ ...synIn, tcp_flags: 'ACK,PSH,FIN', mark: 0x4000 });
  p.macSource = 'AABBCCDDEEFF';
  p.tos = 0xb8;
  compileTarget('LOG', '--log-macdecode --log-tcp-sequence').run(p, ctx);
  assert.is(
    ctx.logs[0]!.text,
    'IN=eth0 OUT= MACSRC=aa:bb:cc:dd:ee:ff MACDST=00:00:00:00:00:00 MACPROTO=0800 SRC=10.0.0.2 DST=10.0.0.1 LEN=60 TOS=0x18 PREC=0xA0 TTL=64 ID=0 PROTO=TCP SPT=40000 DPT=80 SEQ=0 ACK=0 WINDOW=0 RES=0x00 ACK PSH FIN URGP=0 MARK=0x4000 ',
  );
});

test('LOG: UDP length, locally generated packets (no MAC) and --log-uid', () => {
  const udpOut = { proto: 'udp', src: '10.0.0.1', sport: 5353, dst: '10.0.0.9', dport: 53, out_iface: 'eth0', uid: 1000, gid: 100, length: 40 };
  assert.is(logLine('', NF_INET_LOCAL_OUT, udpOut), 'IN= OUT=eth0 SRC=10.0.0.1 DST=10.0.0.9 LEN=40 TOS=0x00 PREC=0x00 TTL=64 ID=0 PROTO=UDP SPT=5353 DPT=53 LEN=20 ');
  assert.is(logLine('--log-uid', NF_INET_LOCAL_OUT, udpOut), 'IN= OUT=eth0 SRC=10.0.0.1 DST=10.0.0.9 LEN=40 TOS=0x00 PREC=0x00 TTL=64 ID=0 PROTO=UDP SPT=5353 DPT=53 LEN=20 UID=1000 GID=100 ');
});

test('LOG: ICMP echo shows ID and SEQ; a too-short destination unreachable is INCOMPLETE', () => {
  const echo = { proto: 'icmp', src: '10.0.0.2', dst: '10.0.0.1', icmp_type: 8, icmp_code: 0, icmp_id: 77, in_iface: 'lo', length: 84 };
  assert.match(logLine('', NF_INET_PRE_ROUTING, echo), / PROTO=ICMP TYPE=8 CODE=0 ID=77 SEQ=0 $/);
  const unreach = { ...echo, icmp_type: 3, icmp_code: 3, length: 28 };
  assert.match(logLine('', NF_INET_PRE_ROUTING, unreach), / PROTO=ICMP TYPE=3 CODE=3 INCOMPLETE \[8 bytes\] $/);
});

test('LOG: a non-first fragment shows only PROTO=TCP (no header to read)', () => {
  const ctx = makeCtx(NF_INET_LOCAL_IN, 'filter');
  const p = packet(synIn);
  p.fragment = true;
  compileTarget('LOG', '').run(p, ctx);
  assert.match(ctx.logs[0]!.text, / ID=0 PROTO=TCP $/);
});

test('LOG for IPv6: %pI6 addresses in full, TC, HOPLIMIT and FLOWLBL', () => {
  const spec = { proto: 'tcp', src: 'fd00::2', sport: 40000, dst: 'fd00::1', dport: 22, tcp_flags: 'SYN', out_iface: 'eth0', length: 80 };
  assert.is(
    logLine('--log-prefix v6: ', NF_INET_LOCAL_OUT, spec, 6),
    'v6:IN= OUT=eth0 SRC=fd00:0000:0000:0000:0000:0000:0000:0002 DST=fd00:0000:0000:0000:0000:0000:0000:0001 LEN=80 TC=0 HOPLIMIT=64 FLOWLBL=0 PROTO=TCP SPT=40000 DPT=22 WINDOW=0 RES=0x00 SYN URGP=0 ',
  );
  const echo = { proto: 'icmpv6', src: 'fd00::2', dst: 'fd00::1', icmp_type: 128, icmp_code: 0, icmp_id: 9 };
  assert.match(logLine('', NF_INET_LOCAL_OUT, echo, 6), / PROTO=ICMPv6 TYPE=128 CODE=0 ID=9 SEQ=0 $/);
});

test('NFLOG records the packet with its prefix and continues', () => {
  const ctx = makeCtx(NF_INET_LOCAL_IN, 'filter');
  const p = packet({ proto: 'udp', src: '10.0.0.2', sport: 1, dst: '10.0.0.1', dport: 2, length: 28 });
  assert.is(compileTarget('NFLOG', '--nflog-group 5 --nflog-prefix "dropped: "').run(p, ctx), XT_CONTINUE);
  assert.equal(ctx.logs.map((l) => l.kind), ['NFLOG']);
  assert.is(ctx.logs[0]!.text, 'dropped: IN= OUT= SRC=10.0.0.2 DST=10.0.0.1 LEN=28 TOS=0x00 PREC=0x00 TTL=64 ID=0 PROTO=UDP SPT=1 DPT=2 LEN=8 ');
});

test('TRACE sets nftrace, takes no options and (as iptables-nft) is accepted in any table', () => {
  assert.is(roundTrip('TRACE', ''), '');
  for (const table of ['raw', 'mangle', 'filter', 'nat']) assert.is(check('TRACE', '', { table }), null);
  const p = packet(synIn);
  assert.is(p.nftrace, false);
  assert.is(compileTarget('TRACE', '').run(p, makeCtx(NF_INET_PRE_ROUTING, 'raw')), XT_CONTINUE);
  assert.is(p.nftrace, true);
});

test('AUDIT: --type required, case-insensitive, printed in lower case', () => {
  assert.is(roundTrip('AUDIT', '--type accept'), '--type accept');
  assert.is(roundTrip('AUDIT', '--type drop'), '--type drop');
  assert.is(roundTrip('AUDIT', '--type reject'), '--type reject');
  assert.is(roundTrip('AUDIT', '--type ACCEPT'), '--type accept');
  assert.is(parseError('AUDIT', '--type foo'), 'Bad action type value "foo"');
  assert.is(parseError('AUDIT', ''), 'AUDIT: option "--type" must be specified');
});

test('AUDIT writes a NETFILTER_PKT record (mark as %#x, addresses, protocol) and continues', () => {
  const ctx = makeCtx(NF_INET_LOCAL_IN, 'filter');
  const t = compileTarget('AUDIT', '--type drop');
  assert.is(t.run(packet(synIn), ctx), XT_CONTINUE);
  t.run(packet({ ...synIn, mark: 0x4000 }), ctx);
  const ctx6 = makeCtx(NF_INET_LOCAL_IN, 'filter', 6);
  compileTarget('AUDIT', '--type drop', { family: 6 }).run(packet({ proto: 'udp', src: 'fd00::2', sport: 1, dst: 'fd00::1', dport: 2 }), ctx6);
  assert.equal(ctx.logs.map((l) => l.text), [
    'audit: NETFILTER_PKT mark=0 saddr=10.0.0.2 daddr=10.0.0.1 proto=6',
    'audit: NETFILTER_PKT mark=0x4000 saddr=10.0.0.2 daddr=10.0.0.1 proto=6',
  ]);
  assert.is(ctx6.logs[0]!.text, 'audit: NETFILTER_PKT mark=0 saddr=fd00::2 daddr=fd00::1 proto=17');
});

test.run();
