/**
 * A UDP conntrack entry outliving its endpoint. A client keeps one UDP socket (one source
 * port) and talks to a Service VIP; the node's conntrack remembers the DNAT to the first
 * endpoint. When that pod goes away and the Service points elsewhere, packets of the old
 * flow still follow the old entry (the nat table is only consulted for new flows) into a
 * black hole, and every retry keeps the entry alive. Only when the client is quiet for
 * longer than the timeout does the entry expire on the clock, and the next packet, now a
 * new flow, reaches the new endpoint.
 *
 * The node's rules here are a hand-written DNAT standing for the Service (not kube-proxy's
 * rules): kube-proxy itself deletes the UDP conntrack entries of endpoints that go away
 * (pkg/proxy/conntrack) precisely because of this.
 */
import { Cluster, EchoServer, connToJson, walkToLines, emitWalk, type Scenario, type Walk } from '../src/index.ts';

const serviceRules = (endpoint: string) => `*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A PREROUTING -d 10.96.0.10/32 -p udp -m udp --dport 53 -m comment --comment "stands for Service kube-system/dns" -j DNAT --to-destination ${endpoint}:53
COMMIT
`;

const scenario: Scenario = {
  name: 'conntrack-timeout',
  title: 'A UDP conntrack entry outlives its endpoint, then expires on the clock',
  run(io) {
    const c = new Cluster({ seed: 21 });
    c.addNetwork('nodes', '192.168.0.0/24');
    c.addNode({ name: 'node1', ip: '192.168.0.2', podCIDR: '10.244.1.0/24', rules: serviceRules('10.244.1.10') });
    c.addPod({ name: 'app', node: 'node1', ip: '10.244.1.9' });
    c.addPod({ name: 'dns-1', node: 'node1', ip: '10.244.1.10' });
    c.addPod({ name: 'dns-2', node: 'node1', ip: '10.244.1.11' });
    c.listen('dns-1', 'udp', 53, new EchoServer('dns-1', 'dns'));
    c.listen('dns-2', 'udp', 53, new EchoServer('dns-2', 'dns'));
    const node = c.host('node1').host;

    const entries = () => node.conntrack!.entries().map((e) => connToJson(e, c.clock.nowMs()));
    const table = (what: string) => {
      io.say(`   conntrack -L on node1 ${what}:`);
      const list = entries();
      if (list.length === 0) io.say('     (empty)');
      for (const e of list) {
        io.say(`     udp ${e.timeout}s src=${e.original.src}:${e.original.sport} dst=${e.original.dst}:${e.original.dport}  reply src=${e.reply.src}:${e.reply.sport}${e.flags ? ` [${e.flags.join(',').toUpperCase()}]` : ''}`);
      }
      return list;
    };
    const ask = (title: string, sport: number, name: string): { walk: Walk; ok: boolean; reply: string | null } => {
      const w = c.walker({ title });
      const r = w.exchange('app', { proto: 'udp', dst: '10.96.0.10', dport: 53, sport, payload: `query ${name}`, label: `app:${sport} → 10.96.0.10:53` });
      for (const l of walkToLines(w.walk)) io.say(l);
      emitWalk(io, name, w.walk);
      return { walk: w.walk, ok: r.ok, reply: r.reply };
    };

    io.say('One node. app (10.244.1.9) sends DNS-like UDP queries from one long-lived socket (port 5353) to 10.96.0.10:53.');
    io.say('node1 has one hand-written rule standing for the Service: DNAT 10.96.0.10:53 → dns-1 (10.244.1.10:53).');
    io.say('(Not kube-proxy: kube-proxy would also delete the stale conntrack entries this scenario is about.)');

    io.say('');
    io.say('t=0s  the first query:');
    const q1 = ask('first query (t=0)', 5353, 'query-1');
    io.check(q1.ok && q1.reply === 'dns-1: query query-1', 'dns-1 answers, and the reply reaches app from 10.96.0.10:53');
    const e1 = table('after the exchange');
    io.check(e1.length === 1 && e1[0]!.reply.src === '10.244.1.10' && e1[0]!.timeout === 30, 'one entry: 10.244.1.9:5353 → 10.96.0.10:53, replied by 10.244.1.10, 30 s left (nf_conntrack_udp_timeout)');

    io.say('');
    io.say('t=1s  dns-1 is deleted; the Service now points at dns-2 (the rule is rewritten to DNAT to 10.244.1.11).');
    c.clock.advanceSeconds(1);
    c.removePod('dns-1');
    c.setRules('node1', serviceRules('10.244.1.11'));
    table('(the rules changed, the entry did not)');

    io.say('');
    io.say('t=5s  app retries from the same socket:');
    c.clock.advanceSeconds(4);
    const q2 = ask('retry from port 5353 (t=5s)', 5353, 'query-2');
    const nodeHop = q2.walk.legs[0]!.hops.find((h) => h.host === 'node1')!;
    io.check(!q2.ok && nodeHop.after.dst === '10.244.1.10', 'the packet still goes to 10.244.1.10, the deleted pod: conntrack found the flow, so the new rule is never consulted');
    io.check(nodeHop.trace.every((e) => e.table !== 'nat'), 'node1\'s trace has no nat rule at all for it (the nat table sees only the first packet of a flow)');
    io.check(q2.walk.legs[0]!.end.kind === 'unreachable', 'the packet is lost: nobody on the bridge answers for 10.244.1.10');
    const e2 = table('after the retry');
    io.check(e2.length === 1 && e2[0]!.timeout === 120 && (e2[0]!.flags ?? []).includes('assured'),
      'the retry refreshed the entry: a replied flow older than 2 s counts as a stream, 120 s (nf_conntrack_udp_timeout_stream), ASSURED');

    io.say('');
    io.say('t=6s  a new socket (port 5354) is a new flow: the nat table is consulted and picks dns-2.');
    c.clock.advanceSeconds(1);
    const q3 = ask('new socket, port 5354 (t=6s)', 5354, 'query-3');
    io.check(q3.ok && q3.reply === 'dns-2: query query-3', 'dns-2 answers the new flow');

    io.say('');
    io.say('t=66s, t=126s  app keeps retrying from port 5353 once a minute; each retry is lost and refreshes the entry.');
    let alive = true;
    for (let i = 0; i < 2; i++) {
      c.clock.advanceSeconds(60);
      const q = ask(`retry ${i + 2} from port 5353`, 5353, `retry-${i + 2}`);
      alive = alive && !q.ok && entries().some((e) => e.original.sport === 5353 && e.reply.src === '10.244.1.10' && e.timeout === 120);
    }
    io.check(alive, 'two minutes after the pod was deleted the stale entry is still there, back at 120 s after every retry');

    io.say('');
    io.say('app gives up for a while. 121 s later:');
    c.clock.advanceSeconds(121);
    const e4 = table('after 121 s of silence');
    io.check(!e4.some((e) => e.original.sport === 5353), 'the stale entry has expired on the clock');
    const q5 = ask('port 5353 again, after expiry', 5353, 'query-after-expiry');
    io.check(q5.ok && q5.reply === 'dns-2: query query-after-expiry', 'the same socket now reaches dns-2: its packet is the first of a new flow, so the nat table picks the new endpoint');
  },
};

export default scenario;
