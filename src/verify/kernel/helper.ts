/**
 * The raw I/O helper (helper.py beside this file): one python3 process inside the scratch
 * node namespace that receives trace events, injects frames from the peer namespace, sends
 * from local sockets and captures what leaves the node. Talks one JSON line per command.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { NfemuError } from '../../core/index.ts';

const HELPER_PATH = fileURLToPath(new URL('./helper.py', import.meta.url));

export interface CapturedFrame {
  /** Peer-side interface it was captured on. */
  iface: string;
  /** PACKET_HOST … PACKET_OUTGOING (4) as AF_PACKET reports it. */
  pkttype: number;
  hex: string;
}

export interface Collected {
  /** Netlink datagrams, hex. */
  events: string[];
  frames: CapturedFrame[];
  /** The netlink socket overflowed (events were lost). */
  overrun: boolean;
  waited_ms: number;
}

export interface HelperRun {
  rc: number;
  stdout: string;
  stderr: string;
}

type Reply = Record<string, unknown>;

/** A running helper. Every request has a time limit; `close()` kills the process by pid. */
export class Helper {
  private readonly child: ChildProcessWithoutNullStreams;
  private buf = '';
  private waiting: { resolve: (r: Reply) => void; reject: (e: Error) => void; timer: NodeJS.Timeout } | null = null;
  private exited = false;
  private stderr = '';
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(child: ChildProcessWithoutNullStreams) {
    this.child = child;
    child.stdout.setEncoding('utf8').on('data', (d: string) => this.onData(d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      if (this.stderr.length < 20000) this.stderr += d;
    });
    child.stdin.on('error', () => undefined);
    child.on('exit', () => {
      this.exited = true;
      const w = this.waiting;
      this.waiting = null;
      if (w) {
        clearTimeout(w.timer);
        w.reject(new NfemuError('IO', `kernel helper exited: ${this.stderr.trim() || 'no message'}`));
      }
    });
    child.on('error', () => undefined);
  }

  /** Starts the helper in `nodeNs`, capturing on `peerIfaces` of `peerNs`. */
  static async start(nodeNs: string, peerNs: string, peerIfaces: readonly string[], timeoutMs = 10000): Promise<Helper> {
    const child = spawn('ip', ['netns', 'exec', nodeNs, 'python3', '-u', HELPER_PATH, `/var/run/netns/${peerNs}`, ...peerIfaces], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const h = new Helper(child);
    try {
      const ready = await h.wait(timeoutMs);
      if (ready['ready'] !== true) throw new NfemuError('IO', `kernel helper did not start: ${JSON.stringify(ready)}`);
    } catch (e) {
      h.close();
      throw e;
    }
    return h;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  private onData(d: string): void {
    this.buf += d;
    for (let guard = 0; guard < 10000; guard++) {
      const nl = this.buf.indexOf('\n');
      if (nl < 0) break;
      const line = this.buf.slice(0, nl);
      this.buf = this.buf.slice(nl + 1);
      const w = this.waiting;
      if (!w) continue;
      this.waiting = null;
      clearTimeout(w.timer);
      try {
        w.resolve(JSON.parse(line) as Reply);
      } catch {
        w.reject(new NfemuError('IO', `kernel helper: bad reply ${line.slice(0, 200)}`));
      }
    }
  }

  private wait(timeoutMs: number): Promise<Reply> {
    return new Promise((resolve, reject) => {
      if (this.exited) {
        reject(new NfemuError('IO', `kernel helper exited: ${this.stderr.trim() || 'no message'}`));
        return;
      }
      const timer = setTimeout(() => {
        this.waiting = null;
        reject(new NfemuError('IO', `kernel helper did not answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting = { resolve, reject, timer };
    });
  }

  /** Sends one command and waits (at most `timeoutMs`) for its reply. Requests are serialised. */
  request(cmd: Record<string, unknown>, timeoutMs: number): Promise<Reply> {
    const next = this.queue.then(async () => {
      const p = this.wait(timeoutMs);
      this.child.stdin.write(JSON.stringify(cmd) + '\n');
      return p;
    });
    this.queue = next.catch(() => undefined);
    return next;
  }

  async drain(): Promise<void> {
    await this.request({ op: 'drain' }, 5000);
  }

  /** Sends a frame out of a peer interface (into the node). Returns the error text or null. */
  async inject(peerIface: string, frameHex: string): Promise<string | null> {
    const r = await this.request({ op: 'inject', iface: peerIface, frame: frameHex }, 5000);
    return typeof r['error'] === 'string' ? r['error'] : null;
  }

  /** Sends an IP packet (header included) from a raw socket of the node. Returns the error text or null. */
  async sendRaw(family: 4 | 6, dst: string, packetHex: string, mark: number, oif: string | null): Promise<string | null> {
    const r = await this.request({ op: 'send_raw', family, dst, packet: packetHex, mark, oif }, 5000);
    return typeof r['error'] === 'string' ? r['error'] : null;
  }

  /** Sends from an ordinary socket owned by uid/gid (UDP datagram or TCP SYN). */
  async sendSocket(cmd: {
    family: 4 | 6;
    proto: 'udp' | 'tcp';
    src: string;
    sport: number;
    dst: string;
    dport: number;
    uid: number | null;
    gid: number | null;
    oif: string | null;
    hold_ms: number;
  }): Promise<string | null> {
    const r = await this.request({ op: 'send_socket', ...cmd }, 8000);
    return typeof r['error'] === 'string' ? r['error'] : null;
  }

  /** Collects trace events and frames until `quietMs` of silence (after `minMs`), at most `maxMs`. */
  async collect(quietMs: number, minMs: number, maxMs: number): Promise<Collected> {
    const r = await this.request({ op: 'collect', quiet_ms: quietMs, min_ms: minMs, max_ms: maxMs }, maxMs + 5000);
    if (typeof r['error'] === 'string') throw new NfemuError('IO', `kernel helper: ${r['error']}`);
    return r as unknown as Collected;
  }

  /** Runs a command inside the node namespace (cheaper than `ip netns exec` per call). */
  async run(argv: readonly string[], stdin = '', timeoutMs = 10000): Promise<HelperRun> {
    const r = await this.request({ op: 'run', argv, stdin, timeout_ms: timeoutMs }, timeoutMs + 5000);
    if (typeof r['error'] === 'string') return { rc: -1, stdout: '', stderr: r['error'] };
    return r as unknown as HelperRun;
  }

  /** Stops the helper: asks it to quit, and kills it by pid if it is still there. */
  close(): void {
    if (this.exited) return;
    try {
      this.child.stdin.end(JSON.stringify({ op: 'quit' }) + '\n');
    } catch {
      // already gone
    }
    try {
      this.child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
}
