/**
 * ClusterIP from a pod: KUBE-SERVICES → KUBE-SVC → KUBE-SEP, the random choice of an
 * endpoint with exact probabilities, the DNAT, and the reply un-DNATed back to the
 * ClusterIP. The ruleset is the shape kube-proxy (iptables mode) writes for a Service
 * with three ready endpoints.
 */
import { runCase, formatTrace, type CaseFile, type Scenario } from '../src/index.ts';

const RULESET = `*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:KUBE-FORWARD - [0:0]
-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD
-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
COMMIT
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-POSTROUTING - [0:0]
:KUBE-MARK-MASQ - [0:0]
:KUBE-SVC-TCOU7JCQXEZGVUNU - [0:0]
:KUBE-SEP-A - [0:0]
:KUBE-SEP-B - [0:0]
:KUBE-SEP-C - [0:0]
-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING
-A KUBE-SERVICES -d 10.96.0.10/32 -p tcp -m comment --comment "default/web:http cluster IP" -m tcp --dport 80 -j KUBE-SVC-TCOU7JCQXEZGVUNU
-A KUBE-SVC-TCOU7JCQXEZGVUNU ! -s 10.244.0.0/16 -d 10.96.0.10/32 -p tcp -m comment --comment "default/web:http cluster IP" -m tcp --dport 80 -j KUBE-MARK-MASQ
-A KUBE-SVC-TCOU7JCQXEZGVUNU -m comment --comment "default/web:http -> 10.244.1.5:8080" -m statistic --mode random --probability 0.33333333349 -j KUBE-SEP-A
-A KUBE-SVC-TCOU7JCQXEZGVUNU -m comment --comment "default/web:http -> 10.244.2.6:8080" -m statistic --mode random --probability 0.50000000000 -j KUBE-SEP-B
-A KUBE-SVC-TCOU7JCQXEZGVUNU -m comment --comment "default/web:http -> 10.244.2.7:8080" -j KUBE-SEP-C
-A KUBE-SEP-A -s 10.244.1.5/32 -m comment --comment "default/web:http" -j KUBE-MARK-MASQ
-A KUBE-SEP-A -p tcp -m comment --comment "default/web:http" -m tcp -j DNAT --to-destination 10.244.1.5:8080
-A KUBE-SEP-B -s 10.244.2.6/32 -m comment --comment "default/web:http" -j KUBE-MARK-MASQ
-A KUBE-SEP-B -p tcp -m comment --comment "default/web:http" -m tcp -j DNAT --to-destination 10.244.2.6:8080
-A KUBE-SEP-C -s 10.244.2.7/32 -m comment --comment "default/web:http" -j KUBE-MARK-MASQ
-A KUBE-SEP-C -p tcp -m comment --comment "default/web:http" -m tcp -j DNAT --to-destination 10.244.2.7:8080
-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000
-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0x0
-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE
COMMIT
`;

const scenario: Scenario = {
  name: 'clusterip',
  title: 'ClusterIP from a pod: KUBE-SERVICES → KUBE-SVC → KUBE-SEP and back',
  run(io) {
    io.say('Node 192.168.0.2 (eth0) with pods on cni0 (10.244.1.0/24). Service default/web: ClusterIP 10.96.0.10:80,');
    io.say('endpoints 10.244.1.5:8080 (this node), 10.244.2.6:8080 and 10.244.2.7:8080 (another node, via eth0).');
    const c: CaseFile = {
      ruleset: RULESET,
      interfaces: [{ name: 'eth0', addrs: ['192.168.0.2/24'] }, { name: 'cni0', addrs: ['10.244.1.1/24'] }],
      routes: ['default via 192.168.0.1 dev eth0', '10.244.2.0/24 via 192.168.0.3 dev eth0'],
      packets: [
        { hook: 'PREROUTING', in_iface: 'cni0', proto: 'tcp', src: '10.244.1.9', sport: 51000, dst: '10.96.0.10', dport: 80, tcp_flags: 'SYN' },
      ],
    };
    const res = runCase(c);
    const r = res.results[0]!;
    io.say('A pod (10.244.1.9) connects to 10.96.0.10:80. The first packet walks these rules, one branch per endpoint:');
    const outs = r.outcomes ?? [];
    for (const o of outs) {
      io.say(`  branch with probability ${o.probability.toFixed(10)} → ${o.final.dst}:${o.final.dport} (${o.final.fate} out ${o.final.out_iface})`);
    }
    io.check(outs.length === 3, 'three branches, one per endpoint');
    const dsts = outs.map((o) => `${o.final.dst}:${o.final.dport}`).sort();
    io.check(JSON.stringify(dsts) === JSON.stringify(['10.244.1.5:8080', '10.244.2.6:8080', '10.244.2.7:8080']), 'the branches reach exactly the three endpoints');
    const total = outs.reduce((s, o) => s + o.probability, 0);
    io.check(Math.abs(total - 1) < 1e-12, 'the branch probabilities add up to 1');
    io.check(outs.every((o) => Math.abs(o.probability - 1 / 3) < 1e-9), 'each endpoint is chosen with probability 1/3 (to within the kernel\'s 2^-31 quantisation)');
    io.say('The most likely branch, rule by rule:');
    for (const l of formatTrace(r.trace, '    ')) io.say(l);
    io.check(r.final.mark === '0x0', 'pod traffic is not marked for masquerade: the pod sees the client\'s own address');

    // The reply: the endpoint answers the pod; conntrack un-DNATs the source back to the ClusterIP.
    const ep = r.final;
    const c2: CaseFile = {
      ...c,
      packets: [
        c.packets[0]!,
        { hook: 'PREROUTING', in_iface: ep.out_iface === 'cni0' ? 'cni0' : 'eth0', proto: 'tcp', src: ep.dst, sport: ep.dport!, dst: '10.244.1.9', dport: 51000, tcp_flags: 'SYN,ACK' },
      ],
    };
    const res2 = runCase(c2);
    const reply = res2.results[1]!;
    io.say(`The endpoint ${ep.dst}:${ep.dport} answers; the reply leaves the node as ${reply.final.src}:${reply.final.sport} → ${reply.final.dst}:${reply.final.dport} (${reply.final.ct_state}).`);
    io.check(reply.final.src === '10.96.0.10' && reply.final.sport === 80, 'the reply is un-DNATed: the pod sees it come from 10.96.0.10:80');
    io.check(reply.trace.every((e) => e.table !== 'nat'), 'the reply does not traverse the nat table (only first packets do)');
  },
};

export default scenario;
