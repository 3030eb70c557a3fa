/**
 * Istio capture rules: the text matches what istio-iptables itself writes (its golden
 * files in ../shared/corpus/real/istio, read at test time, for the same settings as in
 * istio's run_test.go), and the rules do what they are for when packets run through a pod.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { NfemuError } from '../../src/core/index.ts';
import { Cluster, EchoServer, istioIptables, type IstioCaptureOptions } from '../../src/cluster/index.ts';
import { sharedPath } from '../support/shared.ts';

const root = sharedPath('corpus/real/istio', 'istio-iptables golden comparisons');

/** A golden's restore blocks (IPv4, then IPv6 when present): logged command lines dropped, split where a table header repeats. */
function golden(name: string): string[] {
  const lines = readFileSync(join(root!, `${name}.golden`), 'utf8').split('\n').filter((l) => l !== '' && !/^ip6?tables-save$/.test(l));
  const blocks: string[][] = [[]];
  let seen = new Set<string>();
  for (const l of lines) {
    if (l.startsWith('* ')) {
      if (seen.has(l)) {
        blocks.push([]);
        seen = new Set();
      }
      seen.add(l);
    }
    blocks[blocks.length - 1]!.push(l);
  }
  return blocks.map((b) => b.join('\n') + '\n');
}

// istio's constructTestConfig: ports 15001/15006/15008, uid and gid 1337, everything else empty.
const BASE: IstioCaptureOptions = {
  proxyPort: 15001, inboundCapturePort: 15006, inboundTunnelPort: 15008, proxyUid: '1337', proxyGid: '1337',
  inboundPortsInclude: '', inboundPortsExclude: '', outboundIpRangesInclude: '',
};

const GOLDENS: [string, IstioCaptureOptions][] = [
  ['capture-ip-range', { outboundIpRangesExclude: '1.1.0.0/16', outboundIpRangesInclude: '9.9.0.0/16', redirectDns: true, proxyGid: '1,2', proxyUid: '3,4', dnsServersV4: ['127.0.0.53'] }],
  ['capture-kube-virt-interfaces', { kubeVirtInterfaces: 'eth1,eth2', outboundIpRangesInclude: '*' }],
  ['capture-drop-invalid', { dropInvalid: true }],
  ['capture-ipv6-inbound-ports', { inboundPortsInclude: '4000,5000', enableIPv6: true }],
  ['capture-dns-uid-gid', { redirectDns: true, dnsServersV4: ['127.0.0.53'], dnsServersV6: ['::127.0.0.53'], proxyGid: '1,2', proxyUid: '3,4', enableIPv6: true }],
  ['capture-outbound-owner-groups', { ownerGroupsInclude: 'java,202' }],
];

for (const [name, opts] of GOLDENS) {
  test(`istio-iptables golden ${name}`, () => {
    if (!root) return;
    const g = golden(name);
    const r = istioIptables({ ...BASE, ...opts });
    assert.fixture(r.v4, g[0]!);
    if (g.length > 1) assert.fixture(r.v6 ?? '', g[1]!);
    else assert.equal(r.v6, null);
  });
}

test('TPROXY mode is refused as unsupported', () => {
  try {
    istioIptables({ interceptionMode: 'TPROXY' });
    assert.unreachable();
  } catch (e) {
    assert.ok(e instanceof NfemuError);
    assert.equal(e.code, 'UNSUPPORTED');
  }
});

/** One pod with the sidecar defaults plus the given options; a server pod beside it. */
function pod(capture: IstioCaptureOptions = {}): Cluster {
  const c = new Cluster({ seed: 3 });
  c.addNetwork('nodes', '192.168.0.0/24');
  c.addNode({ name: 'node1', ip: '192.168.0.2', podCIDR: '10.244.1.0/24', rules: '*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n' });
  c.addPod({ name: 'app', node: 'node1', ip: '10.244.1.5' });
  c.addPod({ name: 'other', node: 'node1', ip: '10.244.1.6' });
  c.listen('other', 'tcp', 8080, new EchoServer('other'));
  c.listen('other', 'tcp', 5432, new EchoServer('other-db'));
  c.injectSidecar('app', capture);
  for (const p of [8080, 9090, 15021]) c.listen('app', 'tcp', p, new EchoServer(`app:${p}`));
  return c;
}

/** Where the first packet sent from `app` (or arriving at it) ends up on the app pod. */
function out(c: Cluster, dst: string, dport: number, uid: number): { dst: string; dport: number; iface: string } {
  const leg = c.walker().packet('app', { proto: 'tcp', src: '10.244.1.5', sport: 41000 + uid % 1000, dst, dport, uid, gid: uid });
  const h = leg.hops[0]!;
  return { dst: h.after.dst, dport: h.after.dport!, iface: h.after.out_iface ?? '' };
}

test('outbound: the application is redirected to 15001, the proxy (uid 1337) is not', () => {
  const c = pod();
  assert.equal(out(c, '10.244.1.6', 8080, 1000), { dst: '127.0.0.1', dport: 15001, iface: 'lo' });
  assert.equal(out(c, '10.244.1.6', 8080, 1337), { dst: '10.244.1.6', dport: 8080, iface: 'eth0' });
  assert.equal(out(c, '127.0.0.1', 8080, 1000), { dst: '127.0.0.1', dport: 8080, iface: 'lo' }, 'localhost is never captured');
  // UDP is not redirected (the REDIRECT rule is -p tcp).
  const udp = c.walker().packet('app', { proto: 'udp', src: '10.244.1.5', sport: 5000, dst: '10.244.1.6', dport: 53, uid: 1000 });
  assert.equal(udp.hops[0]!.after.dport, 53);
});

test('outbound excluded port and CIDR', () => {
  const c = pod({ outboundPortsExclude: '5432', outboundIpRangesExclude: '10.244.1.6/32' });
  assert.equal(out(c, '10.244.1.6', 5432, 1000).dport, 5432);
  assert.equal(out(c, '10.244.1.6', 8080, 1000).dport, 8080, 'the excluded CIDR');
  assert.equal(out(c, '10.244.1.7', 8080, 1000).dport, 15001, 'anything else is captured');
});

test('outbound include list: only the listed CIDRs are captured', () => {
  const c = pod({ outboundIpRangesInclude: '10.96.0.0/12' });
  assert.equal(out(c, '10.96.0.20', 80, 1000).dport, 15001);
  assert.equal(out(c, '10.244.1.6', 8080, 1000).dport, 8080);
});

test('inbound: redirected to 15006 except the excluded ports', () => {
  const c = pod();
  const to = (port: number) => {
    const leg = c.walker().packet('other', { proto: 'tcp', src: '10.244.1.6', sport: 50000 + port % 1000, dst: '10.244.1.5', dport: port });
    const h = leg.hops.at(-1)!;
    assert.equal(h.host, 'app');
    return h.after.dport;
  };
  assert.equal(to(8080), 15006);
  assert.equal(to(9090), 15006);
  assert.equal(to(15021), 15021, 'injector default: 15021 (health) excluded');
  const c2 = pod({ inboundPortsExclude: '15090,15021,15020,9090' });
  const leg = c2.walker().packet('other', { proto: 'tcp', src: '10.244.1.6', sport: 50001, dst: '10.244.1.5', dport: 9090 });
  assert.equal(leg.hops.at(-1)!.after.dport, 9090);
});

test('the inbound proxy reaches the application from 127.0.0.6 without being captured again', () => {
  const c = pod();
  const r = c.walker().exchange('other', { proto: 'tcp', dst: '10.244.1.5', dport: 8080, payload: 'hi' });
  assert.ok(r.ok, r.failure ?? '');
  assert.equal(r.reply, 'app:8080: hi');
  const inner = r.upstream[0]!;
  assert.equal(inner.request.hops.length, 1, 'one hop: looped back inside the pod');
  assert.equal(inner.request.hops[0]!.before.src, '127.0.0.6');
  assert.equal(inner.request.end.packet.dport, 8080);
});

test.run();
