/**
 * Cluster DNS: the zone CoreDNS's kubernetes plugin serves (Services and pods under the
 * cluster domain), a DNS server process that answers UDP queries from it, and the stub
 * resolver side: the order in which glibc tries names from a pod's resolv.conf search list
 * (resolv/res_query.c __res_context_search), walked query by query through the cluster.
 */
import { NfemuError } from '../core/index.ts';
import { dnsQuery, dnsResponse, parseDns, type DnsRcode } from './payload.ts';
import type { ServiceRegistry } from './services.ts';
import type { ResolvConf } from './topology.ts';
import type { Answer, Delivery, Process, ProcessContext } from './types.ts';

/** What a zone answers for one name. */
export interface DnsAnswer {
  readonly rcode: DnsRcode;
  /** A records; empty with NOERROR means NODATA. */
  readonly answers: readonly string[];
}

export interface DnsZone {
  lookup(name: string): DnsAnswer;
}

/**
 * The kubernetes plugin's records: `<svc>.<ns>.svc.<domain>` → ClusterIP (a headless
 * Service: its pods' addresses), `a-b-c-d.<ns>.pod.<domain>` → a.b.c.d, NODATA for the
 * empty non-terminals (`<ns>.svc.<domain>`, `svc.<domain>`, `<domain>`), NXDOMAIN for other
 * names under the domain. Names outside it come from `extra` (standing for the upstream
 * resolvers CoreDNS forwards to), else NXDOMAIN.
 */
export class KubeDnsZone implements DnsZone {
  constructor(
    private readonly registry: ServiceRegistry,
    private readonly domain: string,
    private readonly extra: ReadonlyMap<string, readonly string[]> = new Map(),
  ) {}

  lookup(rawName: string): DnsAnswer {
    const name = rawName.toLowerCase().replace(/\.$/, '');
    const ext = this.extra.get(name);
    if (ext) return { rcode: 'NOERROR', answers: ext };
    const d = this.domain;
    if (name === d || name === `svc.${d}` || name === `pod.${d}`) return { rcode: 'NOERROR', answers: [] };
    if (!name.endsWith(`.${d}`)) return { rcode: 'NXDOMAIN', answers: [] };
    const labels = name.slice(0, -(d.length + 1)).split('.');
    if (labels.length === 2 && labels[1] === 'svc') {
      return this.registry.hasNamespace(labels[0]!) ? { rcode: 'NOERROR', answers: [] } : { rcode: 'NXDOMAIN', answers: [] };
    }
    if (labels.length === 3 && labels[2] === 'svc') {
      const s = this.registry.get(labels[1]!, labels[0]!);
      if (!s || s.type === 'ExternalName') return { rcode: 'NXDOMAIN', answers: [] };
      if (s.clusterIP === 'None') {
        const ips = [...new Set(s.ports.flatMap((p) => p.endpoints.filter((e) => e.ready).map((e) => e.ip)))];
        return { rcode: 'NOERROR', answers: ips };
      }
      return s.clusterIP ? { rcode: 'NOERROR', answers: [s.clusterIP] } : { rcode: 'NXDOMAIN', answers: [] };
    }
    if (labels.length === 3 && labels[2] === 'pod') {
      const m = /^(\d{1,3})-(\d{1,3})-(\d{1,3})-(\d{1,3})$/.exec(labels[0]!);
      if (m && m.slice(1).every((x) => Number(x) <= 255)) return { rcode: 'NOERROR', answers: [m.slice(1).join('.')] };
    }
    return { rcode: 'NXDOMAIN', answers: [] };
  }
}

/** A static zone (a public DNS server in a scenario). */
export class StaticDnsZone implements DnsZone {
  private readonly records: Map<string, readonly string[]>;
  constructor(records: Readonly<Record<string, readonly string[]>>) {
    this.records = new Map(Object.entries(records).map(([k, v]) => [k.toLowerCase().replace(/\.$/, ''), v]));
  }
  lookup(name: string): DnsAnswer {
    const a = this.records.get(name.toLowerCase().replace(/\.$/, ''));
    return a ? { rcode: 'NOERROR', answers: a } : { rcode: 'NXDOMAIN', answers: [] };
  }
}

/** A DNS server (CoreDNS) answering A queries over UDP from a zone. */
export class DnsServer implements Process {
  readonly name: string;
  readonly uid = 0;
  readonly gid = 0;
  constructor(private readonly zone: () => DnsZone, name = 'coredns') {
    this.name = name;
  }
  handle(d: Delivery, ctx: ProcessContext): Answer {
    const q = parseDns(d.payload);
    if (!q || q.response) {
      ctx.note(`${this.name} on ${ctx.host}: not a DNS query, ignored`);
      return { reply: null };
    }
    const a = this.zone().lookup(q.name);
    ctx.note(`${this.name} on ${ctx.host}: ${q.name} → ${a.rcode === 'NOERROR' ? (a.answers.length ? a.answers.join(', ') : 'NODATA') : a.rcode}`);
    return { reply: dnsResponse(q.id, q.name, a.rcode, a.answers) };
  }
}

/** What one query came back with (or what happened instead). */
export type DnsOutcome = DnsRcode | 'NODATA' | 'timeout' | 'refused';

/** One query of a resolution. */
export interface DnsTry {
  readonly name: string;
  readonly outcome: DnsOutcome;
  readonly answers: readonly string[];
}

export interface Resolution {
  readonly name: string;
  /** The first address found, or null. */
  readonly address: string | null;
  readonly addresses: readonly string[];
  readonly tries: readonly DnsTry[];
}

/**
 * Resolves `name` the way glibc's res_search walks resolv.conf (resolv/res_query.c
 * __res_context_search): with at least `ndots` dots, or a trailing dot, the name as given
 * first (and only that, for a trailing dot); then the name with each search domain
 * appended; then the name as given if it was not tried yet. NXDOMAIN, NODATA and SERVFAIL
 * move on to the next candidate; a timeout or a REFUSED answer ends the search-list loop
 * (the name as given is still tried); connection refused (ICMP port unreachable) ends it
 * all. `ask` sends one query (the cluster walks it as a UDP exchange). A user-level
 * HOSTALIASES file is not modelled, and only A is asked (getaddrinfo also asks AAAA).
 */
export function resolveWith(name: string, conf: Pick<ResolvConf, 'search' | 'ndots'>, ask: (qname: string) => { outcome: DnsOutcome; answers: readonly string[] }): Resolution {
  if (name === '') throw new NfemuError('USAGE', 'cannot resolve an empty name');
  const tries: DnsTry[] = [];
  const q = (qname: string): DnsTry => {
    const a = ask(qname);
    const t = { name: qname, outcome: a.outcome, answers: a.answers };
    tries.push(t);
    return t;
  };
  const found = (t: DnsTry): Resolution => ({ name, address: t.answers[0]!, addresses: t.answers, tries });
  const none = (): Resolution => ({ name, address: null, addresses: [], tries });
  let dots = 0;
  for (const c of name) if (c === '.') dots++;
  const trailing = name.endsWith('.');
  const bare = trailing ? name.slice(0, -1) : name;
  let triedAsIs = false;
  if (dots >= conf.ndots || trailing) {
    const t = q(bare);
    if (t.answers.length > 0) return found(t);
    if (trailing) return none();
    triedAsIs = true;
  }
  let rootOnList = false;
  if (conf.search.length > 0) {
    for (const raw of conf.search) {
      const dom = raw.startsWith('.') ? raw.slice(1) : raw;
      if (dom === '') rootOnList = true;
      const t = q(dom === '' ? bare : `${bare}.${dom.replace(/\.$/, '')}`);
      if (t.answers.length > 0) return found(t);
      if (t.outcome === 'refused') return none();
      if (t.outcome === 'timeout' || t.outcome === 'REFUSED') break;
    }
  }
  if (!triedAsIs && !rootOnList) {
    const t = q(bare);
    if (t.answers.length > 0) return found(t);
  }
  return none();
}

/** The names glibc asks for, in order, when every query fails with NXDOMAIN. */
export function searchOrder(name: string, conf: Pick<ResolvConf, 'search' | 'ndots'>): string[] {
  return resolveWith(name, conf, () => ({ outcome: 'NXDOMAIN', answers: [] })).tries.map((t) => t.name);
}

/** Builds the query payload for `resolveWith`'s callback. */
export function dnsQueryPayload(id: number, name: string): string {
  return dnsQuery(id, name);
}

/** The resolv.conf the kubelet writes for a ClusterFirst pod in `namespace`. */
export function kubeletResolvConf(namespace: string, dnsIP: string, domain: string, hostSearch: readonly string[] = []): ResolvConf {
  return { nameservers: [dnsIP], search: [`${namespace}.svc.${domain}`, `svc.${domain}`, domain, ...hostSearch], ndots: 5 };
}
