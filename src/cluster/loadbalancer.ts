/**
 * A cloud L4 load balancer as a host with netfilter rules: each frontend (VIP, port,
 * protocol) is DNATed to one of its backends, chosen per new connection with the same
 * statistic cascade kube-proxy uses (equal shares), and conntrack maps the replies back.
 * It works on addresses and ports only: nothing in it reads a payload. The client's
 * address is kept (like a pass-through network load balancer) unless `snat` is set.
 */
import { probability } from '../kube/index.ts';

export interface LbBackend {
  readonly ip: string;
  readonly port: number;
}

export interface LbFrontend {
  readonly vip: string;
  readonly port: number;
  readonly protocol: 'TCP' | 'UDP';
  readonly backends: readonly LbBackend[];
}

export interface LbRulesOptions {
  /** Masquerade connections leaving through this interface (a proxying LB); default: keep the client address. */
  readonly snatIface?: string;
}

/**
 * The LB's ruleset as iptables-restore input: nat PREROUTING DNATs each frontend
 * (probability 1/n, 1/(n-1), …, then the last backend unconditionally); a frontend without
 * backends (every health check failing) drops new connections in filter INPUT.
 */
export function loadBalancerRestore(frontends: readonly LbFrontend[], opts: LbRulesOptions = {}): string {
  const nat: string[] = [];
  const filter: string[] = [];
  for (const f of frontends) {
    const p = f.protocol.toLowerCase();
    const head = `-d ${f.vip}/32 -p ${p} -m ${p} --dport ${f.port}`;
    const n = f.backends.length;
    if (n === 0) {
      filter.push(`-A INPUT ${head} -m comment --comment "lb ${f.vip}:${f.port}: no healthy backend" -j DROP`);
      continue;
    }
    f.backends.forEach((b, i) => {
      const stat = i < n - 1 ? ` -m statistic --mode random --probability ${probability(n - i)}` : '';
      nat.push(`-A PREROUTING ${head} -m comment --comment "lb ${f.vip}:${f.port} -> ${b.ip}:${b.port}"${stat} -j DNAT --to-destination ${b.ip}:${b.port}`);
    });
  }
  if (opts.snatIface) nat.push(`-A POSTROUTING -o ${opts.snatIface} -m conntrack --ctstate DNAT -j MASQUERADE`);
  let out = '*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n';
  out += nat.map((l) => l + '\n').join('') + 'COMMIT\n';
  out += '*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n';
  out += filter.map((l) => l + '\n').join('') + 'COMMIT\n';
  return out;
}
