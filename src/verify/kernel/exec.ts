/**
 * Running the kernel's tools (ip, nft, iptables-nft-restore, conntrack, ipset) with a time
 * limit. Every child is killed by its own pid when its limit passes.
 */
import { spawn, spawnSync } from 'node:child_process';

export interface ExecResult {
  /** Exit status; -1 when the process could not start or was killed on timeout. */
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs argv[0] with the rest as arguments; never throws. */
export function run(argv: readonly string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<ExecResult> {
  const timeoutMs = opts.timeoutMs ?? 15000;
  return new Promise((resolve) => {
    let out = '';
    let err = '';
    let done = false;
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
    const timer = setTimeout(() => {
      if (done) return;
      err += `\ntimed out after ${timeoutMs} ms: ${argv.join(' ')}`;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.on('error', (e) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve({ code: -1, stdout: out, stderr: err + String(e.message) });
    });
    child.on('close', (code) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout: out, stderr: err });
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.input ?? '');
  });
}

/** Synchronous variant for clean-up at process exit. */
export function runSync(argv: readonly string[], timeoutMs = 5000): ExecResult {
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', timeout: timeoutMs, killSignal: 'SIGKILL' });
  return { code: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? String(r.error?.message ?? '') };
}

/** Monotonic milliseconds (process.hrtime), for the timings a kernel run reports. */
export function monoMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

/** Rounds to one decimal, as the recorded answers print timings. */
export function round1(ms: number): number {
  return Math.round(ms * 10) / 10;
}
