/**
 * Chain names and probabilities exactly as kube-proxy writes them. Expected hashes are the
 * ones in kube-proxy's own test dumps (../shared/KUBE-PROXY.md §1.3, checked there against
 * all 107 SEP chains of the conformance dumps); probabilities are Go's %0.10f of 1/n.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { endpointChain, formatFixed10, hash16, isServiceChainName, probability, servicePortChains } from '../../src/kube/index.ts';

test('service port chains share one hash of <svcPortName><proto>', () => {
  assert.equal(servicePortChains('ns1/svc1:p80', 'tcp'), {
    svc: 'KUBE-SVC-XPGD46QRK7WJZT7O', svl: 'KUBE-SVL-XPGD46QRK7WJZT7O', ext: 'KUBE-EXT-XPGD46QRK7WJZT7O', fw: 'KUBE-FW-XPGD46QRK7WJZT7O',
  });
  assert.is(servicePortChains('ns1/svc1', 'tcp').svc, 'KUBE-SVC-AQI2S6QIMU7PVVRP'); // unnamed port
  assert.is(servicePortChains('ns1/svc1:p80', 'sctp').svc, 'KUBE-SVC-GFCIFIA5VTFSTMSM');
  assert.is(servicePortChains('ns2/svc2:p80', 'tcp').ext, 'KUBE-EXT-GNZBNJ2PO5MGZ6GT');
  assert.is(servicePortChains('ns5/svc5:p80', 'tcp').fw, 'KUBE-FW-NUKIZ6OKUXPJNT4C');
});

test('endpoint chains hash <svcPortName><proto><ip:port>, IPv6 bracketed', () => {
  assert.is(endpointChain('ns1/svc1:p80', 'tcp', '10.180.0.1:80'), 'KUBE-SEP-SXIVWICOYRO3J4NJ');
  assert.is(endpointChain('ns4/svc4:p80', 'tcp', '10.180.0.5:80'), 'KUBE-SEP-C6EBXVWJJZMIWKLZ');
  assert.is(endpointChain('ns1/svc1:p80', 'sctp', '10.180.0.1:80'), 'KUBE-SEP-RFW33Y6OHVBQ4W3M');
  assert.is(endpointChain('ns1/svc1:p80', 'tcp', '[ff06::c1]:80'), 'KUBE-SEP-LIGRYQQLSZN4UWQ5');
});

test('hash16 is standard base32 (RFC 4648) of SHA-256, first 16 characters', () => {
  // SHA-256("") = e3b0c442 98fc1c14 9afb…; base32 of e3 b0 c4 42 98 fc 1c 14 9a fb: 4OYMIQUY7QOBJGX3
  assert.is(hash16(''), '4OYMIQUY7QOBJGX3');
  assert.ok(/^[A-Z2-7]{16}$/.test(hash16('anything')));
});

test('per-service chain prefixes', () => {
  for (const c of ['KUBE-SVC-X', 'KUBE-SVL-X', 'KUBE-EXT-X', 'KUBE-FW-X', 'KUBE-SEP-X']) assert.ok(isServiceChainName(c), c);
  for (const c of ['KUBE-SERVICES', 'KUBE-NODEPORTS', 'KUBE-MARK-MASQ', 'KUBE-XLB-X', 'KUBE-FIREWALL']) assert.not.ok(isServiceChainName(c), c);
});

test('probabilities print like Go %0.10f', () => {
  const table: [number, string][] = [
    [1, '1.0000000000'], [2, '0.5000000000'], [3, '0.3333333333'], [4, '0.2500000000'], [6, '0.1666666667'],
    [7, '0.1428571429'], [1000, '0.0010000000'],
    // 1/2048 = 0.00048828125 exactly: a tie at the tenth decimal; Go rounds half to even
    // (strconv bigFtoa), where JavaScript's toFixed would round up to …813.
    [2048, '0.0004882812'],
  ];
  for (const [n, s] of table) assert.is(probability(n), s, `1/${n}`);
  // No tie below 2048 (1/n has 11 decimals ending in 5 only for n = 2^11): toFixed agrees.
  for (let n = 1; n <= 1000; n++) assert.is(probability(n), (1 / n).toFixed(10), `1/${n}`);
  assert.is(formatFixed10(0.5), '0.5000000000');
  assert.is(formatFixed10(12.25), '12.2500000000');
  // Exact ties go to the even digit: 3/2048 = 0.00146484375 → …438 (7 is odd, rounds up).
  assert.is(formatFixed10(3 / 2048), '0.0014648438');
  // Near-ties follow the exact binary value: the double nearest 5e-11 is just above it,
  // the one nearest 1.5e-10 just below (Python: Decimal(5e-11), Decimal(1.5e-10)).
  assert.is(formatFixed10(5e-11), '0.0000000001');
  assert.is(formatFixed10(1.5e-10), '0.0000000001');
});

test.run();
