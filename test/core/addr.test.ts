import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseCidr, formatCidr, parseIpv6, formatIpv6, parseIpv4, formatIpv4, cidrContains, parseIp } from '../../src/core/index.ts';

test('IPv4 parse and format round trip', () => {
  assert.is(parseIpv4('10.96.0.1'), 0x0a600001);
  assert.is(formatIpv4(0xc0a80102), '192.168.1.2');
  assert.is(parseIpv4('256.0.0.1'), null);
  assert.is(parseIpv4('1.2.3'), null);
});

test('iptables masks the address of a prefix (10.1.2.3/8 -> 10.0.0.0/8)', () => {
  assert.is(formatCidr(parseCidr(4, '10.1.2.3/8')!), '10.0.0.0/8');
  assert.is(formatCidr(parseCidr(4, '10.1.2.3')!), '10.1.2.3/32');
  assert.is(formatCidr(parseCidr(4, '10.1.2.3/255.255.0.0')!), '10.1.0.0/16');
  assert.is(formatCidr(parseCidr(4, '10.1.2.3/255.0.255.0')!), '10.0.2.0/255.0.255.0');
});

test('IPv6 is printed as inet_ntop prints it', () => {
  assert.is(formatIpv6(parseIpv6('2001:0db8:0000:0000:0000:0000:0000:0001')!), '2001:db8::1');
  assert.is(formatIpv6(parseIpv6('::1')!), '::1');
  assert.is(formatIpv6(parseIpv6('::')!), '::');
  assert.is(formatIpv6(parseIpv6('fe80::1:0:0:1')!), 'fe80::1:0:0:1');
  assert.is(formatIpv6(parseIpv6('1:0:1:0:1:0:1:0')!), '1:0:1:0:1:0:1:0');
  assert.is(formatIpv6(parseIpv6('::ffff:10.0.0.1')!), '::ffff:10.0.0.1');
  assert.is(formatIpv6(parseIpv6('::6')!), '::6');
  assert.is(formatIpv6(parseIpv6('::1.2.3.4')!), '::1.2.3.4');
  assert.is(formatIpv6(parseIpv6('::ffff:0:5')!), '::ffff:0.0.0.5');
  assert.is(formatCidr(parseCidr(6, 'fd00::1/64')!), 'fd00::/64');
  assert.is(parseIpv6('1::2::3'), null);
});

test('cidrContains', () => {
  const c = parseCidr(4, '10.244.0.0/16')!;
  assert.ok(cidrContains(c, parseIp('10.244.3.4')!.w));
  assert.not.ok(cidrContains(c, parseIp('10.245.0.1')!.w));
});

test.run();
