/**
 * The subset of Istio's traffic configuration (networking.istio.io v1, v1beta1, v1alpha3)
 * the proxy follows. Anything outside it is an error naming the field, so a config never
 * silently means something else here than in Istio.
 *
 * Gateway
 *   metadata.name / namespace; spec.selector (labels of the gateway pods);
 *   spec.servers[]: port.number, port.protocol (HTTP | TLS | TCP; HTTPS only with
 *   tls.mode PASSTHROUGH), port.name, hosts[] (`ns/` prefixes are dropped),
 *   tls.mode (PASSTHROUGH only).
 * VirtualService
 *   spec.hosts[] (FQDN, short Service names resolved in the VirtualService's namespace,
 *   `*.suffix` wildcards, `*`); spec.gateways[] (`name`, `ns/name`, `mesh`; default mesh);
 *   spec.http[]: name, match[] (uri / authority: exact | prefix | regex; headers.NAME:
 *   exact | prefix | regex; port), route[] (destination.host, destination.port.number,
 *   destination.subset, weight);
 *   spec.tls[]: match[] (sniHosts[], port), route[] as above;
 *   spec.tcp[]: match[] (port), route[] as above.
 *   First matching rule wins; a rule without match matches everything; weights are
 *   relative (a single destination gets everything).
 * DestinationRule
 *   spec.host; spec.subsets[]: name, labels.
 * Not modelled: retries, timeouts, fault injection, mirroring, rewrites, redirects,
 * headers manipulation, trafficPolicy, TLS origination/termination, ServiceEntry, Sidecar,
 * exportTo.
 */
import { LineCounter, parseAllDocuments, type Document } from 'yaml';
import { NfemuError } from '../core/index.ts';

export interface StringMatch {
  readonly exact?: string;
  readonly prefix?: string;
  readonly regex?: string;
}

export interface HttpMatch {
  readonly uri: StringMatch | null;
  readonly authority: StringMatch | null;
  readonly headers: Readonly<Record<string, StringMatch>>;
  readonly port: number | null;
}

export interface TlsMatch {
  readonly sniHosts: readonly string[];
  readonly port: number | null;
}

export interface RouteDestination {
  readonly host: string;
  readonly port: number | null;
  readonly subset: string | null;
  readonly weight: number;
}

export interface HttpRoute {
  readonly name: string;
  readonly match: readonly HttpMatch[];
  readonly route: readonly RouteDestination[];
}

export interface TlsRoute {
  readonly match: readonly TlsMatch[];
  readonly route: readonly RouteDestination[];
}

export interface TcpRoute {
  readonly match: readonly { port: number | null }[];
  readonly route: readonly RouteDestination[];
}

export interface Where {
  readonly file: string | undefined;
  readonly line: number | undefined;
}

export interface GatewayServer {
  readonly port: number;
  readonly protocol: 'HTTP' | 'HTTPS' | 'TLS' | 'TCP';
  readonly name: string;
  readonly hosts: readonly string[];
  readonly tlsMode: 'PASSTHROUGH' | null;
}

export interface IstioGateway {
  readonly kind: 'Gateway';
  readonly name: string;
  readonly namespace: string;
  readonly selector: Readonly<Record<string, string>>;
  readonly servers: readonly GatewayServer[];
  readonly where: Where;
}

export interface IstioVirtualService {
  readonly kind: 'VirtualService';
  readonly name: string;
  readonly namespace: string;
  readonly hosts: readonly string[];
  readonly gateways: readonly string[];
  readonly http: readonly HttpRoute[];
  readonly tls: readonly TlsRoute[];
  readonly tcp: readonly TcpRoute[];
  readonly where: Where;
}

export interface IstioDestinationRule {
  readonly kind: 'DestinationRule';
  readonly name: string;
  readonly namespace: string;
  readonly host: string;
  readonly subsets: readonly { name: string; labels: Readonly<Record<string, string>> }[];
  readonly where: Where;
}

export interface IstioConfig {
  readonly gateways: readonly IstioGateway[];
  readonly virtualServices: readonly IstioVirtualService[];
  readonly destinationRules: readonly IstioDestinationRule[];
}

export const EMPTY_ISTIO: IstioConfig = { gateways: [], virtualServices: [], destinationRules: [] };

type Path = readonly (string | number)[];

class Reader {
  constructor(readonly file: string | undefined, readonly doc: Document, readonly lines: LineCounter, readonly label: string) {}
  line(path: Path): number | undefined {
    for (let n = path.length; n >= 0; n--) {
      const node = this.doc.getIn(path.slice(0, n), true) as { range?: [number, number, number] } | undefined;
      if (node && typeof node === 'object' && node.range) return this.lines.linePos(node.range[0]).line;
    }
    return undefined;
  }
  fail(path: Path, msg: string): never {
    let p = '';
    for (const x of path) p += typeof x === 'number' ? `[${x}]` : p === '' ? x : `.${x}`;
    throw new NfemuError('PARSE', `${this.label}: ${p ? `${p}: ` : ''}${msg}`, { file: this.file, line: this.line(path) });
  }
  where(): Where {
    return { file: this.file, line: this.line([]) };
  }
}

const isMap = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

function known(r: Reader, obj: Record<string, unknown>, path: Path, keys: readonly string[]): void {
  for (const k of Object.keys(obj)) if (!keys.includes(k)) r.fail([...path, k], `not supported by nfemu's Istio subset (supported here: ${keys.join(', ')})`);
}

function str(r: Reader, v: unknown, path: Path): string {
  if (typeof v !== 'string' || v === '') r.fail(path, 'expected a non-empty string');
  return v as string;
}

function optStr(r: Reader, v: unknown, path: Path): string | null {
  return v === undefined || v === null ? null : str(r, v, path);
}

function portNum(r: Reader, v: unknown, path: Path): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 65535) r.fail(path, 'expected a port number (1-65535)');
  return v as number;
}

function list(r: Reader, v: unknown, path: Path): unknown[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) r.fail(path, 'expected a list');
  return v as unknown[];
}

function map(r: Reader, v: unknown, path: Path): Record<string, unknown> {
  if (!isMap(v)) r.fail(path, 'expected a mapping');
  return v as Record<string, unknown>;
}

function labels(r: Reader, v: unknown, path: Path): Record<string, string> {
  if (v === undefined || v === null) return {};
  const m = map(r, v, path);
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(m)) out[k] = typeof x === 'string' ? x : typeof x === 'number' || typeof x === 'boolean' ? String(x) : r.fail([...path, k], 'expected a string');
  return out;
}

function stringMatch(r: Reader, v: unknown, path: Path): StringMatch {
  const m = map(r, v, path);
  known(r, m, path, ['exact', 'prefix', 'regex']);
  const keys = Object.keys(m);
  if (keys.length !== 1) r.fail(path, 'expected exactly one of exact, prefix, regex');
  const k = keys[0]!;
  const s = m[k];
  if (typeof s !== 'string') r.fail([...path, k], 'expected a string');
  if (k === 'regex') {
    try {
      new RegExp(`^(?:${s as string})$`);
    } catch {
      r.fail([...path, k], `bad regular expression ${JSON.stringify(s)}`);
    }
  }
  return { [k]: s as string } as StringMatch;
}

function destinations(r: Reader, v: unknown, path: Path): RouteDestination[] {
  const items = list(r, v, path);
  if (items.length === 0) r.fail(path, 'expected at least one route destination');
  const out = items.map((it, i) => {
    const p = [...path, i];
    const m = map(r, it, p);
    known(r, m, p, ['destination', 'weight', 'headers']);
    if (m.headers !== undefined) r.fail([...p, 'headers'], 'header manipulation is not modelled');
    const d = map(r, m.destination, [...p, 'destination']);
    known(r, d, [...p, 'destination'], ['host', 'port', 'subset']);
    let port: number | null = null;
    if (d.port !== undefined) {
      const pm = map(r, d.port, [...p, 'destination', 'port']);
      known(r, pm, [...p, 'destination', 'port'], ['number']);
      port = portNum(r, pm.number, [...p, 'destination', 'port', 'number']);
    }
    let weight: number;
    if (m.weight === undefined) weight = items.length === 1 ? 100 : 0;
    else {
      if (typeof m.weight !== 'number' || !Number.isInteger(m.weight) || m.weight < 0) r.fail([...p, 'weight'], 'expected a non-negative integer');
      weight = m.weight as number;
    }
    return {
      host: str(r, d.host, [...p, 'destination', 'host']), port, subset: optStr(r, d.subset, [...p, 'destination', 'subset']), weight,
    };
  });
  if (out.reduce((s, d) => s + d.weight, 0) === 0) r.fail(path, 'the route weights add up to 0: no destination can be chosen');
  return out;
}

function gateway(r: Reader, meta: { name: string; namespace: string }, spec: Record<string, unknown>): IstioGateway {
  known(r, spec, ['spec'], ['selector', 'servers']);
  const servers = list(r, spec.servers, ['spec', 'servers']).map((it, i): GatewayServer => {
    const p = ['spec', 'servers', i];
    const m = map(r, it, p);
    known(r, m, p, ['port', 'hosts', 'tls', 'name']);
    const pm = map(r, m.port, [...p, 'port']);
    known(r, pm, [...p, 'port'], ['number', 'protocol', 'name', 'targetPort']);
    const protocol = String(pm.protocol ?? '').toUpperCase();
    if (!['HTTP', 'HTTPS', 'TLS', 'TCP'].includes(protocol)) r.fail([...p, 'port', 'protocol'], `protocol ${JSON.stringify(pm.protocol)}: expected HTTP, HTTPS, TLS or TCP`);
    let tlsMode: 'PASSTHROUGH' | null = null;
    if (m.tls !== undefined) {
      const t = map(r, m.tls, [...p, 'tls']);
      known(r, t, [...p, 'tls'], ['mode']);
      if (t.mode !== 'PASSTHROUGH') r.fail([...p, 'tls', 'mode'], 'only PASSTHROUGH is modelled (the gateway never terminates TLS here)');
      tlsMode = 'PASSTHROUGH';
    }
    if ((protocol === 'HTTPS' || protocol === 'TLS') && tlsMode === null) r.fail([...p, 'tls'], `a ${protocol} server needs tls.mode PASSTHROUGH in nfemu's subset`);
    const hosts = list(r, m.hosts, [...p, 'hosts']).map((h, j) => str(r, h, [...p, 'hosts', j]).replace(/^[^/]*\//, ''));
    if (hosts.length === 0) r.fail([...p, 'hosts'], 'a server needs at least one host');
    return { port: portNum(r, pm.number, [...p, 'port', 'number']), protocol: protocol as GatewayServer['protocol'], name: typeof pm.name === 'string' ? pm.name : '', hosts, tlsMode };
  });
  return { kind: 'Gateway', ...meta, selector: labels(r, spec.selector, ['spec', 'selector']), servers, where: r.where() };
}

function portMatch(r: Reader, m: Record<string, unknown>, p: Path): number | null {
  return m.port === undefined ? null : portNum(r, m.port, [...p, 'port']);
}

function virtualService(r: Reader, meta: { name: string; namespace: string }, spec: Record<string, unknown>): IstioVirtualService {
  known(r, spec, ['spec'], ['hosts', 'gateways', 'http', 'tls', 'tcp']);
  const hosts = list(r, spec.hosts, ['spec', 'hosts']).map((h, i) => str(r, h, ['spec', 'hosts', i]).toLowerCase());
  if (hosts.length === 0) r.fail(['spec', 'hosts'], 'a VirtualService needs at least one host');
  const gws = list(r, spec.gateways, ['spec', 'gateways']).map((g, i) => str(r, g, ['spec', 'gateways', i]));
  const http = list(r, spec.http, ['spec', 'http']).map((it, i): HttpRoute => {
    const p = ['spec', 'http', i];
    const m = map(r, it, p);
    known(r, m, p, ['name', 'match', 'route']);
    const match = list(r, m.match, [...p, 'match']).map((x, j): HttpMatch => {
      const mp = [...p, 'match', j];
      const mm = map(r, x, mp);
      known(r, mm, mp, ['uri', 'authority', 'headers', 'port', 'name']);
      const headers: Record<string, StringMatch> = {};
      if (mm.headers !== undefined) {
        for (const [k, hv] of Object.entries(map(r, mm.headers, [...mp, 'headers']))) headers[k.toLowerCase()] = stringMatch(r, hv, [...mp, 'headers', k]);
      }
      return {
        uri: mm.uri === undefined ? null : stringMatch(r, mm.uri, [...mp, 'uri']),
        authority: mm.authority === undefined ? null : stringMatch(r, mm.authority, [...mp, 'authority']),
        headers, port: portMatch(r, mm, mp),
      };
    });
    return { name: typeof m.name === 'string' ? m.name : '', match, route: destinations(r, m.route, [...p, 'route']) };
  });
  const tls = list(r, spec.tls, ['spec', 'tls']).map((it, i): TlsRoute => {
    const p = ['spec', 'tls', i];
    const m = map(r, it, p);
    known(r, m, p, ['match', 'route']);
    const match = list(r, m.match, [...p, 'match']).map((x, j): TlsMatch => {
      const mp = [...p, 'match', j];
      const mm = map(r, x, mp);
      known(r, mm, mp, ['sniHosts', 'port']);
      const sni = list(r, mm.sniHosts, [...mp, 'sniHosts']).map((h, k) => str(r, h, [...mp, 'sniHosts', k]).toLowerCase());
      if (sni.length === 0) r.fail([...mp, 'sniHosts'], 'a TLS match needs sniHosts');
      return { sniHosts: sni, port: portMatch(r, mm, mp) };
    });
    if (match.length === 0) r.fail([...p, 'match'], 'a TLS route needs a match with sniHosts');
    return { match, route: destinations(r, m.route, [...p, 'route']) };
  });
  const tcp = list(r, spec.tcp, ['spec', 'tcp']).map((it, i): TcpRoute => {
    const p = ['spec', 'tcp', i];
    const m = map(r, it, p);
    known(r, m, p, ['match', 'route']);
    const match = list(r, m.match, [...p, 'match']).map((x, j) => {
      const mp = [...p, 'match', j];
      const mm = map(r, x, mp);
      known(r, mm, mp, ['port']);
      return { port: portMatch(r, mm, mp) };
    });
    return { match, route: destinations(r, m.route, [...p, 'route']) };
  });
  return { kind: 'VirtualService', ...meta, hosts, gateways: gws.length ? gws : ['mesh'], http, tls, tcp, where: r.where() };
}

function destinationRule(r: Reader, meta: { name: string; namespace: string }, spec: Record<string, unknown>): IstioDestinationRule {
  known(r, spec, ['spec'], ['host', 'subsets', 'trafficPolicy']);
  if (spec.trafficPolicy !== undefined) r.fail(['spec', 'trafficPolicy'], 'traffic policies are not modelled');
  const subsets = list(r, spec.subsets, ['spec', 'subsets']).map((it, i) => {
    const p = ['spec', 'subsets', i];
    const m = map(r, it, p);
    known(r, m, p, ['name', 'labels']);
    return { name: str(r, m.name, [...p, 'name']), labels: labels(r, m.labels, [...p, 'labels']) };
  });
  return { kind: 'DestinationRule', ...meta, host: str(r, spec.host, ['spec', 'host']).toLowerCase(), subsets, where: r.where() };
}

/**
 * Reads Gateway, VirtualService and DestinationRule objects from multi-document YAML.
 * Other kinds (Kubernetes objects in the same file) are skipped; anything outside the
 * subset above is a PARSE error with the file and line.
 */
export function parseIstio(text: string, file?: string): IstioConfig {
  const lines = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter: lines, prettyErrors: false });
  const out = { gateways: [] as IstioGateway[], virtualServices: [] as IstioVirtualService[], destinationRules: [] as IstioDestinationRule[] };
  const list = Array.isArray(docs) ? docs : [docs];
  list.forEach((doc, i) => {
    const err = doc.errors[0];
    if (err) throw new NfemuError('PARSE', `document ${i + 1}: YAML: ${err.message.split('\n')[0]}`, { file, line: err.linePos?.[0]?.line });
    const obj = doc.toJS() as unknown;
    if (!isMap(obj)) return;
    const kind = obj.kind;
    if (kind !== 'Gateway' && kind !== 'VirtualService' && kind !== 'DestinationRule') return;
    const r0 = new Reader(file, doc, lines, `document ${i + 1} (${kind})`);
    const api = String(obj.apiVersion ?? '');
    if (!/^networking\.istio\.io\/(v1|v1beta1|v1alpha3)$/.test(api)) r0.fail(['apiVersion'], `expected networking.istio.io/v1, v1beta1 or v1alpha3, got ${JSON.stringify(obj.apiVersion)}`);
    const md = map(r0, obj.metadata, ['metadata']);
    const meta = { name: str(r0, md.name, ['metadata', 'name']), namespace: optStr(r0, md.namespace, ['metadata', 'namespace']) ?? 'default' };
    const r = new Reader(file, doc, lines, `${kind} ${meta.namespace}/${meta.name}`);
    const spec = map(r, obj.spec, ['spec']);
    if (kind === 'Gateway') out.gateways.push(gateway(r, meta, spec));
    else if (kind === 'VirtualService') out.virtualServices.push(virtualService(r, meta, spec));
    else out.destinationRules.push(destinationRule(r, meta, spec));
  });
  return out;
}

export function mergeIstio(a: IstioConfig, b: IstioConfig): IstioConfig {
  return {
    gateways: [...a.gateways, ...b.gateways],
    virtualServices: [...a.virtualServices, ...b.virtualServices],
    destinationRules: [...a.destinationRules, ...b.destinationRules],
  };
}

/** Whether a host pattern (`*`, `*.example.com`, exact) covers `name`. */
export function hostMatches(pattern: string, name: string): boolean {
  const p = pattern.toLowerCase();
  const n = name.toLowerCase();
  if (p === '*') return true;
  if (p.startsWith('*.')) return n.endsWith(p.slice(1));
  return p === n;
}

export function stringMatches(m: StringMatch, v: string | undefined): boolean {
  if (v === undefined) return false;
  if (m.exact !== undefined) return v === m.exact;
  if (m.prefix !== undefined) return v.startsWith(m.prefix);
  if (m.regex !== undefined) return new RegExp(`^(?:${m.regex})$`).test(v);
  return false;
}
