/**
 * Running one case in the real kernel: scratch namespaces, the case's topology and
 * ruleset, then every packet (every sample of it) sent for real, traced and captured.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { NfemuError, IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP } from '../../core/index.ts';
import { buildPacket, type Packet, type PacketSpec } from '../../packet/index.ts';
import { parseConntrackList } from './conntrack.ts';
import { monoMs, round1 } from './exec.ts';
import { Helper, type Collected } from './helper.ts';
import { parseTraceDatagram, type RawTraceEvent } from './netlink.ts';
import { buildTopology, createScratch, destroyScratch, type Link, type Scratch, type Topology } from './netns.ts';
import {
  IDENT_COUNT,
  IDENT_FIRST,
  loadIpsets,
  loadRuleset,
  nftFamily,
  nftScript,
  readRuleMap,
  traceTableScript,
  triggerScript,
  buildRuleMap,
  type RuleMap,
} from './ruleset.ts';
import { classifyFrames, finalOf, placeEvents, summaryLine, traceEntries, type FrameIn } from './trace.ts';
import type {
  KernelCaseResult,
  KernelConntrackEntry,
  KernelFinal,
  KernelOutcome,
  KernelPacketResult,
  KernelRunOptions,
  KernelTraceEntry,
  KernelWirePacket,
} from './types.ts';
import { buildFrame, buildIpPacket, bytesToHex, hexToBytes, protoLabel, type IpView } from './wire.ts';

/** Silence that ends a sample's collection, in ms; a second, longer wait follows when the trace looks unfinished. */
const QUIET_MS = 12;
const QUIET_RETRY_MS = 80;

interface CaseInput {
  obj: Record<string, unknown>;
  ruleset: string | null;
  rulesetFile: string | null;
  ipsets: string | null;
  packets: { raw: Record<string, unknown>; spec: PacketSpec; pkt: Packet }[];
  family: 4 | 6;
}

function readText(baseDir: string, file: unknown, what: string): { text: string; path: string } {
  if (typeof file !== 'string') throw new NfemuError('PARSE', `case: ${what} must be a path`);
  const path = resolve(baseDir, file);
  try {
    return { text: readFileSync(path, 'utf8'), path };
  } catch (e) {
    throw new NfemuError('IO', `cannot read ${what} ${path}: ${(e as Error).message}`, { file: path });
  }
}

function parseCase(caseObj: unknown, baseDir: string): CaseInput {
  if (typeof caseObj !== 'object' || caseObj === null || Array.isArray(caseObj)) throw new NfemuError('PARSE', 'case: expected a JSON object');
  const obj = caseObj as Record<string, unknown>;
  let ruleset: string | null = null;
  let rulesetFile: string | null = null;
  if (typeof obj['ruleset'] === 'string') ruleset = obj['ruleset'];
  else if (obj['ruleset_file'] !== undefined) {
    const r = readText(baseDir, obj['ruleset_file'], 'ruleset_file');
    ruleset = r.text;
    rulesetFile = r.path;
  }
  let ipsets: string | null = null;
  if (typeof obj['ipsets'] === 'string') ipsets = obj['ipsets'];
  else if (obj['ipsets_file'] !== undefined) ipsets = readText(baseDir, obj['ipsets_file'], 'ipsets_file').text;
  const list = obj['packets'];
  if (!Array.isArray(list)) throw new NfemuError('PARSE', 'case: "packets" must be a list');
  const packets = list.map((raw, i) => {
    if (typeof raw !== 'object' || raw === null) throw new NfemuError('PARSE', `case: packet ${i + 1} is not an object`);
    const spec = raw as PacketSpec;
    return { raw: raw as Record<string, unknown>, spec, pkt: buildPacket(spec) };
  });
  // The packets' family picks iptables or ip6tables; a case without packets may say `family`.
  const family: 4 | 6 = packets[0]?.pkt.family ?? (obj['family'] === 6 ? 6 : 4);
  for (const p of packets) if (p.pkt.family !== family) throw new NfemuError('PARSE', 'case: all packets must be of one address family');
  packets.forEach((p, i) => {
    if (p.spec.hook !== undefined && p.spec.hook !== 'PREROUTING' && p.spec.hook !== 'OUTPUT') {
      throw new NfemuError('PARSE', `case: packet ${i + 1}: hook must be PREROUTING or OUTPUT, not ${JSON.stringify(p.spec.hook)}`);
    }
  });
  return { obj, ruleset, rulesetFile, ipsets, packets, family };
}

/** Adds the file and the line iptables-nft-restore names to a load error. */
function locateLoadError(e: unknown, file: string | null): unknown {
  if (!(e instanceof NfemuError)) return e;
  const m = /line (\d+) failed/i.exec(e.message) ?? /line (\d+)/i.exec(e.message);
  return e.at({ file: file ?? undefined, line: m ? Number(m[1]) : undefined });
}

/** What one sample of a packet gave. */
interface Sample {
  trace: KernelTraceEntry[];
  final: KernelFinal;
  conntrack: KernelConntrackEntry[];
  egress: KernelWirePacket[];
  emitted: KernelWirePacket[];
  sendError: string | null;
}

class CaseRun {
  private identNext = 0;
  private map: RuleMap;
  private save: string;

  constructor(
    private readonly input: CaseInput,
    private readonly topo: Topology,
    private readonly helper: Helper,
    initial: { map: RuleMap; save: string },
    private readonly opts: Required<Pick<KernelRunOptions, 'timeoutMs'>> & KernelRunOptions,
    private readonly log: (l: string) => void,
  ) {
    this.map = initial.map;
    this.save = initial.save;
  }

  private nextIdent(): number {
    const id = IDENT_FIRST + (this.identNext % IDENT_COUNT);
    this.identNext++;
    return id;
  }

  private async must(argv: string[], what: string, stdin = '', timeoutMs = 30000): Promise<string> {
    const r = await this.helper.run(argv, stdin, timeoutMs);
    if (r.rc !== 0) throw new NfemuError('IO', `${what} failed: ${r.stderr.trim() || `exit ${r.rc}`}`);
    return r.stdout;
  }

  /** Reloads ipsets and ruleset as a fresh host would have them, and re-reads the handles. */
  private async reload(): Promise<void> {
    const fam = this.input.family;
    if (this.input.ipsets !== null) {
      await this.must(['ipset', 'flush'], 'ipset flush');
      await this.must(['ipset', 'restore', '-exist'], 'ipset restore', this.input.ipsets.endsWith('\n') ? this.input.ipsets : this.input.ipsets + '\n');
    }
    if (this.input.ruleset !== null) {
      const text = this.input.ruleset.endsWith('\n') ? this.input.ruleset : this.input.ruleset + '\n';
      // Without --noflush even when the case loads with it: the tables hold exactly this
      // ruleset already, and flushing them first is what reloading onto a fresh host gives.
      await this.must([fam === 4 ? 'iptables-nft-restore' : 'ip6tables-nft-restore'], 'ruleset reload', text, 120000);
    }
    // Rule state that outlives a rule replacement: `-m recent` lists are kept by name while
    // any rule uses them, so a fresh host also means empty lists.
    await this.must(['sh', '-c', 'for f in /proc/net/xt_recent/*; do [ -e "$f" ] && echo / > "$f"; done; true'], 'recent reset');
    const j = await this.must(['nft', '-j', 'list', 'ruleset'], 'nft -j list ruleset', '', 60000);
    this.map = buildRuleMap(j, this.save, fam);
  }

  private ctFamilyArgs(): string[] {
    return this.input.family === 6 ? ['-f', 'ipv6'] : [];
  }

  /** conntrack -D for the packet's original tuple: makes the next sample the first of its connection. */
  private ctDeleteArgs(p: Packet, spec: PacketSpec): string[] {
    const a = ['conntrack', '-D', ...this.ctFamilyArgs(), '-s', spec.src, '-d', spec.dst];
    if (p.proto === IPPROTO_TCP || p.proto === IPPROTO_UDP || p.proto === 132) {
      a.push('-p', protoLabel(p.proto), '--sport', String(p.sport), '--dport', String(p.dport));
    } else if (p.proto === IPPROTO_ICMP || p.proto === IPPROTO_ICMPV6) {
      a.push('-p', p.proto === IPPROTO_ICMP ? 'icmp' : 'icmpv6', '--icmp-type', String(p.icmpType), '--icmp-code', String(p.icmpCode), '--icmp-id', String(p.icmpId));
    } else {
      a.push('-p', String(p.proto));
    }
    return a;
  }

  private link(name: string): Link {
    const l = this.topo.links.find((x) => x.name === name);
    if (!l) throw new NfemuError('PARSE', `packet: in_iface "${name}" is not an interface of the case`);
    return l;
  }

  /** The nft match for an OUTPUT packet sent from an ordinary socket (uid/gid given). */
  private socketMatch(p: Packet, spec: PacketSpec): string {
    const f = this.input.family === 4 ? 'ip' : 'ip6';
    const l4 = p.proto === IPPROTO_TCP ? 'tcp' : 'udp';
    const parts: string[] = [];
    if (spec.uid !== undefined) parts.push(`meta skuid ${p.uid}`);
    if (spec.gid !== undefined) parts.push(`meta skgid ${p.gid}`);
    parts.push(`${f} saddr ${spec.src} ${f} daddr ${spec.dst} meta l4proto ${l4} ${l4} sport ${p.sport} ${l4} dport ${p.dport}`);
    if (spec.mark !== undefined) parts.push(`meta mark set 0x${(p.mark >>> 0).toString(16)}`);
    return parts.join(' ');
  }

  async packet(index: number): Promise<KernelPacketResult> {
    const t0 = monoMs();
    const { raw, spec, pkt } = this.input.packets[index]!;
    const obj = this.input.obj;
    // Without a hook: arriving when it names an input interface, else sent locally (as parsePacketString does).
    const hook: 'PREROUTING' | 'OUTPUT' = spec.hook ?? (spec.in_iface !== undefined ? 'PREROUTING' : 'OUTPUT');
    const inLink = hook === 'PREROUTING' ? this.link(spec.in_iface ?? this.topo.links[0]?.name ?? 'eth0') : null;
    const viaSocket = hook === 'OUTPUT' && (spec.uid !== undefined || spec.gid !== undefined) && (pkt.proto === IPPROTO_TCP || pkt.proto === IPPROTO_UDP);
    const sampleCount = Math.max(1, Math.floor(Number(this.opts.samples ?? raw['samples'] ?? obj['samples'] ?? 1)));
    const fresh = obj['fresh_conntrack'] === true;
    const reloadEach = obj['reload_each_sample'] === true;

    await this.must(
      ['nft', '-f', '-'],
      'trace trigger',
      triggerScript(this.input.family, hook === 'PREROUTING' && spec.mark !== undefined ? pkt.mark : null, viaSocket ? this.socketMatch(pkt, spec) : null),
    );

    const samples: Sample[] = [];
    for (let s = 0; s < sampleCount; s++) {
      if (reloadEach && (index > 0 || s > 0)) await this.reload();
      if (fresh || reloadEach) await this.must(['conntrack', '-F', ...this.ctFamilyArgs()], 'conntrack -F');
      else if (sampleCount > 1) await this.helper.run(this.ctDeleteArgs(pkt, spec));
      samples.push(await this.sample(hook, pkt, spec, inLink, viaSocket));
    }

    const first = samples[0]!;
    const result: KernelPacketResult = {
      packet: raw,
      trace: first.trace,
      final: first.final,
      conntrack: first.conntrack,
      egress: first.egress,
      emitted: first.emitted,
    } as KernelPacketResult;
    if (first.sendError !== null) result.send_error = first.sendError;
    result.samples = sampleCount;
    if (sampleCount > 1) {
      result.outcomes = groupOutcomes(samples, pkt);
      result.deterministic = result.outcomes.length === 1;
      const ports = new Set<number>();
      for (const x of samples) if (x.final.tuple_source === 'capture' && x.final.sport !== undefined && x.final.sport !== pkt.sport) ports.add(x.final.sport);
      if (ports.size > 0) result.sports_seen = [...ports].sort((a, b) => a - b);
    }
    result.elapsed_ms = round1(monoMs() - t0);
    this.log(`packet ${index + 1}: ${summaryLine(first.trace, first.final)}${sampleCount > 1 ? ` (${result.outcomes!.length} outcome(s) in ${sampleCount} samples)` : ''}`);
    return result;
  }

  private async sample(hook: 'PREROUTING' | 'OUTPUT', pkt: Packet, spec: PacketSpec, inLink: Link | null, viaSocket: boolean): Promise<Sample> {
    const fam = this.input.family;
    const ident = viaSocket ? null : this.nextIdent();
    await this.helper.drain();
    let sendError: string | null = null;
    if (inLink) {
      const frame = buildFrame(inLink.mac, inLink.peerMac, fam, buildIpPacket(pkt, ident!));
      sendError = await this.helper.inject(inLink.peer, bytesToHex(frame));
    } else if (viaSocket) {
      sendError = await this.helper.sendSocket({
        family: fam,
        proto: pkt.proto === IPPROTO_TCP ? 'tcp' : 'udp',
        src: spec.src,
        sport: pkt.sport,
        dst: spec.dst,
        dport: pkt.dport,
        uid: spec.uid !== undefined ? pkt.uid : null,
        gid: spec.gid !== undefined ? pkt.gid : null,
        oif: spec.out_iface ?? null,
        hold_ms: 150,
      });
    } else {
      sendError = await this.helper.sendRaw(fam, spec.dst, bytesToHex(buildIpPacket(pkt, ident!)), pkt.mark, spec.out_iface ?? null);
    }

    const events: RawTraceEvent[] = [];
    const frames: FrameIn[] = [];
    const peerToNode = new Map(this.topo.links.map((l) => [l.peer, l.name]));
    const absorb = (c: Collected): void => {
      if (c.overrun) this.log('warning: trace events were lost (netlink buffer overrun)');
      for (const hex of c.events) events.push(...parseTraceDatagram(hexToBytes(hex)));
      for (const f of c.frames) frames.push({ outIface: peerToNode.get(f.iface) ?? f.iface, pkttype: f.pkttype, bytes: hexToBytes(f.hex) });
    };
    absorb(await this.helper.collect(QUIET_MS, 0, this.opts.timeoutMs));
    let view = this.interpret(hook, pkt, spec, ident, events, frames);
    if (!view.complete) {
      absorb(await this.helper.collect(QUIET_RETRY_MS, 0, this.opts.timeoutMs));
      view = this.interpret(hook, pkt, spec, ident, events, frames);
    }
    const ct = await this.helper.run(['conntrack', '-L', ...this.ctFamilyArgs()]);
    return { trace: view.trace, final: view.final, conntrack: parseConntrackList(ct.stdout), egress: view.egress, emitted: view.emitted, sendError };
  }

  private interpret(hook: 'PREROUTING' | 'OUTPUT', pkt: Packet, spec: PacketSpec, ident: number | null, events: RawTraceEvent[], frames: FrameIn[]) {
    const { placed, ident: seen } = placeEvents(events, this.map, ident);
    const trace = traceEntries(placed, this.map, this.topo.ifnames);
    let post: IpView | null = null;
    for (const p of placed) if (p.own && p.hook === 'POSTROUTING' && p.ip) post = p.ip;
    const isOwn = (ip: IpView): boolean =>
      seen !== null && ip.ident === seen && (post === null || (ip.src === post.src && ip.dst === post.dst && ip.proto === post.proto && ip.sport === post.sport && ip.dport === post.dport));
    const { egress, emitted } = classifyFrames(frames, this.input.family, isOwn);
    const sent: Parameters<typeof finalOf>[0]['sent'] = { proto: protoLabel(pkt.proto), src: spec.src, dst: spec.dst };
    if (spec.sport !== undefined) sent.sport = pkt.sport;
    if (spec.dport !== undefined) sent.dport = pkt.dport;
    if (pkt.proto === IPPROTO_ICMP || pkt.proto === IPPROTO_ICMPV6) {
      sent.icmp_type = pkt.icmpType;
      sent.icmp_code = pkt.icmpCode;
      sent.icmp_id = pkt.icmpId;
    }
    if (hook === 'PREROUTING') sent.in_iface = spec.in_iface ?? this.topo.links[0]?.name;
    const final = finalOf({ hook, placed, trace, egress, ifnames: this.topo.ifnames, sent });
    const sawInput = placed.some((p) => p.own && p.hook === 'INPUT');
    const complete = final.verdict === 'DROP' || sawInput || egress.length > 0;
    return { trace, final, egress: egress.map((e) => e.w), emitted, complete };
  }
}

/** Groups samples into outcomes; a source port NAT picked differently is not a different outcome. */
function groupOutcomes(samples: readonly Sample[], pkt: Packet): KernelOutcome[] {
  const groups = new Map<string, KernelOutcome>();
  for (const s of samples) {
    const k = JSON.stringify({
      t: s.trace.map((e) => [e.hook, e.table, e.chain, e.rule_index, e.verdict, e.mark]),
      f: { ...s.final, sport: s.final.sport === pkt.sport ? s.final.sport : '*' },
    });
    const g = groups.get(k);
    if (g) g.count++;
    else groups.set(k, { count: 1, trace: s.trace, final: s.final, conntrack: s.conntrack, summary: summaryLine(s.trace, s.final) });
  }
  // Most frequent first; ties keep the order they were first seen in (sort is stable).
  return [...groups.values()].sort((a, b) => b.count - a.count);
}

/** See index.ts. */
export async function runCase(caseObj: unknown, opts: KernelRunOptions = {}): Promise<KernelCaseResult> {
  const log = opts.log ?? (() => undefined);
  const tStart = monoMs();
  const input = parseCase(caseObj, opts.baseDir ?? process.cwd());
  const timeoutMs = opts.timeoutMs ?? 2000;
  let scratch: Scratch | null = null;
  let helper: Helper | null = null;
  const timings = { netns_create_ms: 0, topology_ms: 0, ruleset_load_ms: 0, case_total_ms: 0, run_total_ms: 0 };
  const results: KernelPacketResult[] = [];
  try {
    let t = monoMs();
    scratch = await createScratch();
    log(`namespaces ${scratch.node} ${scratch.peer}`);
    timings.netns_create_ms = round1(monoMs() - t);
    t = monoMs();
    const topo = await buildTopology(scratch, input.obj, log);
    timings.topology_ms = round1(monoMs() - t);
    t = monoMs();
    await nftScript(scratch.node, traceTableScript(input.family));
    try {
      if (input.ipsets !== null) await loadIpsets(scratch.node, input.ipsets);
      if (input.ruleset !== null) await loadRuleset(scratch.node, input.family, input.ruleset, input.obj['noflush'] === true);
    } catch (e) {
      throw locateLoadError(e, input.rulesetFile);
    }
    const initial = await readRuleMap(scratch.node, input.family);
    timings.ruleset_load_ms = round1(monoMs() - t);
    log(`loaded ${initial.map.byHandle.size} rules (${nftFamily(input.family)})`);
    helper = await Helper.start(scratch.node, scratch.peer, topo.links.map((l) => l.peer));
    const runner = new CaseRun(input, topo, helper, initial, { ...opts, timeoutMs }, log);
    for (let i = 0; i < input.packets.length; i++) results.push(await runner.packet(i));
    timings.case_total_ms = round1(monoMs() - tStart);
  } finally {
    helper?.close();
    if (scratch) await destroyScratch(scratch);
  }
  timings.run_total_ms = round1(monoMs() - tStart);
  return { results, timings };
}

