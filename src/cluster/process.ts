/**
 * Simple servers that answer delivered packets: an HTTP server (optionally terminating TLS
 * for some names) and a UDP echo server. Each says in its answer who served it and which
 * client address it saw, which is what most Kubernetes networking questions are about.
 */
import { httpResponse, openTls, parseHttpRequest, peekTls, tlsServerHello } from './payload.ts';
import type { Answer, Delivery, Process, ProcessContext } from './types.ts';

export interface HttpServerOptions {
  /** Name in answers and stories (default "http"). */
  readonly name?: string;
  /** Who is answering (e.g. the pod name) — shown in the body. */
  readonly identity: string;
  /** Names this server holds certificates for: a TLS ClientHello for one of them is terminated here. */
  readonly tlsNames?: readonly string[];
  /** The response body (default: identity, request line and the client address seen). */
  readonly body?: (d: Delivery, path: string) => string;
  readonly uid?: number;
}

/**
 * An HTTP/1.1 server. Plain HTTP gets `200 OK` with a body naming the server and the
 * client address it saw; TLS for a name in `tlsNames` is decrypted, answered the same way
 * and encrypted back; TLS for another name gets an `unrecognized_name` alert; anything
 * else gets `400 Bad Request`.
 */
export class HttpServer implements Process {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
  constructor(private readonly o: HttpServerOptions) {
    this.name = o.name ?? 'http';
    this.uid = o.uid ?? 0;
    this.gid = this.uid;
  }

  handle(d: Delivery, ctx: ProcessContext): Answer {
    const tls = peekTls(d.payload);
    if (tls) {
      if (tls.hello !== 'client' || !(this.o.tlsNames ?? []).includes(tls.name)) {
        ctx.note(`${this.name} on ${ctx.host}: no certificate for SNI ${tls.name}: TLS alert unrecognized_name`);
        return { reply: 'TLS Alert unrecognized_name' };
      }
      const inner = openTls(d.payload)!.inner;
      ctx.note(`${this.name} on ${ctx.host} terminates TLS for ${tls.name} and reads the request inside`);
      const res = this.respond(d, inner, ctx);
      return { reply: tlsServerHello(tls.name, res) };
    }
    return { reply: this.respond(d, d.payload, ctx) };
  }

  private respond(d: Delivery, payload: string, ctx: ProcessContext): string {
    const req = parseHttpRequest(payload);
    if (!req) {
      ctx.note(`${this.name} on ${ctx.host}: not an HTTP request: 400`);
      return httpResponse(400, 'Bad Request', 'bad request');
    }
    const body = this.o.body ? this.o.body(d, req.path) : `${this.o.identity} served ${req.method} ${req.path} to ${d.src}:${d.sport}`;
    ctx.note(`${this.name} on ${ctx.host} answers ${req.method} ${req.path}: it sees the client as ${d.src}:${d.sport}`);
    return httpResponse(200, 'OK', body, { server: this.o.identity });
  }
}

/** A UDP (or TCP) service that answers every message with `<identity>: <payload>`. */
export class EchoServer implements Process {
  readonly name: string;
  readonly uid = 0;
  readonly gid = 0;
  constructor(readonly identity: string, name = 'echo') {
    this.name = name;
  }
  handle(d: Delivery, ctx: ProcessContext): Answer {
    ctx.note(`${this.name} on ${ctx.host} answers ${d.src}:${d.sport}`);
    return { reply: `${this.identity}: ${d.payload}` };
  }
}
