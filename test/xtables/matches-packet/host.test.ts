/**
 * Matches that depend on what the host has: policy (no IPsec on nfemu hosts), rpfilter
 * (HostView.reversePathOk), physdev (no bridges: refused), devgroup (every device in group 0),
 * cpu (CPU 0), quota (a byte budget per rule).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { NfemuError } from '../../../src/core/index.ts';
import { checkWith, compiled, context, hostStub, pkt, States, v4 } from './helpers.ts';

const s = suite('policy: no IPsec, so "no policy" for every packet (match_policy_in/out return -1)');
s('--pol none matches, --pol ipsec does not', () => {
  const none = compiled('policy', ['--dir', 'in', '--pol', 'none']);
  assert.is(none.m.match(pkt(), none.ctx), true);
  const ipsec = compiled('policy', ['--dir', 'in', '--pol', 'ipsec', '--proto', 'esp']);
  assert.is(ipsec.m.match(pkt(), ipsec.ctx), false);
});
s('direction must fit the hook (xt_policy checkentry)', () => {
  assert.is(checkWith('policy', ['--dir', 'out', '--pol', 'ipsec'], { chain: 'INPUT' }), 'xt_policy: output policy not valid in PREROUTING and INPUT');
  assert.is(checkWith('policy', ['--dir', 'in', '--pol', 'ipsec'], { chain: 'OUTPUT' }), 'xt_policy: input policy not valid in POSTROUTING and OUTPUT');
  assert.is(checkWith('policy', ['--dir', 'in', '--pol', 'ipsec'], { chain: 'FORWARD' }), null);
});
s.run();

const r = suite('rpfilter');
r('asks the host, passing --loose / --accept-local / --validmark', () => {
  const seen: boolean[][] = [];
  const states = new States();
  const { m } = compiled('rpfilter', ['--loose', '--validmark'], { table: 'raw' }, states);
  const ctx = context(states, 0, hostStub((_p, loose, acceptLocal, validMark) => {
    seen.push([loose, acceptLocal, validMark]);
    return false;
  }));
  assert.is(m.match(pkt({ src: v4('192.0.2.1'), inIface: 'eth0' }), ctx), false);
  assert.equal(seen, [[true, false, true]]);
});
r('--invert negates the host answer', () => {
  const states = new States();
  const { m } = compiled('rpfilter', ['--invert'], { table: 'raw' }, states);
  assert.is(m.match(pkt({ src: v4('192.0.2.1'), inIface: 'eth0' }), context(states, 0, hostStub(false))), true);
  assert.is(m.match(pkt({ src: v4('192.0.2.1'), inIface: 'eth0' }), context(states, 0, hostStub(true))), false);
});
r('loopback always passes (rpfilter_is_loopback), before --invert', () => {
  const states = new States();
  const { m } = compiled('rpfilter', ['--invert'], { table: 'raw' }, states);
  assert.is(m.match(pkt({ inIface: 'lo' }), context(states, 0, hostStub(false))), false);
});
r('0.0.0.0/8 to broadcast or 224.0.0.0/24 passes (DHCP, IGMP)', () => {
  const states = new States();
  const { m } = compiled('rpfilter', [], { table: 'raw' }, states);
  const ctx = context(states, 0, hostStub(false));
  assert.is(m.match(pkt({ src: 0, dst: 0xffffffff, inIface: 'eth0' }), ctx), true);
  assert.is(m.match(pkt({ src: 0, dst: v4('224.0.0.22'), inIface: 'eth0' }), ctx), true);
  assert.is(m.match(pkt({ src: 0, dst: v4('10.0.0.1'), inIface: 'eth0' }), ctx), false);
});
r('only PREROUTING, only raw or mangle', () => {
  assert.is(checkWith('rpfilter', [], { table: 'raw', chain: 'PREROUTING' }), null);
  assert.is(checkWith('rpfilter', [], { table: 'mangle', chain: 'PREROUTING' }), null);
  assert.is(checkWith('rpfilter', [], { table: 'filter', chain: 'INPUT' }), 'x_tables: ip_tables: rpfilter match: used from hooks INPUT, but only valid from PREROUTING');
  assert.is(checkWith('rpfilter', [], { table: 'nat', chain: 'PREROUTING' }), "ipt_rpfilter: only valid in 'raw' or 'mangle' table, not 'nat'");
});
r.run();

const p = suite('physdev, devgroup, cpu, quota');
p('physdev cannot be evaluated: compile names it', () => {
  try {
    compiled('physdev', ['--physdev-is-bridged']);
    assert.unreachable('compile should refuse');
  } catch (e) {
    assert.instance(e, NfemuError);
    assert.is((e as NfemuError).code, 'UNSUPPORTED');
    assert.is((e as NfemuError).message, 'physdev: nfemu models no bridge ports, so -m physdev cannot be evaluated');
  }
});
p('physdev --physdev-out in OUTPUT without bridged traffic is refused by the kernel', () => {
  assert.ok(checkWith('physdev', ['--physdev-out', 'eth0'], { chain: 'OUTPUT' }));
  assert.is(checkWith('physdev', ['--physdev-out', 'eth0', '--physdev-is-bridged'], { chain: 'OUTPUT' }), null);
});
p('devgroup: every nfemu device is in group 0', () => {
  const zero = compiled('devgroup', ['--src-group', '0']);
  assert.is(zero.m.match(pkt(), zero.ctx), true);
  const five = compiled('devgroup', ['--src-group', '5']);
  assert.is(five.m.match(pkt(), five.ctx), false);
  const notFive = compiled('devgroup', ['!', '--dst-group', '5']);
  assert.is(notFive.m.match(pkt(), notFive.ctx), true);
  const masked = compiled('devgroup', ['--src-group', '0x10/0x0f']);
  assert.is(masked.m.match(pkt(), masked.ctx), true, '(0 ^ 0x10) & 0x0f == 0');
});
p('devgroup hooks: --src-group not in OUTPUT', () => {
  assert.ok(checkWith('devgroup', ['--src-group', '1'], { chain: 'OUTPUT' }));
  assert.is(checkWith('devgroup', ['--dst-group', '1'], { chain: 'OUTPUT' }), null);
});
p('cpu: packets run on CPU 0', () => {
  for (const [tokens, want] of [[['--cpu', '0'], true], [['--cpu', '1'], false], [['!', '--cpu', '1'], true]] as const) {
    const c = compiled('cpu', [...tokens]);
    assert.is(c.m.match(pkt(), c.ctx), want, tokens.join(' '));
  }
});
p('quota: spends packet lengths, then empties on the first packet that does not fit', () => {
  const c = compiled('quota', ['--quota', '100']);
  const lens = [60, 60, 10, 0];
  // 100 ≥ 60 → 40 left; 40 < 60 → emptied; 0 < 10 → no; 0 ≥ 0 → a zero-length packet still fits.
  assert.equal(lens.map((l) => c.m.match(pkt({ length: l }), c.ctx)), [true, false, false, true]);
  const inv = compiled('quota', ['!', '--quota', '100']);
  assert.equal([60, 60].map((l) => inv.m.match(pkt({ length: l }), inv.ctx)), [false, true]);
});
p.run();
