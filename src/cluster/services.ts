/**
 * The cluster's view of its Services: names, ClusterIPs, ports and ready endpoints, read
 * from the Kubernetes objects with the same endpoint logic kube-proxy uses (src/kube
 * buildProxyState: EndpointSlices, or the Pods a selector picks when there are none). The
 * DNS server and the proxy look Services up here; kube-proxy on the nodes reads the same
 * objects, so what they see cannot disagree.
 */
import { buildProxyState, namespacedName, type KubeObjects, type Service, type ServicePortInfo } from '../kube/index.ts';

/** A pod as the registry knows it (for endpoint labels: DestinationRule subsets). */
export interface PodRecord {
  readonly name: string;
  readonly namespace: string;
  readonly ip: string;
  readonly node: string | null;
  readonly labels: Readonly<Record<string, string>>;
}

export interface EndpointView {
  readonly ip: string;
  readonly port: number;
  readonly ready: boolean;
  readonly node: string | null;
  /** The pod behind the address, when the cluster knows it. */
  readonly pod: string | null;
  readonly labels: Readonly<Record<string, string>>;
}

export interface ServicePortView {
  readonly name: string;
  readonly protocol: 'TCP' | 'UDP' | 'SCTP';
  readonly port: number;
  /** 0 when none. */
  readonly nodePort: number;
  readonly endpoints: readonly EndpointView[];
}

export interface ServiceView {
  readonly namespace: string;
  readonly name: string;
  /** `<name>.<namespace>.svc.<cluster domain>`. */
  readonly fqdn: string;
  /** The ClusterIP, "None" for a headless Service, "" when unset. */
  readonly clusterIP: string;
  readonly type: Service['type'];
  readonly externalTrafficPolicy: 'Cluster' | 'Local';
  readonly selector: Readonly<Record<string, string>> | null;
  readonly ports: readonly ServicePortView[];
  readonly object: Service;
}

/** True when every label of `selector` is on `labels`. */
export function labelsMatch(selector: Readonly<Record<string, string>>, labels: Readonly<Record<string, string>>): boolean {
  for (const [k, v] of Object.entries(selector)) if (labels[k] !== v) return false;
  return true;
}

export class ServiceRegistry {
  private readonly services: ServiceView[] = [];
  private readonly byName = new Map<string, ServiceView>();

  constructor(objs: KubeObjects, pods: readonly PodRecord[], readonly clusterDomain: string) {
    const podByIp = new Map(pods.map((p) => [p.ip, p]));
    const state = buildProxyState(objs, { family: 4, nodeName: null });
    const portsBySvc = new Map<string, ServicePortInfo[]>();
    for (const sp of state.servicePorts) {
      const l = portsBySvc.get(sp.service);
      if (l) l.push(sp);
      else portsBySvc.set(sp.service, [sp]);
    }
    for (const s of objs.services) {
      const key = namespacedName(s.meta);
      const infos = portsBySvc.get(key) ?? [];
      const ports: ServicePortView[] = s.ports.map((p) => {
        const info = infos.find((i) => i.port === p.port && i.protocol === p.protocol);
        let endpoints: EndpointView[];
        if (info) {
          endpoints = info.endpoints.map((e) => {
            const pod = podByIp.get(e.ip);
            return { ip: e.ip, port: e.port, ready: e.ready, node: e.nodeName ?? pod?.node ?? null, pod: pod?.name ?? null, labels: pod?.labels ?? {} };
          });
        } else if (s.clusterIP === 'None' && s.selector !== null) {
          // Headless: kube-proxy ignores it, DNS answers with the selected pods.
          const target = typeof p.targetPort === 'number' ? p.targetPort : p.port;
          endpoints = pods
            .filter((pod) => pod.namespace === s.meta.namespace && labelsMatch(s.selector!, pod.labels))
            .map((pod) => ({ ip: pod.ip, port: target, ready: true, node: pod.node, pod: pod.name, labels: pod.labels }));
        } else endpoints = [];
        return { name: p.name, protocol: p.protocol, port: p.port, nodePort: info?.nodePort ?? p.nodePort, endpoints };
      });
      const v: ServiceView = {
        namespace: s.meta.namespace, name: s.meta.name, fqdn: `${s.meta.name}.${s.meta.namespace}.svc.${clusterDomain}`,
        clusterIP: s.clusterIP, type: s.type, externalTrafficPolicy: s.externalTrafficPolicy, selector: s.selector, ports, object: s,
      };
      this.services.push(v);
      this.byName.set(key, v);
    }
  }

  list(): readonly ServiceView[] {
    return this.services;
  }

  get(namespace: string, name: string): ServiceView | null {
    return this.byName.get(`${namespace}/${name}`) ?? null;
  }

  /** `namespace/name`, or a name in `defaultNamespace`. */
  find(ref: string, defaultNamespace = 'default'): ServiceView | null {
    const i = ref.indexOf('/');
    return i < 0 ? this.get(defaultNamespace, ref) : this.get(ref.slice(0, i), ref.slice(i + 1));
  }

  /**
   * The Service a host name means from a pod in `namespace`, the way the search list makes
   * it mean it: `web`, `web.ns`, `web.ns.svc`, `web.ns.svc.<domain>`; or its ClusterIP.
   */
  byHost(host: string, namespace: string): ServiceView | null {
    const h = host.toLowerCase().replace(/\.$/, '');
    for (const s of this.services) {
      if (h === s.fqdn || h === `${s.name}.${s.namespace}.svc` || h === `${s.name}.${s.namespace}` || (h === s.name && s.namespace === namespace)) return s;
      if (s.clusterIP === h) return s;
    }
    return null;
  }

  /** The Service and port behind a ClusterIP:port. */
  byClusterIP(ip: string, port: number, protocol: 'TCP' | 'UDP'): { service: ServiceView; port: ServicePortView } | null {
    for (const s of this.services) {
      if (s.clusterIP !== ip) continue;
      const p = s.ports.find((x) => x.port === port && x.protocol === protocol);
      if (p) return { service: s, port: p };
    }
    return null;
  }

  /** A port of a Service by number (or the only port when `port` is null). */
  port(s: ServiceView, port: number | null): ServicePortView | null {
    if (port === null) return s.ports.length === 1 ? s.ports[0]! : null;
    return s.ports.find((p) => p.port === port) ?? null;
  }

  /** Whether any Service or pod lives in `namespace` (DNS: NODATA rather than NXDOMAIN for `<ns>.svc`). */
  hasNamespace(namespace: string): boolean {
    return this.services.some((s) => s.namespace === namespace);
  }
}
