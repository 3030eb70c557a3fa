/**
 * The case-file and result contracts of DESIGN.md §4, on its own example: a PREROUTING
 * packet to a ClusterIP that is DNATed and forwarded, an OUTPUT DNS packet, a `{cases}`
 * file with a case that does not load (error entry, other cases still run).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { runCase, type CaseFile } from '../../src/index.ts';
import { PROJECT_ROOT } from '../support/shared.ts';

const RULES = `*nat
:PREROUTING ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A PREROUTING -d 10.96.0.100/32 -p tcp -m tcp --dport 80 -j DNAT --to-destination 10.244.1.5:8080
-A OUTPUT -d 10.96.0.10/32 -p udp -m udp --dport 53 -j DNAT --to-destination 10.244.1.9:53
-A POSTROUTING -s 192.168.1.0/24 -d 10.244.0.0/16 -j MASQUERADE
COMMIT
*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A FORWARD -d 10.244.1.5/32 -p tcp -m tcp --dport 8080 -j ACCEPT
COMMIT
`;

const CASE: CaseFile = {
  ruleset: RULES,
  local_addrs: ['192.168.1.10'],
  interfaces: [{ name: 'eth0', addrs: ['192.168.1.10/24'] }],
  routes: ['default dev eth0', '10.244.1.0/24 via 192.168.1.11 dev eth0'],
  sysctls: { 'net.ipv4.conf.all.route_localnet': 1 },
  packets: [
    { hook: 'PREROUTING', proto: 'tcp', src: '192.168.1.50', sport: 40000, dst: '10.96.0.100', dport: 80, in_iface: 'eth0', tcp_flags: 'SYN' },
    { hook: 'OUTPUT', proto: 'udp', src: '192.168.1.10', sport: 41000, dst: '10.96.0.10', dport: 53 },
  ],
};

test('DESIGN §4 example: DNAT, masquerade, forward; OUTPUT DNAT', () => {
  const r = runCase(CASE);
  const [a, b] = r.results;
  // Packet 1: DNAT in nat PREROUTING, forwarded, masqueraded (source in 192.168.1.0/24).
  assert.equal(a!.trace.map((e) => `${e.hook} ${e.table}:${e.chain}#${e.rule_index} ${e.verdict}`), [
    'PREROUTING nat:PREROUTING#1 ACCEPT',
    'FORWARD filter:FORWARD#1 ACCEPT',
    'POSTROUTING nat:POSTROUTING#1 ACCEPT',
  ]);
  assert.is(a!.final.fate, 'forwarded');
  assert.is(a!.final.dst, '10.244.1.5');
  assert.is(a!.final.dport, 8080);
  assert.is(a!.final.src, '192.168.1.10', 'MASQUERADE takes eth0\'s address');
  assert.is(a!.final.out_iface, 'eth0');
  assert.is(a!.final.ct_state, 'NEW');
  assert.equal(a!.trace[0]!.packet?.dst, '10.96.0.100', 'the first entry of a hook carries the packet as it entered');
  assert.ok(a!.trace[0]!.nat && a!.trace[0]!.nat.after.includes('10.244.1.5:8080'), 'the DNAT shows the packet after');
  const ct = a!.conntrack as { original: { dst: string }; reply: { src: string; dst: string } }[];
  assert.is(ct.length, 1);
  assert.is(ct[0]!.original.dst, '10.96.0.100');
  assert.is(ct[0]!.reply.src, '10.244.1.5');
  assert.is(ct[0]!.reply.dst, '192.168.1.10');
  // Packet 2: OUTPUT DNAT, rerouted, sent.
  assert.equal(b!.trace.map((e) => `${e.hook} ${e.table}:${e.chain}#${e.rule_index} ${e.verdict}`), [
    'OUTPUT nat:OUTPUT#1 ACCEPT',
    'OUTPUT filter:OUTPUT#null policy:ACCEPT',
    // 192.168.1.10 → 10.244.1.9 matches the MASQUERADE rule too.
    'POSTROUTING nat:POSTROUTING#1 ACCEPT',
  ]);
  assert.is(b!.final.fate, 'sent');
  assert.is(b!.final.dst, '10.244.1.9');
  assert.is(b!.conntrack.length, 2, 'both connections are in the table, in order');
});

test('a {cases} file: a case that does not load becomes an error entry, others still run, exit status 1', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nfemu-case-'));
  const file = join(dir, 'cases.json');
  writeFileSync(file, JSON.stringify({ cases: [CASE, { ...CASE, ruleset: '*filter\n-A NOPE -j ACCEPT\nCOMMIT\n' }] }));
  const r = spawnSync(process.execPath, [join(PROJECT_ROOT, 'bin', 'nfemu.mjs'), 'trace', file, '--json'], { encoding: 'utf8', timeout: 60_000 });
  assert.is(r.status, 1, r.stderr);
  const out = JSON.parse(r.stdout) as { cases: ({ results: unknown[] } | { error: string })[] };
  assert.is(out.cases.length, 2);
  assert.ok('results' in out.cases[0]!);
  assert.ok('error' in out.cases[1]! && /cases\.json \(ruleset\):2: .*NOPE/.test((out.cases[1] as { error: string }).error), JSON.stringify(out.cases[1]));
});

test.run();
