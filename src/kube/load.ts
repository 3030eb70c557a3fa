/**
 * Manifests in: multi-document YAML (or JSON), `List` / `ServiceList`-style kinds and
 * `kubectl get -o yaml` output, read with the `yaml` library and validated field by field.
 * Every problem is an NfemuError('PARSE') carrying the file, the line of the offending
 * field, and a message naming the document, the object and the field path.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { LineCounter, parseAllDocuments, type Document } from 'yaml';
import { NfemuError, parseCidr, parseIp } from '../core/index.ts';
import {
  LABEL_SERVICE_NAME, namespacedName, originText,
  type ContainerPort, type EndpointPort, type EndpointSlice, type IgnoredObject, type KubeObjects, type LoadBalancerIngress,
  type Node, type NodeAddress, type ObjectMeta, type Origin, type Pod, type Protocol, type Service, type ServicePortSpec,
  type ServiceType, type SliceEndpoint, type TrafficPolicy, type IpFamilyName,
} from './objects.ts';

type Path = readonly (string | number)[];
type Json = unknown;

/** Where one object sits in a file: the document, its path inside it, and how to find lines. */
class Ctx {
  label: string;
  constructor(
    readonly file: string | undefined,
    readonly doc: Document,
    readonly lines: LineCounter,
    readonly base: Path,
    readonly where: string,
  ) {
    this.label = where;
  }

  /** 1-based line of the deepest node along `path` that exists. */
  line(path: Path): number | undefined {
    for (let p = path.length; p >= 0; p--) {
      const node = this.doc.getIn([...this.base, ...path.slice(0, p)], true) as { range?: [number, number, number] } | undefined;
      if (node && typeof node === 'object' && node.range) return this.lines.linePos(node.range[0]).line;
    }
    return undefined;
  }

  fail(path: Path, message: string): never {
    throw new NfemuError('PARSE', `${this.label}: ${path.length ? `${formatPath(path)}: ` : ''}${message}`, {
      file: this.file,
      line: this.line(path),
    });
  }

  origin(): Origin {
    return { file: this.file, line: this.line([]) };
  }
}

function formatPath(path: Path): string {
  let s = '';
  for (const p of path) s += typeof p === 'number' ? `[${p}]` : s === '' ? p : `.${p}`;
  return s;
}

function describe(v: Json): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'string') return JSON.stringify(v);
  return String(v);
}

function isMap(v: Json): v is Record<string, Json> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Field readers: `get` walks the path; each reader checks the type and says what it expected. */
function get(obj: Json, path: Path): Json {
  let cur = obj;
  for (const p of path) {
    if (cur === null || cur === undefined) return undefined;
    cur = (cur as Record<string | number, Json>)[p];
  }
  return cur;
}

function optMap(ctx: Ctx, obj: Json, path: Path): Record<string, Json> | null {
  const v = get(obj, path);
  if (v === undefined || v === null) return null;
  if (!isMap(v)) ctx.fail(path, `must be a mapping, got ${describe(v)}`);
  return v;
}

function optList(ctx: Ctx, obj: Json, path: Path): Json[] {
  const v = get(obj, path);
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) ctx.fail(path, `must be a list, got ${describe(v)}`);
  return v;
}

function optString(ctx: Ctx, obj: Json, path: Path): string | null {
  const v = get(obj, path);
  if (v === undefined || v === null) return null;
  if (typeof v !== 'string') ctx.fail(path, `must be a string, got ${describe(v)}`);
  return v;
}

function reqString(ctx: Ctx, obj: Json, path: Path): string {
  const v = optString(ctx, obj, path);
  if (v === null || v === '') ctx.fail(path, 'is required');
  return v!;
}

function optBool(ctx: Ctx, obj: Json, path: Path): boolean | null {
  const v = get(obj, path);
  if (v === undefined || v === null) return null;
  if (typeof v !== 'boolean') ctx.fail(path, `must be true or false, got ${describe(v)}`);
  return v;
}

function optInt(ctx: Ctx, obj: Json, path: Path, min: number, max: number): number | null {
  const v = get(obj, path);
  if (v === undefined || v === null) return null;
  if (typeof v !== 'number' || !Number.isInteger(v)) ctx.fail(path, `must be an integer, got ${describe(v)}`);
  if ((v as number) < min || (v as number) > max) ctx.fail(path, `must be between ${min} and ${max}, got ${v}`);
  return v as number;
}

function oneOf<T extends string>(ctx: Ctx, obj: Json, path: Path, allowed: readonly T[], dflt: T): T {
  const v = optString(ctx, obj, path);
  if (v === null || v === '') return dflt;
  if (!(allowed as readonly string[]).includes(v)) ctx.fail(path, `must be one of ${allowed.join(', ')}, got ${JSON.stringify(v)}`);
  return v as T;
}

function ipText(ctx: Ctx, obj: Json, path: Path): string {
  const v = reqString(ctx, obj, path);
  if (!parseIp(v)) ctx.fail(path, `${JSON.stringify(v)} is not an IP address`);
  return v;
}

function cidrText(ctx: Ctx, path: Path, text: string): string {
  const t = text.trim(); // the API server lets loadBalancerSourceRanges carry padding; kube-proxy trims it
  const ip = parseIp(t.split('/')[0]!);
  if (!t.includes('/') || !ip || !parseCidr(ip.family, t)) ctx.fail(path, `${JSON.stringify(text)} is not a CIDR`);
  return t;
}

function stringMap(ctx: Ctx, obj: Json, path: Path): Record<string, string> | null {
  const m = optMap(ctx, obj, path);
  if (!m) return null;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(m)) {
    if (typeof v !== 'string') ctx.fail([...path, k], `must be a string, got ${describe(v)}`);
    out[k] = v as string;
  }
  return out;
}

const PROTOCOLS: readonly Protocol[] = ['TCP', 'UDP', 'SCTP'];

function protocol(ctx: Ctx, obj: Json, path: Path): Protocol {
  return oneOf(ctx, obj, path, PROTOCOLS, 'TCP');
}

function meta(ctx: Ctx, obj: Json, kind: string, namespaced: boolean): ObjectMeta {
  const name = reqString(ctx, obj, ['metadata', 'name']);
  const namespace = namespaced ? optString(ctx, obj, ['metadata', 'namespace']) || 'default' : '';
  ctx.label = `${ctx.where} (${kind} ${namespaced ? `${namespace}/` : ''}${name})`;
  const labels = stringMap(ctx, obj, ['metadata', 'labels']) ?? {};
  const deleting = get(obj, ['metadata', 'deletionTimestamp']) !== undefined && get(obj, ['metadata', 'deletionTimestamp']) !== null;
  return { name, namespace, labels, deleting };
}

const SERVICE_TYPES: readonly ServiceType[] = ['ClusterIP', 'NodePort', 'LoadBalancer', 'ExternalName'];
const POLICIES: readonly TrafficPolicy[] = ['Cluster', 'Local'];

function parseService(ctx: Ctx, obj: Json): Service {
  const m = meta(ctx, obj, 'Service', true);
  const type = oneOf(ctx, obj, ['spec', 'type'], SERVICE_TYPES, 'ClusterIP');
  const clusterIP = optString(ctx, obj, ['spec', 'clusterIP']) ?? '';
  if (clusterIP !== '' && clusterIP !== 'None' && !parseIp(clusterIP)) ctx.fail(['spec', 'clusterIP'], `${JSON.stringify(clusterIP)} is not an IP address or "None"`);
  let clusterIPs = optList(ctx, obj, ['spec', 'clusterIPs']).map((_, i) => {
    const v = reqString(ctx, obj, ['spec', 'clusterIPs', i]);
    if (v !== 'None' && !parseIp(v)) ctx.fail(['spec', 'clusterIPs', i], `${JSON.stringify(v)} is not an IP address or "None"`);
    return v;
  });
  if (clusterIPs.length && clusterIP !== '' && clusterIPs[0] !== clusterIP) {
    ctx.fail(['spec', 'clusterIPs', 0], `must equal spec.clusterIP (${clusterIP}), got ${clusterIPs[0]}`);
  }
  if (!clusterIPs.length && clusterIP !== '') clusterIPs = [clusterIP];
  const rawPorts = optList(ctx, obj, ['spec', 'ports']);
  const ports: ServicePortSpec[] = rawPorts.map((_, i) => {
    const p: Path = ['spec', 'ports', i];
    if (!isMap(get(obj, p))) ctx.fail(p, `must be a mapping, got ${describe(get(obj, p))}`);
    const name = optString(ctx, obj, [...p, 'name']) ?? '';
    if (name === '' && rawPorts.length > 1) ctx.fail([...p, 'name'], 'is required when a Service has more than one port');
    const port = optInt(ctx, obj, [...p, 'port'], 1, 65535);
    if (port === null) ctx.fail([...p, 'port'], 'is required');
    const tp = get(obj, [...p, 'targetPort']);
    let targetPort: number | string | null = null;
    if (typeof tp === 'number') targetPort = optInt(ctx, obj, [...p, 'targetPort'], 1, 65535);
    else if (typeof tp === 'string') {
      if (/^[0-9]+$/.test(tp)) ctx.fail([...p, 'targetPort'], `${JSON.stringify(tp)} is a string; write a port number without quotes`);
      if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(tp) || tp.length > 15) ctx.fail([...p, 'targetPort'], `${JSON.stringify(tp)} is not a valid port name`);
      targetPort = tp;
    } else if (tp !== undefined && tp !== null) ctx.fail([...p, 'targetPort'], `must be a port number or a port name, got ${describe(tp)}`);
    const nodePort = optInt(ctx, obj, [...p, 'nodePort'], 1, 65535) ?? 0;
    if (nodePort && type !== 'NodePort' && type !== 'LoadBalancer') ctx.fail([...p, 'nodePort'], `is only allowed for type NodePort or LoadBalancer (this Service is ${type})`);
    return { name, protocol: protocol(ctx, obj, [...p, 'protocol']), port: port!, targetPort, nodePort };
  });
  const seen = new Map<string, number>();
  ports.forEach((p, i) => {
    const k = `${p.name}`;
    if (seen.has(k)) ctx.fail(['spec', 'ports', i, 'name'], `duplicate port name ${JSON.stringify(p.name)} (also spec.ports[${seen.get(k)}])`);
    seen.set(k, i);
  });
  const selector = stringMap(ctx, obj, ['spec', 'selector']);
  const externalIPs = optList(ctx, obj, ['spec', 'externalIPs']).map((_, i) => ipText(ctx, obj, ['spec', 'externalIPs', i]));
  const loadBalancerSourceRanges = optList(ctx, obj, ['spec', 'loadBalancerSourceRanges']).map((_, i) =>
    cidrText(ctx, ['spec', 'loadBalancerSourceRanges', i], reqString(ctx, obj, ['spec', 'loadBalancerSourceRanges', i])),
  );
  const loadBalancerIngress: LoadBalancerIngress[] = optList(ctx, obj, ['status', 'loadBalancer', 'ingress']).map((_, i) => {
    const p: Path = ['status', 'loadBalancer', 'ingress', i];
    const ip = optString(ctx, obj, [...p, 'ip']);
    if (ip !== null && ip !== '' && !parseIp(ip)) ctx.fail([...p, 'ip'], `${JSON.stringify(ip)} is not an IP address`);
    const mode = optString(ctx, obj, [...p, 'ipMode']);
    if (mode !== null && mode !== 'VIP' && mode !== 'Proxy') ctx.fail([...p, 'ipMode'], `must be VIP or Proxy, got ${JSON.stringify(mode)}`);
    return { ip: ip || null, hostname: optString(ctx, obj, [...p, 'hostname']), ipMode: mode as 'VIP' | 'Proxy' | null };
  });
  const externalTrafficPolicy = oneOf(ctx, obj, ['spec', 'externalTrafficPolicy'], POLICIES, 'Cluster');
  const internalTrafficPolicy = oneOf(ctx, obj, ['spec', 'internalTrafficPolicy'], POLICIES, 'Cluster');
  const sessionAffinity = oneOf(ctx, obj, ['spec', 'sessionAffinity'], ['None', 'ClientIP'] as const, 'None');
  const timeout = optInt(ctx, obj, ['spec', 'sessionAffinityConfig', 'clientIP', 'timeoutSeconds'], 1, 86400) ?? 10800;
  const healthCheckNodePort = optInt(ctx, obj, ['spec', 'healthCheckNodePort'], 1, 65535) ?? 0;
  const ipFamilies = optList(ctx, obj, ['spec', 'ipFamilies']).map((_, i) => oneOf(ctx, obj, ['spec', 'ipFamilies', i], ['IPv4', 'IPv6'] as IpFamilyName[], 'IPv4'));
  return {
    kind: 'Service', meta: m, origin: ctx.origin(), type, clusterIP, clusterIPs, ports, selector, externalIPs,
    loadBalancerSourceRanges, loadBalancerIngress, externalTrafficPolicy, internalTrafficPolicy, sessionAffinity,
    sessionAffinityTimeout: timeout, healthCheckNodePort,
    allocateLoadBalancerNodePorts: optBool(ctx, obj, ['spec', 'allocateLoadBalancerNodePorts']) ?? true,
    publishNotReadyAddresses: optBool(ctx, obj, ['spec', 'publishNotReadyAddresses']) ?? false,
    ipFamilies,
  };
}

function parseEndpointSlice(ctx: Ctx, obj: Json, warnings: string[]): EndpointSlice {
  const m = meta(ctx, obj, 'EndpointSlice', true);
  const addressType = oneOf(ctx, obj, ['addressType'], ['IPv4', 'IPv6', 'FQDN'] as const, 'IPv4');
  if (get(obj, ['addressType']) === undefined) ctx.fail(['addressType'], 'is required (IPv4, IPv6 or FQDN)');
  const ports: EndpointPort[] = optList(ctx, obj, ['ports']).map((_, i) => ({
    name: optString(ctx, obj, ['ports', i, 'name']) ?? '',
    port: optInt(ctx, obj, ['ports', i, 'port'], 1, 65535),
    protocol: protocol(ctx, obj, ['ports', i, 'protocol']),
  }));
  const endpoints: SliceEndpoint[] = optList(ctx, obj, ['endpoints']).map((_, i) => {
    const p: Path = ['endpoints', i];
    const addresses = optList(ctx, obj, [...p, 'addresses']).map((_, j) => {
      const a = reqString(ctx, obj, [...p, 'addresses', j]);
      if (addressType !== 'FQDN') {
        const ip = parseIp(a);
        if (!ip) ctx.fail([...p, 'addresses', j], `${JSON.stringify(a)} is not an IP address`);
        if ((ip!.family === 6) !== (addressType === 'IPv6')) ctx.fail([...p, 'addresses', j], `${a} is not an ${addressType} address (addressType is ${addressType})`);
      }
      return a;
    });
    if (addresses.length === 0) ctx.fail([...p, 'addresses'], 'must list at least one address');
    return {
      addresses,
      ready: optBool(ctx, obj, [...p, 'conditions', 'ready']),
      serving: optBool(ctx, obj, [...p, 'conditions', 'serving']),
      terminating: optBool(ctx, obj, [...p, 'conditions', 'terminating']),
      nodeName: optString(ctx, obj, [...p, 'nodeName']),
      zone: optString(ctx, obj, [...p, 'zone']),
    };
  });
  const serviceName = m.labels[LABEL_SERVICE_NAME] || null;
  if (serviceName === null) {
    warnings.push(`${originText(ctx.origin())}: EndpointSlice ${namespacedName(m)} has no ${LABEL_SERVICE_NAME} label; kube-proxy ignores it`);
  }
  return { kind: 'EndpointSlice', meta: m, origin: ctx.origin(), serviceName, addressType, ports, endpoints };
}

function parseNode(ctx: Ctx, obj: Json): Node {
  const m = meta(ctx, obj, 'Node', false);
  const addresses: NodeAddress[] = optList(ctx, obj, ['status', 'addresses']).map((_, i) => ({
    type: reqString(ctx, obj, ['status', 'addresses', i, 'type']),
    address: reqString(ctx, obj, ['status', 'addresses', i, 'address']),
  }));
  let podCIDRs = optList(ctx, obj, ['spec', 'podCIDRs']).map((_, i) => cidrText(ctx, ['spec', 'podCIDRs', i], reqString(ctx, obj, ['spec', 'podCIDRs', i])));
  const one = optString(ctx, obj, ['spec', 'podCIDR']);
  if (!podCIDRs.length && one) podCIDRs = [cidrText(ctx, ['spec', 'podCIDR'], one)];
  return { kind: 'Node', meta: m, origin: ctx.origin(), addresses, podCIDRs };
}

function parsePod(ctx: Ctx, obj: Json): Pod {
  const m = meta(ctx, obj, 'Pod', true);
  const containerPorts: ContainerPort[] = [];
  for (const field of ['initContainers', 'containers'] as const) {
    optList(ctx, obj, ['spec', field]).forEach((_, i) => {
      optList(ctx, obj, ['spec', field, i, 'ports']).forEach((__, j) => {
        const p: Path = ['spec', field, i, 'ports', j];
        const cp = optInt(ctx, obj, [...p, 'containerPort'], 1, 65535);
        if (cp === null) ctx.fail([...p, 'containerPort'], 'is required');
        containerPorts.push({ name: optString(ctx, obj, [...p, 'name']) ?? '', containerPort: cp!, protocol: protocol(ctx, obj, [...p, 'protocol']) });
      });
    });
  }
  let podIPs = optList(ctx, obj, ['status', 'podIPs']).map((_, i) => ipText(ctx, obj, ['status', 'podIPs', i, 'ip']));
  const one = optString(ctx, obj, ['status', 'podIP']);
  if (one) {
    if (!parseIp(one)) ctx.fail(['status', 'podIP'], `${JSON.stringify(one)} is not an IP address`);
    if (!podIPs.length) podIPs = [one];
  }
  let ready: boolean | null = null;
  optList(ctx, obj, ['status', 'conditions']).forEach((_, i) => {
    if (optString(ctx, obj, ['status', 'conditions', i, 'type']) === 'Ready') {
      ready = optString(ctx, obj, ['status', 'conditions', i, 'status']) === 'True';
    }
  });
  return {
    kind: 'Pod', meta: m, origin: ctx.origin(), nodeName: optString(ctx, obj, ['spec', 'nodeName']),
    podIPs, ready, phase: optString(ctx, obj, ['status', 'phase']), containerPorts,
  };
}

interface Sink {
  services: Service[];
  endpointSlices: EndpointSlice[];
  nodes: Node[];
  pods: Pod[];
  ignored: IgnoredObject[];
  warnings: string[];
}

const API_VERSIONS: Readonly<Record<string, readonly string[]>> = {
  Service: ['v1'],
  Node: ['v1'],
  Pod: ['v1'],
  EndpointSlice: ['discovery.k8s.io/v1'],
};

function loadObject(ctx: Ctx, obj: Json, sink: Sink, listKind: string | null): void {
  if (!isMap(obj)) ctx.fail([], `must be a mapping (a Kubernetes object), got ${describe(obj)}`);
  let kind = optString(ctx, obj, ['kind']);
  if (kind === null && listKind !== null && listKind.endsWith('List') && listKind !== 'List') kind = listKind.slice(0, -4);
  if (kind === null) ctx.fail(['kind'], 'is required');
  if (kind === 'List' || (kind!.endsWith('List') && Array.isArray(get(obj, ['items'])))) {
    if (listKind !== null) ctx.fail(['kind'], 'a List inside a List is not supported');
    optList(ctx, obj, ['items']).forEach((item, i) => {
      const sub = new Ctx(ctx.file, ctx.doc, ctx.lines, [...ctx.base, 'items', i], `${ctx.where}, items[${i}]`);
      loadObject(sub, item, sink, kind!);
    });
    return;
  }
  const versions = API_VERSIONS[kind!];
  if (!versions) {
    const name = optString(ctx, obj, ['metadata', 'name']) ?? '';
    sink.ignored.push({ kind: kind!, name, origin: ctx.origin() });
    return;
  }
  const apiVersion = optString(ctx, obj, ['apiVersion']);
  if (apiVersion === null && listKind === null) ctx.fail(['apiVersion'], 'is required');
  if (apiVersion !== null && !versions.includes(apiVersion)) {
    ctx.fail(['apiVersion'], `${kind} must be ${versions.join(' or ')}, got ${JSON.stringify(apiVersion)}`);
  }
  switch (kind) {
    case 'Service': sink.services.push(parseService(ctx, obj)); break;
    case 'EndpointSlice': sink.endpointSlices.push(parseEndpointSlice(ctx, obj, sink.warnings)); break;
    case 'Node': sink.nodes.push(parseNode(ctx, obj)); break;
    case 'Pod': sink.pods.push(parsePod(ctx, obj)); break;
  }
}

/**
 * Parses manifest text (any number of YAML documents; Lists expanded) into validated objects.
 * Objects of kinds kube-proxy does not read are listed in `ignored`.
 * Throws NfemuError('PARSE', …, {file, line}) on malformed YAML or an invalid field.
 */
export function parseManifests(text: string, file?: string): KubeObjects {
  const lines = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter: lines, prettyErrors: false });
  const sink: Sink = { services: [], endpointSlices: [], nodes: [], pods: [], ignored: [], warnings: [] };
  const list = Array.isArray(docs) ? docs : [docs];
  list.forEach((doc, i) => {
    const err = doc.errors[0];
    if (err) {
      const line = err.linePos?.[0]?.line ?? lines.linePos(err.pos[0]).line;
      throw new NfemuError('PARSE', `document ${i + 1}: YAML: ${err.message.split('\n')[0]}`, { file, line });
    }
    const obj = doc.toJS({ maxAliasCount: 1000 }) as Json;
    if (obj === null || obj === undefined) return; // an empty document (e.g. a trailing ---)
    loadObject(new Ctx(file, doc, lines, [], `document ${i + 1}`), obj, sink, null);
  });
  return checkDuplicates(sink);
}

function key(o: { kind: string; meta: ObjectMeta }): string {
  return `${o.kind} ${o.meta.namespace ? `${o.meta.namespace}/` : ''}${o.meta.name}`;
}

function checkDuplicates(s: KubeObjects): KubeObjects {
  const seen = new Map<string, Origin>();
  for (const o of [...s.services, ...s.endpointSlices, ...s.nodes, ...s.pods]) {
    const k = key(o);
    const prev = seen.get(k);
    if (prev) throw new NfemuError('PARSE', `duplicate ${k} (first defined at ${originText(prev)})`, { file: o.origin.file, line: o.origin.line });
    seen.set(k, o.origin);
  }
  return s;
}

/** Merges object sets (e.g. one per file); an object defined twice is an error. */
export function mergeManifests(sets: readonly KubeObjects[]): KubeObjects {
  const out: Sink = { services: [], endpointSlices: [], nodes: [], pods: [], ignored: [], warnings: [] };
  for (const s of sets) {
    out.services.push(...s.services);
    out.endpointSlices.push(...s.endpointSlices);
    out.nodes.push(...s.nodes);
    out.pods.push(...s.pods);
    out.ignored.push(...s.ignored);
    out.warnings.push(...s.warnings);
  }
  return checkDuplicates(out);
}

/** Reads and parses manifest files (paths relative to `baseDir`, default the working directory). */
export function readManifestFiles(paths: readonly string[], baseDir = '.'): KubeObjects {
  return mergeManifests(
    paths.map((p) => {
      let text: string;
      try {
        text = readFileSync(resolve(baseDir, p), 'utf8');
      } catch {
        throw new NfemuError('IO', `cannot read manifest file`, { file: p });
      }
      return parseManifests(text, p);
    }),
  );
}
