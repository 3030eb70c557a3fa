/**
 * `nfemu bench`: runs the scaling harness (bench/scaling: iptables vs IPVS as the cluster
 * grows) of a checkout. The harness is a development tool — it lives outside src/ and uses
 * dev dependencies (benchmark.js, Vega-Lite, cli-progress) — so it runs in a child Node
 * process with the same TypeScript loader, rather than being imported: the CLI's module
 * graph stays free of them, and nothing in src/ imports from outside src/ (DESIGN.md §2).
 * The child forks one worker per measurement (fresh heap, --expose-gc).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { constants } from 'node:os';
import { fileURLToPath } from 'node:url';
import { NfemuError } from '../core/index.ts';

export const BENCH_HELP = `usage: nfemu bench [--quick] [--out DIR] [--sizes N,N,…] [--endpoints E] [--modes iptables,ipvs]
                   [--no-kernel] [--no-speed] [--no-readme]

The scaling harness (the same as 'npm run bench'): 100 to 50,000 ClusterIP services × 4
endpoints in kube-proxy's iptables and IPVS modes. Measures rules evaluated and hash lookups
per packet (cost model), nfemu's packets/s (benchmark.js), full-sync and one-endpoint-change
times with the bytes sent to iptables-restore or the IPVS operations made, and memory; with
root and ip netns also the kernel twins (iptables-nft and iptables-legacy restore times and
per-packet cost, in scratch namespaces). Prints a table and writes results.json, results.csv
and SVG charts to DIR (default bench/results); a full run into the default directory also
rewrites README.md's "## Results". --quick finishes in under two minutes. Needs a checkout
with its dev dependencies installed (npm ci).`;

/** Where the harness's entry is, relative to this file (src/cli → bench/run.ts). */
const ENTRY = fileURLToPath(new URL('../../bench/run.ts', import.meta.url));

/** Runs the harness with `argv`; resolves with its exit status. */
export function benchCommand(argv: readonly string[]): Promise<number> {
  if (!existsSync(ENTRY)) throw new NfemuError('USAGE', 'nfemu bench needs a checkout of nfemu: bench/run.ts is not there');
  let loader: string;
  try {
    loader = import.meta.resolve('tsx');
  } catch {
    throw new NfemuError('USAGE', 'nfemu bench needs the tsx loader (run npm ci)');
  }
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', loader, ENTRY, ...argv], { stdio: 'inherit' });
    child.on('error', (e) => reject(new NfemuError('IO', `cannot start the scaling harness: ${e.message}`)));
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 + (constants.signals[signal] ?? 0) : 1)));
  });
}
