/**
 * A cluster declared in YAML. The first document is the cluster itself; the documents
 * after it (and the files listed under `manifests`) are Kubernetes objects and Istio
 * objects, read by src/kube and istio.ts. Errors carry the file and line.
 *
 * ```yaml
 * apiVersion: nfemu/v1
 * kind: Cluster
 * seed: 7                          # every host's Rng derives from it (default 1)
 * clusterDomain: cluster.local     # default
 * clusterCIDR: 10.244.0.0/16       # kube-proxy --cluster-cidr (default)
 * dnsService: kube-system/kube-dns # its ClusterIP goes into pods' resolv.conf (default)
 * kubeProxy: {mode: ipvs, scheduler: rr}   # --proxy-mode (iptables by default), masqueradeAll, …
 * networks:                        # L2 networks
 *   - {name: nodes, cidr: 192.168.0.0/24}
 *   - {name: internet, cidr: 203.0.113.0/24}
 * nodes:                           # rules: hand-written iptables-restore text instead of kube-proxy's;
 *                                  # kubeProxyMode: iptables | ipvs for this node only
 *   - {name: node1, ip: 192.168.0.2, podCIDR: 10.244.1.0/24, network: nodes, gateway: 192.168.0.1}
 * loadBalancers:
 *   - name: lb
 *     interfaces: [{network: internet, ip: 203.0.113.1}, {network: nodes, ip: 192.168.0.1}]
 *     frontends:                   # backends: [ip:port, …] or service (+ servicePort, target: nodePort | pod)
 *       - {vip: 203.0.113.100, port: 80, service: default/web}
 * pods:                            # Pods with spec.nodeName and status.podIP in the manifests become pods too
 *   - {name: web-1, namespace: default, node: node1, ip: 10.244.1.5, labels: {app: web}}
 * externals:
 *   - {name: client, network: internet, ip: 203.0.113.10, gateway: 203.0.113.1, nameservers: [203.0.113.53]}
 * processes:                       # what runs where
 *   - {host: web-1, kind: http, port: 8080}               # tlsNames: [...] to terminate TLS
 *   - {host: coredns-1, kind: dns}                        # udp/53, answers from the cluster's Services
 *   - {host: public-dns, kind: dns, records: {shop.example.com: [203.0.113.100]}}
 *   - {host: echo-1, kind: echo, port: 9000, protocol: UDP}
 *   - {host: web-1, kind: sidecar, capture: {excludeInboundPorts: "9090"}}   # Istio sidecar
 *   - {host: ingressgateway-1, kind: gateway}             # Istio ingress gateway
 * dnsRecords: {example.com: [93.184.215.14]}              # names the cluster DNS answers outside its domain
 * manifests: [k8s.yaml, istio.yaml]                       # relative to this file
 * ```
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { LineCounter, parseAllDocuments, type Document } from 'yaml';
import { NfemuError } from '../core/index.ts';
import { Cluster } from './cluster.ts';
import { StaticDnsZone } from './dns.ts';
import type { IstioCaptureOptions } from './istio-capture.ts';
import { EchoServer } from './process.ts';

type Path = readonly (string | number)[];
type Obj = Record<string, unknown>;

class Ctx {
  constructor(readonly file: string | undefined, readonly doc: Document, readonly lines: LineCounter) {}
  fail(path: Path, msg: string): never {
    let line: number | undefined;
    for (let n = path.length; n >= 0 && line === undefined; n--) {
      const node = this.doc.getIn(path.slice(0, n), true) as { range?: [number, number, number] } | undefined;
      if (node && typeof node === 'object' && node.range) line = this.lines.linePos(node.range[0]).line;
    }
    let p = '';
    for (const x of path) p += typeof x === 'number' ? `[${x}]` : p === '' ? x : `.${x}`;
    throw new NfemuError('PARSE', `cluster: ${p ? `${p}: ` : ''}${msg}`, { file: this.file, line });
  }
  /** Runs `f`, turning an NfemuError without a location into one at `path`. */
  at<T>(path: Path, f: () => T): T {
    try {
      return f();
    } catch (e) {
      if (e instanceof NfemuError && e.file === undefined) this.fail(path, e.message);
      throw e;
    }
  }
}

const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

function obj(c: Ctx, v: unknown, p: Path, keys: readonly string[]): Obj {
  if (!isObj(v)) c.fail(p, 'expected a mapping');
  for (const k of Object.keys(v as Obj)) if (!keys.includes(k)) c.fail([...p, k], `unknown field (known: ${keys.join(', ')})`);
  return v as Obj;
}

function arr(c: Ctx, v: unknown, p: Path): unknown[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) c.fail(p, 'expected a list');
  return v as unknown[];
}

function str(c: Ctx, o: Obj, k: string, p: Path): string {
  const v = o[k];
  if (typeof v !== 'string' || v === '') c.fail([...p, k], v === undefined ? 'is required' : 'expected a non-empty string');
  return v as string;
}

function optStr(c: Ctx, o: Obj, k: string, p: Path): string | undefined {
  return o[k] === undefined ? undefined : str(c, o, k, p);
}

function optNum(c: Ctx, o: Obj, k: string, p: Path): number | undefined {
  const v = o[k];
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v)) c.fail([...p, k], 'expected an integer');
  return v as number;
}

function strList(c: Ctx, o: Obj, k: string, p: Path): string[] | undefined {
  if (o[k] === undefined) return undefined;
  return arr(c, o[k], [...p, k]).map((x, i) => {
    if (typeof x !== 'string' && typeof x !== 'number') c.fail([...p, k, i], 'expected a string');
    return String(x);
  });
}

function labels(c: Ctx, o: Obj, k: string, p: Path): Record<string, string> | undefined {
  if (o[k] === undefined) return undefined;
  const m = obj(c, o[k], [...p, k], Object.keys(o[k] as Obj ?? {}));
  const out: Record<string, string> = {};
  for (const [kk, v] of Object.entries(m)) out[kk] = String(v);
  return out;
}

const CLUSTER_KEYS = [
  'apiVersion', 'kind', 'seed', 'clusterDomain', 'clusterCIDR', 'dnsService', 'networks', 'nodes', 'loadBalancers', 'pods',
  'externals', 'processes', 'dnsRecords', 'manifests', 'kubeProxy',
];

/**
 * Builds a cluster from YAML text. `baseDir` resolves `manifests` paths (default: the
 * file's directory, or the working directory).
 */
export function parseCluster(text: string, file?: string, baseDir?: string): Cluster {
  const lines = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter: lines, prettyErrors: false });
  const list = Array.isArray(docs) ? docs : [docs];
  if (list.length === 0) throw new NfemuError('PARSE', 'cluster: empty file', { file });
  const doc = list[0]!;
  const err = doc.errors[0];
  if (err) throw new NfemuError('PARSE', `cluster: YAML: ${err.message.split('\n')[0]}`, { file, line: err.linePos?.[0]?.line });
  const c = new Ctx(file, doc, lines);
  const root = obj(c, doc.toJS(), [], CLUSTER_KEYS);
  if (root.apiVersion !== 'nfemu/v1' || root.kind !== 'Cluster') c.fail(['kind'], 'the first document must be `apiVersion: nfemu/v1`, `kind: Cluster`');
  const kubeProxy = root.kubeProxy === undefined ? undefined : obj(c, root.kubeProxy, ['kubeProxy'], ['masqueradeAll', 'style', 'randomFully', 'localhostNodePorts', 'mode', 'scheduler', 'strictARP']);
  const seed = optNum(c, root, 'seed', []);
  const clusterDomain = optStr(c, root, 'clusterDomain', []);
  const clusterCIDR = optStr(c, root, 'clusterCIDR', []);
  const dnsService = optStr(c, root, 'dnsService', []);
  const cluster = new Cluster({
    ...(seed !== undefined ? { seed } : {}),
    ...(clusterDomain !== undefined ? { clusterDomain } : {}),
    ...(clusterCIDR !== undefined ? { clusterCIDR } : {}),
    ...(dnsService !== undefined ? { dnsService } : {}),
    ...(kubeProxy ? { kubeProxy: kubeProxy as object } : {}),
  });
  arr(c, root.networks, ['networks']).forEach((x, i) => {
    const p = ['networks', i];
    const o = obj(c, x, p, ['name', 'cidr']);
    c.at(p, () => cluster.addNetwork(str(c, o, 'name', p), str(c, o, 'cidr', p)));
  });
  arr(c, root.nodes, ['nodes']).forEach((x, i) => {
    const p = ['nodes', i];
    const o = obj(c, x, p, ['name', 'ip', 'podCIDR', 'network', 'gateway', 'rules', 'kubeProxyMode']);
    c.at(p, () => cluster.addNode({
      name: str(c, o, 'name', p), ip: str(c, o, 'ip', p), podCIDR: str(c, o, 'podCIDR', p),
      ...opt('network', optStr(c, o, 'network', p)), ...opt('gateway', optStr(c, o, 'gateway', p)), ...opt('rules', optStr(c, o, 'rules', p)),
      ...opt('kubeProxyMode', optStr(c, o, 'kubeProxyMode', p) as 'iptables' | 'ipvs' | undefined),
    }));
  });
  arr(c, root.loadBalancers, ['loadBalancers']).forEach((x, i) => {
    const p = ['loadBalancers', i];
    const o = obj(c, x, p, ['name', 'interfaces', 'gateway', 'podRoutes', 'frontends', 'snat']);
    const interfaces = arr(c, o.interfaces, [...p, 'interfaces']).map((y, j) => {
      const q = [...p, 'interfaces', j];
      const io = obj(c, y, q, ['network', 'ip', 'iface']);
      return { network: str(c, io, 'network', q), ip: str(c, io, 'ip', q), ...opt('iface', optStr(c, io, 'iface', q)) };
    });
    const frontends = arr(c, o.frontends, [...p, 'frontends']).map((y, j) => {
      const q = [...p, 'frontends', j];
      const fo = obj(c, y, q, ['vip', 'port', 'protocol', 'backends', 'service', 'servicePort', 'target']);
      const protocol = optStr(c, fo, 'protocol', q);
      if (protocol !== undefined && protocol !== 'TCP' && protocol !== 'UDP') c.fail([...q, 'protocol'], 'expected TCP or UDP');
      const target = optStr(c, fo, 'target', q);
      if (target !== undefined && target !== 'nodePort' && target !== 'pod') c.fail([...q, 'target'], 'expected nodePort or pod');
      const port = optNum(c, fo, 'port', q);
      if (port === undefined) c.fail([...q, 'port'], 'is required');
      return {
        vip: str(c, fo, 'vip', q), port: port!,
        ...opt('protocol', protocol as 'TCP' | 'UDP' | undefined), ...opt('backends', strList(c, fo, 'backends', q)),
        ...opt('service', optStr(c, fo, 'service', q)), ...opt('servicePort', optNum(c, fo, 'servicePort', q)),
        ...opt('target', target as 'nodePort' | 'pod' | undefined),
      };
    });
    c.at(p, () => cluster.addLoadBalancer({
      name: str(c, o, 'name', p), interfaces, frontends, ...opt('gateway', optStr(c, o, 'gateway', p)),
      ...(o.podRoutes !== undefined ? { podRoutes: o.podRoutes === true } : {}), ...(o.snat !== undefined ? { snat: o.snat === true } : {}),
    }));
  });
  arr(c, root.pods, ['pods']).forEach((x, i) => {
    const p = ['pods', i];
    const o = obj(c, x, p, ['name', 'namespace', 'node', 'ip', 'labels', 'ready']);
    c.at(p, () => cluster.addPod({
      name: str(c, o, 'name', p), node: str(c, o, 'node', p), ip: str(c, o, 'ip', p),
      ...opt('namespace', optStr(c, o, 'namespace', p)), ...opt('labels', labels(c, o, 'labels', p)),
      ...(o.ready !== undefined ? { ready: o.ready === true } : {}),
    }));
  });
  // Kubernetes and Istio objects: in this file after the first document, then the listed files.
  const rest = list.slice(1);
  if (rest.length > 0) {
    c.at(['kind'], () => cluster.applyManifests(text, file));
    c.at(['kind'], () => cluster.applyIstio(text, file));
  }
  const base = baseDir ?? (file ? dirname(file) : '.');
  for (const [i, f] of (strList(c, root, 'manifests', []) ?? []).entries()) {
    const path = resolve(base, f);
    let t: string;
    try {
      t = readFileSync(path, 'utf8');
    } catch (e) {
      c.fail(['manifests', i], `cannot read ${path}: ${(e as Error).message}`);
    }
    cluster.applyManifests(t!, f);
    cluster.applyIstio(t!, f);
  }
  arr(c, root.externals, ['externals']).forEach((x, i) => {
    const p = ['externals', i];
    const o = obj(c, x, p, ['name', 'network', 'ip', 'gateway', 'routes', 'nameservers', 'search', 'ndots']);
    c.at(p, () => cluster.addExternal({
      name: str(c, o, 'name', p), network: str(c, o, 'network', p), ip: str(c, o, 'ip', p),
      ...opt('gateway', optStr(c, o, 'gateway', p)), ...opt('routes', strList(c, o, 'routes', p)),
      ...opt('nameservers', strList(c, o, 'nameservers', p)), ...opt('search', strList(c, o, 'search', p)), ...opt('ndots', optNum(c, o, 'ndots', p)),
    }));
  });
  if (root.dnsRecords !== undefined) {
    const m = obj(c, root.dnsRecords, ['dnsRecords'], Object.keys((root.dnsRecords as Obj) ?? {}));
    for (const k of Object.keys(m)) cluster.addDnsRecord(k, strList(c, m, k, ['dnsRecords']) ?? []);
  }
  arr(c, root.processes, ['processes']).forEach((x, i) => {
    const p = ['processes', i];
    const o = obj(c, x, p, ['host', 'kind', 'port', 'protocol', 'tlsNames', 'records', 'capture', 'identity']);
    const host = str(c, o, 'host', p);
    const kind = str(c, o, 'kind', p);
    c.at(p, () => {
      switch (kind) {
        case 'http':
          cluster.serveHttp(host, optNum(c, o, 'port', p) ?? 80, { ...opt('tlsNames', strList(c, o, 'tlsNames', p)), ...opt('identity', optStr(c, o, 'identity', p)) });
          break;
        case 'dns': {
          const rec = o.records === undefined ? undefined : obj(c, o.records, [...p, 'records'], Object.keys((o.records as Obj) ?? {}));
          if (rec) {
            const records: Record<string, string[]> = {};
            for (const k of Object.keys(rec)) records[k] = strList(c, rec, k, [...p, 'records']) ?? [];
            cluster.serveDns(host, new StaticDnsZone(records));
          } else cluster.serveDns(host);
          break;
        }
        case 'echo': {
          const proto = (optStr(c, o, 'protocol', p) ?? 'UDP').toLowerCase();
          if (proto !== 'udp' && proto !== 'tcp') c.fail([...p, 'protocol'], 'expected TCP or UDP');
          cluster.listen(host, proto as 'tcp' | 'udp', optNum(c, o, 'port', p) ?? 7, new EchoServer(optStr(c, o, 'identity', p) ?? host));
          break;
        }
        case 'sidecar':
          cluster.injectSidecar(host, (o.capture === undefined ? {} : obj(c, o.capture, [...p, 'capture'], CAPTURE_KEYS)) as IstioCaptureOptions);
          break;
        case 'gateway':
          cluster.runGateway(host);
          break;
        default:
          c.fail([...p, 'kind'], `unknown process kind "${kind}" (known: http, dns, echo, sidecar, gateway)`);
      }
    });
  });
  return cluster;
}

const CAPTURE_KEYS = [
  'proxyPort', 'inboundCapturePort', 'inboundTunnelPort', 'proxyUid', 'proxyGid', 'inboundPortsInclude', 'inboundPortsExclude',
  'outboundPortsInclude', 'outboundPortsExclude', 'outboundIpRangesInclude', 'outboundIpRangesExclude', 'excludeInterfaces',
  'kubeVirtInterfaces', 'redirectDns', 'captureAllDns', 'dnsServersV4', 'dnsServersV6', 'dropInvalid', 'hostIPv4LoopbackCidr',
  'ownerGroupsInclude', 'ownerGroupsExclude',
];

/** Reads and builds a cluster file. */
export function readClusterFile(path: string): Cluster {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new NfemuError('IO', `cannot read ${path}: ${(e as Error).message}`, { file: path });
  }
  return parseCluster(text, path);
}

function opt<K extends string, V>(k: K, v: V | undefined): { [P in K]?: V } {
  return (v === undefined ? {} : { [k]: v }) as { [P in K]?: V };
}
