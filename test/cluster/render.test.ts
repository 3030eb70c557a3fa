/**
 * A walk as JSON (complete and serialisable), as a Mermaid sequence diagram (one arrow per
 * wire crossing, text escaped) and as story lines.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Cluster, EchoServer, walkToJson, walkToMermaid, walkToLines, legsOf } from '../../src/cluster/index.ts';

function walk() {
  const c = new Cluster({ seed: 2 });
  c.addNetwork('nodes', '192.168.0.0/24');
  c.addNode({
    name: 'node1', ip: '192.168.0.2', podCIDR: '10.244.1.0/24',
    rules: '*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n-A PREROUTING -d 10.96.0.10/32 -p tcp -j DNAT --to-destination 10.244.1.6:80\nCOMMIT\n',
  });
  c.addPod({ name: 'web-client', node: 'node1', ip: '10.244.1.5' });
  c.addPod({ name: 'srv', node: 'node1', ip: '10.244.1.6' });
  c.listen('srv', 'tcp', 80, new EchoServer('srv#1;x'));
  const w = c.walker({ title: 'a → b; #1' });
  const r = w.exchange('web-client', { proto: 'tcp', dst: '10.96.0.10', dport: 80, payload: 'hello' });
  return { w: w.walk, r };
}

test('walkToJson: every leg and hop, serialisable, the result pointing at leg ids', () => {
  const { w, r } = walk();
  const j = JSON.parse(JSON.stringify(walkToJson(w))) as {
    version: number; title: string; legs: { id: number; kind: string; hops: { host: string; trace: unknown[] }[] }[];
    result: { ok: boolean; request_leg: number; reply_leg: number; served_by: unknown };
  };
  assert.equal(j.version, 1);
  assert.equal(j.title, 'a → b; #1');
  assert.equal(j.legs.map((l) => l.kind), ['request', 'reply']);
  assert.equal(j.legs[0]!.hops.map((h) => h.host), ['web-client', 'node1', 'srv']);
  assert.ok(j.legs[0]!.hops[1]!.trace.length > 0, 'the node hop carries its rule trace');
  assert.equal(j.result.ok, true);
  assert.equal([j.result.request_leg, j.result.reply_leg], [r.request.id, r.replyLeg!.id]);
  assert.equal(j.result.served_by, { host: 'srv', process: 'echo' });
});

test('walkToMermaid: participants in order of appearance, one arrow per crossing, escaped text', () => {
  const { w } = walk();
  const m = walkToMermaid(w);
  const lines = m.split('\n');
  assert.equal(lines[0], 'sequenceDiagram');
  assert.ok(lines.includes('  title a → b#59; #35;1'), m);
  assert.equal(lines.filter((l) => l.startsWith('  participant')), [
    '  participant h0 as web-client', '  participant h1 as node1', '  participant h2 as srv',
  ]);
  const arrows = lines.filter((l) => /^ {2}h\d+-/.test(l));
  // Request: client → node1 → srv (2 crossings); reply: srv → node1 (bridged, br_netfilter) → client (2).
  assert.equal(arrows.map((l) => l.split(':')[0]), ['  h0->>h1', '  h1->>h2', '  h2-->>h1', '  h1-->>h0']);
  assert.ok(lines.some((l) => l.startsWith('  Note over h1: dst 10.96.0.10:80 → 10.244.1.6:80')));
  assert.ok(!/[^#\d];/.test(m.replace(/#59;|#35;/g, '')), 'no raw semicolons left');
});

test('walkToLines: one line per leg and hop, notes after', () => {
  const { w, r } = walk();
  const lines = walkToLines(w);
  assert.ok(lines[0]!.startsWith('→ web-client → 10.96.0.10:80'));
  assert.equal(lines.filter((l) => l.startsWith('    web-client:') || l.startsWith('    node1:') || l.startsWith('    srv:')).length, 6);
  assert.equal(legsOf(r).map((l) => l.kind), ['request', 'reply']);
});

test.run();
