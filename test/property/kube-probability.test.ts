/**
 * A kube-proxy KUBE-SVC chain with n endpoints (statistic --mode random cascade, the
 * probabilities printed with %0.10f as kube-proxy does) gives each endpoint probability 1/n.
 * "Exactly" is to within the kernel's own quantisation: iptables stores a probability as
 * lround(2^31 · p) (xt_statistic), so each rule's probability is off by at most 2^-32 and
 * the printed 10 decimals by at most 5·10^-11; over the cascade an endpoint's probability
 * can move by at most n·(2^-32 + 5·10^-11). nfemu must report exactly the kernel's value,
 * which this bound contains.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { buildHost, runPacketBranches } from '../../src/index.ts';

function svcRuleset(n: number): string {
  const lines = ['*nat', ':PREROUTING ACCEPT [0:0]', ':KUBE-SVC-X - [0:0]'];
  for (let i = 0; i < n; i++) lines.push(`:KUBE-SEP-${i} - [0:0]`);
  lines.push('-A PREROUTING -d 10.96.0.1/32 -p tcp -m tcp --dport 80 -j KUBE-SVC-X');
  for (let i = 0; i < n; i++) {
    const left = n - i;
    const stat = left > 1 ? ` -m statistic --mode random --probability ${(1 / left).toFixed(10)}` : '';
    lines.push(`-A KUBE-SVC-X -m comment --comment "ns/svc:p -> 10.244.${i >> 8}.${i & 255}:8080"${stat} -j KUBE-SEP-${i}`);
    lines.push(`-A KUBE-SEP-${i} -p tcp -m tcp -j DNAT --to-destination 10.244.${i >> 8}.${i & 255}:8080`);
  }
  lines.push('COMMIT', '');
  return lines.join('\n');
}

test('each of n endpoints gets probability 1/n (n up to 1,000)', () => {
  const seed = Number(process.env.FC_SEED ?? Date.now() % 2147483647);
  console.log(`kube-probability seed: ${seed} (replay with FC_SEED=${seed})`);
  fc.assert(
    fc.property(fc.oneof(fc.integer({ min: 1, max: 40 }), fc.constantFrom(97, 250, 1000)), (n) => {
      const host = buildHost({
        ruleset: svcRuleset(n),
        interfaces: [{ name: 'eth0', addrs: ['192.168.0.2/24'] }],
        routes: ['default via 192.168.0.1 dev eth0', '10.244.0.0/16 dev eth0'],
        packets: [],
      }, {});
      const branches = runPacketBranches(host, { hook: 'PREROUTING', in_iface: 'eth0', proto: 'tcp', src: '192.168.0.50', sport: 40000, dst: '10.96.0.1', dport: 80 }, { maxOutcomes: 2000 });
      assert.is(branches.length, n, `${n} endpoints → ${n} branches`);
      const seen = new Set<string>();
      const bound = n * (2 ** -32 + 5e-11);
      let total = 0;
      for (const b of branches) {
        const dst = `${b.outcome.packet.daddr[0]! >>> 8 & 255}.${b.outcome.packet.daddr[0]! & 255}:${b.outcome.packet.dport}`;
        seen.add(dst);
        total += b.probability;
        assert.ok(Math.abs(b.probability - 1 / n) <= bound, `n=${n}: ${dst} has probability ${b.probability}, 1/n = ${1 / n}`);
      }
      assert.is(seen.size, n, 'every endpoint is reached exactly once');
      assert.ok(Math.abs(total - 1) < 1e-12, `probabilities add up to ${total}`);
    }),
    { seed, numRuns: 12, examples: [[1000], [3], [1]] },
  );
});

test.run();
