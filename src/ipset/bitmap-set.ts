/**
 * The bitmap types (net/netfilter/ipset/ip_set_bitmap_{ip,port}.c, ip_set_bitmap_gen.h):
 * one bit per address (bitmap:ip, IPv4, optionally one per netmask block) or per port
 * (bitmap:port, which matches TCP and UDP packets of either family, as
 * ip_set_get_ip_port() allows only those). Elements are listed in ascending order.
 */
import { IPPROTO_TCP, IPPROTO_UDP } from '../core/index.ts';
import type { Packet } from '../packet/index.ts';
import { ADDR_ANY, formatAddr, mask4, parseAddrPart } from './addr.ts';
import { ExtStore } from './ext.ts';
import { ADT_ADD, ADT_DEL, type SetImpl, type SetRef } from './impl.ts';
import {
  IPSET_BITMAP_MAX_RANGE, MSG, TYPE_BITMAP_IP, TYPE_FEATURES, TYPE_NAMES,
  kernelError, syntaxError, type AdtExt, type CreateOptions,
} from './types.ts';

export class BitmapSet implements SetImpl {
  readonly typeName: string;
  readonly dimensions = 1;
  readonly features: number;
  readonly acceptsNomatch = false;
  readonly family: 4 | 0;
  /** bitmap:ip: addresses per element (2^(32 - netmask)); 1 for bitmap:port. */
  private readonly hosts: number;
  private members: Uint8Array;
  ext: ExtStore;

  private constructor(
    readonly type: number,
    /** First and last address (host order) or port. */
    private readonly first: number,
    private readonly last: number,
    private readonly netmask: number,
    private readonly timeout: number,
    ext: ExtStore | null,
    members: Uint8Array | null,
  ) {
    this.typeName = TYPE_NAMES[type]!;
    this.features = TYPE_FEATURES[type]!;
    this.family = type === TYPE_BITMAP_IP ? 4 : 0;
    this.hosts = type === TYPE_BITMAP_IP ? 2 ** (32 - netmask) : 1;
    const elements = Math.floor((last - first) / this.hosts) + 1;
    this.members = members ?? new Uint8Array(elements);
    this.ext = ext ?? new ExtStore(false, false, false, false, 0);
    this.ext.ensure(elements);
  }

  /** bitmap_ip_create / bitmap_port_create with the kernel's range checks. */
  static create(type: number, o: CreateOptions): BitmapSet {
    if (!o.hasRange) throw syntaxError('Missing mandatory argument: range');
    let first = o.rangeFrom;
    let last = o.rangeTo;
    if (first > last) [first, last] = [last, first];
    let netmask = 32;
    if (type === TYPE_BITMAP_IP && o.netmask >= 0) {
      netmask = o.netmask;
      if (netmask === 0 || netmask > 32) throw kernelError(MSG.invalidNetmask);
      first = (first & mask4(netmask)) >>> 0;
      last = (last | ~mask4(netmask)) >>> 0;
    }
    const hosts = type === TYPE_BITMAP_IP ? 2 ** (32 - netmask) : 1;
    if (Math.floor((last - first) / hosts) + 1 > IPSET_BITMAP_MAX_RANGE) throw kernelError(MSG.bitmapRangeSize);
    const set = new BitmapSet(type, first, last, netmask, o.timeout, null, null);
    set.ext = new ExtStore(o.timeout >= 0, o.counters, o.comment, o.skbinfo, set.members.length);
    return set;
  }

  /** The element id of a packet, or -1 when it has none or it is out of range. Hot path. */
  private packetId(pkt: Packet, src: boolean): number {
    let v: number;
    if (this.type === TYPE_BITMAP_IP) {
      if (pkt.family !== 4) return -1;
      v = src ? pkt.saddr[0]! : pkt.daddr[0]!;
    } else {
      if (pkt.proto !== IPPROTO_TCP && pkt.proto !== IPPROTO_UDP) return -1;
      if (pkt.fragment) return -1;
      v = src ? pkt.sport : pkt.dport;
    }
    if (v < this.first || v > this.last) return -1;
    return Math.floor((v - this.first) / this.hosts);
  }

  test(pkt: Packet, dirs: Uint8Array, nowMs: number): boolean {
    if (dirs.length < 1) return false;
    const id = this.packetId(pkt, dirs[0] === 1);
    if (id < 0 || this.members[id] === 0) return false;
    return this.ext.matchHit(id, nowMs, pkt.length);
  }

  kadd(pkt: Packet, dirs: Uint8Array, nowMs: number, timeoutSec: number, exist: boolean): boolean {
    if (dirs.length < 1) return false;
    const id = this.packetId(pkt, dirs[0] === 1);
    if (id < 0) return false;
    if (this.members[id] === 1 && !this.ext.expired(id, nowMs) && !exist) return false;
    this.members[id] = 1;
    this.ext.initFromPacket(id, pkt.length, timeoutSec >= 0 ? timeoutSec : Math.max(0, this.timeout), nowMs);
    return true;
  }

  kdel(pkt: Packet, dirs: Uint8Array, nowMs: number): boolean {
    if (dirs.length < 1) return false;
    const id = this.packetId(pkt, dirs[0] === 1);
    if (id < 0 || this.members[id] === 0 || this.ext.expired(id, nowMs)) return false;
    this.members[id] = 0;
    return true;
  }

  uadt(adt: number, elem: string, ext: AdtExt, exist: boolean, nowMs: number): boolean {
    if (adt === ADT_ADD) this.ext.check(ext);
    if (elem.includes(',')) throw syntaxError(`Elem separator in ${elem}, but settype ${this.typeName} supports none.`, elem);
    let from: number;
    let to: number;
    if (this.type === TYPE_BITMAP_IP) {
      const a = parseAddrPart(elem, 4, ADDR_ANY);
      from = a.ip[0]!;
      to = from;
      if (a.ipTo) {
        to = a.ipTo[0]!;
        if (from > to) [from, to] = [to, from];
      } else if (a.cidr >= 0) {
        if (a.cidr === 0) throw kernelError(MSG.invalidCidr);
        from = (from & mask4(a.cidr)) >>> 0;
        to = (from | ~mask4(a.cidr)) >>> 0;
      }
    } else {
      [from, to] = parsePortRange(elem);
    }
    if (from < this.first || to > this.last) throw kernelError(MSG.bitmapRange);
    if (adt !== ADT_ADD && adt !== ADT_DEL) {
      const id = Math.floor((from - this.first) / this.hosts);
      return this.members[id] === 1 && !this.ext.expired(id, nowMs);
    }
    let result = false;
    for (let id = Math.floor((from - this.first) / this.hosts); id <= Math.floor((to - this.first) / this.hosts); id++) {
      const present = this.members[id] === 1 && !this.ext.expired(id, nowMs);
      if (adt === ADT_ADD) {
        if (present && !exist) throw kernelError(MSG.addExists);
        this.ext.init(id, ext, Math.max(0, this.timeout), nowMs, this.members[id] === 0);
        this.members[id] = 1;
      } else {
        if (!present) {
          if (!exist) throw kernelError(MSG.delMissing);
          continue;
        }
        this.members[id] = 0;
      }
      result = true;
    }
    return result;
  }

  flush(): void {
    this.members.fill(0);
  }

  count(nowMs: number): number {
    let n = 0;
    for (let id = 0; id < this.members.length; id++) if (this.members[id] === 1 && !this.ext.expired(id, nowMs)) n++;
    return n;
  }

  createOptions(): string {
    let s = this.type === TYPE_BITMAP_IP
      ? ` range ${formatAddr(4, Uint32Array.of(this.first, 0, 0, 0), 32)}-${formatAddr(4, Uint32Array.of(this.last, 0, 0, 0), 32)}`
      : ` range ${this.first}-${this.last}`;
    if (this.type === TYPE_BITMAP_IP && this.netmask !== 32) s += ` netmask ${this.netmask}`;
    if (this.timeout >= 0) s += ` timeout ${this.timeout}`;
    if (this.ext.withCounters) s += ' counters';
    if (this.ext.withComment) s += ' comment';
    if (this.ext.withSkbinfo) s += ' skbinfo';
    return s;
  }

  saveMembers(name: string, nowMs: number, out: string[]): void {
    for (let id = 0; id < this.members.length; id++) {
      if (this.members[id] === 0 || this.ext.expired(id, nowMs)) continue;
      const v = this.first + id * this.hosts;
      const elem = this.type === TYPE_BITMAP_IP ? formatAddr(4, Uint32Array.of(v, 0, 0, 0), 32) : String(v);
      out.push(`add ${name} ${elem}${this.ext.format(id, nowMs, false)}`);
    }
  }

  sameSet(other: SetImpl): boolean {
    return other instanceof BitmapSet && other.type === this.type && other.first === this.first &&
      other.last === this.last && other.netmask === this.netmask && other.timeout === this.timeout &&
      other.ext.withCounters === this.ext.withCounters && other.ext.withComment === this.ext.withComment &&
      other.ext.withSkbinfo === this.ext.withSkbinfo;
  }

  clone(_remap: (h: SetRef) => SetRef): SetImpl {
    return new BitmapSet(this.type, this.first, this.last, this.netmask, this.timeout, this.ext.clone(), this.members.slice());
  }
}

/** `[tcp:|udp:]port[-port]` (ipset_parse_tcp_udp_port); the protocol is not stored. */
export function parsePortRange(text: string): [number, number] {
  let t = text;
  const colon = t.indexOf(':');
  if (colon > 0) {
    const proto = t.slice(0, colon).toLowerCase();
    if (proto !== 'tcp' && proto !== 'udp') throw syntaxError('Only protocols TCP and UDP are valid', text);
    t = t.slice(colon + 1);
  }
  const num = (s: string): number => {
    if (!/^[0-9]+$/.test(s)) throw syntaxError(`cannot parse '${s}' as a tcp port`, s);
    const n = Number(s);
    if (n > 65535) throw syntaxError(`'${s}' is out of range 0-65535`, s);
    return n;
  };
  const dash = t.indexOf('-');
  if (dash > 0 && dash < t.length - 1) {
    const a = num(t.slice(0, dash));
    const b = num(t.slice(dash + 1));
    return a <= b ? [a, b] : [b, a];
  }
  const p = num(t);
  return [p, p];
}

