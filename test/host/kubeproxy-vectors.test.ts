/**
 * kube-proxy's own packet-flow expectations (../shared/conformance/kube-proxy, taken from
 * pkg/proxy/iptables/proxier_test.go): every complete vector's flows, run on a kernel-like
 * host (the matching case in ../shared/conformance/kernel-answers/kubeproxy: the vector's
 * ruleset plus the built-in jumps, interfaces and routes), must reach exactly the expected
 * endpoints (over all random branches) or be dropped/rejected/accepted as expected, with
 * the expected masquerade decision.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { buildHost, restore, runPacketBranches, type CaseFile, type Host, type TraceEntry } from '../../src/index.ts';
import { sharedPath } from '../support/shared.ts';

const root = sharedPath('conformance/kernel-answers/kubeproxy', 'kube-proxy flow vectors');

interface Flow {
  name: string;
  sourceIP: string;
  destIP: string;
  destPort: number;
  protocol: string;
  vector: string;
  packet: number | null;
  expectOutput: string;
  expectMasq: boolean;
}

/** kube-proxy's tracer vocabulary for one branch: DNAT targets, REJECT/DROP by KUBE-*, ACCEPT by KUBE-NODEPORTS. */
function tokens(trace: TraceEntry[], by: { chain: string; target: string } | undefined): { out: string[]; masq: boolean } {
  const out: string[] = [];
  let masq = false;
  for (const e of trace) {
    const m = e.rule ? /-j DNAT --to-destination (\S+)/.exec(e.rule) : null;
    if (m && e.verdict === 'ACCEPT') out.push(m[1]!);
    if (e.rule && / -j MASQUERADE/.test(e.rule) && e.verdict === 'ACCEPT') masq = true;
    if (e.table === 'filter' && e.chain === 'KUBE-NODEPORTS' && e.verdict === 'ACCEPT') out.push('ACCEPT');
  }
  if (by && by.chain.startsWith('KUBE-') && (by.target === 'REJECT' || by.target === 'DROP')) out.push(by.target);
  return { out, masq };
}

test('every kube-proxy flow gives the expected endpoints and masquerade decision', () => {
  if (!root) return;
  const flows = (JSON.parse(readFileSync(join(root, 'flows.json'), 'utf8')) as { flows: Flow[] }).flows;
  let ok = 0;
  const bad: string[] = [];
  const cache = new Map<string, CaseFile>();
  for (const f of flows) {
    let c = cache.get(f.vector);
    let host: Host;
    try {
      if (existsSync(join(root, f.vector))) {
        if (!c) {
          c = JSON.parse(readFileSync(join(root, f.vector), 'utf8')) as CaseFile;
          cache.set(f.vector, c);
        }
        host = buildHost(c, { baseDir: root, file: f.vector });
      } else {
        // No recorded kernel case (the recorder could not send SCTP): build the node from
        // the vector as the conformance README says: hostPrelude, then the ruleset with
        // --noflush; the node's address on eth0, pods behind cni0.
        const v = JSON.parse(readFileSync(join(root, '..', '..', 'kube-proxy', f.vector), 'utf8')) as { nodeIPs: string[]; clusterCIDR: string | null; hostPrelude: string; ruleset: string };
        const node = v.nodeIPs[0]!;
        c = {
          interfaces: [{ name: 'eth0', addrs: [`${node}/24`] }, { name: 'cni0', addrs: [] }],
          routes: [`default via ${node.replace(/\.\d+$/, '.1')} dev eth0`, `${v.clusterCIDR ?? '10.0.0.0/8'} dev cni0`],
          sysctls: { 'net.ipv4.conf.all.route_localnet': 1 },
          ruleset: v.hostPrelude,
          packets: [],
        };
        host = buildHost(c, { file: f.vector });
        host.load(restore(v.ruleset, { family: 4, noflush: true, file: f.vector }, host.currentRuleset()));
      }
      // Flows the kernel recording could not send (SCTP) are built from the vector itself:
      // from a node address it is sent locally, otherwise it arrives on eth0.
      const local = (c.interfaces ?? []).some((i) => (i.addrs ?? []).some((a) => a.split('/')[0] === f.sourceIP)) || f.sourceIP.startsWith('127.');
      const spec = f.packet !== null ? c.packets[f.packet]! : local
        ? { hook: 'OUTPUT' as const, proto: f.protocol, src: f.sourceIP, sport: 40000, dst: f.destIP, dport: f.destPort }
        : { hook: 'PREROUTING' as const, in_iface: 'eth0', proto: f.protocol, src: f.sourceIP, sport: 40000, dst: f.destIP, dport: f.destPort };
      const branches = runPacketBranches(host, spec, {});
      const got = new Set<string>();
      let masq = false;
      for (const b of branches) {
        const t = tokens(b.outcome.trace?.entries ?? [], b.outcome.by ?? undefined);
        t.out.forEach((x) => got.add(x));
        masq ||= t.masq;
      }
      const want = new Set(f.expectOutput === '' ? [] : f.expectOutput.split(', '));
      const same = got.size === want.size && [...want].every((x) => got.has(x));
      if (same && masq === f.expectMasq) ok++;
      else bad.push(`${f.vector} "${f.name}": expected [${[...want].join(', ')}] masq=${f.expectMasq}, nfemu [${[...got].join(', ')}] masq=${masq}`);
    } catch (e) {
      bad.push(`${f.vector} "${f.name}": ${(e as Error).message}`);
    }
  }
  console.log(`kube-proxy vectors: ${ok}/${flows.length} flows as expected`);
  if (bad.length) console.log(bad.slice(0, 20).join('\n'));
  assert.is(ok, flows.length);
});

test.run();
