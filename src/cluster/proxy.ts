/**
 * An Envoy-like L7 proxy as a process on a host. It accepts a connection, picks an
 * upstream by the Istio routes (istio.ts), and opens a new connection to it as uid/gid 1337
 * (so a sidecar's capture rules let it out). The reply it gets is relayed to the client.
 *
 * Roles:
 * - sidecar, outbound port (15001): the application's connection, captured by
 *   ISTIO_OUTPUT. The original destination (SO_ORIGINAL_DST) and the Host header pick the
 *   Service; VirtualServices bound to `mesh` route it, else it goes to the Service's
 *   endpoints; an address that is no Service is passed through to where it was going.
 *   Envoy connects to endpoint (pod) addresses directly, not to the ClusterIP.
 * - sidecar, inbound port (15006): a connection captured by ISTIO_INBOUND; forwarded to the
 *   application at the original destination, from 127.0.0.6 (Istio's inbound passthrough
 *   source, which ISTIO_OUTPUT lets out).
 * - gateway: listeners from the Gateways whose selector matches the pod's labels; HTTP
 *   routes by Host and path, TLS passthrough routes by SNI without decrypting.
 *
 * Choices: a weighted route picks by the host's Rng in proportion to the weights (as
 * Envoy's weighted_clusters does with a random value); an endpoint is picked uniformly at
 * random from the subset's ready endpoints (Envoy's default LEAST_REQUEST degenerates to
 * that when no request is outstanding).
 */
import { scaleU32, type Rng } from '../core/index.ts';
import {
  hostMatches, stringMatches, type GatewayServer, type HttpMatch, type IstioConfig, type IstioGateway, type IstioVirtualService,
  type RouteDestination,
} from './istio.ts';
import { httpRequest, httpResponse, parseHttpRequest, peekTls, type HttpRequest } from './payload.ts';
import { labelsMatch, type ServiceRegistry, type ServicePortView, type ServiceView } from './services.ts';
import { ISTIO_INBOUND_PASSTHROUGH_SRC, ISTIO_PROXY_UID } from './istio-capture.ts';
import type { Answer, Delivery, Process, ProcessContext } from './types.ts';

/** What the proxy reads its configuration from (rebuilt by the cluster when objects change). */
export interface MeshView {
  readonly registry: ServiceRegistry;
  readonly istio: IstioConfig;
  readonly clusterDomain: string;
}

export interface EnvoyOptions {
  readonly role: 'sidecar' | 'gateway';
  /** The pod's namespace and labels (Gateway selectors; short names resolve in the namespace). */
  readonly namespace: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly mesh: () => MeshView;
  readonly outboundPort?: number;
  readonly inboundPort?: number;
}

/** Picks an index with probability weight/total, from one Rng draw. */
export function pickWeighted(rng: Rng, weights: readonly number[]): number {
  const total = weights.reduce((s, w) => s + w, 0);
  let r = scaleU32(rng.nextU32(), total);
  for (let i = 0; i < weights.length; i++) {
    if (r < weights[i]!) return i;
    r -= weights[i]!;
  }
  return weights.length - 1;
}

/** A name in a config object: short names (no dot) are Services in the object's namespace. */
export function qualifyHost(host: string, namespace: string, domain: string): string {
  const h = host.toLowerCase();
  return h.includes('.') || h.includes('*') ? h : `${h}.${namespace}.svc.${domain}`;
}

const PASSTHROUGH = Symbol('passthrough');

interface Choice {
  /** The route rule that matched, for the story. */
  readonly why: string;
  readonly route: readonly RouteDestination[];
  /** Namespace the destination hosts are relative to. */
  readonly namespace: string;
}

export class EnvoyProxy implements Process {
  readonly name = 'envoy';
  readonly uid = ISTIO_PROXY_UID;
  readonly gid = ISTIO_PROXY_UID;
  private readonly outboundPort: number;
  private readonly inboundPort: number;

  constructor(private readonly o: EnvoyOptions) {
    this.outboundPort = o.outboundPort ?? 15001;
    this.inboundPort = o.inboundPort ?? 15006;
  }

  handle(d: Delivery, ctx: ProcessContext): Answer {
    if (this.o.role === 'sidecar' && d.dport === this.inboundPort) return this.inbound(d, ctx);
    if (this.o.role === 'sidecar' && d.dport === this.outboundPort) return this.outbound(d, ctx);
    if (this.o.role === 'gateway') return this.gateway(d, ctx);
    ctx.note(`envoy on ${ctx.host}: no listener for port ${d.dport}: connection closed`);
    return { reply: null };
  }

  /** Inbound capture: hand the connection to the application at its original destination. */
  private inbound(d: Delivery, ctx: ProcessContext): Answer {
    ctx.note(`envoy on ${ctx.host} (inbound ${this.inboundPort}): original destination ${d.origDst}:${d.origDport}; connects to it from ${ISTIO_INBOUND_PASSTHROUGH_SRC} as uid ${this.uid}`);
    const r = ctx.connect({
      proto: 'tcp', src: ISTIO_INBOUND_PASSTHROUGH_SRC, dst: d.origDst, dport: d.origDport, payload: d.payload,
      uid: this.uid, gid: this.gid, label: `envoy (inbound) → app ${d.origDst}:${d.origDport}`,
    });
    return this.relay(r, parseHttpRequest(d.payload) !== null, ctx);
  }

  /** Outbound capture: route by original destination and Host / SNI. */
  private outbound(d: Delivery, ctx: ProcessContext): Answer {
    const mesh = this.o.mesh();
    const req = parseHttpRequest(d.payload);
    const tls = peekTls(d.payload);
    const byIp = mesh.registry.byClusterIP(d.origDst, d.origDport, 'TCP');
    const tag = `envoy on ${ctx.host} (outbound ${this.outboundPort}): original destination ${d.origDst}:${d.origDport}`;
    let svc: ServiceView | null = null;
    if (req) svc = mesh.registry.byHost(req.host, this.o.namespace) ?? byIp?.service ?? null;
    else if (tls && tls.hello === 'client') svc = mesh.registry.byHost(tls.name, this.o.namespace) ?? byIp?.service ?? null;
    else svc = byIp?.service ?? null;
    if (svc === null) {
      ctx.note(`${tag}, not a Service: passed through unchanged (PassthroughCluster)`);
      const r = ctx.connect({ proto: 'tcp', dst: d.origDst, dport: d.origDport, payload: d.payload, uid: this.uid, gid: this.gid, label: `envoy passthrough → ${d.origDst}:${d.origDport}` });
      return this.relay(r, req !== null, ctx);
    }
    const vs = mesh.istio.virtualServices.find((v) => v.gateways.includes('mesh') && v.hosts.some((h) => hostMatches(qualifyHost(h, v.namespace, mesh.clusterDomain), svc!.fqdn)));
    let choice: Choice | typeof PASSTHROUGH | null = null;
    if (vs) choice = this.routeIn(vs, req, tls?.name ?? null, d.origDport);
    if (choice === null || choice === PASSTHROUGH) {
      const port = byIp && byIp.service === svc ? byIp.port.port : d.origDport;
      choice = { why: `no VirtualService route: default route to ${svc.fqdn}`, route: [{ host: svc.fqdn, port, subset: null, weight: 100 }], namespace: svc.namespace };
    }
    ctx.note(`${tag}${req ? `, Host ${req.host}` : ''} → ${choice.why}`);
    return this.forward(choice, d, req, ctx, mesh);
  }

  /** Gateway listeners: the Gateway servers selecting this pod on this port. */
  private gateway(d: Delivery, ctx: ProcessContext): Answer {
    const mesh = this.o.mesh();
    const servers: { gw: IstioGateway; server: GatewayServer }[] = [];
    for (const gw of mesh.istio.gateways) {
      if (Object.keys(gw.selector).length === 0 || !labelsMatch(gw.selector, this.o.labels)) continue;
      for (const server of gw.servers) if (this.listenPort(server.port, mesh) === d.dport) servers.push({ gw, server });
    }
    const tag = `envoy on ${ctx.host} (gateway port ${d.dport})`;
    if (servers.length === 0) {
      ctx.note(`${tag}: no Gateway server listens here: connection closed`);
      return { reply: null };
    }
    const req = parseHttpRequest(d.payload);
    const tls = peekTls(d.payload);
    const http = servers.find((s) => s.server.protocol === 'HTTP');
    const pass = servers.find((s) => s.server.tlsMode === 'PASSTHROUGH');
    if (req && http) {
      if (!http.server.hosts.some((h) => hostMatches(h, req.host))) {
        ctx.note(`${tag}: Host ${req.host} is not among Gateway ${http.gw.namespace}/${http.gw.name}'s hosts: 404`);
        return { reply: httpResponse(404, 'Not Found', '') };
      }
      const vs = this.boundVirtualServices(http.gw, mesh).find((v) => v.hosts.some((h) => hostMatches(h, req.host)));
      const choice = vs ? this.routeIn(vs, req, null, http.server.port) : null;
      if (choice === null || choice === PASSTHROUGH) {
        ctx.note(`${tag}: no route for Host ${req.host} ${req.path}: 404 (NR)`);
        return { reply: httpResponse(404, 'Not Found', '') };
      }
      ctx.note(`${tag}: HTTP ${req.method} ${req.path}, Host ${req.host} → ${choice.why}`);
      return this.forward(choice, d, req, ctx, mesh);
    }
    if (tls && tls.hello === 'client' && pass) {
      const vs = this.boundVirtualServices(pass.gw, mesh).find((v) => v.hosts.some((h) => hostMatches(h, tls.name)));
      const choice = vs ? this.routeIn(vs, null, tls.name, pass.server.port) : null;
      if (choice === null || choice === PASSTHROUGH) {
        ctx.note(`${tag}: TLS passthrough, no route for SNI ${tls.name}: connection reset`);
        return { reply: null };
      }
      ctx.note(`${tag}: TLS passthrough, routed by SNI ${tls.name} without decrypting → ${choice.why}`);
      return this.forward(choice, d, null, ctx, mesh);
    }
    ctx.note(`${tag}: ${req ? 'HTTP' : tls ? 'TLS' : 'data'} on a listener that does not take it: connection closed`);
    return { reply: null };
  }

  /** The ports this proxy listens on: 15001/15006 for a sidecar; a gateway's Gateway servers' container ports. */
  listenPorts(mesh: MeshView): number[] {
    if (this.o.role === 'sidecar') return [this.outboundPort, this.inboundPort];
    const out = new Set<number>();
    for (const gw of mesh.istio.gateways) {
      if (Object.keys(gw.selector).length === 0 || !labelsMatch(gw.selector, this.o.labels)) continue;
      for (const server of gw.servers) out.add(this.listenPort(server.port, mesh));
    }
    return [...out].sort((a, b) => a - b);
  }

  /**
   * The container port a Gateway server port listens on. Istio maps a server port to the
   * targetPort of the Service port of that number in front of the gateway pods; without
   * such a Service the pod listens on the number itself.
   */
  private listenPort(serverPort: number, mesh: MeshView): number {
    for (const s of mesh.registry.list()) {
      if (s.namespace !== this.o.namespace || s.selector === null || !labelsMatch(s.selector, this.o.labels)) continue;
      const sp = s.object.ports.find((x) => x.port === serverPort);
      if (!sp) continue;
      if (typeof sp.targetPort === 'number') return sp.targetPort;
      if (sp.targetPort === null) return sp.port;
      const ep = s.ports.find((x) => x.port === serverPort)?.endpoints[0];
      if (ep) return ep.port;
    }
    return serverPort;
  }

  private boundVirtualServices(gw: IstioGateway, mesh: MeshView): IstioVirtualService[] {
    return mesh.istio.virtualServices.filter((v) => v.gateways.some((g) => g === `${gw.namespace}/${gw.name}` || (g === gw.name && v.namespace === gw.namespace)));
  }

  /** The first rule of `vs` that matches. */
  private routeIn(vs: IstioVirtualService, req: HttpRequest | null, sni: string | null, port: number): Choice | typeof PASSTHROUGH | null {
    const id = `VirtualService ${vs.namespace}/${vs.name}`;
    if (req) {
      for (let i = 0; i < vs.http.length; i++) {
        const r = vs.http[i]!;
        if (r.match.length === 0 || r.match.some((m) => httpMatch(m, req, port))) {
          return { why: `${id} http[${i}]${r.name ? ` "${r.name}"` : ''}`, route: r.route, namespace: vs.namespace };
        }
      }
      return null;
    }
    if (sni !== null) {
      for (let i = 0; i < vs.tls.length; i++) {
        const r = vs.tls[i]!;
        if (r.match.some((m) => m.sniHosts.some((h) => hostMatches(h, sni)) && (m.port === null || m.port === port))) {
          return { why: `${id} tls[${i}] (SNI ${sni})`, route: r.route, namespace: vs.namespace };
        }
      }
    }
    for (let i = 0; i < vs.tcp.length; i++) {
      const r = vs.tcp[i]!;
      if (r.match.length === 0 || r.match.some((m) => m.port === null || m.port === port)) return { why: `${id} tcp[${i}]`, route: r.route, namespace: vs.namespace };
    }
    return null;
  }

  /** Picks a destination and an endpoint, connects, relays. */
  private forward(choice: Choice, d: Delivery, req: HttpRequest | null, ctx: ProcessContext, mesh: MeshView): Answer {
    const i = choice.route.length === 1 ? 0 : pickWeighted(ctx.rng, choice.route.map((r) => r.weight));
    const dest = choice.route[i]!;
    const total = choice.route.reduce((s, r) => s + r.weight, 0);
    const fqdn = qualifyHost(dest.host, choice.namespace, mesh.clusterDomain);
    const svc = mesh.registry.byHost(fqdn, choice.namespace);
    const weightText = choice.route.length > 1 ? ` (weight ${dest.weight} of ${total})` : '';
    if (!svc) {
      ctx.note(`envoy on ${ctx.host}: destination ${fqdn} is not a known Service: 503`);
      return this.fail(req, 'no healthy upstream');
    }
    const port: ServicePortView | null = mesh.registry.port(svc, dest.port);
    if (!port) {
      ctx.note(`envoy on ${ctx.host}: ${fqdn} has no port ${dest.port ?? '(several ports: the route must name one)'}: 503`);
      return this.fail(req, 'no healthy upstream');
    }
    let eps = port.endpoints.filter((e) => e.ready);
    let subsetText = '';
    if (dest.subset !== null) {
      const dr = mesh.istio.destinationRules.find((r) => qualifyHost(r.host, r.namespace, mesh.clusterDomain) === svc.fqdn && r.subsets.some((s) => s.name === dest.subset));
      const sub = dr?.subsets.find((s) => s.name === dest.subset);
      if (!sub) {
        ctx.note(`envoy on ${ctx.host}: no DestinationRule defines subset ${dest.subset} of ${svc.fqdn}: 503 (NR)`);
        return this.fail(req, 'no healthy upstream');
      }
      eps = eps.filter((e) => labelsMatch(sub.labels, e.labels));
      subsetText = ` subset ${dest.subset} (${Object.entries(sub.labels).map(([k, v]) => `${k}=${v}`).join(',')})`;
    }
    if (eps.length === 0) {
      ctx.note(`envoy on ${ctx.host}: ${svc.fqdn}:${port.port}${subsetText} has no ready endpoint: 503`);
      return this.fail(req, 'no healthy upstream');
    }
    const ep = eps[eps.length === 1 ? 0 : scaleU32(ctx.rng.nextU32(), eps.length)]!;
    ctx.note(`envoy on ${ctx.host}: → ${svc.fqdn}:${port.port}${subsetText}${weightText} → endpoint ${ep.ip}:${ep.port}${ep.pod ? ` (${ep.pod})` : ''}`);
    let payload = d.payload;
    if (req && this.o.role === 'gateway') {
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) if (k !== 'host') headers[k] = v;
      headers['x-forwarded-for'] = headers['x-forwarded-for'] ? `${headers['x-forwarded-for']}, ${d.src}` : d.src;
      payload = httpRequest({ method: req.method, path: req.path, host: req.headers['host'] ?? req.host, headers });
    }
    const r = ctx.connect({
      proto: 'tcp', dst: ep.ip, dport: ep.port, payload, uid: this.uid, gid: this.gid,
      label: `envoy on ${ctx.host} → ${ep.pod ?? ep.ip} ${ep.ip}:${ep.port}`,
    });
    return this.relay(r, req !== null, ctx);
  }

  private relay(r: { ok: boolean; reply: string | null; failure: string | null }, http: boolean, ctx: ProcessContext): Answer {
    if (r.ok) return { reply: r.reply };
    ctx.note(`envoy on ${ctx.host}: upstream failed (${r.failure}): ${http ? '503 to the client' : 'connection reset'}`);
    return http ? { reply: httpResponse(503, 'Service Unavailable', 'upstream connect error or disconnect/reset before headers') } : { reply: null };
  }

  private fail(req: HttpRequest | null, body: string): Answer {
    return req ? { reply: httpResponse(503, 'Service Unavailable', body) } : { reply: null };
  }
}

function httpMatch(m: HttpMatch, req: HttpRequest, port: number): boolean {
  if (m.port !== null && m.port !== port) return false;
  if (m.uri !== null && !stringMatches(m.uri, req.path)) return false;
  if (m.authority !== null && !stringMatches(m.authority, req.headers['host'])) return false;
  for (const [k, sm] of Object.entries(m.headers)) if (!stringMatches(sm, req.headers[k])) return false;
  return true;
}
