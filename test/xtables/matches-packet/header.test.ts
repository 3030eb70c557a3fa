/**
 * Match behaviour of the IP-header modules: comment, iprange, length, pkttype, ttl, hl, mac,
 * tos, dscp and ecn, each row stating the kernel rule it checks (xt_*.c).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { PACKET_BROADCAST, PACKET_HOST, PACKET_MULTICAST, TCP_CWR, TCP_ECE } from '../../../src/packet/index.ts';
import { checkWith, compiled, pkt, v4, type PacketSpec } from './helpers.ts';

type Row = readonly [what: string, tokens: string, packet: PacketSpec, expect: boolean];

function table(name: string, module: string, rows: readonly Row[], family: 4 | 6 = 4, proto = ''): void {
  const s = suite(name);
  for (const [what, tokens, p, expect] of rows) {
    s(`${what}: -m ${module} ${tokens}`, () => {
      const { m, ctx } = compiled(module, tokens.match(/"[^"]*"|\S+/g)?.map((t) => t.replace(/^"|"$/g, '')) ?? [], { family, proto });
      assert.is(m.match(pkt({ family, ...p }), ctx), expect);
    });
  }
  s.run();
}

table('comment always matches', 'comment', [['any packet', '--comment "a b"', { fragment: true }, true]]);

table('iprange (xt_iprange, inclusive bounds)', 'iprange', [
  ['low bound', '--src-range 10.0.0.5-10.0.0.9', { src: v4('10.0.0.5') }, true],
  ['high bound', '--src-range 10.0.0.5-10.0.0.9', { src: v4('10.0.0.9') }, true],
  ['above', '--src-range 10.0.0.5-10.0.0.9', { src: v4('10.0.0.10') }, false],
  ['negated, inside', '! --dst-range 10.0.0.0-10.255.255.255', { dst: v4('10.1.2.3') }, false],
  ['negated, outside', '! --dst-range 10.0.0.0-10.255.255.255', { dst: v4('192.168.0.1') }, true],
  ['reversed range never matches', '--src-range 1.1.1.5-1.1.1.1', { src: v4('1.1.1.3') }, false],
  ['both ranges must hold', '--src-range 1.0.0.0-1.0.0.9 --dst-range 2.0.0.0-2.0.0.9', { src: v4('1.0.0.1'), dst: v4('3.0.0.0') }, false],
  ['high bit addresses compare unsigned', '--src-range 200.0.0.0-255.255.255.255', { src: v4('250.1.1.1') }, true],
]);

table('iprange on IPv6 (128-bit comparison)', 'iprange', [
  ['inside across words', '--src-range 2001:db8::ffff:ffff-2001:db8::1:0:0', { src: [0x20010db8, 0, 0, 0xffffffff + 1 - 1] }, true],
  ['below', '--src-range 2001:db8::1:0:0-2001:db8::2:0:0', { src: [0x20010db8, 0, 0, 0xffffffff] }, false],
  ['word 2 decides', '--src-range 2001:db8::1:0:0-2001:db8::2:0:0', { src: [0x20010db8, 0, 1, 5] }, true],
], 6);

table('length (IP total length, inclusive)', 'length', [
  ['inside', '--length 0:100', { length: 100 }, true],
  ['outside', '--length 0:100', { length: 101 }, false],
  ['exact', '--length 60', { length: 60 }, true],
  ['negated', '! --length 60', { length: 61 }, true],
  ['reversed never matches', '--length 6:5', { length: 5 }, false],
]);

table('pkttype (skb->pkt_type)', 'pkttype', [
  ['unicast is PACKET_HOST', '--pkt-type unicast', { pktType: PACKET_HOST }, true],
  ['broadcast', '--pkt-type broadcast', { pktType: PACKET_BROADCAST }, true],
  ['negated unicast on multicast', '! --pkt-type unicast', { pktType: PACKET_MULTICAST }, true],
  ['loopback to a multicast destination counts as multicast', '--pkt-type multicast', { pktType: 5, dst: v4('224.0.0.251') }, true],
  ['loopback otherwise counts as broadcast', '--pkt-type broadcast', { pktType: 5, dst: v4('10.0.0.255') }, true],
]);

table('ttl (ipt_ttl)', 'ttl', [
  ['eq', '--ttl-eq 64', { ttl: 64 }, true],
  ['! eq is "not equal"', '! --ttl-eq 64', { ttl: 63 }, true],
  ['lt is strict', '--ttl-lt 64', { ttl: 64 }, false],
  ['gt is strict', '--ttl-gt 1', { ttl: 2 }, true],
]);

table('hl (ip6t_hl, the hop limit)', 'hl', [
  ['eq 255 (NDP)', '--hl-eq 255', { ttl: 255 }, true],
  ['lt', '--hl-lt 2', { ttl: 1 }, true],
  ['! eq', '! --hl-eq 255', { ttl: 255 }, false],
], 6);

table('mac (xt_mac, Ethernet source)', 'mac', [
  ['same address, any case', '--mac-source 00:11:22:aa:bb:cc', { macSource: '001122AABBCC', inIface: 'eth0' }, true],
  ['other address', '--mac-source 00:11:22:aa:bb:cc', { macSource: '001122aabbcd', inIface: 'eth0' }, false],
  ['negated other address', '! --mac-source 00:11:22:aa:bb:cc', { macSource: '001122aabbcd', inIface: 'eth0' }, true],
  ['no Ethernet header: never, even negated', '! --mac-source 00:11:22:aa:bb:cc', { macSource: '' }, false],
  ['loopback has no Ethernet header', '! --mac-source 00:11:22:aa:bb:cc', { macSource: '000000000000', inIface: 'lo' }, false],
]);

table('tos (xt_dscp tos_mt, TOS & mask == value)', 'tos', [
  ['symbolic name: mask 0x3f ignores the two top bits', '--tos Minimize-Delay', { tos: 0xc0 | 0x10 }, true],
  ['symbolic name: mask 0x3f keeps the low bits', '--tos Minimize-Delay', { tos: 0x10 | 0x01 }, false],
  ['numeric value uses mask 0xff', '--tos 0x10', { tos: 0x11 }, false],
  ['explicit mask', '--tos 0x10/0xf0', { tos: 0x1f }, true],
  ['negated', '! --tos 0x10/0x3f', { tos: 0x08 }, true],
]);

table('dscp (upper six bits of the TOS byte)', 'dscp', [
  ['EF is 46', '--dscp-class EF', { tos: 46 << 2 }, true],
  ['ECN bits ignored', '--dscp 0x0a', { tos: (0x0a << 2) | 3 }, true],
  ['negated', '! --dscp 0', { tos: 0 }, false],
]);

table('ecn (xt_ecn)', 'ecn', [
  ['ECT(0) in the IP header', '--ecn-ip-ect 2', { tos: 0x02 }, true],
  ['CE is 3', '--ecn-ip-ect 3', { tos: 0xb8 | 3 }, true],
  ['negated ip-ect', '! --ecn-ip-ect 0', { tos: 0 }, false],
  ['ECE bit', '--ecn-tcp-ece', { tcpFlags: TCP_ECE }, true],
  ['negated CWR bit', '! --ecn-tcp-cwr', { tcpFlags: TCP_CWR }, false],
  ['all given tests must hold', '--ecn-tcp-ece --ecn-ip-ect 1', { tcpFlags: TCP_ECE, tos: 2 }, false],
], 4, 'tcp');

const s = suite('header matches: kernel checks');
s('mac only from PREROUTING, INPUT, FORWARD (x_tables hook check)', () => {
  assert.is(checkWith('mac', ['--mac-source', '00:11:22:33:44:55'], { chain: 'INPUT' }), null);
  assert.is(
    checkWith('mac', ['--mac-source', '00:11:22:33:44:55'], { chain: 'OUTPUT' }),
    'x_tables: ip_tables: mac match: used from hooks OUTPUT, but only valid from PREROUTING/INPUT/FORWARD',
  );
});
s('ecn TCP bits need -p tcp', () => {
  assert.is(checkWith('ecn', ['--ecn-tcp-cwr'], {}), 'xt_ecn: cannot match TCP bits for non-tcp packets');
  assert.is(checkWith('ecn', ['--ecn-tcp-cwr'], { proto: 'tcp' }), null);
  assert.is(checkWith('ecn', ['--ecn-ip-ect', '1'], {}), null);
});
s.run();
