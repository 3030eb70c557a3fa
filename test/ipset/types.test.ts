/**
 * Per-type behaviour tables: what the kernel's `-m set --match-set` answers for packets
 * against each set type, and what the SET target adds/deletes.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { dirs, mustGet, pkt, registry } from './helpers.ts';
import type { PacketSpec } from '../../src/packet/index.ts';

interface Row {
  name: string;
  packet: PacketSpec;
  flags: string;
  want: boolean;
}

function runTable(setup: string, set: string, rows: Row[]): void {
  const { reg, clock } = registry(setup);
  const s = mustGet(reg, set);
  for (const r of rows) {
    const got = s.test(pkt(r.packet), dirs(r.flags), clock.nowMs());
    assert.is(got, r.want, `${set}: ${r.name}`);
  }
}

test('hash:ip: exact address, src/dst flag picks the address (ip_set_hash_ip.c kadt)', () => {
  runTable('create s hash:ip\nadd s 10.0.0.1\nadd s 10.0.0.8/30\n', 's', [
    { name: 'dst in set', packet: { proto: 'tcp', src: '1.1.1.1', dst: '10.0.0.1', dport: 80 }, flags: 'dst', want: true },
    { name: 'src not in set', packet: { proto: 'tcp', src: '1.1.1.1', dst: '10.0.0.1', dport: 80 }, flags: 'src', want: false },
    { name: 'range expanded: .11 added by .8/30', packet: { proto: 'udp', src: '10.0.0.11', dst: '2.2.2.2' }, flags: 'src', want: true },
    { name: '.12 outside the /30', packet: { proto: 'udp', src: '10.0.0.12', dst: '2.2.2.2' }, flags: 'src', want: false },
    { name: 'any protocol', packet: { proto: 'icmp', src: '10.0.0.9', dst: '2.2.2.2' }, flags: 'src', want: true },
    { name: 'IPv6 packet never matches an inet set', packet: { proto: 'tcp', src: '::1', dst: '::2', dport: 1 }, flags: 'src', want: false },
    { name: 'no flags: fewer flags than dimensions never match', packet: { proto: 'udp', src: '10.0.0.1', dst: '2.2.2.2' }, flags: '', want: false },
  ]);
});

test('hash:ip netmask: elements and lookups are masked to the netmask', () => {
  const { reg, clock } = registry('create s hash:ip netmask 24\nadd s 192.168.1.77\n');
  const s = mustGet(reg, 's');
  assert.ok(s.test(pkt({ proto: 'udp', src: '192.168.1.200', dst: '1.1.1.1' }), dirs('src'), clock.nowMs()));
  assert.not.ok(s.test(pkt({ proto: 'udp', src: '192.168.2.1', dst: '1.1.1.1' }), dirs('src'), clock.nowMs()));
  assert.match(reg.save(), /netmask 24 bucketsize/);
  assert.match(reg.save(), /\nadd s 192\.168\.1\.0\n/);
});

test('hash:ip,port: protocol must equal, bare port means tcp, icmp type/code is the port', () => {
  runTable(
    'create s hash:ip,port\nadd s 10.96.0.10,53\nadd s 10.96.0.10,udp:53\nadd s 10.96.0.11,icmp:echo-request\nadd s 10.96.0.12,sctp:7-9\n',
    's',
    [
      { name: 'tcp 53 (bare port)', packet: { proto: 'tcp', src: '1.1.1.1', sport: 999, dst: '10.96.0.10', dport: 53 }, flags: 'dst,dst', want: true },
      { name: 'udp 53', packet: { proto: 'udp', src: '1.1.1.1', sport: 999, dst: '10.96.0.10', dport: 53 }, flags: 'dst,dst', want: true },
      { name: 'sctp 53 not added', packet: { proto: 'sctp', src: '1.1.1.1', sport: 999, dst: '10.96.0.10', dport: 53 }, flags: 'dst,dst', want: false },
      { name: 'port read from source with dst,src', packet: { proto: 'udp', src: '1.1.1.1', sport: 53, dst: '10.96.0.10', dport: 999 }, flags: 'dst,src', want: true },
      { name: 'echo-request = icmp 8/0', packet: { proto: 'icmp', src: '1.1.1.1', dst: '10.96.0.11', icmp_type: 8 }, flags: 'dst,dst', want: true },
      { name: 'echo-reply not added', packet: { proto: 'icmp', src: '1.1.1.1', dst: '10.96.0.11', icmp_type: 0 }, flags: 'dst,dst', want: false },
      { name: 'sctp range 7-9 expanded', packet: { proto: 'sctp', src: '1.1.1.1', sport: 1, dst: '10.96.0.12', dport: 8 }, flags: 'dst,dst', want: true },
      { name: 'one flag for a two-dimension set', packet: { proto: 'udp', src: '1.1.1.1', sport: 9, dst: '10.96.0.10', dport: 53 }, flags: 'dst', want: false },
    ],
  );
});

test('hash:ip,port,ip: dst,dst,src = destination address, destination port, source address', () => {
  runTable('create s hash:ip,port,ip\nadd s 10.244.1.5,tcp:8080,10.244.1.5\n', 's', [
    { name: 'hairpin', packet: { proto: 'tcp', src: '10.244.1.5', sport: 4000, dst: '10.244.1.5', dport: 8080 }, flags: 'dst,dst,src', want: true },
    { name: 'other source', packet: { proto: 'tcp', src: '10.244.1.6', sport: 4000, dst: '10.244.1.5', dport: 8080 }, flags: 'dst,dst,src', want: false },
    { name: 'udp', packet: { proto: 'udp', src: '10.244.1.5', sport: 4000, dst: '10.244.1.5', dport: 8080 }, flags: 'dst,dst,src', want: false },
  ]);
});

test('hash:ip,port,net: most specific prefix decides; nomatch excludes (mtype_test_cidrs)', () => {
  runTable(
    'create s hash:ip,port,net\nadd s 10.0.0.1,tcp:443,192.168.0.0/16\nadd s 10.0.0.1,tcp:443,192.168.7.0/24 nomatch\nadd s 10.0.0.1,tcp:443,192.168.7.128/25\n',
    's',
    [
      { name: 'in /16', packet: { proto: 'tcp', src: '192.168.1.1', sport: 5, dst: '10.0.0.1', dport: 443 }, flags: 'dst,dst,src', want: true },
      { name: 'in nomatch /24', packet: { proto: 'tcp', src: '192.168.7.1', sport: 5, dst: '10.0.0.1', dport: 443 }, flags: 'dst,dst,src', want: false },
      { name: 'in /25 inside the nomatch /24', packet: { proto: 'tcp', src: '192.168.7.200', sport: 5, dst: '10.0.0.1', dport: 443 }, flags: 'dst,dst,src', want: true },
      { name: 'other port', packet: { proto: 'tcp', src: '192.168.1.1', sport: 5, dst: '10.0.0.1', dport: 444 }, flags: 'dst,dst,src', want: false },
    ],
  );
});

test('hash:net: longest stored prefix wins, nomatch on it makes a non-match', () => {
  runTable('create s hash:net\nadd s 10.0.0.0/8\nadd s 10.1.0.0/16 nomatch\nadd s 10.1.2.0/24\nadd s 10.9.9.9\n', 's', [
    { name: 'only /8 contains it', packet: { proto: 'udp', src: '10.200.0.1', dst: '1.1.1.1' }, flags: 'src', want: true },
    { name: '/16 nomatch is most specific', packet: { proto: 'udp', src: '10.1.3.1', dst: '1.1.1.1' }, flags: 'src', want: false },
    { name: '/24 beats the nomatch /16', packet: { proto: 'udp', src: '10.1.2.9', dst: '1.1.1.1' }, flags: 'src', want: true },
    { name: 'host entry', packet: { proto: 'udp', src: '10.9.9.9', dst: '1.1.1.1' }, flags: 'src', want: true },
    { name: 'outside', packet: { proto: 'udp', src: '11.0.0.1', dst: '1.1.1.1' }, flags: 'src', want: false },
  ]);
});

test('hash:net,port: prefix and port together', () => {
  runTable('create s hash:net,port\nadd s 10.0.0.0/24,udp:53\nadd s 10.0.0.0/25,udp:53 nomatch\n', 's', [
    { name: 'upper half', packet: { proto: 'udp', src: '10.0.0.200', sport: 1, dst: '1.1.1.1', dport: 53 }, flags: 'src,dst', want: true },
    { name: 'lower half excluded', packet: { proto: 'udp', src: '10.0.0.5', sport: 1, dst: '1.1.1.1', dport: 53 }, flags: 'src,dst', want: false },
    { name: 'tcp', packet: { proto: 'tcp', src: '10.0.0.200', sport: 1, dst: '1.1.1.1', dport: 53 }, flags: 'src,dst', want: false },
  ]);
});

test('hash:net IPv6', () => {
  runTable('create s hash:net family inet6\nadd s 2001:db8:42:1000::/64\n', 's', [
    { name: 'in', packet: { proto: 'tcp', src: '2001:db8:42:1000::5', dst: '::1', dport: 1 }, flags: 'src', want: true },
    { name: 'out', packet: { proto: 'tcp', src: '2001:db8:42:1001::5', dst: '::1', dport: 1 }, flags: 'src', want: false },
    { name: 'IPv4 packet', packet: { proto: 'tcp', src: '10.0.0.1', dst: '10.0.0.2', dport: 1 }, flags: 'src', want: false },
  ]);
});

test('bitmap:port: range, TCP and UDP only, either family (ip_set_get_ip_port)', () => {
  runTable('create s bitmap:port range 30000-32767\nadd s 30080\nadd s 31000-31002\n', 's', [
    { name: 'tcp', packet: { proto: 'tcp', src: '1.1.1.1', sport: 1, dst: '2.2.2.2', dport: 30080 }, flags: 'dst', want: true },
    { name: 'udp range', packet: { proto: 'udp', src: '1.1.1.1', sport: 1, dst: '2.2.2.2', dport: 31001 }, flags: 'dst', want: true },
    { name: 'sctp is not matched by bitmap:port', packet: { proto: 'sctp', src: '1.1.1.1', sport: 1, dst: '2.2.2.2', dport: 30080 }, flags: 'dst', want: false },
    { name: 'IPv6 tcp', packet: { proto: 'tcp', src: '::1', sport: 1, dst: '::2', dport: 30080 }, flags: 'dst', want: true },
    { name: 'out of range', packet: { proto: 'tcp', src: '1.1.1.1', sport: 1, dst: '2.2.2.2', dport: 80 }, flags: 'dst', want: false },
  ]);
});

test('adding a range that overlaps an element fails like the kernel (no -exist)', () => {
  const { reg } = registry('create s hash:ip\nadd s 10.0.0.1\n');
  assert.throws(() => reg.restore('add s 10.0.0.0/30\n'), /it's already added/);
  reg.restore('add s 10.0.0.0/30 -exist\n');
  assert.is(mustGet(reg, 's').size, 4);
});

test('bitmap:port rejects elements outside its range', () => {
  const { reg } = registry('create s bitmap:port range 100-200\n');
  assert.throws(() => reg.restore('add s 201\n'), /Element is out of the range of the set/);
});

test('bitmap:ip with netmask stores blocks', () => {
  runTable('create s bitmap:ip range 192.168.0.0/16 netmask 24\nadd s 192.168.5.77\n', 's', [
    { name: 'same /24', packet: { proto: 'udp', src: '192.168.5.1', dst: '1.1.1.1' }, flags: 'src', want: true },
    { name: 'other /24', packet: { proto: 'udp', src: '192.168.6.1', dst: '1.1.1.1' }, flags: 'src', want: false },
  ]);
});

test('list:set: any member matches, each with its own dimensions and family', () => {
  const setup = [
    'create a hash:ip', 'add a 10.0.0.1',
    'create b hash:ip,port', 'add b 10.0.0.2,tcp:80',
    'create c hash:ip family inet6', 'add c ::5',
    'create l list:set', 'add l a', 'add l b', 'add l c', '',
  ].join('\n');
  runTable(setup, 'l', [
    { name: 'member a (one dimension)', packet: { proto: 'tcp', src: '1.1.1.1', dst: '10.0.0.1', dport: 1 }, flags: 'dst', want: true },
    { name: 'member b needs two flags', packet: { proto: 'tcp', src: '1.1.1.1', dst: '10.0.0.2', dport: 80 }, flags: 'dst', want: false },
    { name: 'member b with two flags', packet: { proto: 'tcp', src: '1.1.1.1', dst: '10.0.0.2', dport: 80 }, flags: 'dst,dst', want: true },
    { name: 'IPv6 member', packet: { proto: 'tcp', src: '::1', dst: '::5', dport: 1 }, flags: 'dst', want: true },
  ]);
});

test('list:set keeps members in order; before/after place them (list_set_uadd)', () => {
  const { reg } = registry('create a hash:ip\ncreate b hash:ip\ncreate c hash:ip\ncreate d hash:ip\ncreate l list:set\nadd l a\nadd l c\nadd l b before c\nadd l d after a\n');
  const adds = reg.save().split('\n').filter((l) => l.startsWith('add l '));
  assert.equal(adds, ['add l a', 'add l d', 'add l b', 'add l c']);
  assert.throws(() => reg.restore('add l a before x\n'), /The set to which you referred with 'before' or 'after' does not exist\./);
  assert.throws(() => reg.restore('create e hash:ip\nadd l e before e\n'), /is not added to the set\./);
  assert.throws(() => reg.restore('add l l\n'), /Sets with list:set type cannot be added to the set\./);
  assert.throws(() => reg.restore('destroy a\n'), /Set cannot be destroyed: it is in use by a kernel component/);
});

test('timeouts: expired elements stop matching; per-element timeout overrides the default', () => {
  const { reg, clock } = registry('create s hash:ip timeout 10\nadd s 10.0.0.1\nadd s 10.0.0.2 timeout 100\nadd s 10.0.0.3 timeout 0\n');
  const s = mustGet(reg, 's');
  const p = (ip: string) => pkt({ proto: 'udp', src: ip, dst: '1.1.1.1' });
  clock.advanceSeconds(10);
  assert.ok(s.test(p('10.0.0.1'), dirs('src'), clock.nowMs()), 'at exactly 10 s the entry is not yet expired (time_after)');
  clock.advanceSeconds(1);
  assert.not.ok(s.test(p('10.0.0.1'), dirs('src'), clock.nowMs()), 'expired');
  assert.ok(s.test(p('10.0.0.2'), dirs('src'), clock.nowMs()));
  clock.advanceSeconds(1_000_000);
  assert.ok(s.test(p('10.0.0.3'), dirs('src'), clock.nowMs()), 'timeout 0 is permanent');
  assert.is(s.size, 1);
});

test('SET target: add from the packet with --timeout, --exist refreshes, del removes', () => {
  const { reg, clock } = registry('create s hash:ip,port timeout 30\n');
  const s = mustGet(reg, 's');
  const p = pkt({ proto: 'udp', src: '10.1.1.1', sport: 5353, dst: '10.2.2.2', dport: 53 });
  s.add(p, dirs('src,dst'), clock.nowMs(), 5);
  assert.ok(s.test(p, dirs('src,dst'), clock.nowMs()));
  assert.match(reg.save(), /add s 10\.1\.1\.1,udp:53 timeout 5\n/);
  clock.advanceSeconds(4);
  s.add(p, dirs('src,dst'), clock.nowMs(), 5); // without --exist: already there, nothing changes
  assert.match(reg.save(), /timeout 1\n/);
  s.add(p, dirs('src,dst'), clock.nowMs(), 5, true);
  assert.match(reg.save(), /timeout 5\n/);
  s.del(p, dirs('src,dst'), clock.nowMs());
  assert.not.ok(s.test(p, dirs('src,dst'), clock.nowMs()));
});

test('SET target on hash:net adds the packet address at the largest stored prefix (INIT_CIDR)', () => {
  const { reg, clock } = registry('create s hash:net\nadd s 10.0.0.0/8\nadd s 172.16.0.0/24\n');
  const s = mustGet(reg, 's');
  s.add(pkt({ proto: 'udp', src: '192.168.9.9', dst: '1.1.1.1' }), dirs('src'), clock.nowMs());
  assert.match(reg.save(), /add s 192\.168\.9\.0\/24/);
});

test('counters count matching packets and bytes (ip_set_match_extensions)', () => {
  const { reg, clock } = registry('create s hash:ip counters\nadd s 10.0.0.1\n');
  const s = mustGet(reg, 's');
  const p = pkt({ proto: 'udp', src: '10.0.0.1', dst: '1.1.1.1', length: 100 });
  s.test(p, dirs('src'), clock.nowMs());
  s.test(p, dirs('src'), clock.nowMs());
  assert.match(reg.save(), /add s 10\.0\.0\.1 packets 2 bytes 200\n/);
});

test.run();
