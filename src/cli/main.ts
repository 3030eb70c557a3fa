/**
 * The `nfemu` command (DESIGN.md §4). Every command has --help, exits non-zero on error and
 * prints errors as `nfemu: FILE:LINE: message`.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { NfemuError, isNfemuError, parseIp, type Family } from '../core/index.ts';
import { parsePacketString } from '../packet/index.ts';
import { printSave, restore } from '../xtables/index.ts';
import { IpsetRegistry } from '../ipset/index.ts';
import { SimulatedClock } from '../core/index.ts';
import { readCaseFile, runCase, type CaseFile, type CaseResultJson } from '../host/index.ts';
import { formatCaseResult } from './format.ts';
import { runScenarios } from './scenario.ts';
import { verifyCommand } from './verify.ts';
import { KUBE_PROXY_HELP, kubeProxyCommand } from './kube-proxy.ts';
import { BENCH_HELP, benchCommand } from './bench.ts';

const HELP: Record<string, string> = {
  main: `nfemu — a packet-level netfilter emulator: where does this packet go, and why?

usage:
  nfemu save     RULESET [--ipsets FILE] [-6] [--noflush] [--counters]
  nfemu trace    --ruleset FILE [--ipsets FILE] [--local ADDR]… [--why] [--json] 'tcp 192.168.1.50:40000 -> 10.96.0.100:80 in eth0'
  nfemu trace    CASE.json [--json] [--seed N] [--why]
  nfemu trace    --manifests FILE… [--node NAME] [--cluster-cidr CIDR] 'PACKET'
  nfemu verify   --kernel CASE.json
  nfemu kube-proxy --mode iptables [--node NAME] MANIFEST…
  nfemu scenario [NAME…]
  nfemu bench    [--quick] [--out DIR]

Run 'nfemu COMMAND --help' for a command's options.`,
  save: `usage: nfemu save RULESET [--ipsets FILE] [-6|--ipv6] [--noflush] [--counters] [--unknown-matches error|skip]

Parses RULESET like iptables-restore (iptables-nft, 1.8.9), validates it with the kernel's
rules, and prints what iptables-nft-save would print back. Errors: nfemu: FILE:LINE: message.`,
  trace: `usage: nfemu trace --ruleset FILE [--ipsets FILE] [--local ADDR]… [--iface NAME=ADDR/LEN]… [--route 'ROUTE']… [--why] [--json] [--seed N] 'PACKET'
       nfemu trace --manifests FILE… [--node NAME] [--cluster-cidr CIDR] [--iface …] [--route …] [--json] 'PACKET'
       nfemu trace CASE.json [--json] [--seed N] [--why]

--manifests: Kubernetes YAML instead of a ruleset; the host is node NAME with what kube-proxy
        (iptables mode) would program there, and the node's addresses unless --iface/--local
        give others. More manifest files may follow before the packet string.
PACKET: 'PROTO SRC[:PORT] -> DST[:PORT] [FLAGS] [in IFACE] [out IFACE] [uid N] [mark 0xN]'
        (with 'in IFACE' it arrives at PREROUTING, otherwise a local process sends it).
Random rules: every branch is listed with its exact probability; --seed N samples one.`,
  verify: `usage: nfemu verify --kernel CASE.json

Runs the case in the real kernel (root, ip netns, iptables-nft, conntrack) in scratch
namespaces and in nfemu, and prints agreement per packet; exit 1 on any divergence.`,
  'kube-proxy': KUBE_PROXY_HELP,
  bench: BENCH_HELP,
  scenario: `usage: nfemu scenario [NAME…] [--json DIR] [--mermaid DIR]

Runs the scenarios in scenarios/ (all of them without a NAME) and prints what each shows.
--json DIR / --mermaid DIR also write every walk a scenario makes, as JSON and as a
Mermaid sequence diagram.`,
};

function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    throw new NfemuError('IO', `cannot read file`, { file: path });
  }
}

function familyFromText(text: string): Family {
  return /^\s*-A\s.*\s-[sd]\s+[0-9a-fA-F:]*:[0-9a-fA-F:]/m.test(text) ? 6 : 4;
}

function cmdSave(argv: string[]): number {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      ipsets: { type: 'string' }, '6': { type: 'boolean' }, ipv6: { type: 'boolean' }, '4': { type: 'boolean' },
      noflush: { type: 'boolean' }, counters: { type: 'boolean' }, 'unknown-matches': { type: 'string' }, help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return help('save');
  if (positionals.length !== 1) throw new NfemuError('USAGE', 'save takes one RULESET file (see nfemu save --help)');
  const file = positionals[0]!;
  const text = readText(file);
  const family: Family = values['6'] || values.ipv6 ? 6 : values['4'] ? 4 : familyFromText(text);
  let sets: IpsetRegistry | null = null;
  if (values.ipsets) {
    sets = new IpsetRegistry(new SimulatedClock());
    sets.restore(readText(values.ipsets), values.ipsets);
  }
  const um = values['unknown-matches'];
  if (um !== undefined && um !== 'error' && um !== 'skip') throw new NfemuError('USAGE', `--unknown-matches takes error or skip, not ${um}`);
  const rs = restore(text, {
    family, file, noflush: values.noflush, counters: values.counters,
    unknownMatches: um as 'error' | 'skip' | undefined,
    warn: (m) => process.stderr.write(`nfemu: warning: ${m}\n`),
    sets: sets ? { get: (n) => sets!.get(n) } : null,
  });
  process.stdout.write(printSave(rs, { counters: values.counters }));
  return 0;
}

function cmdTrace(argv: string[]): number {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      ruleset: { type: 'string' }, ipsets: { type: 'string' }, local: { type: 'string', multiple: true },
      manifests: { type: 'string', multiple: true }, node: { type: 'string' }, 'cluster-cidr': { type: 'string' },
      iface: { type: 'string', multiple: true }, route: { type: 'string', multiple: true },
      json: { type: 'boolean' }, seed: { type: 'string' }, why: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return help('trace');
  const seed = values.seed !== undefined ? Number(values.seed) : undefined;
  if (seed !== undefined && !Number.isInteger(seed)) throw new NfemuError('USAGE', `--seed takes an integer, not ${values.seed}`);
  const opts = { seed, why: values.why };
  let results: { file: string; result: CaseResultJson | { error: string } }[] = [];
  let failed = false;
  if (values.ruleset !== undefined && values.manifests !== undefined) throw new NfemuError('USAGE', 'trace takes --ruleset or --manifests, not both');
  if (values.ruleset !== undefined || values.manifests !== undefined) {
    const manifests = values.manifests ? [...values.manifests, ...positionals.slice(0, -1)] : null;
    if (manifests ? positionals.length < 1 : positionals.length !== 1) {
      throw new NfemuError('USAGE', `trace ${manifests ? '--manifests FILE…' : '--ruleset FILE'} takes one packet string, e.g. 'tcp 10.0.0.1:1234 -> 10.96.0.1:80 in eth0'`);
    }
    const spec = parsePacketString(positionals[positionals.length - 1]!);
    const interfaces: { name: string; addrs: string[] }[] = [];
    for (const i of values.iface ?? []) {
      const [name, addr] = i.split('=');
      let it = interfaces.find((x) => x.name === name);
      if (!it) interfaces.push((it = { name: name!, addrs: [] }));
      if (addr) it.addrs.push(addr);
    }
    if (spec.in_iface && !interfaces.some((i) => i.name === spec.in_iface)) interfaces.push({ name: spec.in_iface, addrs: [] });
    if (interfaces.length === 0) interfaces.push({ name: 'eth0', addrs: [] });
    const local = (values.local ?? []).map((a) => (a.includes('/') ? a : `${a}/${parseIp(a)?.family === 6 ? 128 : 32}`));
    const c: CaseFile = {
      ...(manifests
        ? { manifests_files: manifests, node: values.node, kube_proxy: values['cluster-cidr'] ? { clusterCIDR: values['cluster-cidr'] } : {} }
        : { ruleset: readText(values.ruleset!) }),
      ...(values.ipsets ? { ipsets: readText(values.ipsets) } : {}),
      interfaces,
      local_addrs: local,
      routes: values.route ?? [`default dev ${interfaces[0]!.name}`],
      packets: [spec],
    };
    const file = values.ruleset ?? manifests!.join(' ');
    results.push({ file, result: runCase(c, { ...opts, file: values.ruleset, baseDir: '.' }) });
  } else {
    if (positionals.length !== 1) throw new NfemuError('USAGE', 'trace takes a CASE.json file, or --ruleset FILE and a packet string (see nfemu trace --help)');
    const file = positionals[0]!;
    const { cases, multi, baseDir } = readCaseFile(file);
    for (const c of cases) {
      try {
        results.push({ file, result: runCase(c, { ...opts, baseDir, file }) });
      } catch (e) {
        if (!multi || !isNfemuError(e)) throw e;
        failed = true;
        results.push({ file, result: { error: e.at({ file }).located() } });
      }
    }
    if (values.json) {
      const body = multi ? { cases: results.map((r) => r.result) } : results[0]!.result;
      process.stdout.write(JSON.stringify(body, null, 2) + '\n');
      return failed ? 1 : 0;
    }
  }
  if (values.json) {
    process.stdout.write(JSON.stringify(results[0]!.result, null, 2) + '\n');
    return 0;
  }
  results.forEach((r, i) => {
    if (results.length > 1) process.stdout.write(`case ${i + 1}:\n`);
    if ('error' in r.result) process.stdout.write(`  error: ${r.result.error}\n`);
    else process.stdout.write(formatCaseResult(r.result) + '\n');
  });
  return failed ? 1 : 0;
}

function help(cmd: string): number {
  process.stdout.write(HELP[cmd]! + '\n');
  return 0;
}

/** Runs the CLI; returns the exit status. */
export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    switch (cmd) {
      case undefined: case '-h': case '--help': case 'help':
        return help('main');
      case 'save': return cmdSave(rest);
      case 'trace': return cmdTrace(rest);
      case 'verify':
        if (rest.includes('--help') || rest.includes('-h')) return help('verify');
        return await verifyCommand(rest);
      case 'bench': return rest.includes('--help') || rest.includes('-h') ? help('bench') : await benchCommand(rest);
      case 'kube-proxy': return kubeProxyCommand(rest, (t) => process.stdout.write(t), (t) => process.stderr.write(t));
      case 'scenario':
        if (rest.includes('--help') || rest.includes('-h')) return help('scenario');
        return await runScenarios(rest);
      default:
        throw new NfemuError('USAGE', `unknown command "${cmd}" (see nfemu --help)`);
    }
  } catch (e) {
    if (isNfemuError(e)) {
      process.stderr.write(`nfemu: ${e.located()}\n`);
      return e.code === 'USAGE' ? 2 : 1;
    }
    if (e instanceof TypeError && /parseArgs|Unknown option|ERR_PARSE_ARGS/.test(String((e as { code?: string }).code ?? e.message))) {
      process.stderr.write(`nfemu: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
}
