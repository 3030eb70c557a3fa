/**
 * Interfaces, addresses and routes of one host, and the routing decision: the local table
 * (own addresses, their broadcast addresses, 127.0.0.0/8 on lo) is consulted before the
 * main table, as the kernel's default fib rules do; longest prefix wins, then the lowest
 * metric. Configuration-time code; lookups are linear over the (small) tables.
 */
import {
  NfemuError, cidrContains, formatCidr, parseCidr, parseIpOf, prefixMask, makeCidr, type Cidr, type Family,
} from '../core/index.ts';
import { RTN_BLACKHOLE, RTN_BROADCAST, RTN_LOCAL, RTN_MULTICAST, RTN_PROHIBIT, RTN_UNICAST, RTN_UNREACHABLE } from '../xtables/index.ts';

export interface IfaceAddr {
  readonly family: Family;
  readonly addr: Uint32Array;
  readonly prefix: number;
}

export interface Iface {
  readonly name: string;
  readonly addrs: IfaceAddr[];
  /** Dummy devices (kube-ipvs0) hold local addresses but route nothing. */
  readonly kind: 'veth' | 'loopback' | 'dummy' | 'bridge';
}

export interface Route {
  readonly family: Family;
  readonly dst: Cidr;
  readonly type: number; // RTN_*
  readonly dev: string | null;
  readonly via: Uint32Array | null;
  readonly src: Uint32Array | null;
  readonly metric: number;
  /** true for the local table (own addresses), false for main. */
  readonly local: boolean;
}

export interface RouteResult {
  readonly type: number;
  readonly dev: string | null;
  readonly via: Uint32Array | null;
  readonly route: Route | null;
}

const TYPE_WORDS: Record<string, number> = {
  unicast: RTN_UNICAST, local: RTN_LOCAL, broadcast: RTN_BROADCAST, multicast: RTN_MULTICAST,
  blackhole: RTN_BLACKHOLE, unreachable: RTN_UNREACHABLE, prohibit: RTN_PROHIBIT,
};

/** Parses one `ip route` line: `[TYPE] PREFIX|default [via GW] [dev DEV] [src ADDR] [metric N] [proto X] [scope Y]`. */
export function parseRoute(text: string, defaultFamily: Family = 4): Route {
  const w = text.trim().split(/\s+/);
  const bad = (m: string, tok?: string): never => {
    throw new NfemuError('PARSE', `route "${text}": ${m}`, { token: tok });
  };
  let i = 0;
  let type = RTN_UNICAST;
  if (TYPE_WORDS[w[0]!] !== undefined) type = TYPE_WORDS[w[i++]!]!;
  const dstText = w[i++];
  if (!dstText) bad('missing destination');
  let family: Family = defaultFamily;
  let dst: Cidr | null;
  if (dstText === 'default') dst = makeCidr(family, new Uint32Array(4), new Uint32Array(4));
  else {
    family = dstText!.includes(':') ? 6 : 4;
    dst = parseCidr(family, dstText!);
  }
  if (!dst) bad(`bad destination "${dstText}"`, dstText);
  let dev: string | null = null;
  let via: Uint32Array | null = null;
  let src: Uint32Array | null = null;
  let metric = 0;
  while (i < w.length) {
    const k = w[i++]!;
    const v = w[i++];
    if (v === undefined) bad(`"${k}" needs a value`, k);
    switch (k) {
      case 'dev': dev = v!; break;
      case 'via': {
        const g = parseIpOf(family, v!);
        if (!g) bad(`bad gateway "${v}"`, v);
        via = g!.w;
        break;
      }
      case 'src': {
        const s = parseIpOf(family, v!);
        if (!s) bad(`bad src "${v}"`, v);
        src = s!.w;
        break;
      }
      case 'metric': metric = Number(v); break;
      case 'proto': case 'scope': case 'table': break;
      default: bad(`unknown word "${k}"`, k);
    }
  }
  if (type === RTN_UNICAST && dev === null && via === null) bad('needs "dev" or "via"');
  return { family, dst: dst!, type, dev, via, src, metric, local: false };
}

export function formatRoute(r: Route): string {
  return `${r.type === RTN_UNICAST ? '' : Object.keys(TYPE_WORDS).find((k) => TYPE_WORDS[k] === r.type) + ' '}${formatCidr(r.dst)}${r.dev ? ` dev ${r.dev}` : ''}`;
}

const LOOPBACK = parseCidr(4, '127.0.0.0/8')!;

/**
 * A route table compiled for lookups: entries sorted by prefix length (longest first),
 * then metric, in numeric columns, so the first hit is the answer. Hot path:
 * allocation-free; each entry has a preallocated RouteResult.
 */
class CompiledRoutes {
  readonly n: number;
  readonly addr: Uint32Array;
  readonly mask: Uint32Array;
  readonly family: Uint8Array;
  readonly routes: Route[];
  readonly results: RouteResult[];
  /** IPv4 host routes (/32) by address: the first (best) index for each, so a table of many local addresses (kube-ipvs0's VIPs) is searched in O(1). */
  private readonly host4 = new Map<number, number>();
  /** Index of the first route that is not an IPv4 /32 (the linear part of the search). */
  private readonly firstOther: Int32Array;

  constructor(routes: Route[]) {
    const sorted = routes.slice().sort((a, b) => b.dst.prefix - a.dst.prefix || a.metric - b.metric);
    this.n = sorted.length;
    this.routes = sorted;
    this.addr = new Uint32Array(4 * this.n);
    this.mask = new Uint32Array(4 * this.n);
    this.family = new Uint8Array(this.n);
    sorted.forEach((r, i) => {
      this.addr.set(r.dst.addr, 4 * i);
      this.mask.set(r.dst.mask, 4 * i);
      this.family[i] = r.family;
    });
    this.results = sorted.map((r) => ({ type: r.type, dev: r.dev, via: r.via, route: r }));
    const others: number[] = [];
    sorted.forEach((r, i) => {
      if (r.family === 4 && r.dst.prefix === 32) {
        if (!this.host4.has(r.dst.addr[0]!)) this.host4.set(r.dst.addr[0]!, i);
      } else others.push(i);
    });
    this.firstOther = Int32Array.from(others);
  }

  /** Index of the best route for w (or -1); with dev, only routes on that device. Hot path. */
  find(family: Family, w: Uint32Array, dev: string | null): number {
    if (family === 4) {
      // A /32 is the longest prefix there is: an exact hit is the answer.
      const h = this.host4.get(w[0]!);
      if (h !== undefined && (dev === null || this.routes[h]!.dev === dev)) return h;
      if (h !== undefined) return this.scanAll(family, w, dev);
    }
    const a = this.addr;
    const m = this.mask;
    const w0 = w[0]!, w1 = w[1]!, w2 = w[2]!, w3 = w[3]!;
    const others = this.firstOther;
    for (let j = 0; j < others.length; j++) {
      const i = others[j]!;
      if (this.family[i] !== family) continue;
      const b = 4 * i;
      if (((w0 & m[b]!) >>> 0) !== a[b] || ((w1 & m[b + 1]!) >>> 0) !== a[b + 1] || ((w2 & m[b + 2]!) >>> 0) !== a[b + 2] || ((w3 & m[b + 3]!) >>> 0) !== a[b + 3]) continue;
      if (dev !== null && this.routes[i]!.dev !== dev) continue;
      return i;
    }
    return -1;
  }

  /** Every entry in order (a device-restricted lookup whose exact hit is on another device). */
  private scanAll(family: Family, w: Uint32Array, dev: string | null): number {
    const a = this.addr;
    const m = this.mask;
    for (let i = 0; i < this.n; i++) {
      if (this.family[i] !== family) continue;
      const b = 4 * i;
      if (((w[0]! & m[b]!) >>> 0) !== a[b] || ((w[1]! & m[b + 1]!) >>> 0) !== a[b + 1] || ((w[2]! & m[b + 2]!) >>> 0) !== a[b + 2] || ((w[3]! & m[b + 3]!) >>> 0) !== a[b + 3]) continue;
      if (dev !== null && this.routes[i]!.dev !== dev) continue;
      return i;
    }
    return -1;
  }
}

const UNREACHABLE: RouteResult = { type: RTN_UNREACHABLE, dev: null, via: null, route: null };

/** The host's addressing: interfaces, the local table and the main table. */
export class Routing {
  readonly ifaces = new Map<string, Iface>();
  readonly main: Route[] = [];
  private localC = new CompiledRoutes([]);
  private mainC = new CompiledRoutes([]);
  /** Addresses changed since the compiled tables were built (rebuilt on the next lookup). */
  private dirty = false;

  constructor() {
    this.ifaces.set('lo', { name: 'lo', addrs: [], kind: 'loopback' });
    this.rebuildLocal();
  }

  addIface(name: string, kind: Iface['kind'] = 'veth'): Iface {
    if (name.length > 15) throw new NfemuError('PARSE', `interface name \`${name}' is longer than 15 characters`, { token: name });
    let i = this.ifaces.get(name);
    if (!i) {
      i = { name, addrs: [], kind };
      this.ifaces.set(name, i);
    }
    return i;
  }

  /** Adds `addr/prefix` to an interface, with its connected route (as `ip addr add` does). */
  addAddr(ifaceName: string, text: string): void {
    const iface = this.ifaces.get(ifaceName) ?? this.addIface(ifaceName);
    const family: Family = text.includes(':') ? 6 : 4;
    const slash = text.indexOf('/');
    const ip = parseIpOf(family, slash < 0 ? text : text.slice(0, slash));
    const prefix = slash < 0 ? (family === 4 ? 32 : 128) : Number(text.slice(slash + 1));
    if (!ip || !Number.isInteger(prefix) || prefix < 0 || prefix > (family === 4 ? 32 : 128)) {
      throw new NfemuError('PARSE', `bad address "${text}" for ${ifaceName}`, { token: text });
    }
    iface.addrs.push({ family, addr: ip.w, prefix });
    this.dirty = true;
    const max = family === 4 ? 32 : 128;
    if (prefix < max && iface.kind !== 'dummy') {
      this.main.push({ family, dst: makeCidr(family, ip.w, prefixMask(family, prefix)), type: RTN_UNICAST, dev: ifaceName, via: null, src: ip.w, metric: 0, local: false });
    }
  }

  addRoute(r: Route): void {
    if (r.dev !== null && !this.ifaces.has(r.dev)) throw new NfemuError('PARSE', `route ${formatRoute(r)}: no interface "${r.dev}"`, { token: r.dev });
    this.main.push(r);
    this.mainC = new CompiledRoutes(this.main);
  }

  private rebuildLocal(): void {
    const t: Route[] = [];
    t.push({ family: 4, dst: LOOPBACK, type: RTN_LOCAL, dev: 'lo', via: null, src: null, metric: 0, local: true });
    t.push({ family: 6, dst: parseCidr(6, '::1/128')!, type: RTN_LOCAL, dev: 'lo', via: null, src: null, metric: 0, local: true });
    for (const i of this.ifaces.values()) {
      for (const a of i.addrs) {
        const max = a.family === 4 ? 32 : 128;
        t.push({ family: a.family, dst: makeCidr(a.family, a.addr, prefixMask(a.family, max)), type: RTN_LOCAL, dev: i.name, via: null, src: a.addr, metric: 0, local: true });
        if (a.family === 4 && a.prefix < 31) {
          const mask = prefixMask(4, a.prefix)[0]!;
          const bcast = new Uint32Array(4);
          bcast[0] = (a.addr[0]! | ~mask) >>> 0;
          t.push({ family: 4, dst: makeCidr(4, bcast, prefixMask(4, 32)), type: RTN_BROADCAST, dev: i.name, via: null, src: a.addr, metric: 0, local: true });
        }
      }
    }

    this.dirty = false;
    this.localC = new CompiledRoutes(t);
    this.mainC = new CompiledRoutes(this.main);
  }

  /** Route type of an address (inet_addr_type / inet_dev_addr_type when dev is given). Hot path. */
  addrType(family: Family, w: Uint32Array, dev: string | null): number {
    if (this.dirty) this.rebuildLocal();
    if (family === 4) {
      // __inet_dev_addr_type: 0.0.0.0/8 and 255.255.255.255 are broadcast, 224/4 multicast.
      const a = w[0]!;
      if (a >>> 24 === 0 || a === 0xffffffff) return RTN_BROADCAST;
      if (a >>> 28 === 0xe) return RTN_MULTICAST;
    } else if (w[0]! >>> 24 === 0xff) {
      return RTN_MULTICAST;
    }
    const l = this.localC.find(family, w, dev);
    if (l >= 0) return this.localC.routes[l]!.type;
    const m = this.mainC.find(family, w, null);
    return m >= 0 ? this.mainC.routes[m]!.type : RTN_UNICAST;
  }

  /** The routing decision for a destination (local table first, then main). Hot path: no allocation. */
  lookup(family: Family, w: Uint32Array): RouteResult {
    if (this.dirty) this.rebuildLocal();
    const l = this.localC.find(family, w, null);
    if (l >= 0) return this.localC.results[l]!;
    const m = this.mainC.find(family, w, null);
    return m >= 0 ? this.mainC.results[m]! : UNREACHABLE;
  }

  /**
   * The route out of a bound device (SO_BINDTODEVICE): the best main-table route through
   * `dev`, else on-link through it. Local addresses of other devices are not local here:
   * the packet leaves by `dev`, as the kernel sends it.
   */
  lookupVia(family: Family, w: Uint32Array, dev: string): RouteResult {
    if (this.dirty) this.rebuildLocal();
    if (dev === 'lo') return this.lookup(family, w);
    const l = this.localC.find(family, w, dev);
    if (l >= 0) return this.localC.results[l]!;
    const m = this.mainC.find(family, w, dev);
    if (m >= 0) return this.mainC.results[m]!;
    return { type: RTN_UNICAST, dev, via: null, route: null };
  }

  /**
   * The first primary address of `dev` (the one REDIRECT uses); with `near`, one whose
   * subnet holds `near` is preferred. No fallback to other devices.
   */
  selectAddr(family: Family, dev: string, near: Uint32Array | null, out: Uint32Array): boolean {
    const i = this.ifaces.get(dev);
    if (!i) return false;
    let first: IfaceAddr | null = null;
    for (const a of primaries(i, family)) {
      if (first === null) first = a;
      if (near !== null && cidrContains(makeCidr(family, a.addr, prefixMask(family, a.prefix)), near)) {
        out.set(a.addr);
        return true;
      }
    }
    if (first === null) return false;
    out.set(first.addr);
    return true;
  }

  /**
   * inet_select_addr(dev, near, RT_SCOPE_UNIVERSE), as MASQUERADE calls it: a primary
   * universe-scope address of `dev` (in near's subnet if any); when `dev` has none, the
   * first such address of any device in interface order (loopback addresses have host
   * scope and never qualify).
   */
  selectSourceAddr(family: Family, dev: string, near: Uint32Array | null, out: Uint32Array): boolean {
    const i = this.ifaces.get(dev);
    if (i) {
      let first: IfaceAddr | null = null;
      for (const a of primaries(i, family)) {
        if (isHostScope(a)) continue;
        if (first === null) first = a;
        if (near !== null && cidrContains(makeCidr(family, a.addr, prefixMask(family, a.prefix)), near)) {
          out.set(a.addr);
          return true;
        }
      }
      if (first !== null) {
        out.set(first.addr);
        return true;
      }
    }
    for (const other of this.ifaces.values()) {
      for (const a of primaries(other, family)) {
        if (isHostScope(a)) continue;
        out.set(a.addr);
        return true;
      }
    }
    return false;
  }

  isLoopbackV4(w: Uint32Array): boolean {
    return cidrContains(LOOPBACK, w);
  }
}

/** The primary addresses of a family (an address inside an earlier address's subnet on the same device is secondary). */
function primaries(i: Iface, family: Family): IfaceAddr[] {
  const out: IfaceAddr[] = [];
  for (const a of i.addrs) {
    if (a.family !== family) continue;
    const secondary = out.some((p) => p.prefix === a.prefix && cidrContains(makeCidr(family, p.addr, prefixMask(family, p.prefix)), a.addr));
    if (!secondary) out.push(a);
  }
  return out;
}

/** 127.0.0.0/8 and ::1 get host scope. */
function isHostScope(a: IfaceAddr): boolean {
  if (a.family === 4) return a.addr[0]! >>> 24 === 127;
  return a.addr[0] === 0 && a.addr[1] === 0 && a.addr[2] === 0 && a.addr[3] === 1;
}
