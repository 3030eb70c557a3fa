/**
 * The scaling harness's inputs: the synthetic cluster's proxier state against src/kube's
 * own state builder, the one-endpoint change, and the IPVS-mode generator (ipvsadm-save,
 * ipsets, iptables payload, operation counts) against what kube-proxy's IPVS proxier
 * programs (pkg/proxy/ipvs/proxier.go), written out by hand for a tiny cluster.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SimulatedClock, restore } from '../../src/index.ts';
import { IpsetRegistry } from '../../src/ipset/index.ts';
import { proxyState, referenceState, withEndpointChange, serviceIp, endpointIp, probeIndexes } from '../../bench/scaling/cluster.ts';
import { ipvsOps, ipvsProxyRules, IPVS_SETS } from '../../bench/scaling/ipvs-proxy.ts';
import { buildIpvs } from '../../bench/scaling/modes.ts';

test('the direct proxier state equals src/kube buildProxyState over the same Services and EndpointSlices', () => {
  for (const shape of [{ services: 3, endpoints: 4 }, { services: 12, endpoints: 2 }, { services: 300, endpoints: 1 }]) {
    assert.equal(proxyState(shape).servicePorts, referenceState(shape).servicePorts, `${shape.services} × ${shape.endpoints}`);
  }
});

test('addresses: ClusterIPs and endpoints are distinct and in their CIDRs', () => {
  assert.is(serviceIp(0), '10.96.0.1');
  assert.is(serviceIp(49999), '10.96.195.80');
  assert.is(endpointIp(0, 0, 4), '10.128.0.1');
  assert.is(endpointIp(49999, 3, 4), '10.131.13.64');
  assert.equal(probeIndexes(5), { first: 0, middle: 2, last: 4 });
  assert.equal(probeIndexes(100), { first: 0, middle: 49, last: 99 });
});

test('the endpoint change replaces one endpoint of the middle service and nothing else', () => {
  const shape = { services: 5, endpoints: 3 };
  const st = proxyState(shape);
  const ch = withEndpointChange(st, shape);
  assert.is(ch.service, 2);
  assert.is(ch.removed, '10.128.0.7');
  assert.is(ch.added, '10.128.0.16');
  st.servicePorts.forEach((p, i) => {
    if (i !== 2) assert.ok(ch.state.servicePorts[i] === p, `service ${i} untouched`);
  });
  assert.equal(ch.state.servicePorts[2]!.endpoints.map((e) => e.ip), ['10.128.0.16', '10.128.0.8', '10.128.0.9']);
});

test('IPVS mode: virtual servers, real servers, ipsets and rules as kube-proxy programs them', () => {
  const s = ipvsProxyRules(proxyState({ services: 2, endpoints: 2 }), { clusterCIDR: '10.128.0.0/10' });
  assert.is(s.ipvsadmSave, [
    '-A -t 10.96.0.1:80 -s rr',
    '-a -t 10.96.0.1:80 -r 10.128.0.1:8080 -m -w 1',
    '-a -t 10.96.0.1:80 -r 10.128.0.2:8080 -m -w 1',
    '-A -t 10.96.0.2:80 -s rr',
    '-a -t 10.96.0.2:80 -r 10.128.0.3:8080 -m -w 1',
    '-a -t 10.96.0.2:80 -r 10.128.0.4:8080 -m -w 1',
    '',
  ].join('\n'));
  assert.equal(s.bindAddrs, ['10.96.0.1', '10.96.0.2']);
  assert.equal([...s.setEntries.get('KUBE-CLUSTER-IP')!], ['10.96.0.1,tcp:80', '10.96.0.2,tcp:80']);
  assert.equal([...s.setEntries.get('KUBE-IPVS-IPS')!], ['10.96.0.1', '10.96.0.2']);
  // No endpoint is on this node: KUBE-LOOP-BACK stays empty and has no MASQUERADE rule.
  assert.is(s.setEntries.get('KUBE-LOOP-BACK')!.size, 0);
  assert.not.match(s.iptablesPayload, /KUBE-LOOP-BACK/);
  // writeIptablesRules' KUBE-SERVICES, in order.
  const svc = s.iptablesPayload.split('\n').filter((l) => l.startsWith('-A KUBE-SERVICES'));
  assert.equal(svc, [
    '-A KUBE-SERVICES -s 127.0.0.0/8 -j RETURN',
    '-A KUBE-SERVICES -m comment --comment "Kubernetes service cluster ip + port for masquerade purpose" -m set --match-set KUBE-CLUSTER-IP dst,dst ! -s 10.128.0.0/10 -j KUBE-MARK-MASQ',
    '-A KUBE-SERVICES -m addrtype --dst-type LOCAL -j KUBE-NODE-PORT',
    '-A KUBE-SERVICES -m set --match-set KUBE-CLUSTER-IP dst,dst -j ACCEPT',
  ]);
  // The payload and the sets load together through nfemu's restore (every referenced set exists).
  const sets = new IpsetRegistry(new SimulatedClock());
  sets.restore(s.ipsetRestore);
  for (const x of IPVS_SETS) assert.ok(sets.get(x.name), x.name);
  const view = { get: (n: string) => sets.get(n) };
  restore(s.iptablesPayload, { family: 4, noflush: true, sets: view }, restore(s.prelude, { family: 4 }));
});

test('IPVS operations: a fresh node adds everything, the endpoint change swaps one real server', () => {
  const shape = { services: 10, endpoints: 4 };
  const st = proxyState(shape);
  const a = ipvsProxyRules(st, { clusterCIDR: '10.128.0.0/10' });
  const full = ipvsOps(null, a);
  // N virtual servers, N·E real servers, N addresses, 2N set entries (KUBE-CLUSTER-IP, KUBE-IPVS-IPS).
  assert.equal(full, {
    virtualServersAdded: 10, virtualServersDeleted: 0, realServersAdded: 40, realServersDeleted: 0,
    addressesBound: 10, addressesUnbound: 0, ipsetEntriesAdded: 20, ipsetEntriesDeleted: 0, total: 80,
  });
  const b = ipvsProxyRules(withEndpointChange(st, shape).state, { clusterCIDR: '10.128.0.0/10' });
  const change = ipvsOps(a, b);
  assert.is(change.realServersAdded, 1);
  assert.is(change.realServersDeleted, 1);
  assert.is(change.total, 2);
  // And the same change applied to a programmed node moves the service's real servers.
  const m = buildIpvs({ services: 3, endpoints: 2 });
  const c = m.applyEndpointChange();
  assert.is(c.ipvsOps!.total, 2);
  const svc = m.ipvs!.serviceList().find((v) => v.port === 80 && v.addr[0] === ((10 << 24) | (96 << 16) | 2) >>> 0)!;
  assert.ok(svc, 'the middle service');
  const live = svc.dests.filter((d) => d.available).map((d) => `${d.addr[0]! >>> 24}.${(d.addr[0]! >>> 16) & 255}.${(d.addr[0]! >>> 8) & 255}.${d.addr[0]! & 255}`).sort();
  assert.equal(live, ['10.128.0.4', '10.128.0.7']);
});

test.run();
