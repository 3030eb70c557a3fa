/**
 * ClusterIP in IPVS mode: the same traffic as the clusterip scenario, with kube-proxy in
 * `--proxy-mode=ipvs`. The Service address is bound to the dummy interface kube-ipvs0, so
 * the node takes the packet as its own; IPVS, hooked at LOCAL_IN, picks a real server with
 * its scheduler (rr: each endpoint in turn) and DNATs to it. iptables keeps only the
 * masquerade bookkeeping, driven by ipsets instead of one rule per Service. Replies are
 * un-NATed by IPVS's own connection table, and a connection the node makes itself is
 * masqueraded.
 */
import { Cluster, emitWalk, httpRequest, parseHttpResponse, parseIp, printSave, walkToLines, type Hop, type Scenario } from '../src/index.ts';

const MANIFESTS = `
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  clusterIP: 10.96.0.10
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: 8080}]
`;

const VIP = '10.96.0.10';
const POD_IP: Record<string, string> = { 'web-a': '10.244.1.5', 'web-b': '10.244.2.6', 'web-c': '10.244.2.7' };

function build(): Cluster {
  const c = new Cluster({ seed: 7, kubeProxy: { mode: 'ipvs' } });
  c.addNetwork('nodes', '192.168.0.0/24');
  c.addNode({ name: 'node1', ip: '192.168.0.2', podCIDR: '10.244.1.0/24' });
  c.addNode({ name: 'node2', ip: '192.168.0.3', podCIDR: '10.244.2.0/24' });
  c.addPod({ name: 'client', node: 'node1', ip: '10.244.1.9' });
  for (const [name, ip] of Object.entries(POD_IP)) {
    c.addPod({ name, node: ip.startsWith('10.244.1.') ? 'node1' : 'node2', ip, labels: { app: 'web' } });
    c.serveHttp(name, 8080);
  }
  c.applyManifests(MANIFESTS, 'ipvs-mode manifests');
  return c;
}

/** The rules a hop passed through, one line each (nat and filter, rules that matched). */
function ruleLines(hop: Hop, indent: string): string[] {
  return hop.trace.filter((e) => e.rule_index !== null).map((e) => `${indent}${e.hook} ${e.table}:${e.chain}#${e.rule_index} ${e.verdict}   ${e.rule}`);
}

const scenario: Scenario = {
  name: 'ipvs-mode',
  title: 'ClusterIP in IPVS mode: kube-ipvs0, ipsets, the virtual server and rr',
  run(io) {
    const c = build();
    io.say('Two nodes, 192.168.0.2 (node1, pods 10.244.1.0/24) and 192.168.0.3 (node2, pods 10.244.2.0/24), with');
    io.say('kube-proxy in IPVS mode. Service default/web: ClusterIP 10.96.0.10:80, endpoints web-a 10.244.1.5:8080');
    io.say('(node1), web-b 10.244.2.6:8080 and web-c 10.244.2.7:8080 (node2). The client pod is 10.244.1.9 on node1.');
    const kp = c.kubeProxy('node1');
    if (!kp || kp.mode !== 'ipvs') {
      io.check(false, 'node1 runs kube-proxy in IPVS mode');
      return;
    }

    // 1. kube-ipvs0: the VIP is a local address.
    io.say('');
    io.say('1. kube-proxy binds every Service address to a dummy interface, kube-ipvs0 (ip addr show kube-ipvs0):');
    const dummy = c.host('node1').host.routing.ifaces.get('kube-ipvs0');
    const bound = (dummy?.addrs ?? []).map((a) => `${[24, 16, 8, 0].map((s) => (a.addr[0]! >>> s) & 255).join('.')}/${a.prefix}`);
    for (const a of bound) io.say(`     inet ${a} scope global kube-ipvs0`);
    io.check(dummy?.kind === 'dummy' && bound.length === 1 && bound[0] === `${VIP}/32`, 'kube-ipvs0 is a dummy device holding exactly the ClusterIP, 10.96.0.10/32');
    const vipWords = parseIp(VIP)!.w;
    io.check(c.host('node1').host.routing.addrType(4, vipWords, null) === 2 /* RTN_LOCAL */,
      'so the ClusterIP is in node1\'s local routing table (RTN_LOCAL): packets to it are delivered to INPUT, not forwarded');
    io.say('   Being a dummy device it answers no ARP and routes nothing; it exists only to make the address local.');

    // 2. ipsets.
    io.say('');
    io.say('2. Instead of one chain per Service, kube-proxy keeps ipsets (ipset list, the sets that have members):');
    const saved = kp.ipsets.save().split('\n');
    const adds = saved.filter((l) => l.startsWith('add '));
    const created = saved.filter((l) => l.startsWith('create ')).length;
    for (const l of adds) io.say(`     ${l}`);
    io.say(`   (${created} sets are created in all; the others stay empty until a NodePort, LoadBalancer or externalIP needs them.)`);
    io.check(adds.includes(`add KUBE-CLUSTER-IP ${VIP},tcp:80`), 'KUBE-CLUSTER-IP holds the Service as ip,proto:port: 10.96.0.10,tcp:80');
    io.check(adds.includes(`add KUBE-IPVS-IPS ${VIP}`), 'KUBE-IPVS-IPS mirrors what is bound to kube-ipvs0');
    io.check(adds.includes('add KUBE-LOOP-BACK 10.244.1.5,tcp:8080,10.244.1.5') && adds.filter((l) => l.startsWith('add KUBE-LOOP-BACK ')).length === 1,
      'KUBE-LOOP-BACK holds (endpoint, port, endpoint) for node1\'s own endpoint only: the hairpin case to masquerade');

    // 3. The iptables rules that still matter.
    io.say('');
    io.say('3. What is left in iptables (nat table; no KUBE-SVC-/KUBE-SEP- chains at all):');
    const save = printSave(c.host('node1').host.currentRuleset());
    const nat = save.slice(save.indexOf('*nat'));
    const natRules = nat.slice(0, nat.indexOf('COMMIT')).split('\n').filter((l) => l.startsWith('-A '));
    for (const l of natRules) io.say(`     ${l}`);
    io.check(!/KUBE-(SVC|SEP)-/.test(save), 'no per-Service or per-endpoint chains: the ruleset does not grow with the Services');
    io.check(natRules.some((l) => l.startsWith('-A KUBE-SERVICES ! -s 10.244.0.0/16 ') && l.includes('--match-set KUBE-CLUSTER-IP dst,dst') && l.endsWith('-j KUBE-MARK-MASQ')),
      'one rule marks traffic to any ClusterIP from outside the pod network (! -s 10.244.0.0/16) for masquerade');
    io.check(natRules.includes('-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000') && natRules.some((l) => l.startsWith('-A KUBE-POSTROUTING') && l.includes('requiring SNAT" -j MASQUERADE')),
      'KUBE-MARK-MASQ sets 0x4000 and KUBE-POSTROUTING masquerades what carries it, as in iptables mode');

    // 4. The virtual server.
    io.say('');
    io.say('4. The Service itself is an IPVS virtual server (ipvsadm -Ln):');
    const list = c.ipvsadm('node1');
    for (const l of list.trimEnd().split('\n')) io.say(`     ${l}`);
    io.check(list.includes(`TCP  ${VIP}:80 rr`) && (list.match(/ Masq {4}1 /g) ?? []).length === 3,
      'one TCP virtual server 10.96.0.10:80 with scheduler rr and three real servers, each Masq (NAT) with weight 1');

    // 5. rr: several connections from the pod.
    io.say('');
    io.say('5. The client connects six times. IPVS\'s rr scheduler hands out the real servers in turn:');
    // The kernel's rr order, derived from the order kube-proxy added the real servers:
    // __ip_vs_update_dest puts each new server at the head of svc->destinations (list_add_rcu),
    // and ip_vs_rr_schedule starts after the list head, so the last one added is chosen first.
    const added = kp.sync.ipvs.split('\n').filter((l) => l.startsWith(`-a -t ${VIP}:80 `)).map((l) => l.split(' ')[4]!.split(':')[0]!);
    const listOrder = [...added].reverse();
    const expected = Array.from({ length: 6 }, (_, i) => listOrder[i % listOrder.length]!);
    io.say(`   kube-proxy added ${added.join(', ')} in that order; each add goes to the head of the kernel's list, so`);
    io.say(`   rr walks ${listOrder.join(', ')} and starts over.`);
    const got: string[] = [];
    const seen: string[] = [];
    let first: { hop: Hop; replyHop: Hop | undefined; clientSaw: string } | null = null;
    for (let i = 0; i < 6; i++) {
      const w = c.walker({ title: `client → web:80 (connection ${i + 1}, IPVS rr)` });
      const r = w.exchange('client', { proto: 'tcp', dst: VIP, dport: 80, payload: httpRequest({ host: 'web', path: `/${i + 1}` }) });
      const server = r.servedBy?.host ?? '(none)';
      got.push(POD_IP[server] ?? server);
      const body = r.reply ? parseHttpResponse(r.reply)?.body ?? '' : '';
      seen.push(body);
      io.say(`   connection ${i + 1}: ${r.socket.src}:${r.socket.sport} → ${VIP}:80 served by ${server} (${POD_IP[server] ?? '?'}): "${body}"`);
      if (i === 0) {
        emitWalk(io, 'ipvs-mode', w.walk);
        const hop = w.walk.legs[0]!.hops.find((h) => h.host === 'node1')!;
        const replyHop = r.replyLeg?.hops.find((h) => h.host === 'node1');
        const last = r.replyLeg?.hops[r.replyLeg.hops.length - 1];
        first = { hop, replyHop, clientSaw: last ? `${last.after.src}:${last.after.sport}` : '' };
      }
    }
    io.check(JSON.stringify(got) === JSON.stringify(expected), `the servers come in the kernel's rr order: ${expected.join(', ')}`);
    io.check(seen.every((b) => b.includes('to 10.244.1.9:')), 'every server sees the pod\'s own address: pod → ClusterIP is not masqueraded');

    // 6. The first connection, hop by hop, and its reply.
    io.say('');
    io.say('6. The first connection on node1, rule by rule (then IPVS at LOCAL_IN, which iptables cannot see):');
    if (first) {
      for (const l of ruleLines(first.hop, '     ')) io.say(l);
      io.say(`   in: ${first.hop.before.src}:${first.hop.before.sport} → ${first.hop.before.dst}:${first.hop.before.dport}   out: ${first.hop.after.src}:${first.hop.after.sport} → ${first.hop.after.dst}:${first.hop.after.dport} (${first.hop.fate} via ${first.hop.next?.iface ?? '?'})`);
      const hooks = new Set(first.hop.trace.map((e) => e.hook));
      io.check(hooks.has('INPUT') && !hooks.has('FORWARD'), 'the SYN to the ClusterIP goes through INPUT (local delivery), never FORWARD: kube-ipvs0 made the VIP local');
      io.check(first.hop.after.dst === expected[0] && first.hop.after.dport === 8080 && first.hop.after.src === '10.244.1.9',
        `IPVS rewrote only the destination: 10.96.0.10:80 → ${expected[0]}:8080, the source stays 10.244.1.9`);
      io.check(first.hop.trace.every((e) => e.chain !== 'KUBE-MARK-MASQ'), 'the pod\'s packet never reaches KUBE-MARK-MASQ: its source is inside 10.244.0.0/16');
      const rh = first.replyHop;
      io.say(`   The reply on node1: ${rh ? `${rh.before.src}:${rh.before.sport} → ${rh.before.dst}:${rh.before.dport} becomes ${rh.after.src}:${rh.after.sport} → ${rh.after.dst}:${rh.after.dport}` : '(none)'}`);
      io.check(rh !== undefined && rh.after.src === VIP && rh.after.sport === 80 && first.clientSaw === `${VIP}:80`,
        'the reply is un-NATed back to the ClusterIP: the client sees it come from 10.96.0.10:80');
    }
    io.say('');
    io.say('   ipvsadm -Ln afterwards (IPVS keeps its own connection table; the counters are its connections):');
    const after = c.ipvsadm('node1');
    for (const l of after.trimEnd().split('\n').slice(3)) io.say(`     ${l}`);
    const perDest = after.split('\n').filter((l) => l.includes(' Masq ')).map((l) => l.trim().split(/\s+/)).map((f) => Number(f[4]) + Number(f[5]));
    io.check(perDest.length === 3 && perDest.every((n) => n === 2), 'two connections on each real server (ActiveConn + InActConn): six connections spread evenly');

    // 7. From the node itself.
    io.say('');
    io.say('7. node1 itself connects to the ClusterIP:');
    const w = c.walker({ title: 'node1 → web:80 (IPVS mode, masqueraded)' });
    const r = w.exchange('node1', { proto: 'tcp', dst: VIP, dport: 80, payload: httpRequest({ host: 'web', path: '/from-node' }) });
    for (const l of walkToLines(w.walk)) io.say(l);
    emitWalk(io, 'ipvs-mode-from-node', w.walk);
    const hop = w.walk.legs[0]!.hops[0]!;
    io.say('   node1, rule by rule:');
    for (const l of ruleLines(hop, '     ')) io.say(l);
    io.say(`   The route to a local address has that address as its preferred source, so the socket is bound to ${hop.before.src}:`);
    io.say('   source and destination are the VIP. KUBE-SERVICES sees a source outside the pod network and marks it;');
    io.say('   KUBE-POSTROUTING masquerades it to the address of the interface it leaves by.');
    io.check(hop.before.src === VIP, 'the node\'s socket starts with the VIP itself as its source (the local route\'s preferred source)');
    io.check(hop.trace.some((e) => e.chain === 'KUBE-SERVICES' && e.verdict === 'JUMP:KUBE-MARK-MASQ') &&
      hop.trace.some((e) => e.chain === 'KUBE-POSTROUTING' && e.verdict === 'ACCEPT' && (e.rule ?? '').includes('requiring SNAT" -j MASQUERADE')),
    'KUBE-SERVICES marks it (KUBE-CLUSTER-IP match, ! -s 10.244.0.0/16) and KUBE-POSTROUTING masquerades it');
    const body = r.reply ? parseHttpResponse(r.reply)?.body ?? '' : '';
    io.check(r.ok && hop.after.src === '192.168.0.2' && body.includes('to 192.168.0.2:'),
      'the server sees the connection come from node1\'s eth0 address 192.168.0.2');
    const lastReply = r.replyLeg?.hops[r.replyLeg.hops.length - 1];
    io.check(lastReply !== undefined && lastReply.after.src === VIP && lastReply.after.sport === 80 && lastReply.after.dst === VIP,
      'and the answer is turned back into 10.96.0.10:80 → 10.96.0.10 for the node\'s socket');
  },
};

export default scenario;
