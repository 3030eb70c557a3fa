/**
 * Match behaviour of -m tcp, udp, sctp and multiport, as the kernel runs what iptables-nft
 * 1.8.9 loads (native payload expressions for tcp/udp, xt_tcp/xt_udp/xt_sctp/xt_multiport
 * otherwise). Expected answers come from the kernel code paths named in each row.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { NfemuError } from '../../../src/core/index.ts';
import { TCP_ACK, TCP_CWR, TCP_ECE, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN } from '../../../src/packet/index.ts';
import { checkWith, compiled, parseError, pkt, roundTrip, type PacketSpec } from './helpers.ts';

type Row = readonly [what: string, tokens: string, proto: string, packet: PacketSpec, expect: boolean];

function table(name: string, module: string, rows: readonly Row[]): void {
  const s = suite(name);
  for (const [what, tokens, proto, p, expect] of rows) {
    s(`${what}: -p ${proto || '(none)'} -m ${module} ${tokens}`, () => {
      const { m, ctx } = compiled(module, tokens.split(' ').filter(Boolean), { proto });
      assert.is(m.match(pkt(p), ctx), expect);
    });
  }
  s.run();
}

const UDP = 17;

table('tcp match (native ports and flags, xt_tcp for options)', 'tcp', [
  ['dport equal', '--dport 80', 'tcp', { dport: 80 }, true],
  ['dport differs', '--dport 80', 'tcp', { dport: 81 }, false],
  ['negated dport', '! --dport 80', 'tcp', { dport: 81 }, true],
  ['range inclusive low end', '--sport 1024:65535', 'tcp', { sport: 1024 }, true],
  ['range below', '--sport 1024:65535', 'tcp', { sport: 1023 }, false],
  ['both ports must hold', '--sport 25 --dport 25', 'tcp', { sport: 25, dport: 26 }, false],
  ['never a non-first fragment (port test)', '--dport 80', 'tcp', { dport: 80, fragment: true }, false],
  ['never a non-first fragment, even negated', '! --dport 80', 'tcp', { dport: 81, fragment: true }, false],
  ['-m tcp alone (xt_tcp): any first fragment', '', 'tcp', { dport: 1 }, true],
  ['-m tcp alone (xt_tcp): not a non-first fragment', '', 'tcp', { fragment: true }, false],
  // add_nft_tcpudp() emits nothing for a 0:65535 range, negated or not: no match left.
  ['! --sport 0:65535 keeps no test (matches all)', '! --sport 0:65535', 'tcp', { sport: 7 }, true],
  ['! --sport 0:65535 matches fragments too', '! --sport 0:65535', 'tcp', { fragment: true }, true],
  ['--syn: SYN alone', '--syn', 'tcp', { tcpFlags: TCP_SYN }, true],
  ['--syn: SYN+ACK is not', '--syn', 'tcp', { tcpFlags: TCP_SYN | TCP_ACK }, false],
  ['--syn: PSH is outside the mask', '--syn', 'tcp', { tcpFlags: TCP_SYN | TCP_PSH }, true],
  ['--syn: ECE/CWR are outside the mask', '--syn', 'tcp', { tcpFlags: TCP_SYN | TCP_ECE | TCP_CWR }, true],
  ['! --syn on an ACK', '! --syn', 'tcp', { tcpFlags: TCP_ACK }, true],
  ['--tcp-flags SYN,ACK SYN,ACK', '--tcp-flags SYN,ACK SYN,ACK', 'tcp', { tcpFlags: TCP_SYN | TCP_ACK | TCP_PSH }, true],
  ['--tcp-flags ALL NONE (null scan)', '--tcp-flags ALL NONE', 'tcp', { tcpFlags: 0 }, true],
  ['--tcp-flags ALL NONE on FIN', '--tcp-flags ALL NONE', 'tcp', { tcpFlags: TCP_FIN }, false],
  ['comparison outside the mask never holds', '--tcp-flags SYN SYN,ACK', 'tcp', { tcpFlags: TCP_SYN | TCP_ACK }, false],
  // iptables-nft emits no flags expression for an empty mask: nothing is tested.
  ['--tcp-flags NONE SYN keeps no test', '--tcp-flags NONE SYN', 'tcp', { tcpFlags: TCP_RST }, true],
  ['--tcp-flags on a non-first fragment', '--tcp-flags SYN SYN', 'tcp', { tcpFlags: TCP_SYN, fragment: true }, false],
  // xt_tcp: tcp_find_option() with no options after the 20-byte header returns the inversion.
  ['--tcp-option on a packet without options', '--tcp-option 2', 'tcp', {}, false],
  ['! --tcp-option on a packet without options', '! --tcp-option 2', 'tcp', {}, true],
  ['! --tcp-option on a non-first fragment', '! --tcp-option 2', 'tcp', { fragment: true }, false],
  // With ! -p tcp the native match reads the same header bytes of any protocol.
  ['! -p tcp: the udp port field is read', '--dport 53', '! tcp', { proto: UDP, dport: 53 }, true],
]);

table('udp match (native ports, xt_udp when empty)', 'udp', [
  ['dport', '--dport 53', 'udp', { proto: UDP, dport: 53 }, true],
  ['negated sport and dport', '! --sport 67:68 ! --dport 67:68', 'udp', { proto: UDP, sport: 1000, dport: 53 }, true],
  ['negated sport, port in range', '! --sport 67:68 ! --dport 67:68', 'udp', { proto: UDP, sport: 67, dport: 53 }, false],
  ['reversed range loads and never matches', '--dport 2:1', 'udp', { proto: UDP, dport: 1 }, false],
  ['never a non-first fragment', '--dport 53', 'udp', { proto: UDP, dport: 53, fragment: true }, false],
  ['-m udp alone: not a non-first fragment', '', 'udp', { proto: UDP, fragment: true }, false],
  ['! --sport : keeps no test', '! --sport :', 'udp', { proto: UDP, fragment: true }, true],
]);

table('sctp match (xt_sctp ports)', 'sctp', [
  ['dport', '--dport 38412', 'sctp', { proto: 132, dport: 38412 }, true],
  ['sport range negated', '! --sport 1:100', 'sctp', { proto: 132, sport: 50 }, false],
  ['never a non-first fragment', '--sport 38412', 'sctp', { proto: 132, sport: 38412, fragment: true }, false],
  ['-m sctp alone: a first fragment', '', 'sctp', { proto: 132 }, true],
  ['-m sctp alone: not a non-first fragment', '', 'sctp', { proto: 132, fragment: true }, false],
]);

table('multiport match (xt_multiport revision 1)', 'multiport', [
  ['dports list', '--dports 22,80,443', 'tcp', { dport: 80 }, true],
  ['dports list miss', '--dports 22,80,443', 'tcp', { dport: 81 }, false],
  ['range in the list', '--dports 53,3000:5000', 'tcp', { dport: 4000 }, true],
  ['range ends inclusive', '--dports 53,3000:5000', 'tcp', { dport: 5000 }, true],
  ['sports does not look at dport', '--sports 80', 'tcp', { sport: 1, dport: 80 }, false],
  ['ports: either side', '--ports 5060', 'udp', { proto: UDP, sport: 5060, dport: 1 }, true],
  ['ports: destination side', '--ports 5060', 'udp', { proto: UDP, sport: 1, dport: 5060 }, true],
  ['negated list, port outside', '! --dports 53,15008', 'tcp', { dport: 80 }, true],
  ['negated list, port inside', '! --dports 53,15008', 'tcp', { dport: 53 }, false],
  ['never a non-first fragment', '--dports 80', 'tcp', { dport: 80, fragment: true }, false],
  ['never a non-first fragment, even negated', '! --dports 80', 'tcp', { dport: 81, fragment: true }, false],
]);

const s = suite('tcp/udp/sctp/multiport: checks, vanishing and refusals');

s('tcp: native form needs -p tcp by number (iptables-nft add_nft_tcp)', () => {
  assert.is(checkWith('tcp', ['--dport', '5'], { proto: 'udp' }), "TCP match requires '-p tcp'");
  assert.is(checkWith('tcp', ['--dport', '5'], { proto: '' }), "TCP match requires '-p tcp'");
  assert.is(checkWith('tcp', ['--dport', '5'], { proto: '! tcp' }), null);
  assert.is(checkWith('tcp', ['--dport', '5'], { proto: 'tcp' }), null);
});

s('tcp: the xt_tcp form is checked by the kernel (protocol 6, not negated)', () => {
  assert.is(checkWith('tcp', [], { proto: '! tcp' }), 'x_tables: ip_tables: tcp match: only valid for protocol 6');
  assert.is(checkWith('tcp', ['--tcp-option', '5'], { proto: 'udp' }), 'x_tables: ip_tables: tcp match: only valid for protocol 6');
  assert.is(checkWith('tcp', [], { proto: 'tcp' }), null);
});

s('udp: same split between the native check and xt_udp', () => {
  assert.is(checkWith('udp', ['--dport', '5'], { proto: 'tcp' }), "UDP match requires '-p udp'");
  assert.is(checkWith('udp', [], { proto: '! udp' }), 'x_tables: ip_tables: udp match: only valid for protocol 17');
});

s('tcp/udp matches that iptables-nft does not keep are reported as omitted', () => {
  assert.is(roundTrip('tcp', ['!', '--sport', '0:65535'], { proto: 'tcp' }), null);
  assert.is(roundTrip('tcp', ['--tcp-flags', 'NONE', 'SYN'], { proto: 'tcp' }), null);
  assert.is(roundTrip('tcp', [], { proto: 'tcp' }), '');
  assert.is(roundTrip('udp', ['!', '--dport', ':'], { proto: 'udp' }), null);
  assert.is(roundTrip('tcp', ['--syn'], { proto: 'tcp' }), '--tcp-flags FIN,SYN,RST,ACK SYN');
});

s('sctp: --chunk-types cannot be evaluated without chunks (UNSUPPORTED at compile)', () => {
  try {
    compiled('sctp', ['--chunk-types', 'any', 'DATA'], { proto: 'sctp' });
    assert.unreachable('compile should refuse');
  } catch (e) {
    assert.instance(e, NfemuError);
    assert.is((e as NfemuError).code, 'UNSUPPORTED');
    assert.match((e as NfemuError).message, /sctp.*chunk/);
  }
});

s('multiport: the protocol is checked when the option is read (iptables check_proto)', () => {
  assert.is(parseError('multiport', ['--dports', '1'], { proto: '' }), "multiport needs `-p tcp', `-p udp', `-p udplite', `-p sctp' or `-p dccp'");
  assert.is(parseError('multiport', ['--dports', '1'], { proto: '! tcp' }), 'multiport only works with TCP, UDP, UDPLITE, SCTP and DCCP');
  assert.is(parseError('multiport', ['--dports', '1:2,3:4,5:6,7:8,9:10,11:12,13:14,15:16'], { proto: 'tcp' }), 'too many ports specified');
});

s.run();
