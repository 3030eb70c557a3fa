/**
 * Application data carried in `Packet.payload`, in three small text forms: an HTTP/1.1
 * request or response, a TLS record marked as encrypted, and a DNS question or answer.
 *
 * Only processes read payloads (servers, the proxy, the DNS server, a resolver); netfilter,
 * routing and the L4 load balancer never do. TLS content is "encrypted" by base64 with a
 * marker: a reader that does not terminate TLS sees only the ClientHello's SNI, which is
 * in clear text on the wire as in real TLS 1.2/1.3 (without ECH).
 */
import { Buffer } from 'node:buffer';

/** An HTTP/1.1 request (header names lower-cased, as HTTP/2 and Envoy present them). */
export interface HttpRequest {
  readonly method: string;
  readonly path: string;
  /** The Host header without a port ('' when missing). */
  readonly host: string;
  readonly headers: Readonly<Record<string, string>>;
}

export interface HttpResponse {
  readonly status: number;
  readonly reason: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

/** `GET /path HTTP/1.1` + Host + other headers, CRLF-separated, ending with an empty line. */
export function httpRequest(spec: { method?: string; path?: string; host: string; headers?: Record<string, string> }): string {
  let s = `${spec.method ?? 'GET'} ${spec.path ?? '/'} HTTP/1.1\r\nhost: ${spec.host}\r\n`;
  for (const [k, v] of Object.entries(spec.headers ?? {})) s += `${k.toLowerCase()}: ${v}\r\n`;
  return s + '\r\n';
}

/** Parses an HTTP/1.x request; null when the payload is not one (a proxy then treats it as opaque TCP). */
export function parseHttpRequest(payload: string): HttpRequest | null {
  const end = payload.indexOf('\r\n\r\n');
  if (end < 0) return null;
  const lines = payload.slice(0, end).split('\r\n');
  const m = /^([A-Z]+) (\S+) HTTP\/1\.[01]$/.exec(lines[0]!);
  if (!m) return null;
  const headers: Record<string, string> = {};
  for (const l of lines.slice(1)) {
    const i = l.indexOf(':');
    if (i <= 0) return null;
    headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
  }
  const hostHeader = headers['host'] ?? '';
  return { method: m[1]!, path: m[2]!, host: stripPort(hostHeader), headers };
}

/** `host:port` → `host` (IPv6 literals in brackets keep their brackets). */
export function stripPort(host: string): string {
  if (host.startsWith('[')) {
    const i = host.indexOf(']');
    return i < 0 ? host : host.slice(0, i + 1);
  }
  const i = host.lastIndexOf(':');
  return i < 0 ? host : host.slice(0, i);
}

export function httpResponse(status: number, reason: string, body: string, headers: Record<string, string> = {}): string {
  let s = `HTTP/1.1 ${status} ${reason}\r\n`;
  for (const [k, v] of Object.entries(headers)) s += `${k.toLowerCase()}: ${v}\r\n`;
  return `${s}content-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
}

export function parseHttpResponse(payload: string): HttpResponse | null {
  const end = payload.indexOf('\r\n\r\n');
  if (end < 0) return null;
  const lines = payload.slice(0, end).split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3}) ?(.*)$/.exec(lines[0]!);
  if (!m) return null;
  const headers: Record<string, string> = {};
  for (const l of lines.slice(1)) {
    const i = l.indexOf(':');
    if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
  }
  return { status: Number(m[1]), reason: m[2]!, headers, body: payload.slice(end + 4) };
}

const TLS_HELLO = 'TLS ClientHello sni=';
const TLS_SERVER = 'TLS ServerHello cert=';
const ENCRYPTED = 'encrypted:';

/** A TLS client's first flight: the SNI in clear, the application data encrypted. */
export function tlsClientHello(sni: string, inner: string): string {
  return `${TLS_HELLO}${sni}\n${ENCRYPTED}${Buffer.from(inner, 'utf8').toString('base64')}`;
}

/** A TLS server's answer: the certificate's name in clear, the application data encrypted. */
export function tlsServerHello(certName: string, inner: string): string {
  return `${TLS_SERVER}${certName}\n${ENCRYPTED}${Buffer.from(inner, 'utf8').toString('base64')}`;
}

export interface TlsRecord {
  readonly hello: 'client' | 'server';
  /** SNI (client) or certificate name (server): the part readable without the keys. */
  readonly name: string;
  /** Length of the encrypted part in bytes, as an observer would see it. */
  readonly encryptedBytes: number;
}

/** What anyone on the path can read of a TLS payload (the SNI), or null when it is not TLS. */
export function peekTls(payload: string): TlsRecord | null {
  const client = payload.startsWith(TLS_HELLO);
  if (!client && !payload.startsWith(TLS_SERVER)) return null;
  const nl = payload.indexOf('\n');
  if (nl < 0) return null;
  const name = payload.slice(client ? TLS_HELLO.length : TLS_SERVER.length, nl);
  const rest = payload.slice(nl + 1);
  if (!rest.startsWith(ENCRYPTED)) return null;
  return { hello: client ? 'client' : 'server', name, encryptedBytes: Buffer.from(rest.slice(ENCRYPTED.length), 'base64').length };
}

/** Decrypts a TLS payload: only an endpoint holding the keys (the terminating server, the client) calls this. */
export function openTls(payload: string): { name: string; inner: string } | null {
  const r = peekTls(payload);
  if (r === null) return null;
  const nl = payload.indexOf('\n');
  return { name: r.name, inner: Buffer.from(payload.slice(nl + 1 + ENCRYPTED.length), 'base64').toString('utf8') };
}

/** DNS response codes nfemu uses (RFC 1035 RCODE names), plus NODATA (NOERROR with no answer). */
export type DnsRcode = 'NOERROR' | 'NXDOMAIN' | 'SERVFAIL' | 'REFUSED';

export interface DnsMessage {
  readonly id: number;
  readonly response: boolean;
  readonly type: 'A';
  /** Fully qualified, without the trailing dot. */
  readonly name: string;
  readonly rcode: DnsRcode;
  readonly answers: readonly string[];
}

/** `DNS query id=7 A web.default.svc.cluster.local` (one A question; the trailing dot is dropped). */
export function dnsQuery(id: number, name: string): string {
  return `DNS query id=${id} A ${name.replace(/\.$/, '')}`;
}

/** `DNS response id=7 A web.default.svc.cluster.local NOERROR 10.96.0.20`. */
export function dnsResponse(id: number, name: string, rcode: DnsRcode, answers: readonly string[]): string {
  return `DNS response id=${id} A ${name} ${rcode}${answers.length ? ' ' + answers.join(',') : ''}`;
}

export function parseDns(payload: string): DnsMessage | null {
  const m = /^DNS (query|response) id=(\d+) A (\S+)(?: (NOERROR|NXDOMAIN|SERVFAIL|REFUSED))?(?: (\S+))?$/.exec(payload);
  if (!m) return null;
  const response = m[1] === 'response';
  if (response !== (m[4] !== undefined)) return null;
  return {
    id: Number(m[2]), response, type: 'A', name: m[3]!, rcode: (m[4] as DnsRcode | undefined) ?? 'NOERROR',
    answers: m[5] ? m[5].split(',') : [],
  };
}

/** A one-line description of a payload for stories and diagrams (never more than the wire shows). */
export function summarizePayload(payload: string): string {
  if (payload === '') return '';
  const tls = peekTls(payload);
  if (tls) return tls.hello === 'client' ? `TLS ClientHello SNI ${tls.name} + ${tls.encryptedBytes} encrypted bytes` : `TLS ServerHello (${tls.name}) + ${tls.encryptedBytes} encrypted bytes`;
  const req = parseHttpRequest(payload);
  if (req) return `HTTP ${req.method} ${req.path} host ${req.host}`;
  const res = parseHttpResponse(payload);
  if (res) return `HTTP ${res.status} ${res.reason}${res.body ? ` "${res.body.length > 60 ? res.body.slice(0, 57) + '...' : res.body}"` : ''}`;
  const dns = parseDns(payload);
  if (dns) return dns.response ? `DNS ${dns.name} ${dns.rcode === 'NOERROR' && dns.answers.length === 0 ? 'NODATA' : dns.rcode}${dns.answers.length ? ' ' + dns.answers.join(',') : ''}` : `DNS A? ${dns.name}`;
  const one = payload.split('\n')[0]!;
  return one.length > 60 ? one.slice(0, 57) + '...' : one;
}
