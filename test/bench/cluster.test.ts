/**
 * The scaling harness's inputs: the synthetic cluster's proxier state against src/kube's
 * own state builder, the one-endpoint change, and the IPVS operations a sync makes (the
 * difference between two syncs of src/kube's IPVS generator), counted by hand for a tiny
 * cluster from what kube-proxy's IPVS proxier does (pkg/proxy/ipvs/proxier.go).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { syncIpvsRules } from '../../src/kube/index.ts';
import { proxyState, referenceState, withEndpointChange, serviceIp, endpointIp, probeIndexes } from '../../bench/scaling/cluster.ts';
import { ipvsChangeCommands, ipvsContents, ipvsOps } from '../../bench/scaling/ipvs-ops.ts';
import { buildIpvs, iptablesOptions } from '../../bench/scaling/modes.ts';

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

test('IPVS operations: a fresh node adds everything, the endpoint change swaps one real server', () => {
  const shape = { services: 10, endpoints: 4 };
  const st = proxyState(shape);
  const o = iptablesOptions();
  const a = syncIpvsRules(st, o);
  // N virtual servers, N·E real servers, N addresses on kube-ipvs0, 2N set entries
  // (KUBE-CLUSTER-IP ip,tcp:port and KUBE-IPVS-IPS ip); KUBE-LOOP-BACK stays empty (no local endpoint).
  assert.equal(ipvsOps(null, a), {
    virtualServersAdded: 10, virtualServersDeleted: 0, realServersAdded: 40, realServersDeleted: 0,
    addressesBound: 10, addressesUnbound: 0, ipsetEntriesAdded: 20, ipsetEntriesDeleted: 0, total: 80,
  });
  const c = ipvsContents(a);
  assert.equal([...c.servers.get('-t 10.96.0.2:80')!].sort(), ['10.128.0.5:8080', '10.128.0.6:8080', '10.128.0.7:8080', '10.128.0.8:8080']);
  assert.ok(c.sets.get('KUBE-CLUSTER-IP')!.has('10.96.0.10,tcp:80'));
  assert.is(c.sets.get('KUBE-LOOP-BACK')!.size, 0);
  const b = syncIpvsRules(withEndpointChange(st, shape).state, o);
  assert.equal(ipvsOps(a, b), {
    virtualServersAdded: 0, virtualServersDeleted: 0, realServersAdded: 1, realServersDeleted: 1,
    addressesBound: 0, addressesUnbound: 0, ipsetEntriesAdded: 0, ipsetEntriesDeleted: 0, total: 2,
  });
  // The middle service (index 4) loses 10.128.0.17 and gains the pod after the last endpoint, 10.128.0.41.
  assert.equal(ipvsChangeCommands(a, b), { ipvsadm: ['-d -t 10.96.0.5:80 -r 10.128.0.17:8080 -m', '-a -t 10.96.0.5:80 -r 10.128.0.41:8080 -m -w 1'], ipset: [] });
});

test('IPVS mode: the programmed node has every virtual server, and the change moves one real server', () => {
  const m = buildIpvs({ services: 3, endpoints: 2 });
  assert.is(m.ipvs!.serviceList().length, 3);
  assert.ok(m.setNames.includes('KUBE-CLUSTER-IP') && m.setNames.includes('KUBE-IPVS-IPS'));
  const c = m.applyEndpointChange();
  assert.is(c.ipvsOps!.total, 2);
  const svc = m.ipvs!.serviceList().find((v) => v.port === 80 && v.addr[0] === ((10 << 24) | (96 << 16) | 2) >>> 0)!;
  assert.ok(svc, 'the middle service');
  const ip = (w: number) => `${w >>> 24}.${(w >>> 16) & 255}.${(w >>> 8) & 255}.${w & 255}`;
  assert.equal(svc.dests.filter((d) => d.available).map((d) => ip(d.addr[0]!)).sort(), ['10.128.0.4', '10.128.0.7']);
});

test.run();
