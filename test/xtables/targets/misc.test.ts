/**
 * TPROXY, CHECKSUM, TCPMSS, SET, CLASSIFY, DSCP, TOS, TTL, HL, SECMARK, CONNSECMARK,
 * NFQUEUE: options as iptables-nft-save 1.8.9 prints them (rows checked in a scratch
 * netns), iptables' rejections, the kernel's checkentry rules (messages as dmesg shows
 * them) and what each does to a packet.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  NF_ACCEPT, NF_DROP, NF_QUEUE, XT_CONTINUE, NF_INET_FORWARD, NF_INET_LOCAL_IN, NF_INET_LOCAL_OUT,
  NF_INET_POST_ROUTING, NF_INET_PRE_ROUTING,
} from '../../../src/netfilter/index.ts';
import type { Packet } from '../../../src/packet/index.ts';
import type { IpsetHandle, IpsetView } from '../../../src/xtables/index.ts';
import { check, compileTarget, ext, hooks, makeCtx, packet, parseError, roundTrip, type ParseOpts } from './helpers.ts';

type Row = readonly [string, ParseOpts, string];
const TCP: ParseOpts = { proto: 6 };

function printRows(name: string, rows: readonly Row[]): void {
  for (const [i, o, want] of rows) assert.is(roundTrip(name, i, o), want, `${name} ${i}`);
}
function errorRows(name: string, rows: readonly Row[]): void {
  for (const [i, o, want] of rows) assert.is(parseError(name, i, o), want, `${name} ${i}`);
}

// ---- TPROXY ----

test('TPROXY prints all three options back, with defaults', () => {
  printRows('TPROXY', [
    ['--tproxy-mark 1337/0xffffffff --on-port 15006', TCP, '--on-port 15006 --on-ip 0.0.0.0 --tproxy-mark 0x539/0xffffffff'],
    ['--on-port 15006', TCP, '--on-port 15006 --on-ip 0.0.0.0 --tproxy-mark 0x0/0x0'],
    ['--on-port 15006 --on-ip 1.2.3.4 --tproxy-mark 0x5', TCP, '--on-port 15006 --on-ip 1.2.3.4 --tproxy-mark 0x5/0xffffffff'],
    ['--on-port 0', { proto: 17 }, '--on-port 0 --on-ip 0.0.0.0 --tproxy-mark 0x0/0x0'],
    ['--on-port http', TCP, '--on-port 80 --on-ip 0.0.0.0 --tproxy-mark 0x0/0x0'],
    ['--on-port 65536', TCP, '--on-port 0 --on-ip 0.0.0.0 --tproxy-mark 0x0/0x0'],
    ['--on-port 1 --on-ip 10.1', TCP, '--on-port 1 --on-ip 10.0.0.1 --tproxy-mark 0x0/0x0'],
    ['--on-port 80', { family: 6, proto: 6 }, '--on-port 80 --on-ip :: --tproxy-mark 0x0/0x0'],
    ['--on-port 80 --on-ip fd00::1 --tproxy-mark 0x1/0x1', { family: 6, proto: 6 }, '--on-port 80 --on-ip fd00::1 --tproxy-mark 0x1/0x1'],
  ]);
});

test('TPROXY rejects what iptables 1.8.9 rejects', () => {
  errorRows('TPROXY', [
    ['--tproxy-mark 5', TCP, 'TPROXY: option "--on-port" must be specified'],
    ['--on-port x', TCP, 'Port "x" does not resolve to anything.'],
    ['--on-port -1', TCP, 'Port "-1" does not resolve to anything.'],
    ['--on-port 1 --on-ip foo', TCP, 'getaddrinfo: Temporary failure in name resolution'],
    ['--on-port 1 --on-ip 1.2.3.4/8', TCP, 'getaddrinfo: Name or service not known'],
    ['--on-port 1 --on-ip 1.2.3.4', { family: 6, proto: 6 }, 'getaddrinfo: Address family for hostname not supported'],
    ['--on-port 1 --tproxy-mark 1/2/3', TCP, 'TPROXY: trailing garbage after value for option "--tproxy-mark".'],
  ]);
});

test('TPROXY: mangle PREROUTING only, -p tcp or -p udp', () => {
  const pre = hooks(NF_INET_PRE_ROUTING);
  assert.is(check('TPROXY', '--on-port 1', { table: 'mangle', hooks: pre, proto: 6 }), null);
  assert.is(check('TPROXY', '--on-port 1', { table: 'mangle', hooks: pre, proto: 17 }), null);
  assert.is(check('TPROXY', '--on-port 1', { table: 'mangle', hooks: pre }), 'xt_TPROXY: Can be used only with -p tcp or -p udp');
  assert.is(check('TPROXY', '--on-port 1', { table: 'mangle', hooks: pre, proto: 1 }), 'xt_TPROXY: Can be used only with -p tcp or -p udp');
  assert.is(check('TPROXY', '--on-port 1', { table: 'mangle', hooks: pre, proto: 6, protoInvert: true }), 'xt_TPROXY: Can be used only with -p tcp or -p udp');
  assert.is(check('TPROXY', '--on-port 1', { table: 'mangle', hooks: hooks(NF_INET_LOCAL_IN), proto: 6 }), 'x_tables: ip_tables: TPROXY target: used from hooks INPUT, but only usable from PREROUTING');
  assert.is(check('TPROXY', '--on-port 1', { table: 'filter', hooks: hooks(NF_INET_LOCAL_IN), proto: 6 }), 'x_tables: ip_tables: TPROXY target: only valid in mangle table, not filter');
});

function tproxy(opts: string, setup: (h: ReturnType<typeof makeCtx>['host']) => void): { v: number; p: Packet } {
  const t = compileTarget('TPROXY', opts, TCP);
  const ctx = makeCtx(NF_INET_PRE_ROUTING, 'mangle');
  ctx.host.ifaces.set('eth0', '10.0.0.1');
  setup(ctx.host);
  const p = packet({ proto: 'tcp', src: '192.168.1.50', sport: 40000, dst: '10.96.0.1', dport: 80, tcp_flags: 'SYN', in_iface: 'eth0', mark: 0x1 });
  return { v: t.run(p, ctx), p };
}

test('TPROXY: a transparent listener on the interface address and --on-port takes the packet, marked, addresses unchanged', () => {
  const { v, p } = tproxy('--on-port 15006 --tproxy-mark 0x539/0xffffffff', (h) => h.listeners.set('10.0.0.1:15006', { transparent: true }));
  assert.is(v, NF_ACCEPT);
  assert.is(p.mark, 0x539);
  assert.equal([p.daddr[0], p.dport], [0x0a600001, 80]);
});

test('TPROXY drops when the listener is not transparent or there is none (mark untouched)', () => {
  let r = tproxy('--on-port 15006 --tproxy-mark 0x2/0x2', (h) => h.listeners.set('10.0.0.1:15006', { transparent: false }));
  assert.equal([r.v, r.p.mark], [NF_DROP, 0x1]);
  r = tproxy('--on-port 15006 --tproxy-mark 0x2/0x2', () => {});
  assert.equal([r.v, r.p.mark], [NF_DROP, 0x1]);
});

test('TPROXY: an established socket decides first (transparent: accept; otherwise drop)', () => {
  let r = tproxy('--on-port 15006 --tproxy-mark 0x2/0x2', (h) => { h.established = { transparent: true }; });
  assert.equal([r.v, r.p.mark], [NF_ACCEPT, 0x3]);
  r = tproxy('--on-port 15006', (h) => {
    h.established = { transparent: false };
    h.listeners.set('10.0.0.1:15006', { transparent: true });
  });
  assert.is(r.v, NF_DROP);
});

test('TPROXY: --on-ip picks the listener address; --on-port 0 keeps the packet port', () => {
  assert.is(tproxy('--on-port 15001 --on-ip 127.0.0.1', (h) => h.listeners.set('127.0.0.1:15001', { transparent: true })).v, NF_ACCEPT);
  assert.is(tproxy('--on-port 0', (h) => h.listeners.set('10.0.0.1:80', { transparent: true })).v, NF_ACCEPT);
  // No address on the interface: the packet's own destination (nf_tproxy_laddr4).
  assert.is(tproxy('--on-port 9000', (h) => { h.ifaces.clear(); h.listeners.set('10.96.0.1:9000', { transparent: true }); }).v, NF_ACCEPT);
});

// ---- CHECKSUM, TCPMSS ----

test('CHECKSUM: --checksum-fill required, mangle only, no effect on nfemu packets', () => {
  assert.is(roundTrip('CHECKSUM', '--checksum-fill'), '--checksum-fill');
  assert.is(parseError('CHECKSUM', ''), 'CHECKSUM: option "--checksum-fill" must be specified');
  assert.is(check('CHECKSUM', '--checksum-fill', { table: 'mangle', hooks: hooks(NF_INET_POST_ROUTING) }), null);
  assert.is(check('CHECKSUM', '--checksum-fill', { table: 'filter', hooks: hooks(NF_INET_LOCAL_IN) }), 'x_tables: ip_tables: CHECKSUM target: only valid in mangle table, not filter');
  const p = packet({ proto: 'udp', src: '10.0.0.1', sport: 67, dst: '10.0.0.2', dport: 68 });
  const before = p.clone();
  assert.is(compileTarget('CHECKSUM', '--checksum-fill').run(p, makeCtx(NF_INET_POST_ROUTING, 'mangle')), XT_CONTINUE);
  assert.equal(p, before);
});

test('TCPMSS prints and rejects as iptables 1.8.9', () => {
  printRows('TCPMSS', [
    ['--clamp-mss-to-pmtu', TCP, '--clamp-mss-to-pmtu'],
    ['--set-mss 1400', TCP, '--set-mss 1400'],
    ['--set-mss 1400 --clamp-mss-to-pmtu', TCP, '--clamp-mss-to-pmtu'],
    ['--set-mss 65495', { family: 6, proto: 6 }, '--set-mss 65495'],
  ]);
  errorRows('TCPMSS', [
    ['', TCP, 'TCPMSS target: At least one parameter is required'],
    ['--set-mss 65536', TCP, 'TCPMSS: bad value for option "--set-mss", or out of range (0-65515).'],
    ['--set-mss 65496', { family: 6, proto: 6 }, 'TCPMSS: bad value for option "--set-mss", or out of range (0-65495).'],
  ]);
});

test('TCPMSS: TCP only; PMTU clamping only from FORWARD/OUTPUT/POSTROUTING; no SYN match needed with nft_compat', () => {
  assert.is(check('TCPMSS', '--clamp-mss-to-pmtu', { table: 'mangle', hooks: hooks(NF_INET_FORWARD), proto: 6 }), null);
  assert.is(check('TCPMSS', '--set-mss 1400', { table: 'filter', hooks: hooks(NF_INET_FORWARD), proto: 17 }), 'x_tables: ip_tables: TCPMSS target: only valid for protocol 6');
  assert.is(check('TCPMSS', '--clamp-mss-to-pmtu', { table: 'mangle', hooks: hooks(NF_INET_PRE_ROUTING), proto: 6 }), 'xt_TCPMSS: path-MTU clamping only supported in FORWARD, OUTPUT and POSTROUTING hooks');
  assert.is(check('TCPMSS', '--set-mss 1400', { table: 'mangle', hooks: hooks(NF_INET_PRE_ROUTING), proto: 6 }), null);
});

test('TCPMSS adds a 4-byte MSS option to an option-less, data-less segment; leaves data and fragments; drops a truncated header', () => {
  const t = compileTarget('TCPMSS', '--set-mss 1400', TCP);
  const ctx = makeCtx(NF_INET_FORWARD, 'mangle');
  const seg = (length: number) => packet({ proto: 'tcp', src: '10.0.0.1', sport: 1, dst: '10.0.0.2', dport: 2, tcp_flags: 'SYN', length });
  let p = seg(40);
  assert.is(t.run(p, ctx), XT_CONTINUE);
  assert.is(p.length, 44);
  p = seg(140);
  t.run(p, ctx);
  assert.is(p.length, 140);
  p = seg(40);
  p.fragment = true;
  t.run(p, ctx);
  assert.is(p.length, 40);
  assert.is(t.run(seg(30), ctx), NF_DROP);
});

// ---- SET ----

test('SET prints back as iptables-nft-save does', () => {
  printRows('SET', [
    ['--add-set s1 src', {}, '--add-set s1 src'],
    ['--add-set s1 dst --exist', {}, '--add-set s1 dst --exist'],
    ['--add-set s1 src --timeout 10', {}, '--add-set s1 src --timeout 10'],
    ['--add-set s1 src --timeout 0', {}, '--add-set s1 src --timeout 0'],
    ['--add-set s1 src --timeout 0x10', {}, '--add-set s1 src --timeout 16'],
    ['--add-set s2 src,dst', {}, '--add-set s2 src,dst'],
    ['--add-set s3 src,src', {}, '--add-set s3 src,src'],
    ['--del-set s1 dst', {}, '--del-set s1 dst'],
    ['--add-set s1 src --del-set s3 dst --exist --timeout 5', {}, '--add-set s1 src --exist --timeout 5 --del-set s3 dst'],
    ['--timeout 5 --exist --add-set s1 src', {}, '--add-set s1 src --exist --timeout 5'],
    ['--add-set s1 src --exist --exist', {}, '--add-set s1 src --exist'],
    ['--add-set s1 src --timeout 1 --timeout 2', {}, '--add-set s1 src --timeout 2'],
    ['--map-set m1 src --map-mark', {}, '--map-set m1 src --map-mark'],
    ['--map-set m1 src --map-prio --map-queue', {}, '--map-set m1 src --map-prio --map-queue'],
    ['--add-set s1 src --map-set m1 dst --map-mark', {}, '--add-set s1 src --map-set m1 dst --map-mark'],
  ]);
});

test('SET rejects what iptables 1.8.9 rejects (libxt_SET wording, typos included)', () => {
  errorRows('SET', [
    ['--add-set s1 foo', {}, "You must spefify (the comma separated list of) 'src' or 'dst'."],
    ['--add-set s1 src,', {}, "You must spefify (the comma separated list of) 'src' or 'dst'."],
    ['--add-set s1 SRC', {}, "You must spefify (the comma separated list of) 'src' or 'dst'."],
    ['--add-set s1 src,dst,src,dst,src,dst,src', {}, "Can't be more src/dst options than 6."],
    ['--timeout 5', {}, "You must specify either `--add-set' or `--del-set' or `--map-set'"],
    ['', {}, "You must specify either `--add-set' or `--del-set' or `--map-set'"],
    ['--map-set m1 src', {}, "You must specify flags `--map-mark' or '--map-prio` or `--map-queue'"],
    ['--add-set s1 src --map-mark', {}, "Flag `--map-mark' can be used with `--map-set' only"],
    ['--add-set s1 src --map-prio', {}, "Flag `--map-prio' can be used with `--map-set' only"],
    ['--del-set s1 src --timeout 3', {}, "Option `--timeout' can be used with `--add-set' only"],
    ['--map-set m1 src --exist --map-mark', {}, "Flag `--exist' can be used with `--add-set' only"],
    ['--add-set s1 src --add-set s3 dst', {}, '--add-set can be specified only once'],
    ['--add-set s1 src --timeout x', {}, 'Invalid value for option --timeout or out of range 0-4294967294'],
    ['--add-set s1 src --timeout 4294967295', {}, 'Invalid value for option --timeout or out of range 0-4294967294'],
    ['--add-set 01234567890123456789012345678901 src', {}, "setname `01234567890123456789012345678901' too long, max 31 characters."],
  ]);
});

/** An ipset view whose sets record what the target does. */
function recordingSets(names: string[]): { view: IpsetView; calls: string[] } {
  const calls: string[] = [];
  const handle = (name: string): IpsetHandle => ({
    name, typeName: 'hash:ip', family: 4, dimensions: 1,
    test: (_p, dirs) => { calls.push(`test ${name} ${Array.from(dirs).join('')}`); return true; },
    add: (_p: Packet, dirs: Uint8Array, _now: number, timeout?: number, ...rest: unknown[]) => {
      calls.push(`add ${name} ${Array.from(dirs).join('')} timeout=${timeout} exist=${rest[0]}`);
    },
    del: (_p, dirs) => { calls.push(`del ${name} ${Array.from(dirs).join('')}`); },
  });
  const sets = new Map(names.map((n) => [n, handle(n)]));
  return { view: { get: (n) => sets.get(n) ?? null }, calls };
}

test('SET: sets must exist when the ruleset comes with its sets; --map-set only in mangle, prio/queue only from OUTPUT/FORWARD/POSTROUTING', () => {
  const { view } = recordingSets(['s1', 'm1']);
  assert.is(check('SET', '--add-set s1 src', { table: 'filter', sets: view }), null);
  assert.is(check('SET', '--add-set nonexist src', { table: 'filter', sets: view }), "Set nonexist doesn't exist.");
  assert.is(check('SET', '--add-set nonexist src', { table: 'filter', sets: null }), null);
  assert.is(check('SET', '--map-set m1 src --map-mark', { table: 'filter', hooks: hooks(NF_INET_LOCAL_IN) }), '--map-set only usable from mangle table');
  assert.is(check('SET', '--map-set m1 src --map-mark', { table: 'mangle', hooks: hooks(NF_INET_PRE_ROUTING) }), null);
  assert.is(check('SET', '--map-set m1 src --map-prio', { table: 'mangle', hooks: hooks(NF_INET_PRE_ROUTING) }),
    'mapping of prio or/and queue is allowed only from OUTPUT/FORWARD/POSTROUTING chains');
  assert.is(check('SET', '--map-set m1 src --map-queue', { table: 'mangle', hooks: hooks(NF_INET_POST_ROUTING) }), null);
});

test('SET adds (with --exist and --timeout), deletes and looks up, in that order, and continues', () => {
  const { view, calls } = recordingSets(['s1', 's2', 'm1']);
  const t = compileTarget('SET', '--add-set s1 src,dst --exist --timeout 30 --del-set s2 dst --map-set m1 src --map-mark', {}, view);
  const p = packet({ proto: 'tcp', src: '10.0.0.1', sport: 1, dst: '10.0.0.2', dport: 2 });
  assert.is(t.run(p, makeCtx(NF_INET_POST_ROUTING, 'mangle')), XT_CONTINUE);
  assert.equal(calls, ['add s1 10 timeout=30 exist=true', 'del s2 0', 'test m1 1']);
  calls.length = 0;
  compileTarget('SET', '--add-set s1 src', {}, view).run(p, makeCtx(NF_INET_POST_ROUTING, 'mangle'));
  assert.equal(calls, ['add s1 1 timeout=undefined exist=false']);
});

// ---- CLASSIFY, DSCP, TOS ----

test('CLASSIFY: MAJOR:MINOR in hex (sscanf %x), printed %04x:%04x', () => {
  printRows('CLASSIFY', [
    ['--set-class 1:2', {}, '--set-class 0001:0002'],
    ['--set-class 0001:0x10', {}, '--set-class 0001:0010'],
    ['--set-class ffff:ffff', {}, '--set-class ffff:ffff'],
    ['--set-class 10000:1', {}, '--set-class 0000:0001'],
    ['--set-class 1:2xyz', {}, '--set-class 0001:0002'],
    ['--set-class 0x1:0x2', {}, '--set-class 0001:0002'],
    ['--set-class -1:2', {}, '--set-class ffff:0002'],
    ['--set-class a:b', {}, '--set-class 000a:000b'],
    ['--set-class 10:ffff1', {}, '--set-class 0010:fff1'],
  ]);
  errorRows('CLASSIFY', [
    ['--set-class 10', {}, 'Bad class value "10"'],
    ['--set-class 1:', {}, 'Bad class value "1:"'],
    ['', {}, 'CLASSIFY: option "--set-class" must be specified'],
  ]);
  assert.is(check('CLASSIFY', '--set-class 1:1', { table: 'filter', hooks: hooks(NF_INET_LOCAL_OUT) }), null);
  assert.is(check('CLASSIFY', '--set-class 1:1', { table: 'mangle', hooks: hooks(NF_INET_PRE_ROUTING) }),
    'x_tables: ip_tables: CLASSIFY target: used from hooks PREROUTING, but only usable from FORWARD/OUTPUT/POSTROUTING');
});

test('DSCP: value or class, printed 0x%02x; mangle only; keeps the ECN bits', () => {
  printRows('DSCP', [
    ['--set-dscp 10', {}, '--set-dscp 0x0a'],
    ['--set-dscp 0x2e', {}, '--set-dscp 0x2e'],
    ['--set-dscp-class EF', {}, '--set-dscp 0x2e'],
    ['--set-dscp-class af41', {}, '--set-dscp 0x22'],
    ['--set-dscp-class cs0', {}, '--set-dscp 0x00'],
    ['--set-dscp-class be', {}, '--set-dscp 0x00'],
    ['--set-dscp 1', { family: 6 }, '--set-dscp 0x01'],
  ]);
  errorRows('DSCP', [
    ['--set-dscp 64', {}, 'DSCP: bad value for option "--set-dscp", or out of range (0-63).'],
    ['--set-dscp-class foo', {}, "Invalid DSCP value `foo'"],
    ['--set-dscp 1 --set-dscp-class ef', {}, 'DSCP: option "--set-dscp" cannot be used together with "--set-dscp-class".'],
    ['', {}, 'DSCP target: Parameter --set-dscp is required'],
  ]);
  assert.is(check('DSCP', '--set-dscp 4', { table: 'filter' }), 'x_tables: ip_tables: DSCP target: only valid in mangle table, not filter');
  const p = packet({ proto: 'udp', src: '10.0.0.1', sport: 1, dst: '10.0.0.2', dport: 2 });
  p.tos = 0x03;
  compileTarget('DSCP', '--set-dscp-class EF').run(p, makeCtx(NF_INET_POST_ROUTING, 'mangle'));
  assert.is(p.tos, 0xbb);
});

test('TOS: every form prints as --set-tos value/mask; tos = (tos & ~mask) ^ value', () => {
  printRows('TOS', [
    ['--set-tos 0x10', {}, '--set-tos 0x10/0xff'],
    ['--set-tos 0x10/0x3f', {}, '--set-tos 0x10/0x3f'],
    ['--set-tos Minimize-Delay', {}, '--set-tos 0x10/0x3f'],
    ['--set-tos minimize-delay', {}, '--set-tos 0x10/0x3f'],
    ['--set-tos Normal-Service', {}, '--set-tos 0x00/0x3f'],
    ['--set-tos 16', {}, '--set-tos 0x10/0xff'],
    ['--set-tos 0x10/0x0f', {}, '--set-tos 0x10/0x0f'],
    ['--set-tos 0x10/0x0f0', {}, '--set-tos 0x10/0xf0'],
    ['--and-tos 0x3', {}, '--set-tos 0x00/0xfc'],
    ['--or-tos 0x3', {}, '--set-tos 0x03/0x03'],
    ['--xor-tos 0x3', {}, '--set-tos 0x03/0x00'],
    ['--set-tos Minimize-Delay', { family: 6 }, '--set-tos 0x10/0x3f'],
  ]);
  errorRows('TOS', [
    ['--set-tos 256', {}, 'Symbolic name "256" is unknown'],
    ['--set-tos 0x10x', {}, 'Illegal value: "0x10x"'],
    ['--set-tos 0x10/', {}, 'Illegal value: "0x10/"'],
    ['--and-tos 256', {}, 'TOS: bad value for option "--and-tos", or out of range (0-255).'],
    ['', {}, 'TOS: An action is required'],
  ]);
  assert.is(check('TOS', '--set-tos 4', { table: 'filter' }), 'x_tables: ip_tables: TOS target: only valid in mangle table, not filter');
  const p = packet({ proto: 'udp', src: '10.0.0.1', sport: 1, dst: '10.0.0.2', dport: 2 });
  p.tos = 0xff;
  compileTarget('TOS', '--set-tos Minimize-Delay').run(p, makeCtx(NF_INET_POST_ROUTING, 'mangle'));
  assert.is(p.tos, 0xd0);
});

// ---- TTL, HL ----

test('TTL (IPv4) and HL (IPv6): set, dec (not below 0), inc (not above 255); mangle only', () => {
  printRows('TTL', [['--ttl-set 5', {}, '--ttl-set 5'], ['--ttl-inc 1', {}, '--ttl-inc 1'], ['--ttl-dec 1', {}, '--ttl-dec 1']]);
  printRows('HL', [['--hl-set 5', { family: 6 }, '--hl-set 5'], ['--hl-inc 5', { family: 6 }, '--hl-inc 5'], ['--hl-dec 5', { family: 6 }, '--hl-dec 5']]);
  errorRows('TTL', [
    ['--ttl-inc 0', {}, 'TTL: bad value for option "--ttl-inc", or out of range (1-255).'],
    ['--ttl-set 256', {}, 'TTL: bad value for option "--ttl-set", or out of range (0-255).'],
    ['--ttl-set 1 --ttl-dec 1', {}, 'TTL: option "--ttl-set" cannot be used together with "--ttl-dec".'],
    ['', {}, 'TTL: You must specify an action'],
  ]);
  errorRows('HL', [
    ['--hl-dec 0', { family: 6 }, 'HL: bad value for option "--hl-dec", or out of range (1-255).'],
    ['', { family: 6 }, 'HL: You must specify an action'],
  ]);
  assert.is(ext('TTL').family, 4);
  assert.is(ext('HL').family, 6);
  assert.is(check('TTL', '--ttl-set 4', { table: 'filter' }), 'x_tables: ip_tables: TTL target: only valid in mangle table, not filter');
  assert.is(check('HL', '--hl-set 4', { table: 'filter', family: 6 }), 'x_tables: ip6_tables: HL target: only valid in mangle table, not filter');
  const ttl = (opts: string, start: number) => {
    const p = packet({ proto: 'udp', src: '10.0.0.1', sport: 1, dst: '10.0.0.2', dport: 2, ttl: start });
    compileTarget('TTL', opts).run(p, makeCtx(NF_INET_PRE_ROUTING, 'mangle'));
    return p.ttl;
  };
  assert.is(ttl('--ttl-set 5', 64), 5);
  assert.is(ttl('--ttl-inc 1', 64), 65);
  assert.is(ttl('--ttl-inc 250', 64), 255);
  assert.is(ttl('--ttl-dec 100', 64), 0);
});

// ---- SECMARK, CONNSECMARK, NFQUEUE ----

test('SECMARK and CONNSECMARK: options, mangle or security table', () => {
  assert.is(roundTrip('SECMARK', '--selctx system_u:object_r:ssh_packet_t:s0'), '--selctx system_u:object_r:ssh_packet_t:s0');
  assert.is(parseError('SECMARK', ''), 'SECMARK: option "--selctx" must be specified');
  assert.is(check('SECMARK', '--selctx x', { table: 'filter' }), "xt_SECMARK: only valid in 'mangle' or 'security' table, not 'filter'");
  assert.is(check('SECMARK', '--selctx x', { table: 'security' }), null);
  assert.is(roundTrip('CONNSECMARK', '--save'), '--save');
  assert.is(roundTrip('CONNSECMARK', '--restore'), '--restore');
  assert.is(parseError('CONNSECMARK', ''), 'CONNSECMARK target: parameter required');
  assert.is(parseError('CONNSECMARK', '--save --restore'), 'CONNSECMARK: option "--save" cannot be used together with "--restore".');
  assert.is(check('CONNSECMARK', '--save', { table: 'filter' }), "xt_CONNSECMARK: only valid in 'mangle' or 'security' table, not 'filter'");
  assert.is(check('CONNSECMARK', '--restore', { table: 'mangle' }), null);
});

test('NFQUEUE prints back as iptables-nft-save does', () => {
  printRows('NFQUEUE', [
    ['', {}, '--queue-num 0'],
    ['--queue-num 5', {}, '--queue-num 5'],
    ['--queue-bypass', {}, '--queue-num 0 --queue-bypass'],
    ['--queue-num 3 --queue-bypass', {}, '--queue-num 3 --queue-bypass'],
    ['--queue-balance 1:3', {}, '--queue-balance 1:3'],
    ['--queue-balance 1:3 --queue-cpu-fanout', {}, '--queue-balance 1:3 --queue-cpu-fanout'],
    ['--queue-balance 1:3 --queue-bypass --queue-cpu-fanout', {}, '--queue-balance 1:3 --queue-bypass --queue-cpu-fanout'],
    ['--queue-balance :3', {}, '--queue-balance 0:3'],
    ['--queue-balance 3:', {}, '--queue-balance 3:65535'],
    ['--queue-balance 65534:65535', {}, '--queue-balance 65534:65535'],
  ]);
});

test('NFQUEUE rejects what iptables 1.8.9 and the kernel reject', () => {
  errorRows('NFQUEUE', [
    ['--queue-num 65536', {}, 'NFQUEUE: bad value for option "--queue-num", or out of range (0-65535).'],
    ['--queue-balance 3:1', {}, '3 should be less than 1'],
    ['--queue-balance 1:1', {}, '1 should be less than 1'],
    ['--queue-balance 1', {}, 'Bad range "1"'],
    ['--queue-balance a:3', {}, 'NFQUEUE: bad value for option "--queue-balance" near "a:3", or out of range (0-65535).'],
    ['--queue-balance 1:70000', {}, 'NFQUEUE: bad value for option "--queue-balance" near "70000", or out of range (0-65535).'],
    ['--queue-balance 1:3:5', {}, 'NFQUEUE: Too many components for option "--queue-balance" (max: 2)'],
    ['--queue-cpu-fanout', {}, 'NFQUEUE: option "--queue-cpu-fanout" also requires "--queue-balance".'],
    ['--queue-num 3 --queue-cpu-fanout', {}, 'NFQUEUE: option "--queue-cpu-fanout" also requires "--queue-balance".'],
    ['--queue-num 2 --queue-balance 1:3', {}, 'NFQUEUE: option "--queue-num" cannot be used together with "--queue-balance".'],
  ]);
  // 0:65535 is 65536 queues: the u16 count wraps to 0 and nfqueue_tg_check refuses it.
  assert.is(check('NFQUEUE', '--queue-balance 0:65535'), 'xt_NFQUEUE: number of total queues is 0');
  assert.is(check('NFQUEUE', '--queue-balance 65534:65535'), null);
});

test('NFQUEUE returns NF_QUEUE', () => {
  const p = packet({ proto: 'udp', src: '10.0.0.1', sport: 1, dst: '10.0.0.2', dport: 2 });
  assert.is(compileTarget('NFQUEUE', '--queue-num 3 --queue-bypass').run(p, makeCtx(NF_INET_LOCAL_OUT, 'filter')), NF_QUEUE);
});

test.run();
