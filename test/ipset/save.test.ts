/**
 * `ipset save` output: byte-identical to a real dump, element order as the kernel's hash
 * buckets give it, round trips, timeouts and extensions printed back.
 */
import { existsSync, readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SeededRng } from '../../src/core/index.ts';
import { dirs, mustGet, pkt, registry } from './helpers.ts';

const KUBE_ROUTER = '/work/shared/corpus/real/kube-router/ipset_save.ipset';

test('real kube-router dump: parsed, then saved byte-identical', () => {
  if (!existsSync(KUBE_ROUTER)) {
    console.log(`  skipped: ${KUBE_ROUTER} is absent (no /work/shared)`);
    return;
  }
  const text = readFileSync(KUBE_ROUTER, 'utf8');
  const { reg, clock } = registry(text);
  // Counted from the file (grep -c '^create'): 17 sets.
  assert.is(reg.names().length, 17);
  assert.is(mustGet(reg, 'kube-router-svip-prt').typeName, 'hash:ip,port');
  assert.is(mustGet(reg, 'inet6:kube-router-pod-subnets').typeName, 'hash:net');
  assert.is(mustGet(reg, 'inet6:kube-router-pod-subnets').family, 6);
  assert.is(mustGet(reg, 'kube-router-svip').size, 8);
  const prt = mustGet(reg, 'kube-router-svip-prt');
  // "add kube-router-svip-prt 10.96.0.10,udp:53 timeout 0" is in the file; tcp:54 is not.
  assert.ok(prt.test(pkt({ proto: 'udp', src: '10.242.0.5', sport: 3333, dst: '10.96.0.10', dport: 53 }), dirs('dst,dst'), clock.nowMs()));
  assert.not.ok(prt.test(pkt({ proto: 'tcp', src: '10.242.0.5', sport: 3333, dst: '10.96.0.10', dport: 54 }), dirs('dst,dst'), clock.nowMs()));
  // "add KUBE-SRC-KLLOHJLFVAV654Z2 10.95.0.239" is a host entry of a hash:net set.
  assert.ok(mustGet(reg, 'KUBE-SRC-KLLOHJLFVAV654Z2').test(pkt({ proto: 'tcp', src: '10.95.0.239', dst: '1.1.1.1', dport: 1 }), dirs('src'), clock.nowMs()));
  assert.is(reg.save(), text);
});

test('element order is the kernel bucket order, whatever order elements were added in', () => {
  if (!existsSync(KUBE_ROUTER)) {
    console.log(`  skipped: ${KUBE_ROUTER} is absent (no /work/shared)`);
    return;
  }
  // The real dump lists each set's members in the order the kernel walks its buckets
  // (jhash2 of the element with the set's initval). Adding them shuffled must give the
  // same listing.
  const text = readFileSync(KUBE_ROUTER, 'utf8');
  const lines = text.trimEnd().split('\n');
  const rng = new SeededRng(7);
  const out: string[] = [];
  let adds: string[] = [];
  const flush = (): void => {
    for (let i = adds.length - 1; i > 0; i--) {
      const j = rng.nextU32() % (i + 1);
      [adds[i], adds[j]] = [adds[j]!, adds[i]!];
    }
    out.push(...adds);
    adds = [];
  };
  for (const l of lines) {
    if (l.startsWith('create ')) {
      flush();
      out.push(l);
    } else adds.push(l);
  }
  flush();
  const { reg } = registry(out.join('\n') + '\n');
  assert.is(reg.save(), text);
});

test('round trip: restore(save(x)) then save() is identical', () => {
  const src = [
    'create n hash:net family inet hashsize 64 maxelem 100 timeout 300 counters comment skbinfo',
    'add n 10.0.0.0/8 timeout 50 packets 3 bytes 400 comment "hello world" skbmark 0x10/0xff skbprio 1:2 skbqueue 3',
    'add n 10.1.0.0/16 nomatch',
    'create p hash:ip,port family inet6',
    'add p 2001:db8::1,udp:53',
    'add p 2001:db8::1,ipv6-icmp:echo-request',
    'create q hash:ip,port,net forceadd',
    'add q 10.0.0.1,tcp:80,192.168.0.0/16',
    'create r hash:ip,port,ip',
    'add r 10.0.0.1,sctp:80,10.0.0.2',
    'create s hash:net,port',
    'add s 10.0.0.0/24,icmp:host-unreachable',
    'create b bitmap:port range 1-1000 timeout 20',
    'add b 80',
    'create i bitmap:ip range 10.0.0.0-10.0.255.255',
    'add i 10.0.3.4',
    'create l list:set size 4',
    'add l p',
    '',
  ].join('\n');
  const { reg, clock } = registry(src);
  clock.advanceSeconds(3);
  const once = reg.save();
  const again = registry(once).reg.save();
  assert.is(again, once);
  // What the tool prints for these lines (values worked out by hand from the input):
  assert.match(once, /\nadd n 10\.0\.0\.0\/8 timeout 47 packets 3 bytes 400 comment "hello world" skbmark 0x10\/0xff skbprio 1:2 skbqueue 3\n/);
  assert.match(once, /\nadd n 10\.1\.0\.0\/16 timeout 297 nomatch packets 0 bytes 0\n/);
  assert.match(once, /\ncreate p hash:ip,port family inet6 hashsize 1024 maxelem 65536 bucketsize 12 initval 0x[0-9a-f]{8}\n/);
  assert.match(once, /\nadd p 2001:db8::1,ipv6-icmp:echo-request\n/);
  assert.match(once, /\ncreate q hash:ip,port,net family inet hashsize 1024 maxelem 65536 forceadd bucketsize 12 initval 0x/);
  assert.match(once, /\nadd s 10\.0\.0\.0\/24,icmp:host-unreachable\n/);
  assert.match(once, /\ncreate b bitmap:port range 1-1000 timeout 20\nadd b 80 timeout 17\n/);
  assert.match(once, /\ncreate i bitmap:ip range 10\.0\.0\.0-10\.0\.255\.255\nadd i 10\.0\.3\.4\n/);
  assert.match(once, /\ncreate l list:set size 4\nadd l p\n$/);
});

test('an older dump without bucketsize/initval gains them, as ipset 7.x on a current kernel prints', () => {
  const { reg } = registry('create azure-npm-1 hash:net family inet hashsize 1024 maxelem 65536\nadd azure-npm-1 10.240.0.10\n');
  assert.match(reg.save(), /^create azure-npm-1 hash:net family inet hashsize 1024 maxelem 65536 bucketsize 12 initval 0x[0-9a-f]{8}\nadd azure-npm-1 10\.240\.0\.10\n$/);
});

test('hashsize: at least 64, rounded up to a power of two; grows when a bucket is full', () => {
  const { reg } = registry('create s hash:ip hashsize 100 bucketsize 2 initval 0x1\n');
  assert.match(reg.save(), /hashsize 128 /);
  const adds: string[] = [];
  for (let i = 1; i <= 600; i++) adds.push(`add s 10.0.${i >> 8}.${i & 255}`);
  reg.restore(adds.join('\n'));
  const m = /hashsize ([0-9]+) /.exec(reg.save());
  assert.ok(Number(m![1]) > 128, 'the table was resized');
  assert.is(mustGet(reg, 's').size, 600);
});

test('timeouts: save prints the whole seconds left and drops expired entries', () => {
  const { reg, clock } = registry('create s hash:ip timeout 60\nadd s 1.1.1.1\nadd s 1.1.1.2 timeout 10\n');
  clock.advance(9_500);
  assert.match(reg.save(), /\nadd s 1\.1\.1\.2 timeout 1\n/);
  clock.advance(1_000);
  assert.not.match(reg.save(), /1\.1\.1\.2/);
  assert.match(reg.save(), /\nadd s 1\.1\.1\.1 timeout 49\n/);
});

test.run();
