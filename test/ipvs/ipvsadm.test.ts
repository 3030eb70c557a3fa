/**
 * ipvsadm text: `ipvsadm-save -n` in (ipvsadm 1.31 parse_options / process_options and
 * the kernel's answers, with the messages ipvsadm prints) and `-Sn` / `-Ln` out
 * (print_service_entry, print_title, print_largenum; libipvs ipvs_cmp_services /
 * ipvs_cmp_dests for the order). Expected listings are written out by hand from the printf
 * formats of ipvsadm.c.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { NfemuError } from '../../src/core/index.ts';
import { NF_INET_FORWARD, NF_INET_LOCAL_IN } from '../../src/netfilter/index.ts';
import { parseIpvsadm, printList, printSave, printTimeout } from '../../src/ipvs/index.ts';
import { engine, env, pkt } from './helpers.ts';

const SAVE = [
  '-A -t 10.96.0.1:443 -s rr -p 10800',
  '-a -t 10.96.0.1:443 -r 192.168.0.1:6443 -m -w 1',
  '-A -t 10.96.0.10:53 -s mh -b mh-fallback,mh-port',
  '-a -t 10.96.0.10:53 -r 10.244.0.3:53 -m -w 1',
  '-a -t 10.96.0.10:53 -r 10.244.0.2:53 -m -w 1',
  '-A -u 10.96.0.10:53 -s wrr -p 300 -M 255.255.255.0 -o',
  '-a -u 10.96.0.10:53 -r 10.244.0.2:53 -m -w 3',
  '-A -f 7 -s sh -b sh-port',
  '-a -f 7 -r 10.1.0.1:0 -g -w 1',
  '-A -t [fd00::1]:80 -s lc',
  '-a -t [fd00::1]:80 -r [fd00:10::2]:8080 -m -w 2',
  '',
].join('\n');

test('ipvsadm-save -n text round-trips through -Sn (services and servers sorted as ipvsadm sorts)', () => {
  const { ipvs } = engine(SAVE);
  assert.is(printSave(ipvs), [
    '-A -t 10.96.0.1:443 -s rr -p 10800',
    '-a -t 10.96.0.1:443 -r 192.168.0.1:6443 -m -w 1',
    '-A -t 10.96.0.10:53 -s mh -b mh-fallback,mh-port',
    '-a -t 10.96.0.10:53 -r 10.244.0.2:53 -m -w 1',
    '-a -t 10.96.0.10:53 -r 10.244.0.3:53 -m -w 1',
    '-A -u 10.96.0.10:53 -s wrr -p 300 -M 255.255.255.0 -o',
    '-a -u 10.96.0.10:53 -r 10.244.0.2:53 -m -w 3',
    '-A -t [fd00::1]:80 -s lc',
    '-a -t [fd00::1]:80 -r [fd00:10::2]:8080 -m -w 2',
    '-A -f 7 -s sh -b sh-port',
    '-a -f 7 -r 10.1.0.1:0 -g -w 1',
    '',
  ].join('\n'));
});

test('-Ln: the title, "%-4s %s" services, "  -> %-28s %-7s %-6d %-10u %-10u" servers, flags, persistence', () => {
  const { ipvs } = engine(SAVE);
  assert.is(printList(ipvs), [
    'IP Virtual Server version 1.2.1 (size=4096)',
    'Prot LocalAddress:Port Scheduler Flags',
    '  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn',
    'TCP  10.96.0.1:443 rr persistent 10800',
    '  -> 192.168.0.1:6443             Masq    1      0          0         ',
    'TCP  10.96.0.10:53 mh (mh-fallback,mh-port)',
    '  -> 10.244.0.2:53                Masq    1      0          0         ',
    '  -> 10.244.0.3:53                Masq    1      0          0         ',
    'UDP  10.96.0.10:53 wrr persistent 300 mask 255.255.255.0 ops',
    '  -> 10.244.0.2:53                Masq    3      0          0         ',
    'TCP  [fd00::1]:80 lc',
    '  -> [fd00:10::2]:8080            Masq    2      0          0         ',
    'FWM  7 sh (sh-port)',
    '  -> 10.1.0.1:0                   Route   1      0          0         ',
    '',
  ].join('\n'));
});

test('--stats counts connections, packets and bytes each way ("%9llu" columns)', () => {
  const { ipvs } = engine('-A -t 10.96.0.1:80 -s rr\n-a -t 10.96.0.1:80 -r 10.0.0.1:8080 -m\n');
  const e = env();
  ipvs.inHook(NF_INET_LOCAL_IN, pkt({ src: '192.168.1.50', dst: '10.96.0.1' }), e); // 40 bytes
  ipvs.outHook(NF_INET_FORWARD, pkt({ src: '10.0.0.1', sport: 8080, dst: '192.168.1.50', dport: 40000, tcp_flags: 'SYN,ACK' }), e);
  ipvs.inHook(NF_INET_LOCAL_IN, pkt({ src: '192.168.1.50', dst: '10.96.0.1', tcp_flags: 'ACK', length: 1040 }), e);
  assert.is(printList(ipvs, { stats: true }), [
    'IP Virtual Server version 1.2.1 (size=4096)',
    'Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes',
    '  -> RemoteAddress:Port',
    // "%-33s" then five "%9llu"
    'TCP  10.96.0.1:80'.padEnd(33) + '        1        2        1     1080       40',
    '  -> 10.0.0.1:8080'.padEnd(33) + '        1        2        1     1080       40',
    '',
  ].join('\n'));
  assert.match(printList(ipvs, { thresholds: true }), /\n  -> 10\.0\.0\.1:8080 {16}0 {10}0 {10}1 {10}0 {9}\n$/);
});

test('the timeout line is the kernel defaults (tcp 900, tcpfin 120, udp 300)', () => {
  assert.is(printTimeout(), 'Timeout (tcp tcpfin udp): 900 120 300\n');
});

test('defaults: scheduler wlc, weight 1, gatewaying; a server without a port takes the service port', () => {
  const { ipvs } = engine('-A -t 10.96.0.1:80\n-a -t 10.96.0.1:80 -r 10.0.0.1\n');
  assert.is(printSave(ipvs), '-A -t 10.96.0.1:80 -s wlc\n-a -t 10.96.0.1:80 -r 10.0.0.1:80 -g -w 1\n');
});

const err = (text: string): string => {
  try {
    engine(text);
  } catch (e) {
    assert.instance(e, NfemuError);
    const n = e as NfemuError;
    return `${n.file}:${n.line}: ${n.message}`;
  }
  return 'no error';
};

test('errors carry ipvsadm / libipvs wording and the line', () => {
  assert.is(err('-A -t 10.96.0.1:80 -s rr\n-A -t 10.96.0.1:80 -s rr'), 'test:2: Service already exists');
  assert.is(err('-a -t 10.96.0.1:80 -r 10.0.0.1:80 -m'), 'test:1: Service not defined');
  assert.is(err('-A -t 10.96.0.1:80 -s rr\n-a -t 10.96.0.1:80 -r 10.0.0.1:80 -m\n-a -t 10.96.0.1:80 -r 10.0.0.1:80 -m'), 'test:3: Destination already exists');
  assert.is(err('-A -t 10.96.0.1:80 -s bogus'), 'test:1: Scheduler not found');
  assert.is(err('-A -t 10.96.0.1 -s rr'), 'test:1: Zero port specified for non-persistent service');
  assert.is(err('-A -t 10.96.0.1:80 -s rr -o'), 'test:1: One-Packet Scheduling is only for UDP virtual services');
  assert.is(err('-A -t 10.96.0.1:80 -s rr -b sh-port'), "test:1: incompatible scheduler flag `sh-port'");
  assert.is(err('-A -t 10.96.0.1:99999 -s rr'), 'test:1: illegal virtual server address[:port] specified');
  assert.is(err('-A -t 10.96.0.1:80 -s rr -p 0'), "test:1: invalid timeout value `0' specified");
});

test('parse: long options, comments and blank lines', () => {
  const cmds = parseIpvsadm('# saved\n\n--add-service --tcp-service=10.96.0.1:80 --scheduler rr\n--add-server -t 10.96.0.1:80 --real-server 10.0.0.1:8080 --masquerading --weight=5\n');
  assert.equal(cmds.map((c) => [c.op, c.line, c.dest?.weight ?? null]), [['A', 3, null], ['a', 4, 5]]);
});

test.run();
