/**
 * IPVS hooked into a host (case files with an `ipvs` field), against ip_vs_core.c's
 * nf_hook_ops and ip_vs_xmit.c / ip_vs_nfct.c: a client packet to a VIP on kube-ipvs0
 * arrives at PREROUTING, is DNATed at LOCAL_IN and leaves through LOCAL_OUT and
 * POSTROUTING (where the host's MASQUERADE applies when net.ipv4.vs.conntrack=1); the real
 * server's reply is un-NATed back to the VIP; persistence holds on the clock; no real
 * servers means ICMP port unreachable. Also `ipvsadm -Ln` of the Kubernetes README sample.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { buildHost, runCase, type CaseFile } from '../../src/host/index.ts';
import { printList } from '../../src/ipvs/index.ts';
import { buildPacket } from '../../src/packet/index.ts';
import { sharedPath } from '../support/shared.ts';

const NODE = {
  interfaces: [
    { name: 'eth0', addrs: ['192.168.1.10/24'] },
    { name: 'kube-ipvs0', addrs: ['10.96.0.100/32', '10.96.0.200/32'] },
    { name: 'cni0', addrs: ['10.244.1.1/24'] },
  ],
  routes: ['default via 192.168.1.1 dev eth0'],
};

const MASQ_RULES = `*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:KUBE-POSTROUTING - [0:0]
-A POSTROUTING -j KUBE-POSTROUTING
-A KUBE-POSTROUTING -o cni0 -j MASQUERADE
COMMIT
`;

const IPVS = `-A -t 10.96.0.100:80 -s rr
-a -t 10.96.0.100:80 -r 10.244.1.5:8080 -m -w 1
-a -t 10.96.0.100:80 -r 10.244.1.6:8080 -m -w 1
-A -t 10.96.0.200:80 -s rr
`;

const client = (sport: number, flags = 'SYN') => ({ hook: 'PREROUTING' as const, proto: 'tcp', src: '192.168.1.50', sport, dst: '10.96.0.100', dport: 80, in_iface: 'eth0', tcp_flags: flags });

function run(c: Partial<CaseFile>) {
  return runCase({ ...NODE, ...c } as CaseFile).results;
}

test('conntrack=1: DNAT at LOCAL_IN, out via LOCAL_OUT/POSTROUTING with MASQUERADE; the reply comes back from the VIP', () => {
  const r = run({
    ruleset: MASQ_RULES, ipvs: IPVS, sysctls: { 'net.ipv4.vs.conntrack': 1 },
    packets: [client(40000), { hook: 'PREROUTING', proto: 'tcp', src: '10.244.1.6', sport: 8080, dst: '10.244.1.1', dport: 40000, in_iface: 'cni0', tcp_flags: 'SYN,ACK' }],
  });
  const f = r[0]!.final;
  assert.equal([f.fate, f.src, f.sport, f.dst, f.dport, f.out_iface], ['forwarded', '10.244.1.1', 40000, '10.244.1.6', 8080, 'cni0']);
  // The conntrack entry's reply tuple was rewritten by IPVS (ip_vs_update_conntrack) and then by MASQUERADE.
  const ct = r[0]!.conntrack[0] as { original: { dst: string }; reply: { src: string; dst: string; sport: number } };
  assert.equal([ct.original.dst, ct.reply.src, ct.reply.sport, ct.reply.dst], ['10.96.0.100', '10.244.1.6', 8080, '10.244.1.1']);
  // The trace shows LOCAL_OUT and POSTROUTING chains for the IPVS'd packet.
  assert.ok(r[0]!.trace.some((e) => e.hook === 'POSTROUTING' && e.chain === 'KUBE-POSTROUTING'));
  const g = r[1]!.final;
  assert.equal([g.fate, g.src, g.sport, g.dst, g.dport, g.out_iface], ['forwarded', '10.96.0.100', 80, '192.168.1.50', 40000, 'eth0']);
  assert.is(g.ct_state, 'ESTABLISHED');
});

test('conntrack=0 (the default): the IPVS packet is untracked, so POSTROUTING nat (MASQUERADE) does not see it', () => {
  const r = run({ ruleset: MASQ_RULES, ipvs: IPVS, packets: [client(40000)] });
  const f = r[0]!.final;
  assert.equal([f.fate, f.src, f.dst, f.dport, f.ct_state], ['forwarded', '192.168.1.50', '10.244.1.6', 8080, 'UNTRACKED']);
  assert.is(r[0]!.conntrack.length, 0);
});

test('a reply without MASQUERADE: from the real server to the client, un-NATed at FORWARD (ip_vs_out_hook, priority 100)', () => {
  const r = run({
    ipvs: IPVS,
    packets: [client(40000), { hook: 'PREROUTING', proto: 'tcp', src: '10.244.1.6', sport: 8080, dst: '192.168.1.50', dport: 40000, in_iface: 'cni0', tcp_flags: 'SYN,ACK' }],
  });
  assert.equal([r[0]!.final.dst, r[0]!.final.dport], ['10.244.1.6', 8080]);
  const g = r[1]!.final;
  assert.equal([g.fate, g.src, g.sport, g.dst, g.dport], ['forwarded', '10.96.0.100', 80, '192.168.1.50', 40000]);
});

test('a local client (OUTPUT): scheduled at LOCAL_OUT -98, sent to the real server; the reply is un-NATed at LOCAL_IN 98', () => {
  const r = run({
    ipvs: IPVS,
    packets: [
      { hook: 'OUTPUT', proto: 'tcp', src: '192.168.1.10', sport: 41000, dst: '10.96.0.100', dport: 80, tcp_flags: 'SYN' },
      { hook: 'PREROUTING', proto: 'tcp', src: '10.244.1.6', sport: 8080, dst: '192.168.1.10', dport: 41000, in_iface: 'cni0', tcp_flags: 'SYN,ACK' },
    ],
  });
  assert.equal([r[0]!.final.fate, r[0]!.final.dst, r[0]!.final.out_iface], ['sent', '10.244.1.6', 'cni0']);
  assert.equal([r[1]!.final.fate, r[1]!.final.src, r[1]!.final.sport], ['local', '10.96.0.100', 80]);
});

test('persistence through the host: the same server until the template times out on the clock', () => {
  const r = run({
    ipvs: '-A -t 10.96.0.100:80 -s rr -p 60\n-a -t 10.96.0.100:80 -r 10.244.1.5:8080 -m\n-a -t 10.96.0.100:80 -r 10.244.1.6:8080 -m\n',
    packets: [client(40000), client(40001), client(40002), client(40003)],
    advance: [0, 30, 59, 61],
  });
  assert.equal(r.map((x) => x.final.dst), ['10.244.1.6', '10.244.1.6', '10.244.1.6', '10.244.1.5']);
});

test('no real servers: ICMP port unreachable from the VIP is sent back, the SYN is dropped', () => {
  const r = run({ ipvs: IPVS, packets: [{ ...client(40000), dst: '10.96.0.200' }] });
  const f = r[0]!.final;
  assert.equal([f.verdict, f.fate], ['DROP', 'dropped']);
  assert.match(f.reason ?? '', /ip_vs_leave/);
  const e = r[0]!.emitted[0]!;
  assert.equal([e.proto, e.src, e.dst, e.icmp_type, e.icmp_code], ['icmp', '10.96.0.200', '192.168.1.50', 3, 3]);
});

test('filter INPUT runs before IPVS (LOCAL_IN 0 < 99): a DROP there wins', () => {
  const r = run({
    ipvs: IPVS,
    ruleset: '*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A INPUT -d 10.96.0.100/32 -p tcp --dport 80 -j DROP\nCOMMIT\n',
    packets: [client(40000)],
  });
  assert.equal([r[0]!.final.fate, r[0]!.final.dst, r[0]!.final.by?.chain], ['dropped', '10.96.0.100', 'INPUT']);
});

test('ipvsadm -ln of the Kubernetes README sample (one active connection to 10.0.0.1:443)', () => {
  const path = sharedPath('corpus/real/kubernetes/ipvs-readme.ipvsadm-Ln.txt', 'the ipvsadm -ln sample');
  if (!path) return;
  const expected = readFileSync(path, 'utf8').split('\n').slice(1); // drop the "# ipvsadm -ln" prompt line
  const host = buildHost({
    interfaces: [{ name: 'eth0', addrs: ['192.168.0.10/24'] }, { name: 'kube-ipvs0', addrs: ['10.0.0.1/32', '10.0.0.10/32'] }],
    ipvs: [
      '-A -t 10.0.0.1:443 -s rr -p 10800', '-a -t 10.0.0.1:443 -r 192.168.0.1:6443 -m -w 1',
      '-A -t 10.0.0.10:53 -s rr', '-a -t 10.0.0.10:53 -r 172.17.0.2:53 -m -w 1',
      '-A -u 10.0.0.10:53 -s rr', '-a -u 10.0.0.10:53 -r 172.17.0.2:53 -m -w 1',
    ].join('\n'),
    packets: [],
  } as CaseFile, {});
  host.inject(buildPacket({ proto: 'tcp', src: '192.168.0.50', sport: 50000, dst: '10.0.0.1', dport: 443, in_iface: 'eth0', tcp_flags: 'SYN' }), 0, null);
  const got = printList(host.ipvs!).split('\n').map((l) => l.trimEnd());
  assert.equal(got, expected);
});

test.run();
