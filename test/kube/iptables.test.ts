/**
 * The iptables-mode generator, case by case. Expected rule texts are written from
 * ../shared/KUBE-PROXY.md (kube-proxy's templates, §1.4-1.12) and proxier.go, not taken from
 * the generator. Needs nothing from ../shared.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { NfemuError } from '../../src/core/index.ts';
import { printSave } from '../../src/xtables/index.ts';
import {
  generateIptables, hostPrelude, iptablesHostRuleset, parseManifests, resolveOptions, sortRestoreText,
  type IptablesProxyOptions, type IptablesSync,
} from '../../src/kube/index.ts';

const SVC1 = 'KUBE-SVC-XPGD46QRK7WJZT7O'; // ns1/svc1:p80 tcp
const EXT1 = 'KUBE-EXT-XPGD46QRK7WJZT7O';
const SVL1 = 'KUBE-SVL-XPGD46QRK7WJZT7O';
const FW1 = 'KUBE-FW-XPGD46QRK7WJZT7O';
const SEP1 = 'KUBE-SEP-SXIVWICOYRO3J4NJ'; // 10.180.0.1:80

function service(spec: string, status = ''): string {
  return `apiVersion: v1\nkind: Service\nmetadata: {name: svc1, namespace: ns1}\nspec:\n${spec}\n${status}`;
}

function slice(endpoints: string, port = 80, name = 'p80', proto = 'TCP', family = 'IPv4'): string {
  return `apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: svc1-a, namespace: ns1, labels: {kubernetes.io/service-name: svc1}}\naddressType: ${family}\nports: [{name: ${name}, port: ${port}, protocol: ${proto}}]\nendpoints:\n${endpoints}\n`;
}

const BASE: IptablesProxyOptions = { nodeName: 'node1', nodeIPs: ['192.168.0.2'], clusterCIDR: '10.0.0.0/8', markFormat: 'short', randomFully: false };

function gen(yaml: string, opts: IptablesProxyOptions = {}): IptablesSync {
  return generateIptables(parseManifests(yaml, 't.yaml'), { ...BASE, ...opts });
}

function lines(s: IptablesSync): string[] {
  return s.payload.split('\n');
}

function hasAll(s: IptablesSync, want: string[]): void {
  const got = lines(s);
  for (const w of want) assert.ok(got.includes(w), `missing: ${w}\n--- payload:\n${s.payload}`);
}

function hasNone(s: IptablesSync, pattern: RegExp): void {
  const bad = lines(s).filter((l) => pattern.test(l));
  assert.equal(bad, [], `unexpected lines matching ${pattern}`);
}

const CLUSTER_IP = service('  clusterIP: 172.30.0.41\n  ports: [{name: p80, port: 80}]');
const THREE = slice('- addresses: [10.180.0.1]\n- addresses: [10.180.0.3]\n- addresses: [10.180.0.2]');

test('ClusterIP with three endpoints: dispatch, masquerade rule, probability cascade in ip:port order', () => {
  const s = gen(`${CLUSTER_IP}---\n${THREE}`);
  hasAll(s, [
    `-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 -j ${SVC1}`,
    `-A ${SVC1} -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ`,
    `-A ${SVC1} -m comment --comment "ns1/svc1:p80 -> 10.180.0.1:80" -m statistic --mode random --probability 0.3333333333 -j ${SEP1}`,
    `-A ${SEP1} -m comment --comment ns1/svc1:p80 -s 10.180.0.1 -j KUBE-MARK-MASQ`,
    `-A ${SEP1} -m comment --comment ns1/svc1:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.1:80`,
  ]);
  const svcRules = lines(s).filter((l) => l.startsWith(`-A ${SVC1} `) && l.includes(' -> '));
  assert.equal(svcRules.map((l) => /-> (\S+)"/.exec(l)![1]), ['10.180.0.1:80', '10.180.0.2:80', '10.180.0.3:80']);
  assert.equal(svcRules.map((l) => /--probability (\S+)/.exec(l)?.[1] ?? null), ['0.3333333333', '0.5000000000', null]);
  // nat declarations: top-level chains, then the service's.
  assert.ok(s.payload.startsWith('*filter\n:KUBE-SERVICES - [0:0]\n:KUBE-EXTERNAL-SERVICES - [0:0]\n:KUBE-FORWARD - [0:0]\n:KUBE-NODEPORTS - [0:0]\n:KUBE-PROXY-FIREWALL - [0:0]\n:KUBE-FIREWALL - [0:0]\n'));
  assert.ok(s.payload.includes('\nCOMMIT\n*nat\n:KUBE-SERVICES - [0:0]\n:KUBE-NODEPORTS - [0:0]\n:KUBE-POSTROUTING - [0:0]\n:KUBE-MARK-MASQ - [0:0]\n'));
  assert.ok(s.payload.endsWith('-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS\nCOMMIT\n'));
});

test('fixed rules: mark padded like Go %#08x by default, --random-fully by default', () => {
  const s = generateIptables(parseManifests(CLUSTER_IP), { nodeIPs: ['192.168.0.2'] });
  hasAll(s, [
    '-A KUBE-POSTROUTING -m mark ! --mark 0x00004000/0x00004000 -j RETURN',
    '-A KUBE-POSTROUTING -j MARK --xor-mark 0x00004000',
    '-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully',
    '-A KUBE-MARK-MASQ -j MARK --or-mark 0x00004000',
    '-A KUBE-FORWARD -m conntrack --ctstate INVALID -m nfacct --nfacct-name ct_state_invalid_dropped_pkts -j DROP',
    '-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x00004000/0x00004000 -j ACCEPT',
    '-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT',
    '-A KUBE-FIREWALL -m comment --comment "block incoming localnet connections" -d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP',
  ]);
  // No detector without a cluster CIDR: no masquerade rule in the SVC chain (no endpoints here anyway).
  const bit3 = generateIptables(parseManifests(CLUSTER_IP), { masqueradeBit: 3, markFormat: 'short' });
  hasAll(bit3, ['-A KUBE-MARK-MASQ -j MARK --or-mark 0x8']);
  const liberal = gen(CLUSTER_IP, { conntrackTCPLiberal: true });
  hasNone(liberal, /INVALID/);
  assert.equal(s.sysctls, { 'net.ipv4.conf.all.route_localnet': 1 });
});

test('no endpoints: REJECT in filter for the ClusterIP, external IPs and NodePort; no nat chains', () => {
  const s = gen(service('  type: NodePort\n  clusterIP: 172.30.0.41\n  externalIPs: [192.168.99.11]\n  ports: [{name: p80, port: 80, nodePort: 3001}]'));
  hasAll(s, [
    '-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 has no endpoints" -m tcp -p tcp -d 172.30.0.41 --dport 80 -j REJECT',
    '-A KUBE-EXTERNAL-SERVICES -m comment --comment "ns1/svc1:p80 has no endpoints" -m tcp -p tcp -d 192.168.99.11 --dport 80 -j REJECT',
    '-A KUBE-EXTERNAL-SERVICES -m comment --comment "ns1/svc1:p80 has no endpoints" -m addrtype --dst-type LOCAL -m tcp -p tcp --dport 3001 -j REJECT',
  ]);
  hasNone(s, /KUBE-(SVC|SEP|EXT|SVL)-/);
  assert.equal(s.natChains.size, 0);
});

test('endpoint conditions: not-ready and not-serving endpoints are skipped; serving+terminating is the fallback', () => {
  const mixed = gen(`${CLUSTER_IP}---\n${slice(
    '- addresses: [10.180.0.1]\n  conditions: {ready: true}\n- addresses: [10.180.0.2]\n  conditions: {ready: false, serving: true, terminating: true}\n- addresses: [10.180.0.3]\n  conditions: {ready: false, serving: false}',
  )}`);
  assert.equal(lines(mixed).filter((l) => l.includes('-j DNAT')).map((l) => l.split(' ').at(-1)), ['10.180.0.1:80']);
  const fallback = gen(`${CLUSTER_IP}---\n${slice(
    '- addresses: [10.180.0.2]\n  conditions: {ready: false, serving: true, terminating: true}\n- addresses: [10.180.0.3]\n  conditions: {ready: false, serving: false, terminating: true}',
  )}`);
  assert.equal(lines(fallback).filter((l) => l.includes('-j DNAT')).map((l) => l.split(' ').at(-1)), ['10.180.0.2:80']);
  const none = gen(`${CLUSTER_IP}---\n${slice('- addresses: [10.180.0.3]\n  conditions: {ready: false, serving: false, terminating: true}')}`);
  hasAll(none, ['-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 has no endpoints" -m tcp -p tcp -d 172.30.0.41 --dport 80 -j REJECT']);
});

test('internalTrafficPolicy Local: SVL with local endpoints; DROP without', () => {
  const itp = service('  clusterIP: 172.30.0.41\n  internalTrafficPolicy: Local\n  ports: [{name: p80, port: 80}]');
  const withLocal = gen(`${itp}---\n${slice('- addresses: [10.180.0.1]\n  nodeName: node1\n- addresses: [10.180.1.1]\n  nodeName: node2')}`);
  hasAll(withLocal, [
    `-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 -j ${SVL1}`,
    `-A ${SVL1} -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ`,
    `-A ${SVL1} -m comment --comment "ns1/svc1:p80 -> 10.180.0.1:80" -j ${SEP1}`,
  ]);
  hasNone(withLocal, /10\.180\.1\.1|KUBE-SVC-/);
  const noLocal = gen(`${itp}---\n${slice('- addresses: [10.180.1.1]\n  nodeName: node2')}`);
  hasAll(noLocal, ['-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 has no local endpoints" -m tcp -p tcp -d 172.30.0.41 --dport 80 -j DROP']);
  hasNone(noLocal, /KUBE-(SVC|SVL|SEP)-/);
});

const LB_LOCAL = service(
  '  type: LoadBalancer\n  clusterIP: 172.30.0.41\n  externalTrafficPolicy: Local\n  healthCheckNodePort: 30000\n  externalIPs: [192.168.99.22]\n  ports: [{name: p80, port: 80, nodePort: 3001}]',
  'status:\n  loadBalancer:\n    ingress: [{ip: 1.2.3.4}]\n',
);

test('externalTrafficPolicy Local: EXT short-circuits, SVL for outside traffic, health check port', () => {
  const s = gen(`${LB_LOCAL}---\n${slice('- addresses: [10.180.0.1]\n  nodeName: node1\n- addresses: [10.180.1.1]\n  nodeName: node2')}`);
  hasAll(s, [
    `-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 -j ${SVC1}`,
    `-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 external IP" -m tcp -p tcp -d 192.168.99.22 --dport 80 -j ${EXT1}`,
    `-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 loadbalancer IP" -m tcp -p tcp -d 1.2.3.4 --dport 80 -j ${EXT1}`,
    `-A KUBE-NODEPORTS -m comment --comment ns1/svc1:p80 -m tcp -p tcp -d 127.0.0.0/8 --dport 3001 -m nfacct --nfacct-name localhost_nps_accepted_pkts -j ${EXT1}`,
    `-A KUBE-NODEPORTS -m comment --comment ns1/svc1:p80 -m tcp -p tcp --dport 3001 -j ${EXT1}`,
    `-A ${EXT1} -m comment --comment "pod traffic for ns1/svc1:p80 external destinations" -s 10.0.0.0/8 -j ${SVC1}`,
    `-A ${EXT1} -m comment --comment "masquerade LOCAL traffic for ns1/svc1:p80 external destinations" -m addrtype --src-type LOCAL -j KUBE-MARK-MASQ`,
    `-A ${EXT1} -m comment --comment "route LOCAL traffic for ns1/svc1:p80 external destinations" -m addrtype --src-type LOCAL -j ${SVC1}`,
    `-A ${EXT1} -j ${SVL1}`,
    `-A ${SVL1} -m comment --comment "ns1/svc1:p80 -> 10.180.0.1:80" -j ${SEP1}`,
    '-A KUBE-NODEPORTS -m comment --comment "ns1/svc1:p80 health check node port" -m tcp -p tcp --dport 30000 -j ACCEPT',
  ]);
  // No local endpoint: EXT keeps its short-circuits but no SVL jump; filter DROPs the rest.
  const noLocal = gen(`${LB_LOCAL}---\n${slice('- addresses: [10.180.1.1]\n  nodeName: node2')}`);
  hasNone(noLocal, /KUBE-SVL-/);
  hasAll(noLocal, [
    '-A KUBE-EXTERNAL-SERVICES -m comment --comment "ns1/svc1:p80 has no local endpoints" -m tcp -p tcp -d 192.168.99.22 --dport 80 -j DROP',
    '-A KUBE-EXTERNAL-SERVICES -m comment --comment "ns1/svc1:p80 has no local endpoints" -m tcp -p tcp -d 1.2.3.4 --dport 80 -j DROP',
    '-A KUBE-EXTERNAL-SERVICES -m comment --comment "ns1/svc1:p80 has no local endpoints" -m addrtype --dst-type LOCAL -m tcp -p tcp --dport 3001 -j DROP',
    `-A ${EXT1} -m comment --comment "route LOCAL traffic for ns1/svc1:p80 external destinations" -m addrtype --src-type LOCAL -j ${SVC1}`,
  ]);
  // Without a detector the pod short-circuit is not written.
  hasNone(gen(`${LB_LOCAL}---\n${slice('- addresses: [10.180.0.1]\n  nodeName: node1')}`, { clusterCIDR: null }), /pod traffic for/);
});

test('loadBalancerSourceRanges: KUBE-FW allow-list, node exception, PROXY-FIREWALL drop, trailer only in current style', () => {
  const lb = service(
    '  type: LoadBalancer\n  clusterIP: 172.30.0.41\n  loadBalancerSourceRanges: [" 203.0.113.0/25", 192.168.0.0/24]\n  ports: [{name: p80, port: 80, nodePort: 3001}]',
    'status:\n  loadBalancer:\n    ingress: [{ip: 1.2.3.4}, {hostname: lb.example.com}]\n',
  );
  const s = gen(`${lb}---\n${slice('- addresses: [10.180.0.1]')}`);
  hasAll(s, [
    `-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 loadbalancer IP" -m tcp -p tcp -d 1.2.3.4 --dport 80 -j ${FW1}`,
    `-A ${FW1} -m comment --comment "ns1/svc1:p80 loadbalancer IP" -s 203.0.113.0/25 -j ${EXT1}`,
    `-A ${FW1} -m comment --comment "ns1/svc1:p80 loadbalancer IP" -s 192.168.0.0/24 -j ${EXT1}`,
    `-A ${FW1} -m comment --comment "ns1/svc1:p80 loadbalancer IP" -s 1.2.3.4 -j ${EXT1}`, // node IP 192.168.0.2 is in a range
    `-A ${FW1} -m comment --comment "other traffic to ns1/svc1:p80 will be dropped by KUBE-PROXY-FIREWALL"`,
    `-A KUBE-PROXY-FIREWALL -m comment --comment "ns1/svc1:p80 traffic not accepted by ${FW1}" -m tcp -p tcp -d 1.2.3.4 --dport 80 -j DROP`,
    `-A KUBE-NODEPORTS -m comment --comment ns1/svc1:p80 -m tcp -p tcp --dport 3001 -j ${EXT1}`, // NodePorts ignore source ranges
  ]);
  hasNone(gen(`${lb}---\n${slice('- addresses: [10.180.0.1]')}`, { style: '2023' }), /other traffic to/);
  hasNone(gen(`${lb}---\n${slice('- addresses: [10.180.0.1]')}`, { nodeIPs: ['172.16.0.1'] }), /-s 1\.2\.3\.4 /);
});

test('LoadBalancer ingress with ipMode Proxy: skipped by current kube-proxy', () => {
  const lb = service('  type: LoadBalancer\n  clusterIP: 172.30.0.41\n  ports: [{name: p80, port: 80, nodePort: 3001}]', 'status:\n  loadBalancer:\n    ingress: [{ip: 1.2.3.4, ipMode: Proxy}, {ip: 5.6.7.8, ipMode: VIP}]\n');
  const s = gen(`${lb}---\n${slice('- addresses: [10.180.0.1]')}`);
  hasNone(s, /1\.2\.3\.4/);
  hasAll(s, [`-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 loadbalancer IP" -m tcp -p tcp -d 5.6.7.8 --dport 80 -j ${EXT1}`]);
});

test('sessionAffinity ClientIP: recent rcheck per endpoint, then the cascade; recent set in SEP', () => {
  const aff = service('  clusterIP: 172.30.0.41\n  sessionAffinity: ClientIP\n  sessionAffinityConfig: {clientIP: {timeoutSeconds: 300}}\n  ports: [{name: p80, port: 80}]');
  const s = gen(`${aff}---\n${slice('- addresses: [10.180.0.1]')}`);
  hasAll(s, [
    `-A ${SVC1} -m comment --comment "ns1/svc1:p80 -> 10.180.0.1:80" -m recent --name ${SEP1} --rcheck --seconds 300 --reap -j ${SEP1}`,
    `-A ${SVC1} -m comment --comment "ns1/svc1:p80 -> 10.180.0.1:80" -j ${SEP1}`,
    `-A ${SEP1} -m comment --comment ns1/svc1:p80 -m recent --name ${SEP1} --set -m tcp -p tcp -j DNAT --to-destination 10.180.0.1:80`,
  ]);
});

test('masquerade-all and the interface-based detectors', () => {
  const eps = `${CLUSTER_IP}---\n${slice('- addresses: [10.180.0.1]')}`;
  const masqLine = (s: IptablesSync) => lines(s).find((l) => l.startsWith(`-A ${SVC1} `) && l.endsWith('KUBE-MARK-MASQ'));
  assert.is(masqLine(gen(eps, { masqueradeAll: true })), `-A ${SVC1} -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 -j KUBE-MARK-MASQ`);
  assert.is(masqLine(gen(eps, { localDetector: { kind: 'BridgeInterface', value: 'cni0' } }))!.includes('--dport 80 ! -i cni0 -j'), true);
  assert.is(masqLine(gen(eps, { localDetector: { kind: 'InterfaceNamePrefix', value: 'veth' } }))!.includes('--dport 80 ! -i veth+ -j'), true);
  assert.is(masqLine(gen(eps, { localDetector: { kind: 'NodeCIDR', value: '10.0.1.0/24' } }))!.includes('! -s 10.0.1.0/24 -j'), true);
  assert.is(masqLine(gen(eps, { clusterCIDR: null })), undefined);
});

test('NodeCIDR detector and node addresses come from the Node object', () => {
  const node = 'apiVersion: v1\nkind: Node\nmetadata: {name: node1}\nspec: {podCIDRs: [10.244.3.0/24, "fd00:3::/64"]}\nstatus:\n  addresses: [{type: ExternalIP, address: 203.0.113.7}, {type: InternalIP, address: 192.168.7.7}]\n';
  const objs = parseManifests(`${node}---\n${CLUSTER_IP}`);
  const o = resolveOptions({ nodeName: 'node1', localDetector: { kind: 'NodeCIDR' } }, objs);
  assert.equal(o.nodeIPs, ['192.168.7.7', '203.0.113.7']); // InternalIP first
  assert.is(o.nodeIP, '192.168.7.7');
  assert.equal(o.detector, { kind: 'NodeCIDR', ifLocal: '-s 10.244.3.0/24', ifNotLocal: '! -s 10.244.3.0/24' });
  assert.throws(() => resolveOptions({ localDetector: { kind: 'NodeCIDR' } }), (e: unknown) => e instanceof NfemuError && /needs a CIDR/.test(e.message));
});

test('localhost NodePorts off, and --nodeport-addresses', () => {
  const np = service('  type: NodePort\n  clusterIP: 172.30.0.41\n  ports: [{name: p80, port: 80, nodePort: 3001}]');
  const eps = `${np}---\n${slice('- addresses: [10.180.0.1]')}`;
  const off = gen(eps, { localhostNodePorts: false });
  hasAll(off, ['-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL ! -d 127.0.0.0/8 -j KUBE-NODEPORTS']);
  hasNone(off, /nfacct-name localhost|KUBE-FIREWALL/);
  assert.equal(off.sysctls, {});
  const npa = gen(eps, { nodePortAddresses: ['192.168.0.0/24', '127.0.0.0/8'], interfaceAddresses: ['192.168.0.2', '192.168.1.2', '127.0.0.1'] });
  hasAll(npa, [
    '-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -d 192.168.0.2 -j KUBE-NODEPORTS',
    '-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -d 127.0.0.1 -j KUBE-NODEPORTS',
  ]);
  hasNone(npa, /-d 192\.168\.1\.2 -j KUBE-NODEPORTS|addrtype --dst-type LOCAL -j KUBE-NODEPORTS/);
  // Addresses without loopback turn localhost NodePorts off (no KUBE-FIREWALL, no counter twin).
  const noLo = gen(eps, { nodePortAddresses: ['192.168.0.0/24'] });
  hasNone(noLo, /KUBE-FIREWALL|127\.0\.0\.0\/8 --dport/);
});

test('style 2023: no KUBE-FIREWALL, no nfacct', () => {
  const np = service('  type: NodePort\n  clusterIP: 172.30.0.41\n  ports: [{name: p80, port: 80, nodePort: 3001}]');
  const s = gen(`${np}---\n${slice('- addresses: [10.180.0.1]')}`, { style: '2023' });
  hasNone(s, /KUBE-FIREWALL|nfacct/);
  hasAll(s, ['-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP']);
  assert.not.ok(s.prelude.includes('KUBE-FIREWALL'));
  assert.ok(gen(np).prelude.includes('-A INPUT -j KUBE-FIREWALL'));
});

test('IPv6: its own ClusterIP, bracketed DNAT, ::1 excluded from NodePorts, no localhost NodePorts', () => {
  const dual = service('  type: NodePort\n  clusterIP: 172.30.0.41\n  clusterIPs: [172.30.0.41, "fd00::41"]\n  ipFamilies: [IPv4, IPv6]\n  externalIPs: [192.168.99.1, "2001:db8::99"]\n  ports: [{name: p80, port: 80, nodePort: 3001}]');
  const v6slice = slice('- addresses: ["fd00:1::1"]', 80, 'p80', 'TCP', 'IPv6').replace('svc1-a', 'svc1-v6');
  const s = gen(`${dual}---\n${slice('- addresses: [10.180.0.1]')}---\n${v6slice}`, { family: 6, nodeIPs: ['2001:db8::1'], clusterCIDR: '10.0.0.0/8,fd00:1::/64' });
  hasAll(s, [
    `-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d fd00::41 --dport 80 -j ${SVC1}`,
    `-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 external IP" -m tcp -p tcp -d 2001:db8::99 --dport 80 -j ${EXT1}`,
    `-A ${SVC1} -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d fd00::41 --dport 80 ! -s fd00:1::/64 -j KUBE-MARK-MASQ`,
    '-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL ! -d ::1/128 -j KUBE-NODEPORTS',
  ]);
  assert.ok(lines(s).some((l) => l.endsWith('-j DNAT --to-destination [fd00:1::1]:80')));
  hasNone(s, /172\.30|192\.168\.99|10\.180|KUBE-FIREWALL|nfacct-name localhost/);
  // The restore payload loads as ip6tables input.
  const rs = iptablesHostRuleset(s);
  assert.is(rs.family, 6);
});

test('headless and ExternalName Services produce nothing', () => {
  const text = [
    service('  clusterIP: None\n  ports: [{name: p80, port: 80}]'),
    'apiVersion: v1\nkind: Service\nmetadata: {name: ext, namespace: ns1}\nspec: {type: ExternalName, externalName: example.com, ports: [{port: 80}]}\n',
    slice('- addresses: [10.180.0.1]'),
  ].join('---\n');
  const s = gen(text);
  hasNone(s, /ns1\//);
  assert.equal(s.stats.servicePorts, 0);
});

test('UDP and SCTP ports, several ports per Service', () => {
  const svc = service('  clusterIP: 172.30.0.10\n  ports: [{name: dns, port: 53, protocol: UDP}, {name: dns-tcp, port: 53, protocol: TCP}, {name: s, port: 9, protocol: SCTP}]');
  const es = 'apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: e, namespace: ns1, labels: {kubernetes.io/service-name: svc1}}\naddressType: IPv4\nports: [{name: dns, port: 5353, protocol: UDP}, {name: dns-tcp, port: 5353, protocol: TCP}, {name: s, port: 9, protocol: SCTP}]\nendpoints: [{addresses: [10.1.1.1]}]\n';
  const s = gen(`${svc}---\n${es}`);
  hasAll(s, [
    // base32(sha256("ns1/svc1:dnsudp"))[:16], computed with Python's hashlib
    '-A KUBE-SERVICES -m comment --comment "ns1/svc1:dns cluster IP" -m udp -p udp -d 172.30.0.10 --dport 53 -j KUBE-SVC-AYLPSI7UY3HP5RJD',
  ]);
  const dnat = lines(s).filter((l) => l.includes('-j DNAT')).map((l) => l.replace(/^-A \S+ /, ''));
  assert.equal(dnat.sort(), [
    '-m comment --comment ns1/svc1:dns -m udp -p udp -j DNAT --to-destination 10.1.1.1:5353',
    '-m comment --comment ns1/svc1:dns-tcp -m tcp -p tcp -j DNAT --to-destination 10.1.1.1:5353',
    '-m comment --comment ns1/svc1:s -m sctp -p sctp -j DNAT --to-destination 10.1.1.1:9',
  ]);
});

test('endpoints from Pods when a selector Service has no EndpointSlice (named and numeric target ports)', () => {
  const svc = service('  clusterIP: 172.30.0.41\n  selector: {app: web}\n  ports: [{name: p80, port: 80, targetPort: http}, {name: p90, port: 90, targetPort: 9090}, {name: p99, port: 99}]');
  const pod = (name: string, ip: string, extra: string) =>
    `apiVersion: v1\nkind: Pod\nmetadata: {name: ${name}, namespace: ns1, labels: {app: web}${extra}}\nspec:\n  nodeName: node1\n  containers: [{name: c, ports: [{name: http, containerPort: 8080}]}]\nstatus:\n  podIP: ${ip}\n  conditions: [{type: Ready, status: "True"}]\n`;
  const text = [
    svc,
    pod('a', '10.1.0.1', ''),
    pod('b', '10.1.0.2', ', deletionTimestamp: "2024-01-01T00:00:00Z"'), // terminating: ready false, serving true
    pod('c', '10.1.0.3', '').replace('app: web', 'app: other'),
    pod('d', '10.1.0.4', '').replace('status: "True"', 'status: "False"'),
  ].join('---\n');
  const s = gen(text);
  const dnat = lines(s).filter((l) => l.includes('-j DNAT')).map((l) => l.split(' ').at(-1)).sort();
  assert.equal(dnat, ['10.1.0.1:8080', '10.1.0.1:9090', '10.1.0.1:99']); // unset targetPort = port
  // With only the terminating pod left, it is used as the fallback.
  const t2 = [svc, pod('b', '10.1.0.2', ', deletionTimestamp: "2024-01-01T00:00:00Z"')].join('---\n');
  assert.ok(lines(gen(t2)).some((l) => l.endsWith('--to-destination 10.1.0.2:8080')));
  // An EndpointSlice for the Service wins over the Pods.
  const withSlice = gen(`${text}---\n${slice('- addresses: [10.9.9.9]')}`);
  assert.equal(lines(withSlice).filter((l) => l.includes('-j DNAT')).map((l) => l.split(' ').at(-1)), ['10.9.9.9:80']);
});

test('missing NodePorts are allocated from 30000 with a warning; ClusterIPs are never invented', () => {
  const text = [
    service('  type: NodePort\n  clusterIP: 172.30.0.41\n  ports: [{name: p80, port: 80}]'),
    'apiVersion: v1\nkind: Service\nmetadata: {name: b, namespace: ns1}\nspec: {type: NodePort, clusterIP: 172.30.0.42, ports: [{port: 81, nodePort: 30000}]}\n',
    'apiVersion: v1\nkind: Service\nmetadata: {name: c, namespace: ns1}\nspec: {ports: [{port: 82}]}\n',
  ].join('---\n');
  const s = gen(text);
  hasAll(s, [
    '-A KUBE-EXTERNAL-SERVICES -m comment --comment "ns1/svc1:p80 has no endpoints" -m addrtype --dst-type LOCAL -m tcp -p tcp --dport 30001 -j REJECT',
  ]);
  assert.equal(s.warnings, ['Service ns1/svc1 port p80/TCP has no nodePort; assuming 30001 (the API server would allocate one)']);
  hasNone(s, /ns1\/c/); // no clusterIP: skipped, as kube-proxy skips a Service without one
});

test('large cluster mode (> 1000 endpoints): SEP and SVC→SEP comments dropped', () => {
  const many = Array.from({ length: 1001 }, (_, i) => `- addresses: [10.2.${i >> 8}.${i & 255}]`).join('\n');
  const s = gen(`${CLUSTER_IP}---\n${slice(many)}`);
  assert.ok(s.largeClusterMode);
  hasAll(s, [
    `-A ${SVC1} -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ`,
    // base32(sha256("ns1/svc1:p80tcp10.2.0.0:80"))[:16], computed with Python's hashlib
    '-A KUBE-SEP-Z6EM3B4VP7WK772J -s 10.2.0.0 -j KUBE-MARK-MASQ',
  ]);
  const sepOrSvc = lines(s).filter((l) => /^-A KUBE-SEP-/.test(l) || (l.startsWith(`-A ${SVC1} `) && !l.includes('cluster IP')));
  assert.is(sepOrSvc.length, 1001 * 3);
  assert.ok(sepOrSvc.every((l) => !l.includes('--comment')));
  assert.ok(lines(s).includes(`-A ${SVC1} -m statistic --mode random --probability 0.0009990010 -j KUBE-SEP-Z6EM3B4VP7WK772J`));
});

test('host prelude: built-in chain jumps in the order a fresh node ends up with', () => {
  const o = resolveOptions({ style: 'current' });
  assert.is(hostPrelude(o), [
    '*mangle', ':KUBE-PROXY-CANARY - [0:0]', 'COMMIT',
    '*filter', ':INPUT ACCEPT [0:0]', ':FORWARD ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]',
    ':KUBE-PROXY-CANARY - [0:0]', ':KUBE-EXTERNAL-SERVICES - [0:0]', ':KUBE-NODEPORTS - [0:0]', ':KUBE-SERVICES - [0:0]', ':KUBE-FORWARD - [0:0]',
    ':KUBE-PROXY-FIREWALL - [0:0]', ':KUBE-FIREWALL - [0:0]',
    '-A INPUT -j KUBE-FIREWALL',
    '-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL',
    '-A INPUT -m comment --comment "kubernetes health check service ports" -j KUBE-NODEPORTS',
    '-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals" -j KUBE-EXTERNAL-SERVICES',
    '-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL',
    '-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD',
    '-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
    '-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals" -j KUBE-EXTERNAL-SERVICES',
    '-A OUTPUT -j KUBE-FIREWALL',
    '-A OUTPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL',
    '-A OUTPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
    'COMMIT',
    '*nat', ':PREROUTING ACCEPT [0:0]', ':INPUT ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]', ':POSTROUTING ACCEPT [0:0]',
    ':KUBE-PROXY-CANARY - [0:0]', ':KUBE-SERVICES - [0:0]', ':KUBE-POSTROUTING - [0:0]',
    '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
    '-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
    '-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING',
    'COMMIT', '',
  ].join('\n'));
});

test('the host ruleset loads through restore and prints as iptables-save would', () => {
  const s = gen(`${LB_LOCAL}---\n${slice('- addresses: [10.180.0.1]\n  nodeName: node1')}`);
  const text = printSave(iptablesHostRuleset(s));
  assert.ok(text.includes('-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000'));
  assert.ok(text.includes(':KUBE-PROXY-CANARY - [0:0]'));
});

test('sortRestoreText orders like kube-proxy test helper sortIPTablesRules', () => {
  const input = '*nat\n:KUBE-SVC-B - [0:0]\n:KUBE-SERVICES - [0:0]\n:FOO - [0:0]\n:KUBE-NODEPORTS - [0:0]\n:KUBE-A - [0:0]\n-A KUBE-SVC-B -j X1\n-A KUBE-SERVICES -j X2\n-X KUBE-A\n-A FOO -j X3\n-A KUBE-NODEPORTS -j X4\n-A KUBE-SVC-B -j X5\nCOMMIT\n*filter\n:KUBE-FORWARD - [0:0]\nCOMMIT\n';
  assert.is(sortRestoreText(input), '*filter\n:KUBE-FORWARD - [0:0]\nCOMMIT\n*nat\n:KUBE-NODEPORTS - [0:0]\n:KUBE-SERVICES - [0:0]\n:KUBE-A - [0:0]\n:KUBE-SVC-B - [0:0]\n:FOO - [0:0]\n-A KUBE-NODEPORTS -j X4\n-A KUBE-SERVICES -j X2\n-A KUBE-SVC-B -j X1\n-A KUBE-SVC-B -j X5\n-A FOO -j X3\n-X KUBE-A\nCOMMIT\n');
});

test('partial sync: one endpoint change rewrites only that Service, deletes its stale SEP, keeps the rest', () => {
  const two = (ep2: string) => [
    CLUSTER_IP, slice('- addresses: [10.180.0.1]'),
    'apiVersion: v1\nkind: Service\nmetadata: {name: svc2, namespace: ns2}\nspec: {clusterIP: 172.30.0.42, ports: [{name: p8080, port: 8080}]}\n',
    `apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: e2, namespace: ns2, labels: {kubernetes.io/service-name: svc2}}\naddressType: IPv4\nports: [{name: p8080, port: 8080}]\nendpoints: [{addresses: [${ep2}]}]\n`,
  ].join('---\n');
  const first = gen(two('10.0.2.1'));
  assert.ok(first.full);
  const second = generateIptables(parseManifests(two('10.0.2.2')), { ...BASE }, { previous: first });
  assert.not.ok(second.full);
  assert.equal(second.rewritten, ['ns2/svc2']);
  // The changed Service's chains, and -X of the old endpoint chain (ns2/svc2:p8080 tcp 10.0.2.1:8080).
  hasAll(second, [':KUBE-SEP-UHEGFW77JX3KXTOV - [0:0]', '-X KUBE-SEP-UHEGFW77JX3KXTOV', ':KUBE-SVC-2VJB64SDSIJUP5T6 - [0:0]']);
  // svc1's own chains are not in the payload, but its dispatch rule is.
  hasNone(second, new RegExp(`^(:${SVC1}|-A ${SVC1}|:${SEP1}|-A ${SEP1})`));
  hasAll(second, [`-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 -j ${SVC1}`]);
  // Applied on top of the first sync's tables, it gives what a full sync gives.
  const applied = printSave(iptablesHostRuleset(second, iptablesHostRuleset(first)));
  const full = printSave(iptablesHostRuleset(generateIptables(parseManifests(two('10.0.2.2')), { ...BASE })));
  assert.is(applied, full);
  // No change at all: only the top-level chains.
  const same = generateIptables(parseManifests(two('10.0.2.2')), { ...BASE }, { previous: second });
  assert.equal(same.rewritten, []);
  hasNone(same, /^(:|-A )KUBE-(SVC|SEP)-/);
});

test.run();
