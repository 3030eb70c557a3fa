/**
 * connToJson against the real kernel's `conntrack -L` output recorded in the conformance
 * answers (Linux 6.18.44, conntrack-tools 1.4.7): for every recorded entry that NAT left
 * alone (reply = inverse of original), the same first packet through a bare table must
 * give the same JSON, key order included, with the timeout equal or one second more (the
 * kernel's clock ran for a few milliseconds before `conntrack -L`). Locally delivered ICMP
 * echoes were answered by the kernel, so the echo reply is sent too.
 *
 * The answers live outside the repository: set NFEMU_CONFORMANCE to their folder; the test
 * is skipped when they are absent.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { NF_INET_LOCAL_OUT, NF_INET_PRE_ROUTING } from '../../src/netfilter/index.ts';
import { buildPacket, type PacketSpec } from '../../src/packet/index.ts';
import { connToJson, type Conn, type ConnJson } from '../../src/conntrack/index.ts';
import { table } from './helpers.ts';

const root = join(process.env.NFEMU_CONFORMANCE ?? '/work/shared/conformance', 'kernel-answers');

function files(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...files(p));
    else if (name.endsWith('.kernel.json')) out.push(p);
  }
  return out;
}

interface Result { packet: PacketSpec & { hook: string }; final?: { fate?: string }; conntrack?: ConnJson[] }

function results(doc: { results?: Result[]; cases?: { results?: Result[] }[] }): Result[] {
  return doc.results ?? (doc.cases ?? []).flatMap((c) => c.results ?? []);
}

const plain = (j: ConnJson) =>
  j.original.src === j.reply.dst && j.original.dst === j.reply.src && j.original.sport === j.reply.dport && j.original.dport === j.reply.sport;

test('connToJson matches the kernel\'s recorded conntrack -L entries (un-NATed first packets)', () => {
  if (!existsSync(root)) {
    console.log(`  (skipped: no kernel answers at ${root})`);
    return;
  }
  let compared = 0;
  for (const file of files(root)) {
    for (const r of results(JSON.parse(readFileSync(file, 'utf8')))) {
      const recorded = r.conntrack ?? [];
      if (recorded.length !== 1 || !plain(recorded[0]!)) continue;
      const want = recorded[0]!;
      const { ct, clock } = table();
      const p = buildPacket(r.packet);
      if (want.zone !== undefined) p.ctZone = want.zone;
      ct.in(p, r.packet.hook === 'OUTPUT' ? NF_INET_LOCAL_OUT : NF_INET_PRE_ROUTING);
      ct.confirm(p);
      if (want.original.proto === 'icmp' && want.flags === undefined) {
        // Delivered locally: the kernel's echo reply went out through OUTPUT.
        const reply = buildPacket({ proto: 'icmp', src: r.packet.dst, dst: r.packet.src, icmp_type: 0, icmp_id: r.packet.icmp_id ?? 0 });
        ct.in(reply, NF_INET_LOCAL_OUT);
        ct.confirm(reply);
      }
      const got = connToJson(p.ct as Conn, clock.nowMs());
      const where = `${file}: ${JSON.stringify(r.packet)}`;
      assert.ok(want.timeout === got.timeout || want.timeout === got.timeout - 1, `${where}: timeout ${got.timeout} vs kernel ${want.timeout}`);
      assert.is(JSON.stringify({ ...got, timeout: want.timeout }), JSON.stringify(want), where);
      compared++;
    }
  }
  assert.ok(compared >= 50, `compared ${compared} entries`);
  console.log(`  compared ${compared} recorded entries`);
});

test.run();
