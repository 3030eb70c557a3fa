/**
 * A walk over a Cluster that can hold several exchanges, DNS resolutions and single
 * packets: one story, one diagram. The cluster's derived state (kube-proxy rules, load
 * balancer backends, proxy configuration) is brought up to date before each step.
 */
import { NfemuError } from '../core/index.ts';
import { NF_INET_LOCAL_OUT, NF_INET_PRE_ROUTING } from '../netfilter/index.ts';
import { buildPacket, type PacketSpec } from '../packet/index.ts';
import type { Cluster } from './cluster.ts';
import { resolveWith, type DnsOutcome, type Resolution } from './dns.ts';
import { dnsQuery, parseDns } from './payload.ts';
import { Walker } from './walk.ts';
import type { ConnectSpec, ExchangeResult, Leg, Walk, WalkOptions } from './types.ts';

/** Walks exchanges, DNS resolutions and single packets into one Walk. */
export class ClusterWalker {
  private readonly walker: Walker;
  constructor(private readonly cluster: Cluster, opts: WalkOptions) {
    this.walker = new Walker(cluster.topology, opts);
  }

  get walk(): Walk {
    return this.walker.walk;
  }

  /** One connection from a process on `from`, and its reply. The walk's result is the latest exchange. */
  exchange(from: string, spec: ConnectSpec): ExchangeResult {
    this.cluster.sync();
    const r = this.walker.exchange(this.cluster.host(from), spec);
    this.walker.walk.result = r;
    return r;
  }

  /** Resolves `name` from `from` as its libc would, each query a UDP exchange to its nameserver. */
  resolve(from: string, name: string): Resolution {
    this.cluster.sync();
    const conf = this.cluster.resolvConfOf(from);
    if (!conf || conf.nameservers.length === 0) throw new NfemuError('USAGE', `${from} has no nameserver to ask`);
    const ns = conf.nameservers[0]!;
    return resolveWith(name, conf, (qname) => {
      const r = this.walker.exchange(this.cluster.host(from), {
        proto: 'udp', dst: ns, dport: 53, payload: dnsQuery(this.cluster.nextDnsId(), qname), label: `${from} asks ${ns}: A ${qname}?`,
      });
      return dnsOutcome(r);
    });
  }

  /**
   * One packet, no process answering it: sent by `from` (spec.hook OUTPUT, the default) or
   * arriving on `spec.in_iface` of `from` (PREROUTING).
   */
  packet(from: string, spec: PacketSpec): Leg {
    this.cluster.sync();
    const pkt = buildPacket(spec);
    const hook = spec.hook === 'PREROUTING' || (spec.hook === undefined && spec.in_iface !== undefined) ? NF_INET_PRE_ROUTING : NF_INET_LOCAL_OUT;
    return this.walker.packet(this.cluster.host(from), pkt, hook);
  }
}

function dnsOutcome(r: ExchangeResult): { outcome: DnsOutcome; answers: readonly string[] } {
  if (!r.ok) return { outcome: r.failure !== null && r.failure.startsWith('connection refused') ? 'refused' : 'timeout', answers: [] };
  const m = r.reply !== null ? parseDns(r.reply) : null;
  if (!m || !m.response) return { outcome: 'timeout', answers: [] };
  return { outcome: m.rcode === 'NOERROR' && m.answers.length === 0 ? 'NODATA' : m.rcode, answers: m.answers };
}
