/**
 * nfemu verify/kernel: runs a case file (DESIGN.md §4) in the real Linux kernel, in scratch
 * network namespaces, and returns the kernel's answer in the shape of
 * shared/conformance/kernel-answers/*.kernel.json, so it can be diffed with nfemu's.
 *
 * Where it sits: outside the packet path. It is the oracle the emulator is checked against;
 * it imports only core (addresses, errors) and packet (case packets → headers).
 *
 * How: a node namespace gets the case's interfaces (veth pairs whose other ends sit in a peer
 * namespace), addresses, routes and sysctls; ipsets and the ruleset are loaded with
 * `ipset restore` and `iptables-nft-restore`. A table of the runner's own marks its packet
 * for nf_tables tracing before raw (priority -350) and observes it after the last table at
 * INPUT and POSTROUTING. The trace events are read from netlink directly (see README.md for
 * why not xtables-monitor) and mapped back to iptables rule positions through
 * `nft -j list ruleset` and `iptables-nft-save`. Packets are injected from the peer side as
 * Ethernet frames, or sent from raw (or, with uid/gid, ordinary) sockets inside the node;
 * what leaves the node is captured on the peer side. Both namespaces are deleted at the end,
 * also on errors.
 */
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { runCase } from './runner.ts';
import type { KernelAvailability, KernelCaseResult, KernelRunOptions } from './types.ts';

export type * from './types.ts';
export { parseConntrackList, parseConntrackLine } from './conntrack.ts';
export { parseTraceDatagram, ctStateName, ctStatusNames, type RawTraceEvent } from './netlink.ts';
export { buildIpPacket, buildFrame, parseIp as parseIpHeader, crc32c, type IpView } from './wire.ts';
export { buildRuleMap, parseSave, type RuleMap, type RuleInfo } from './ruleset.ts';
export { liveNamespaces, scratchPrefix } from './netns.ts';

/** The programs the runner calls. */
export const KERNEL_TOOLS: readonly string[] = [
  'ip',
  'iptables-nft-restore',
  'iptables-nft-save',
  'ip6tables-nft-restore',
  'ip6tables-nft-save',
  'nft',
  'conntrack',
  'ipset',
  'sysctl',
  'python3',
];

function onPath(tool: string): boolean {
  const dirs = (process.env['PATH'] ?? '').split(delimiter).concat(['/usr/sbin', '/sbin', '/usr/bin', '/bin']);
  for (const d of dirs) {
    if (!d) continue;
    try {
      accessSync(join(d, tool), constants.X_OK);
      return true;
    } catch {
      // not here
    }
  }
  return false;
}

/**
 * Whether this process can run cases in the kernel: root, and every tool of KERNEL_TOOLS on
 * the PATH. `reason` says exactly what is missing (`not root`, `missing: ipset, nft`).
 */
export function kernelAvailable(): KernelAvailability {
  const problems: string[] = [];
  if (process.platform !== 'linux') problems.push(`not Linux (${process.platform})`);
  else if (typeof process.getuid !== 'function' || process.getuid() !== 0) problems.push('not root');
  const missing = KERNEL_TOOLS.filter((t) => !onPath(t));
  if (missing.length > 0) problems.push(`missing: ${missing.join(', ')}`);
  return problems.length === 0 ? { ok: true, reason: 'ok' } : { ok: false, reason: problems.join('; ') };
}

/**
 * Runs one case (the parsed JSON object of a case file; `ruleset_file` paths relative to
 * `baseDir`) in scratch namespaces and returns the kernel's answer in the shape of
 * kernel-answers/*.kernel.json (`{ results: [...] }`, plus `timings`). Options: `samples`
 * overrides the case's sample count, `timeoutMs` bounds each sample's wait for trace events
 * and frames, `log` receives progress lines. Throws NfemuError('IO', …) with the tool's
 * stderr if a ruleset or ipset does not load, NfemuError('PARSE', …) on a malformed case.
 * Requires kernelAvailable().ok.
 */
export async function runCaseInKernel(caseObj: unknown, opts: KernelRunOptions = {}): Promise<KernelCaseResult> {
  return runCase(caseObj, opts);
}
