/**
 * The kernel runner (src/verify/kernel): the decoders it is built from, checked against
 * hand-made bytes and lines, and, as root, real runs of recorded cases compared with what the
 * kernel recorded (shared/conformance/kernel-answers).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnSync } from 'node:child_process';
import { buildPacket } from '../../src/packet/index.ts';
import { isNfemuError } from '../../src/core/index.ts';
import {
  buildIpPacket,
  buildRuleMap,
  crc32c,
  ctStatusNames,
  kernelAvailable,
  liveNamespaces,
  parseConntrackLine,
  parseIpHeader,
  parseTraceDatagram,
  runCaseInKernel,
  scratchPrefix,
  type KernelCaseResult,
  type KernelPacketResult,
} from '../../src/verify/kernel/index.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const SHARED = resolve(ROOT, '../shared');
const ANSWERS = join(SHARED, 'conformance', 'kernel-answers');

// ---------------------------------------------------------------------------------------
// Decoders (no root needed)

/** The one's-complement sum of 16-bit words, folded: 0xffff over a header with a correct checksum. */
function onesSum(b: Uint8Array, start: number, end: number, init = 0): number {
  let s = init;
  for (let i = start; i < end; i += 2) s += (b[i]! << 8) | (i + 1 < end ? b[i + 1]! : 0);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}

test('IPv4/TCP packet: header fields where RFC 791/793 put them, checksums verify', () => {
  const p = buildPacket({ proto: 'tcp', src: '10.0.0.2', sport: 40000, dst: '172.30.0.41', dport: 80, tcp_flags: 'SYN', ttl: 61 });
  const b = buildIpPacket(p, 0x7a05);
  assert.is(b.length, 40);
  assert.is(b[0], 0x45);
  assert.is((b[4]! << 8) | b[5]!, 0x7a05); // identification
  assert.is(b[8], 61); // TTL
  assert.is(b[9], 6); // protocol
  assert.equal([...b.subarray(12, 16)], [10, 0, 0, 2]);
  assert.equal([...b.subarray(16, 20)], [172, 30, 0, 41]);
  assert.is(onesSum(b, 0, 20), 0xffff, 'IPv4 header checksum');
  assert.is((b[20]! << 8) | b[21]!, 40000);
  assert.is((b[22]! << 8) | b[23]!, 80);
  assert.is(b[33], 0x02, 'flags byte = SYN');
  // TCP checksum over the pseudo-header (src, dst, zero+proto, length) and the segment.
  const pseudo = onesSum(new Uint8Array([10, 0, 0, 2, 172, 30, 0, 41, 0, 6, 0, 20]), 0, 12);
  assert.is(onesSum(b, 20, 40, pseudo), 0xffff, 'TCP checksum');
});

test('IPv6/UDP packet: flow label carries the identification, checksum verifies', () => {
  const p = buildPacket({ proto: 'udp', src: 'fd00::1', sport: 5353, dst: 'fd00::2', dport: 53 });
  const b = buildIpPacket(p, 0x7a11);
  assert.is(b.length, 48);
  assert.is(b[0]! >> 4, 6);
  assert.is(((b[1]! & 0x0f) << 16) | (b[2]! << 8) | b[3]!, 0x7a11);
  assert.is(b[6], 17);
  const pseudo = new Uint8Array(40);
  pseudo.set(b.subarray(8, 40), 0);
  pseudo[35] = 8; // upper-layer length
  pseudo[39] = 17; // next header
  assert.is(onesSum(b, 40, 48, onesSum(pseudo, 0, 40)), 0xffff, 'UDP checksum');
  const v = parseIpHeader(b)!;
  assert.equal([v.src, v.dst, v.sport, v.dport, v.ident], ['fd00::1', 'fd00::2', 5353, 53, 0x7a11]);
});

test('crc32c matches the RFC 3720 check value', () => {
  // CRC32c("123456789") = 0xE3069283 (the standard check value of CRC-32C).
  assert.is(crc32c(new TextEncoder().encode('123456789')), 0xe3069283);
});

test('an ICMP error is read with the packet it quotes', () => {
  // port unreachable from 192.168.0.2 to 10.0.0.2 quoting tcp 10.0.0.2:40000 -> 172.30.0.41:80 SYN
  const inner = buildIpPacket(buildPacket({ proto: 'tcp', src: '10.0.0.2', sport: 40000, dst: '172.30.0.41', dport: 80 }), 1);
  const icmp = new Uint8Array(8 + inner.length);
  icmp[0] = 3;
  icmp[1] = 3;
  icmp.set(inner, 8);
  const outer = new Uint8Array(20 + icmp.length);
  outer.set([0x45, 0, 0, outer.length, 0, 0, 0, 0, 64, 1, 0, 0, 192, 168, 0, 2, 10, 0, 0, 2]);
  outer.set(icmp, 20);
  const v = parseIpHeader(outer)!;
  assert.equal([v.proto, v.icmpType, v.icmpCode], [1, 3, 3]);
  assert.equal([v.inner?.src, v.inner?.dst, v.inner?.sport, v.inner?.dport, v.inner?.tcpFlags], ['10.0.0.2', '172.30.0.41', 40000, 80, 2]);
});

/** A netlink attribute: 4-byte header (length, type; little endian), data, padding to 4. */
function nla(type: number, data: Uint8Array): Uint8Array {
  const len = 4 + data.length;
  const out = new Uint8Array((len + 3) & ~3);
  out[0] = len & 0xff;
  out[1] = len >> 8;
  out[2] = type & 0xff;
  out[3] = type >> 8;
  out.set(data, 4);
  return out;
}
const be32 = (v: number): Uint8Array => new Uint8Array([v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff]);
const cstr = (s: string): Uint8Array => new TextEncoder().encode(s + '\0');
function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

test('an NFT_MSG_TRACE message decodes into its attributes', () => {
  // include/uapi/linux/netfilter/nf_tables.h: NFTA_TRACE_TABLE=1, CHAIN=2, RULE_HANDLE=3,
  // TYPE=4, VERDICT=5 (nested CODE=1, CHAIN=2), ID=6, IIF=10, MARK=14, CT_STATE=21,
  // CT_STATUS=20, CT_DIRECTION=19; message type NFNL_SUBSYS_NFTABLES(10) << 8 | NFT_MSG_TRACE(17).
  const attrs = concat(
    nla(1, cstr('nat')),
    nla(2, cstr('PREROUTING')),
    nla(3, concat(be32(0), be32(9))),
    nla(4, be32(3)),
    nla(5, concat(nla(1, be32(0xfffffffd)), nla(2, cstr('KUBE-SERVICES')))),
    nla(6, new Uint8Array([0x78, 0x56, 0x34, 0x12])),
    nla(10, be32(2)),
    nla(14, be32(0x4000)),
    nla(21, be32(8)),
    nla(19, new Uint8Array([0])),
    nla(20, be32(0x120)),
  );
  const body = concat(new Uint8Array([2, 0, 0, 0]), attrs);
  const len = 16 + body.length;
  const hdr = new Uint8Array(16);
  new DataView(hdr.buffer).setUint32(0, len, true);
  new DataView(hdr.buffer).setUint16(4, (10 << 8) | 17, true);
  const [e] = parseTraceDatagram(concat(hdr, body));
  assert.ok(e);
  assert.equal(
    [e!.table, e!.chain, e!.handle, e!.type, e!.verdictCode, e!.verdictChain, e!.id, e!.iif, e!.mark, e!.ctState, e!.ctDirection, e!.ctStatus],
    ['nat', 'PREROUTING', 9, 3, -3, 'KUBE-SERVICES', 0x12345678, 2, 0x4000, 8, 0, 0x120],
  );
  // IPS_DST_NAT = bit 5, IPS_DST_NAT_DONE = bit 8 (nf_conntrack_common.h)
  assert.is(ctStatusNames(0x120), 'DST_NAT,DST_NAT_DONE');
});

test('conntrack -L lines: tuples, state, flags, mark, zone', () => {
  const tcp = parseConntrackLine('tcp      6 118 SYN_SENT src=10.0.0.2 dst=172.30.0.41 sport=40000 dport=80 [UNREPLIED] src=10.180.0.1 dst=192.168.0.2 sport=8080 dport=40000 mark=0 use=2');
  assert.equal(tcp, {
    original: { src: '10.0.0.2', dst: '172.30.0.41', proto: 'tcp', sport: 40000, dport: 80 },
    reply: { src: '10.180.0.1', dst: '192.168.0.2', proto: 'tcp', sport: 8080, dport: 40000 },
    state: 'SYN_SENT',
    mark: 0,
    timeout: 118,
    flags: ['unreplied'],
  });
  const icmp = parseConntrackLine('icmp     1 29 src=192.168.1.50 dst=192.168.1.100 type=8 code=0 id=41003 src=192.168.1.100 dst=192.168.1.50 type=0 code=0 id=41003 mark=0 zone=2 use=1');
  assert.equal(icmp, {
    original: { src: '192.168.1.50', dst: '192.168.1.100', proto: 'icmp' },
    reply: { src: '192.168.1.100', dst: '192.168.1.50', proto: 'icmp' },
    mark: 0,
    zone: 2,
    timeout: 29,
  });
  assert.is(parseConntrackLine('conntrack v1.4.7 (conntrack-tools): 1 flow entries have been shown.'), null);
});

test('rule handles map to iptables positions per chain', () => {
  const nft = JSON.stringify({
    nftables: [
      { chain: { family: 'ip', table: 'nat', name: 'PREROUTING', hook: 'prerouting' } },
      { chain: { family: 'ip', table: 'nat', name: 'KUBE-SERVICES' } },
      { rule: { family: 'ip', table: 'nat', chain: 'PREROUTING', handle: 9 } },
      { rule: { family: 'ip', table: 'nat', chain: 'KUBE-SERVICES', handle: 12 } },
      { rule: { family: 'ip', table: 'nat', chain: 'KUBE-SERVICES', handle: 15 } },
    ],
  });
  const save = '*nat\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -j KUBE-SERVICES\n-A KUBE-SERVICES -d 10.0.0.1/32 -j DNAT --to-destination 10.1.1.1\n-A KUBE-SERVICES -j RETURN\nCOMMIT\n';
  const m = buildRuleMap(nft, save, 4);
  assert.equal(m.byHandle.get('nat\u000015'), { table: 'nat', chain: 'KUBE-SERVICES', index: 2, text: '-A KUBE-SERVICES -j RETURN' });
  assert.is(m.byHandle.get('nat\u00009')?.index, 1);
  assert.is(m.baseChains.get('nat\u0000PREROUTING'), 'PREROUTING');
  assert.is(m.baseChains.has('nat\u0000KUBE-SERVICES'), false);
});

// ---------------------------------------------------------------------------------------
// The real kernel

const avail = kernelAvailable();
let skipNoted = false;
/** True when the kernel tests cannot run here; in CI that is a failure instead. */
const kernelSkip = (): boolean => {
  if (avail.ok) return false;
  if (process.env['CI'] === 'true') assert.unreachable(`kernel tests cannot run in CI: ${avail.reason}`);
  if (!skipNoted) console.log(`kernel tests skipped: ${avail.reason}`);
  skipNoted = true;
  return true;
};

function myNamespaces(): string[] {
  const r = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  return (r.stdout ?? '')
    .split('\n')
    .map((l) => l.split(/\s+/)[0] ?? '')
    .filter((n) => n.startsWith(scratchPrefix()));
}

type Step = [string, string, string, number | null, string];
const steps = (r: { trace: { hook: string; table: string; chain: string; rule_index: number | null; verdict: string }[] }): Step[] =>
  r.trace.map((e) => [e.hook, e.table, e.chain, e.rule_index, e.verdict]);
const tuples = (ct: { original: unknown; reply: unknown }[]): unknown[] => ct.map((c) => [c.original, c.reply]);
const finalKey = (f: { verdict: string; fate: string; dst: string; dport?: number }): unknown[] => [f.verdict, f.fate, f.dst, f.dport ?? null];

interface RecordedOutcome {
  count: number;
  trace: KernelPacketResult['trace'];
  final: KernelPacketResult['final'];
  conntrack: KernelPacketResult['conntrack'];
}
interface RecordedResult extends Omit<KernelPacketResult, 'outcomes'> {
  outcomes?: RecordedOutcome[];
}

const outcomeKey = (o: { trace: KernelPacketResult['trace']; final: KernelPacketResult['final']; conntrack: KernelPacketResult['conntrack'] }): string =>
  JSON.stringify([steps(o), finalKey(o.final), tuples(o.conntrack)]);

/**
 * Two binomial counts agree when their proportions differ by less than 4.5 standard errors
 * (pooled): loose enough never to flake, tight enough to catch a branch taken far too often.
 */
function proportionsAgree(a: number, n: number, b: number, m: number): boolean {
  const p = (a + b) / (n + m);
  const se = Math.sqrt(p * (1 - p) * (1 / n + 1 / m));
  return se === 0 ? a / n === b / m : Math.abs(a / n - b / m) / se < 4.5;
}

function compare(name: string, expected: { results: RecordedResult[] }, got: KernelCaseResult): void {
  assert.is(got.results.length, expected.results.length, `${name}: number of packets`);
  expected.results.forEach((e, i) => {
    const g = got.results[i]!;
    const where = `${name} packet ${i + 1} (${JSON.stringify(e.packet)})`;
    const random = (e.outcomes?.length ?? 1) > 1;
    if (!random) {
      assert.equal(steps(g), steps(e), `${where}: trace`);
      assert.equal(finalKey(g.final), finalKey(e.final), `${where}: final`);
      assert.equal(tuples(g.conntrack), tuples(e.conntrack), `${where}: conntrack`);
      return;
    }
    // Random rules: the same set of outcomes, in compatible proportions.
    assert.ok(g.outcomes, `${where}: outcomes`);
    const mine = new Map(g.outcomes!.map((o) => [outcomeKey(o), o.count]));
    const theirs = new Map(e.outcomes!.map((o) => [outcomeKey(o), o.count]));
    assert.equal([...mine.keys()].sort(), [...theirs.keys()].sort(), `${where}: outcome set`);
    for (const [k, c] of theirs) {
      assert.ok(proportionsAgree(mine.get(k)!, g.samples, c, e.samples), `${where}: outcome counts ${mine.get(k)}/${g.samples} vs ${c}/${e.samples}`);
    }
  });
}

/** Recorded cases: DNAT+MASQUERADE with OUTPUT packets, OUTPUT to local, REJECT from a real ruleset, random endpoints. */
const RECORDED: readonly string[] = [
  'kubeproxy/2023.TestNodePort',
  'kubeproxy/2023.TestTracePackets',
  'real/firewalld-completed',
  'kubeproxy/2023.TestNonLocalExternalIPs',
];

for (const name of RECORDED) {
  test(`kernel: ${name} matches the recorded answer`, async () => {
    if (kernelSkip()) return;
    const file = join(ANSWERS, `${name}.json`);
    if (!existsSync(file)) {
      console.log(`recorded-answer comparison skipped: ${file} not found (shared/ is resolved as ../shared from ${ROOT})`);
      return;
    }
    const c = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    // kernel-answers/README.md: conntrack was emptied before each send.
    c['fresh_conntrack'] = true;
    const expected = JSON.parse(readFileSync(join(ANSWERS, `${name}.kernel.json`), 'utf8')) as { results: RecordedResult[] };
    const got = await runCaseInKernel(c, { baseDir: dirname(file) });
    compare(name, expected, got);
    const fates = got.results.map((r) => r.final.fate).join(',');
    console.log(`  kernel ${name}: ${got.results.length} packets agree (${fates}) in ${got.timings.run_total_ms} ms`);
    assert.equal(myNamespaces(), [], 'scratch namespaces deleted');
  });
}

test('kernel: namespaces are gone after a run, and after a ruleset that does not load', async () => {
  if (kernelSkip()) return;
  const ok = await runCaseInKernel({
    interfaces: [{ name: 'eth0', addrs: ['192.168.7.1/24'] }],
    ruleset: '*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A INPUT -p udp --dport 9 -j DROP\nCOMMIT\n',
    packets: [{ hook: 'PREROUTING', in_iface: 'eth0', proto: 'udp', src: '192.168.7.2', sport: 1000, dst: '192.168.7.1', dport: 9 }],
  });
  // Independently of the runner: a DROP rule at filter INPUT #1 drops it there.
  assert.equal(steps(ok.results[0]!), [['INPUT', 'filter', 'INPUT', 1, 'DROP']]);
  assert.equal(ok.results[0]!.final.by, { table: 'filter', chain: 'INPUT', rule_index: 1, target: 'DROP' });
  assert.equal(myNamespaces(), []);
  assert.equal(liveNamespaces(), []);

  let err: unknown = null;
  try {
    await runCaseInKernel({
      ruleset: '*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -j NO-SUCH-CHAIN\nCOMMIT\n',
      packets: [{ hook: 'OUTPUT', proto: 'udp', src: '127.0.0.1', sport: 1, dst: '127.0.0.1', dport: 2 }],
    });
  } catch (e) {
    err = e;
  }
  assert.ok(isNfemuError(err), 'an NfemuError');
  if (isNfemuError(err)) {
    assert.is(err.code, 'IO');
    assert.match(err.message, /iptables-nft-restore failed/);
    assert.match(err.message, /NO-SUCH-CHAIN|line 3/i, 'carries the tool message');
  }
  assert.equal(myNamespaces(), [], 'namespaces deleted after the failure');
  assert.equal(liveNamespaces(), []);
});

test.run();
