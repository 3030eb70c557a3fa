/**
 * The TCP tracker against nf_conntrack_proto_tcp.c (Linux 6.18): the tcp_conntracks state
 * table, tcp_new, tcp_valid_flags, the per-state timeouts (tcp_timeouts[]), ASSURED, and
 * the special cases of nf_conntrack_tcp_packet. Expected states and timeouts are read off
 * the kernel's table, not computed by the code under test.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  IP_CT_ESTABLISHED, IP_CT_ESTABLISHED_REPLY, IP_CT_INVALID, IP_CT_NEW, IPS_ASSURED, IPS_SEEN_REPLY, NF_ACCEPT, NF_INET_PRE_ROUTING,
} from '../../src/netfilter/index.ts';
import { tcpStateName, type Conn } from '../../src/conntrack/index.ts';
import { table, tcp, forward } from './helpers.ts';

const A = '192.168.1.10';
const B = '198.51.100.5';

interface Step {
  /** o: original direction (A:40000 -> B:80), r: reply (B:80 -> A:40000). */
  dir: 'o' | 'r';
  flags: string;
  /** Expected TCP state after the segment, or 'INVALID' (ct = null). */
  state: string;
  ctinfo?: number;
  /** Expected timeout in seconds after the segment (omit to skip). */
  timeout?: number;
  assured?: boolean;
  /** Advance the clock by this many seconds before the segment. */
  wait?: number;
  length?: number;
}

function run(name: string, steps: Step[], opts: Parameters<typeof table>[0] = {}): void {
  test(name, () => {
    const { ct, clock } = table(opts);
    steps.forEach((s, i) => {
      if (s.wait) clock.advanceSeconds(s.wait);
      const extra = s.length !== undefined ? { length: s.length } : {};
      const p = s.dir === 'o' ? tcp(A, 40000, B, 80, s.flags, extra) : tcp(B, 80, A, 40000, s.flags, extra);
      const v = forward(ct, p);
      const where = `step ${i + 1} (${s.dir} ${s.flags})`;
      assert.is(v, NF_ACCEPT, `${where}: verdict`);
      if (s.state === 'INVALID') {
        assert.is(p.ct, null, `${where}: no entry`);
        assert.is(p.ctinfo, IP_CT_INVALID, `${where}: ctinfo`);
        return;
      }
      const c = p.ct as Conn;
      assert.ok(c, `${where}: has an entry`);
      assert.is(tcpStateName(c.tcpState), s.state, `${where}: state`);
      if (s.ctinfo !== undefined) assert.is(p.ctinfo, s.ctinfo, `${where}: ctinfo`);
      if (s.timeout !== undefined) assert.is((c.timeoutAt - clock.nowMs()) / 1000, s.timeout, `${where}: timeout`);
      if (s.assured !== undefined) assert.is((c.status & IPS_ASSURED) !== 0, s.assured, `${where}: ASSURED`);
    });
  });
}

// The full life of a connection: handshake, data, close from the client.
run('three-way handshake and close: SYN_SENT 120, SYN_RECV 60, ESTABLISHED 5 days, FIN_WAIT 120, CLOSE_WAIT 60, LAST_ACK 30, TIME_WAIT 120', [
  { dir: 'o', flags: 'SYN', state: 'SYN_SENT', ctinfo: IP_CT_NEW, timeout: 120, assured: false },
  { dir: 'r', flags: 'SYN,ACK', state: 'SYN_RECV', ctinfo: IP_CT_ESTABLISHED_REPLY, timeout: 60, assured: false },
  { dir: 'o', flags: 'ACK', state: 'ESTABLISHED', ctinfo: IP_CT_ESTABLISHED, timeout: 432000, assured: true },
  { dir: 'o', flags: 'FIN,ACK', state: 'FIN_WAIT', timeout: 120 },
  { dir: 'r', flags: 'ACK', state: 'CLOSE_WAIT', timeout: 60 },
  { dir: 'r', flags: 'FIN,ACK', state: 'LAST_ACK', timeout: 30 },
  { dir: 'o', flags: 'ACK', state: 'TIME_WAIT', timeout: 120 },
]);

run('RST closes: CLOSE with the 10 s timeout', [
  { dir: 'o', flags: 'SYN', state: 'SYN_SENT' },
  { dir: 'r', flags: 'SYN,ACK', state: 'SYN_RECV' },
  { dir: 'o', flags: 'ACK', state: 'ESTABLISHED' },
  { dir: 'r', flags: 'RST', state: 'CLOSE', timeout: 10 },
]);

run('SYN/ACK from the client in ESTABLISHED is INVALID (sES -> sIV), and the entry is unchanged', [
  { dir: 'o', flags: 'SYN', state: 'SYN_SENT' },
  { dir: 'r', flags: 'SYN,ACK', state: 'SYN_RECV' },
  { dir: 'o', flags: 'ACK', state: 'ESTABLISHED' },
  { dir: 'o', flags: 'SYN,ACK', state: 'INVALID' },
  { dir: 'o', flags: 'ACK', state: 'ESTABLISHED', ctinfo: IP_CT_ESTABLISHED },
]);

run('ACK before the SYN/ACK is INVALID (sSS -> sIV); a reply ACK is ignored (sIG) without a state change', [
  { dir: 'o', flags: 'SYN', state: 'SYN_SENT', timeout: 120 },
  { dir: 'o', flags: 'ACK', state: 'INVALID' },
  { dir: 'r', flags: 'ACK', state: 'SYN_SENT', ctinfo: IP_CT_ESTABLISHED_REPLY, wait: 10, timeout: 110 },
]);

run('FIN before any reply is INVALID (sSS -> sIV for FIN)', [
  { dir: 'o', flags: 'SYN', state: 'SYN_SENT' },
  { dir: 'o', flags: 'FIN,ACK', state: 'INVALID' },
]);

run('a retransmitted SYN does not renew the SYN_SENT timeout', [
  { dir: 'o', flags: 'SYN', state: 'SYN_SENT', timeout: 120 },
  { dir: 'o', flags: 'SYN', state: 'SYN_SENT', ctinfo: IP_CT_NEW, wait: 50, timeout: 70 },
]);

run('simultaneous open: SYN both ways (SYN_SENT2), SYN/ACK, then the reply ACK establishes', [
  { dir: 'o', flags: 'SYN', state: 'SYN_SENT' },
  { dir: 'r', flags: 'SYN', state: 'SYN_SENT2', timeout: 120 },
  { dir: 'o', flags: 'SYN,ACK', state: 'SYN_RECV', timeout: 60 },
  { dir: 'r', flags: 'ACK', state: 'ESTABLISHED', timeout: 432000, assured: true },
]);

// SEEN_REPLY is set after the tracker ran, so the first reply still gets the 300 s cap.
run('picked up mid-stream (nf_conntrack_tcp_loose=1): ESTABLISHED, NEW, 300 s (UNACK) until a reply was seen, then ASSURED', [
  { dir: 'o', flags: 'ACK', state: 'ESTABLISHED', ctinfo: IP_CT_NEW, timeout: 300, assured: false },
  { dir: 'r', flags: 'ACK', state: 'ESTABLISHED', ctinfo: IP_CT_ESTABLISHED_REPLY, timeout: 300, assured: false },
  { dir: 'o', flags: 'ACK', state: 'ESTABLISHED', ctinfo: IP_CT_ESTABLISHED, timeout: 432000, assured: true },
]);

run('nf_conntrack_tcp_loose=0: a non-SYN first packet is INVALID', [
  { dir: 'o', flags: 'ACK', state: 'INVALID' },
  { dir: 'o', flags: 'SYN', state: 'SYN_SENT', ctinfo: IP_CT_NEW },
], { tcpLoose: false });

run('unacknowledged data caps the ESTABLISHED timeout at 300 s until the peer answers', [
  { dir: 'o', flags: 'SYN', state: 'SYN_SENT' },
  { dir: 'r', flags: 'SYN,ACK', state: 'SYN_RECV' },
  { dir: 'o', flags: 'ACK', state: 'ESTABLISHED', timeout: 432000 },
  { dir: 'o', flags: 'PSH,ACK', state: 'ESTABLISHED', length: 140, timeout: 300 },
  { dir: 'r', flags: 'ACK', state: 'ESTABLISHED', timeout: 432000 },
]);

run('RFC 5961 challenge ACK in LAST_ACK answering a SYN is not taken as the last ACK', [
  { dir: 'o', flags: 'SYN', state: 'SYN_SENT' },
  { dir: 'r', flags: 'SYN,ACK', state: 'SYN_RECV' },
  { dir: 'o', flags: 'ACK', state: 'ESTABLISHED' },
  { dir: 'o', flags: 'FIN,ACK', state: 'FIN_WAIT' },
  { dir: 'r', flags: 'FIN,ACK', state: 'LAST_ACK' },
  { dir: 'o', flags: 'SYN', state: 'LAST_ACK' }, // sLA -> sIG
  { dir: 'r', flags: 'ACK', state: 'LAST_ACK' }, // challenge ACK ignored
  { dir: 'o', flags: 'ACK', state: 'TIME_WAIT', timeout: 120 },
]);

test('invalid flag combinations and impossible first segments are INVALID (tcp_valid_flags, tcp_new)', () => {
  const cases: [string, string][] = [
    ['SYN,FIN', 'not in tcp_valid_flags'],
    ['SYN,RST', 'not in tcp_valid_flags'],
    ['FIN', 'FIN without ACK is not valid'],
    ['', 'no flags (NULL scan)'],
    ['FIN,PSH,URG', 'XMAS scan'],
    ['SYN,ACK', 'valid flags, but sNO -> sIV'],
    ['RST', 'valid flags, but sNO -> sIV'],
    ['FIN,ACK', 'valid flags, but sNO -> sIV'],
  ];
  for (const [flags, why] of cases) {
    const { ct } = table();
    const p = tcp(A, 1234, B, 80, flags);
    assert.is(ct.in(p, NF_INET_PRE_ROUTING), NF_ACCEPT, `${flags}: accepted by conntrack (INVALID is for the ruleset to drop)`);
    assert.is(p.ct, null, `${flags} (${why}): no entry`);
    assert.is(p.ctinfo, IP_CT_INVALID, `${flags}: INVALID`);
    assert.is(ct.stats.invalid, 1, `${flags}: counted`);
    assert.is(ct.confirm(p), NF_ACCEPT);
    assert.is(ct.entries().length, 0, `${flags}: nothing tracked`);
  }
  // PSH, ECE and CWR are ignored by the check.
  const { ct } = table();
  const p = tcp(A, 1234, B, 80, 'SYN,ECE,CWR');
  forward(ct, p);
  assert.is(tcpStateName((p.ct as Conn).tcpState), 'SYN_SENT');
});

test('an RST answering the SYN deletes the entry at once (no reply seen yet)', () => {
  const { ct } = table();
  forward(ct, tcp(A, 40000, B, 80, 'SYN'));
  assert.is(ct.entries().length, 1);
  const rst = tcp(B, 80, A, 40000, 'RST,ACK');
  assert.is(forward(ct, rst), NF_ACCEPT);
  assert.is(rst.ctinfo, IP_CT_ESTABLISHED_REPLY, 'the RST itself belongs to the connection');
  assert.is(ct.entries().length, 0, 'the entry is gone');
  const again = tcp(A, 40000, B, 80, 'SYN');
  forward(ct, again);
  assert.is(again.ctinfo, IP_CT_NEW, 'a new SYN starts a new connection');
});

test('a SYN in TIME_WAIT after a FIN reopens: the old entry is killed and a NEW one created (-NF_REPEAT)', () => {
  const { ct } = table();
  const seq: [boolean, string][] = [[true, 'SYN'], [false, 'SYN,ACK'], [true, 'ACK'], [true, 'FIN,ACK'], [false, 'FIN,ACK'], [true, 'ACK']];
  let first: Conn | null = null;
  for (const [o, f] of seq) {
    const p = o ? tcp(A, 40000, B, 80, f) : tcp(B, 80, A, 40000, f);
    forward(ct, p);
    first ??= p.ct as Conn;
  }
  assert.is(tcpStateName(first!.tcpState), 'TIME_WAIT');
  const syn = tcp(A, 40000, B, 80, 'SYN');
  forward(ct, syn);
  const c = syn.ct as Conn;
  assert.is.not(c, first, 'a different entry');
  assert.is(syn.ctinfo, IP_CT_NEW);
  assert.is(tcpStateName(c.tcpState), 'SYN_SENT');
  assert.is(c.status & IPS_SEEN_REPLY, 0);
  assert.is(ct.entries().length, 1, 'only the new one is left');
});

test('a SYN from the other side in TIME_WAIT (server reopening) is ignored when nothing closed it', () => {
  // sTW + reply SYN -> sSS, but without CLOSE_INIT or a last RST it falls through to "ignore".
  const { ct } = table();
  const p0 = tcp(A, 40000, B, 80, 'SYN');
  forward(ct, p0);
  const c = p0.ct as Conn;
  c.tcpState = 7; // TIME_WAIT reached without the FIN bookkeeping (e.g. picked up late)
  const p = tcp(B, 80, A, 40000, 'SYN');
  forward(ct, p);
  assert.is(p.ct, c);
  assert.is(tcpStateName(c.tcpState), 'TIME_WAIT');
});

test('tcpStateName matches conntrack -L', () => {
  const names = ['NONE', 'SYN_SENT', 'SYN_RECV', 'ESTABLISHED', 'FIN_WAIT', 'CLOSE_WAIT', 'LAST_ACK', 'TIME_WAIT', 'CLOSE', 'SYN_SENT2'];
  names.forEach((n, i) => assert.is(tcpStateName(i), n));
});

test.run();
