/**
 * Home NAT: two laptops behind one public address. Both open a connection from the same
 * source port to the same server; MASQUERADE keeps the first port and must pick another
 * for the second (the tuples would clash), and replies find their way back through
 * conntrack's NAT table.
 */
import {
  Host, SimulatedClock, SeededRng, applyCommands, buildPacket, formatPacket, NF_INET_PRE_ROUTING, TraceCollector,
  connToJson, parseRoute, type Scenario,
} from '../src/index.ts';

const scenario: Scenario = {
  name: 'home-nat',
  title: 'Home NAT: private hosts behind one public address',
  run(io) {
    const clock = new SimulatedClock();
    const router = new Host({ clock, rng: new SeededRng(7), name: 'router' });
    router.routing.addAddr('wan0', '203.0.113.7/24');
    router.routing.addAddr('lan0', '192.168.1.1/24');
    router.routing.addRoute(parseRoute('default via 203.0.113.1 dev wan0'));
    const rules = applyCommands(4, `
      iptables -t nat -A POSTROUTING -o wan0 -j MASQUERADE
      iptables -A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
      iptables -A FORWARD -i lan0 -o wan0 -j ACCEPT
      iptables -P FORWARD DROP
    `);
    router.load(rules);
    io.say('The router: wan0 203.0.113.7/24 (the one public address), lan0 192.168.1.1/24 (the home network).');
    io.say('Rules: nat POSTROUTING -o wan0 -j MASQUERADE; FORWARD accepts lan0 → wan0 and established replies, drops the rest.');

    const send = (line: string, spec: Parameters<typeof buildPacket>[0]) => {
      const p = buildPacket(spec);
      const t = new TraceCollector(false);
      const before = formatPacket(p);
      const o = router.inject(p, NF_INET_PRE_ROUTING, t);
      io.say(`${line}`);
      io.say(`    in:  ${before}`);
      io.say(`    out: ${formatPacket(o.packet)}  → ${o.fate}`);
      return o;
    };

    const a = send('Laptop A opens a connection to the server:', { proto: 'tcp', src: '192.168.1.10', sport: 40000, dst: '198.51.100.5', dport: 443, in_iface: 'lan0' });
    const b = send('Laptop B opens one from the same port to the same server:', { proto: 'tcp', src: '192.168.1.11', sport: 40000, dst: '198.51.100.5', dport: 443, in_iface: 'lan0' });
    io.check(a.fate === 'forwarded' && a.packet.saddr[0] === 0xcb007107, 'A leaves with the public address 203.0.113.7 as its source');
    io.check(a.packet.sport === 40000, 'A keeps its source port 40000 (no clash, so MASQUERADE does not change it)');
    io.check(b.fate === 'forwarded' && b.packet.saddr[0] === 0xcb007107, 'B leaves with the same public address');
    io.check(b.packet.sport !== 40000, `B gets another source port (${b.packet.sport}): 203.0.113.7:40000 → 198.51.100.5:443 is taken by A`);

    io.say('The NAT table (conntrack -L):');
    for (const e of router.conntrack!.entries()) {
      const j = connToJson(e, clock.nowMs()) as { original: Record<string, unknown>; reply: Record<string, unknown> };
      io.say(`    ${j.original.src}:${j.original.sport} → ${j.original.dst}:${j.original.dport}   reply ${j.reply.src}:${j.reply.sport} → ${j.reply.dst}:${j.reply.dport}`);
    }

    const ra = send('The server answers A (to the public address and A\'s port):', { proto: 'tcp', src: '198.51.100.5', sport: 443, dst: '203.0.113.7', dport: a.packet.sport, in_iface: 'wan0', tcp_flags: 'SYN,ACK' });
    const rb = send('The server answers B:', { proto: 'tcp', src: '198.51.100.5', sport: 443, dst: '203.0.113.7', dport: b.packet.sport, in_iface: 'wan0', tcp_flags: 'SYN,ACK' });
    io.check(ra.fate === 'forwarded' && ra.packet.daddr[0] === 0xc0a8010a && ra.packet.dport === 40000, 'the reply to A is un-NATed to 192.168.1.10:40000');
    io.check(rb.fate === 'forwarded' && rb.packet.daddr[0] === 0xc0a8010b && rb.packet.dport === 40000, 'the reply to B is un-NATed to 192.168.1.11:40000');
    const stray = send('A stranger tries to open a connection to the public address:', { proto: 'tcp', src: '198.51.100.99', sport: 5555, dst: '203.0.113.7', dport: 22, in_iface: 'wan0' });
    io.check(stray.fate === 'local', 'an unsolicited connection is not forwarded into the home network (it is for the router itself)');
  },
};

export default scenario;
