/**
 * The hash types: hash:ip, hash:ip,port, hash:ip,port,ip, hash:ip,port,net, hash:net,
 * hash:net,port (net/netfilter/ipset/ip_set_hash_*.c).
 *
 * Each element is kept as the key the kernel hashes: its struct read as little-endian u32
 * words (see `buildKey`), so bucket choice and `ipset save` order follow the kernel. The
 * packet path builds the key into a per-set scratch array and looks it up: numbers only.
 *
 * Net types keep the stored prefix lengths largest first; a packet is tested against each
 * in turn (mtype_test_cidrs), so the most specific stored prefix decides, and a `nomatch`
 * entry there makes the packet a non-match. Expired entries are skipped.
 */
import { IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP, IPPROTO_UDPLITE, fnv1a, type Family } from '../core/index.ts';
import type { Packet } from '../packet/index.ts';
import { ADDR_ANY, ADDR_IPNET, ADDR_PLAIN, PREFIX_MASKS, formatAddr, mask4, parseAddrPart, rangeToCidr, type AddrPart } from './addr.ts';
import { ExtStore } from './ext.ts';
import { HT_AGAIN, HT_EXIST, HT_FULL, HT_OK, HashTable, type CidrSpec } from './hashtable.ts';
import { ADT_ADD, ADT_DEL, type SetImpl, type SetRef } from './impl.ts';
import { bswap16, bswap32 } from './jhash.ts';
import { formatProtoPort, parseProtoPort, protoWithPorts, type ProtoPort } from './ports.ts';
import {
  AHASH_INIT_SIZE, AHASH_MAX_SIZE, IPSET_DEFAULT_HASHSIZE, IPSET_DEFAULT_MAXELEM, IPSET_MAX_RANGE,
  IPSET_MIMINAL_HASHSIZE, MSG, TYPE_DIMS, TYPE_FEATURES, TYPE_HASH_IP, TYPE_HASH_IPPORT,
  TYPE_HASH_IPPORTIP, TYPE_HASH_IPPORTNET, TYPE_HASH_NET, TYPE_HASH_NETPORT, TYPE_NAMES,
  isNetType, kernelError, syntaxError, type AdtExt, type CreateOptions,
} from './types.ts';

/** Normalised parameters of a hash set (what the kernel keeps and `save` prints). */
interface HashParams {
  maxelem: number;
  timeout: number;
  counters: boolean;
  comment: boolean;
  forceadd: boolean;
  skbinfo: boolean;
  bucketsize: number;
  initval: number;
  netmask: number;
}

export class HashSet implements SetImpl {
  readonly typeName: string;
  readonly dimensions: number;
  readonly features: number;
  readonly acceptsNomatch: boolean;
  /** Address words (1 for IPv4, 4 for IPv6) and key words. */
  private readonly aw: number;
  private readonly kw: number;
  private readonly hostMask: number;
  private readonly scratch: Uint32Array;
  table: HashTable;
  ext: ExtStore;

  private constructor(
    readonly type: number,
    readonly family: Family,
    private readonly p: HashParams,
    table: HashTable | null,
    ext: ExtStore | null,
    hashsize: number,
  ) {
    this.typeName = TYPE_NAMES[type]!;
    this.dimensions = TYPE_DIMS[type]!;
    this.features = TYPE_FEATURES[type]!;
    this.acceptsNomatch = isNetType(type);
    this.aw = family === 4 ? 1 : 4;
    this.hostMask = family === 4 ? 32 : 128;
    this.kw = keyWords(type, this.aw);
    this.scratch = new Uint32Array(this.kw);
    this.ext = ext ?? new ExtStore(p.timeout >= 0, p.counters, p.comment, p.skbinfo, 16);
    this.table = table ?? new HashTable(this.kw, bitsFor(hashsize), p.initval, p.bucketsize, p.maxelem,
      p.forceadd, this.ext, cidrSpec(type, this.aw));
  }

  /**
   * Creates a set from parsed `create` options, applying the kernel's defaults and limits
   * (hashsize ≥ 64 rounded up to a power of two, bucketsize clamped to 2..12 and even).
   * Without an `initval` the kernel draws a random one; nfemu derives it from the set name
   * so runs are reproducible (a deliberate difference).
   */
  static create(type: number, name: string, o: CreateOptions): HashSet {
    let hashsize = o.hashsize >= 0 ? o.hashsize : IPSET_DEFAULT_HASHSIZE;
    if (hashsize < IPSET_MIMINAL_HASHSIZE) hashsize = IPSET_MIMINAL_HASHSIZE;
    let bucketsize = AHASH_MAX_SIZE;
    if (o.bucketsize >= 0) {
      bucketsize = o.bucketsize;
      if (bucketsize < AHASH_INIT_SIZE) bucketsize = AHASH_INIT_SIZE;
      else if (bucketsize > AHASH_MAX_SIZE) bucketsize = AHASH_MAX_SIZE;
      else if (bucketsize % 2) bucketsize += 1;
    }
    const host = o.family === 4 ? 32 : 128;
    if (o.netmask >= 0 && (o.netmask === 0 || o.netmask > host)) throw kernelError(MSG.invalidNetmask);
    const p: HashParams = {
      maxelem: o.maxelem >= 0 ? o.maxelem : IPSET_DEFAULT_MAXELEM,
      timeout: o.timeout,
      counters: o.counters,
      comment: o.comment,
      forceadd: o.forceadd,
      skbinfo: o.skbinfo,
      bucketsize,
      initval: o.initval >= 0 ? o.initval >>> 0 : fnv1a(name),
      netmask: o.netmask >= 0 ? o.netmask : host,
    };
    return new HashSet(type, o.family, p, null, null, hashsize);
  }

  // ---- packet path -------------------------------------------------------------------------

  test(pkt: Packet, dirs: Uint8Array, nowMs: number): boolean {
    if (pkt.family !== this.family || dirs.length < this.dimensions) return false;
    const k = this.scratch;
    const aw = this.aw;
    switch (this.type) {
      case TYPE_HASH_IP: {
        if (!this.putAddr(k, 0, dirs[0] ? pkt.saddr : pkt.daddr, this.p.netmask)) return false;
        return this.hit(k, nowMs, pkt.length);
      }
      case TYPE_HASH_IPPORT: {
        const port = packetPort(pkt, dirs[1] === 1);
        if (port < 0) return false;
        this.putAddr(k, 0, dirs[0] ? pkt.saddr : pkt.daddr, this.hostMask);
        k[aw] = (bswap16(port) | (pkt.proto << 16)) >>> 0;
        return this.hit(k, nowMs, pkt.length);
      }
      case TYPE_HASH_IPPORTIP: {
        const port = packetPort(pkt, dirs[1] === 1);
        if (port < 0) return false;
        this.putAddr(k, 0, dirs[0] ? pkt.saddr : pkt.daddr, this.hostMask);
        this.putAddr(k, aw, dirs[2] ? pkt.saddr : pkt.daddr, this.hostMask);
        k[2 * aw] = (bswap16(port) | (pkt.proto << 16)) >>> 0;
        return this.hit(k, nowMs, pkt.length);
      }
      case TYPE_HASH_IPPORTNET: {
        const port = packetPort(pkt, dirs[1] === 1);
        if (port < 0) return false;
        this.putAddr(k, 0, dirs[0] ? pkt.saddr : pkt.daddr, this.hostMask);
        return this.testCidrs(dirs[2] ? pkt.saddr : pkt.daddr, aw, port, pkt.proto, nowMs, pkt.length);
      }
      case TYPE_HASH_NET:
        return this.testCidrs(dirs[0] ? pkt.saddr : pkt.daddr, 0, 0, 0, nowMs, pkt.length);
      case TYPE_HASH_NETPORT: {
        const port = packetPort(pkt, dirs[1] === 1);
        if (port < 0) return false;
        return this.testCidrs(dirs[0] ? pkt.saddr : pkt.daddr, 0, port, pkt.proto, nowMs, pkt.length);
      }
      default:
        return false;
    }
  }

  /** Exact lookup of the scratch key; counts the hit. */
  private hit(k: Uint32Array, nowMs: number, length: number): boolean {
    const id = this.table.lookup(k, 0);
    return id >= 0 && this.ext.matchHit(id, nowMs, length);
  }

  /**
   * mtype_test_cidrs: tries each stored prefix length, largest first, with the net part of
   * the key (at word `netOff`) masked to it; the first unexpired entry found decides.
   */
  private testCidrs(addr: Uint32Array, netOff: number, port: number, proto: number, nowMs: number, length: number): boolean {
    const t = this.table;
    const k = this.scratch;
    for (let j = 0; j < t.netLen; j++) {
      const cidr = t.netCidrs[j]!;
      this.putAddr(k, netOff, addr, cidr);
      this.putTail(k, port, proto, cidr);
      const id = t.lookup(k, 0);
      if (id < 0 || !this.ext.matchHit(id, nowMs, length)) continue;
      return t.nomatch[id] === 0;
    }
    return false;
  }

  /**
   * Writes address words masked to `prefix` at `off` (little-endian view of the __be32s).
   * Returns false when the result is the all-zero address (hash:ip refuses it).
   */
  private putAddr(k: Uint32Array, off: number, addr: Uint32Array, prefix: number): boolean {
    let any = 0;
    const m = prefix * 4;
    for (let i = 0; i < this.aw; i++) {
      const w = (addr[i]! & PREFIX_MASKS[m + i]!) >>> 0;
      any |= w;
      k[off + i] = bswap32(w);
    }
    return any !== 0;
  }

  /** Writes the trailing word (port/proto/cidr) of a net type's key. */
  private putTail(k: Uint32Array, port: number, proto: number, cidr: number): void {
    const aw = this.aw;
    switch (this.type) {
      case TYPE_HASH_NET:
        k[aw] = (cidr << 24) >>> 0;
        break;
      case TYPE_HASH_NETPORT:
        k[aw] = (bswap16(port) | (proto << 16) | (((cidr - 1) & 0x7f) << 24)) >>> 0;
        break;
      case TYPE_HASH_IPPORTNET:
        k[2 * aw] = (bswap16(port) | (((cidr - 1) & 0x7f) << 16) | (proto << 24)) >>> 0;
        break;
    }
  }

  /** Builds the key the SET target would add/delete (mtype_kadt); false when there is none. */
  private packetKey(pkt: Packet, dirs: Uint8Array): boolean {
    if (pkt.family !== this.family || dirs.length < this.dimensions) return false;
    const k = this.scratch;
    const aw = this.aw;
    // Net types use the largest stored prefix (INIT_CIDR), or the host prefix when empty.
    const cidr = this.table.netLen > 0 ? this.table.netCidrs[0]! : this.hostMask;
    switch (this.type) {
      case TYPE_HASH_IP:
        return this.putAddr(k, 0, dirs[0] ? pkt.saddr : pkt.daddr, this.p.netmask);
      case TYPE_HASH_NET:
        this.putAddr(k, 0, dirs[0] ? pkt.saddr : pkt.daddr, cidr);
        this.putTail(k, 0, 0, cidr);
        return true;
    }
    const port = packetPort(pkt, dirs[1] === 1);
    if (port < 0) return false;
    switch (this.type) {
      case TYPE_HASH_IPPORT:
        this.putAddr(k, 0, dirs[0] ? pkt.saddr : pkt.daddr, this.hostMask);
        k[aw] = (bswap16(port) | (pkt.proto << 16)) >>> 0;
        return true;
      case TYPE_HASH_IPPORTIP:
        this.putAddr(k, 0, dirs[0] ? pkt.saddr : pkt.daddr, this.hostMask);
        this.putAddr(k, aw, dirs[2] ? pkt.saddr : pkt.daddr, this.hostMask);
        k[2 * aw] = (bswap16(port) | (pkt.proto << 16)) >>> 0;
        return true;
      case TYPE_HASH_IPPORTNET:
        this.putAddr(k, 0, dirs[0] ? pkt.saddr : pkt.daddr, this.hostMask);
        this.putAddr(k, aw, dirs[2] ? pkt.saddr : pkt.daddr, cidr);
        this.putTail(k, port, pkt.proto, cidr);
        return true;
      case TYPE_HASH_NETPORT:
        this.putAddr(k, 0, dirs[0] ? pkt.saddr : pkt.daddr, cidr);
        this.putTail(k, port, pkt.proto, cidr);
        return true;
    }
    return false;
  }

  kadd(pkt: Packet, dirs: Uint8Array, nowMs: number, timeoutSec: number, exist: boolean): boolean {
    if (!this.packetKey(pkt, dirs)) return false;
    // A kernel-side add cannot resize the table: a full bucket means no add.
    const t = timeoutSec >= 0 ? timeoutSec : Math.max(0, this.p.timeout);
    return this.table.add(this.scratch, 0, false, exist, nowMs, null, t, pkt.length) === HT_OK;
  }

  kdel(pkt: Packet, dirs: Uint8Array, nowMs: number): boolean {
    if (!this.packetKey(pkt, dirs)) return false;
    return this.table.del(this.scratch, 0, nowMs) === HT_OK;
  }

  // ---- userspace ---------------------------------------------------------------------------

  uadt(adt: number, elem: string, ext: AdtExt, exist: boolean, nowMs: number): boolean {
    if (adt === ADT_ADD) this.ext.check(ext);
    const parts = elem.split(',');
    if (parts.length > this.dimensions) {
      if (this.dimensions === 1) throw syntaxError(`Elem separator in ${elem}, but settype ${this.typeName} supports none.`, elem);
      throw syntaxError(`Elem separator in ${elem}, but settype ${this.typeName} supports ${this.dimensions === 2 ? 'one' : 'two'}.`, elem);
    }
    if (parts.length < this.dimensions) {
      throw syntaxError(`${parts.length === 1 ? 'Second' : 'Third'} element is missing from ${elem}.`, elem);
    }
    const fam = this.family;
    const single = fam === 4 ? ADDR_ANY : ADDR_PLAIN;
    const net = fam === 4 ? ADDR_ANY : ADDR_IPNET;
    let result = false;
    const apply = (key: Uint32Array): void => {
      result = this.applyKey(adt, key, ext, exist, nowMs);
    };
    switch (this.type) {
      case TYPE_HASH_IP: {
        const a = parseAddrPart(parts[0]!, fam, single);
        this.expandIp(a, adt, (ip) => apply(this.keyOf(ip, null, null, 0, 0, 0)));
        break;
      }
      case TYPE_HASH_IPPORT: {
        const a = parseAddrPart(parts[0]!, fam, single);
        const pp = this.checkProto(parseProtoPort(parts[1]!, fam));
        this.expandIp(a, adt, (ip) => this.expandPort(pp, adt, (port) => apply(this.keyOf(ip, null, pp, port, 0, 0))));
        break;
      }
      case TYPE_HASH_IPPORTIP: {
        const a = parseAddrPart(parts[0]!, fam, single);
        const pp = this.checkProto(parseProtoPort(parts[1]!, fam));
        const b = parseAddrPart(parts[2]!, fam, ADDR_PLAIN);
        this.expandIp(a, adt, (ip) => this.expandPort(pp, adt, (port) => apply(this.keyOf(ip, b.ip, pp, port, 0, 0))));
        break;
      }
      case TYPE_HASH_IPPORTNET: {
        const a = parseAddrPart(parts[0]!, fam, single);
        const pp = this.checkProto(parseProtoPort(parts[1]!, fam));
        const b = parseAddrPart(parts[2]!, fam, net);
        this.expandIp(a, adt, (ip) => this.expandPort(pp, adt, (port) =>
          this.expandNet(b, adt, (ip2, cidr) => apply(this.keyOf(ip, ip2, pp, port, cidr, 0)))));
        break;
      }
      case TYPE_HASH_NET: {
        const a = parseAddrPart(parts[0]!, fam, net);
        this.expandNet(a, adt, (ip, cidr) => apply(this.keyOf(ip, null, null, 0, 0, cidr)));
        break;
      }
      case TYPE_HASH_NETPORT: {
        const a = parseAddrPart(parts[0]!, fam, net);
        const pp = this.checkProto(parseProtoPort(parts[1]!, fam));
        this.expandNet(a, adt, (ip, cidr) => this.expandPort(pp, adt, (port) => apply(this.keyOf(ip, null, pp, port, 0, cidr))));
        break;
      }
    }
    return result;
  }

  /** Adds, deletes or tests one key, resizing on a full bucket (userspace only). */
  private applyKey(adt: number, key: Uint32Array, ext: AdtExt, exist: boolean, nowMs: number): boolean {
    if (adt === ADT_ADD) {
      for (;;) {
        const r = this.table.add(key, 0, ext.nomatch, exist, nowMs, ext, Math.max(0, this.p.timeout), 0);
        if (r === HT_OK) return true;
        if (r === HT_EXIST) {
          if (exist) return true;
          throw kernelError(MSG.addExists);
        }
        if (r === HT_FULL) throw kernelError(MSG.hashFull);
        if (r === HT_AGAIN && !this.table.resize(nowMs)) throw kernelError(MSG.hashFull);
      }
    }
    if (adt === ADT_DEL) {
      const r = this.table.del(key, 0, nowMs);
      if (r === HT_EXIST && !exist) throw kernelError(MSG.delMissing);
      return r === HT_OK;
    }
    return this.testKey(key, nowMs);
  }

  /** Userspace test: exact match, or for a host-prefix net element the prefix walk. */
  private testKey(key: Uint32Array, nowMs: number): boolean {
    const t = this.table;
    if (isNetType(this.type)) {
      const scratchCidr = cidrOfKey(this.type, key, this.aw);
      if (scratchCidr === this.hostMask) {
        const netOff = this.type === TYPE_HASH_IPPORTNET ? this.aw : 0;
        const addr = new Uint32Array(4);
        for (let i = 0; i < this.aw; i++) addr[i] = bswap32(key[netOff + i]!);
        const port = this.type === TYPE_HASH_NET ? 0 : bswap16(key[netOff === 0 ? this.aw : 2 * this.aw]! & 0xffff);
        const proto = this.type === TYPE_HASH_NETPORT ? (key[this.aw]! >>> 16) & 0xff
          : this.type === TYPE_HASH_IPPORTNET ? key[2 * this.aw]! >>> 24 : 0;
        this.scratch.set(key);
        for (let j = 0; j < t.netLen; j++) {
          const cidr = t.netCidrs[j]!;
          this.putAddr(this.scratch, netOff, addr, cidr);
          this.putTail(this.scratch, port, proto, cidr);
          const id = t.lookup(this.scratch, 0);
          if (id < 0 || this.ext.expired(id, nowMs)) continue;
          return t.nomatch[id] === 0;
        }
        return false;
      }
    }
    const id = t.lookup(key, 0);
    return id >= 0 && !this.ext.expired(id, nowMs) && t.nomatch[id] === 0;
  }

  private checkProto(pp: ProtoPort): ProtoPort {
    if (pp.proto === 0) throw kernelError(MSG.invalidProto);
    return pp;
  }

  /** The element key for one (ip, ip2, port, cidr) combination. */
  private keyOf(ip: Uint32Array, ip2: Uint32Array | null, pp: ProtoPort | null, port: number, cidr2: number, cidr: number): Uint32Array {
    const k = new Uint32Array(this.kw);
    const aw = this.aw;
    const proto = pp ? pp.proto : 0;
    // Ports only mean something for port protocols and ICMP (the kernel zeroes the rest).
    const p = pp && (protoWithPorts(proto) || proto === IPPROTO_ICMP || proto === IPPROTO_ICMPV6) ? port : 0;
    switch (this.type) {
      case TYPE_HASH_IP:
        this.putAddr(k, 0, ip, this.p.netmask);
        break;
      case TYPE_HASH_IPPORT:
        this.putAddr(k, 0, ip, this.hostMask);
        k[aw] = (bswap16(p) | (proto << 16)) >>> 0;
        break;
      case TYPE_HASH_IPPORTIP:
        this.putAddr(k, 0, ip, this.hostMask);
        this.putAddr(k, aw, ip2!, this.hostMask);
        k[2 * aw] = (bswap16(p) | (proto << 16)) >>> 0;
        break;
      case TYPE_HASH_IPPORTNET:
        this.putAddr(k, 0, ip, this.hostMask);
        this.putAddr(k, aw, ip2!, cidr2);
        this.putTail(k, p, proto, cidr2);
        break;
      case TYPE_HASH_NET:
      case TYPE_HASH_NETPORT:
        this.putAddr(k, 0, ip, cidr);
        this.putTail(k, p, proto, cidr);
        break;
    }
    return k;
  }

  /**
   * The addresses of a single-address dimension: one, or for IPv4 adds/deletes an `IP/cidr`
   * or `IP-IP` range stepped by the netmask (hash_ip4_uadt). Tests take the first address.
   */
  private expandIp(a: AddrPart, adt: number, each: (ip: Uint32Array) => void): void {
    if (this.family === 6) {
      if (this.type === TYPE_HASH_IP && isZero(a.ip)) throw kernelError(MSG.hashElem);
      each(a.ip);
      return;
    }
    const nm = this.type === TYPE_HASH_IP ? this.p.netmask : 32;
    let ip = (a.ip[0]! & mask4(nm)) >>> 0;
    if (this.type === TYPE_HASH_IP && ip === 0) throw kernelError(MSG.hashElem);
    if (adt !== ADT_ADD && adt !== ADT_DEL) {
      each(Uint32Array.of(ip, 0, 0, 0));
      return;
    }
    let to = ip;
    if (a.ipTo) {
      to = a.ipTo[0]!;
      if (ip > to) {
        if (to === 0 && this.type === TYPE_HASH_IP) throw kernelError(MSG.hashElem);
        [ip, to] = [to, ip];
      }
    } else if (a.cidr >= 0) {
      if (a.cidr === 0) throw kernelError(MSG.invalidCidr);
      ip = (ip & mask4(a.cidr)) >>> 0;
      to = (ip | ~mask4(a.cidr)) >>> 0;
    }
    const hosts = 2 ** (32 - nm);
    if ((to - ip + 1) / hosts > IPSET_MAX_RANGE) throw kernelError(MSG.erange);
    for (let cur = ip; cur <= to; cur += hosts) each(Uint32Array.of(cur, 0, 0, 0));
  }

  /** The ports of a `from-to` port range (port protocols only). */
  private expandPort(pp: ProtoPort, adt: number, each: (port: number) => void): void {
    if (adt === ADT_ADD || adt === ADT_DEL) {
      if (protoWithPorts(pp.proto)) {
        for (let p = pp.port; p <= pp.portTo; p++) each(p);
        return;
      }
    }
    each(pp.port);
  }

  /**
   * The (address, prefix) blocks of a net dimension: `IP/cidr` (cidr 1..max), or an IPv4
   * `IP-IP` range split into prefixes (ip_set_range_to_cidr).
   */
  private expandNet(a: AddrPart, adt: number, each: (ip: Uint32Array, cidr: number) => void): void {
    const host = this.hostMask;
    if (a.ipTo) {
      if (adt !== ADT_ADD && adt !== ADT_DEL) {
        each(a.ip, host);
        return;
      }
      let ip = a.ip[0]!;
      let to = a.ipTo[0]!;
      if (to < ip) [ip, to] = [to, ip];
      if (ip === 0 && to === 0xffffffff) throw kernelError(MSG.hashRange);
      for (;;) {
        const [last, cidr] = rangeToCidr(ip, to);
        each(Uint32Array.of(ip, 0, 0, 0), cidr);
        if (last >= to) break;
        ip = last + 1;
      }
      return;
    }
    const cidr = a.cidr >= 0 ? a.cidr : host;
    if (cidr === 0 || cidr > host) throw kernelError(MSG.invalidCidr);
    each(a.ip, cidr);
  }

  // ---- management --------------------------------------------------------------------------

  flush(): void {
    this.table.flush();
  }

  count(nowMs: number): number {
    return this.table.count(nowMs);
  }

  createOptions(): string {
    const p = this.p;
    let s = ` family ${this.family === 4 ? 'inet' : 'inet6'} hashsize ${this.table.hashsize} maxelem ${p.maxelem}`;
    if (this.type === TYPE_HASH_IP && p.netmask !== this.hostMask) s += ` netmask ${p.netmask}`;
    if (p.timeout >= 0) s += ` timeout ${p.timeout}`;
    if (p.counters) s += ' counters';
    if (p.comment) s += ' comment';
    if (p.forceadd) s += ' forceadd';
    if (p.skbinfo) s += ' skbinfo';
    s += ` bucketsize ${p.bucketsize} initval 0x${p.initval.toString(16).padStart(8, '0')}`;
    return s;
  }

  saveMembers(name: string, nowMs: number, out: string[]): void {
    this.table.forEach(nowMs, (id) => {
      out.push(`add ${name} ${this.formatEntry(id)}${this.ext.format(id, nowMs, this.table.nomatch[id] === 1)}`);
    });
  }

  /** The element text of entry `id`, as ipset_print_elem prints it. */
  formatEntry(id: number): string {
    const k = this.table.keys;
    const base = id * this.kw;
    const aw = this.aw;
    const fam = this.family;
    const addrAt = (off: number): Uint32Array => {
      const w = new Uint32Array(4);
      for (let i = 0; i < aw; i++) w[i] = bswap32(k[base + off + i]!);
      return w;
    };
    const host = this.hostMask;
    switch (this.type) {
      case TYPE_HASH_IP:
        return formatAddr(fam, addrAt(0), host);
      case TYPE_HASH_IPPORT: {
        const t = k[base + aw]!;
        return `${formatAddr(fam, addrAt(0), host)},${formatProtoPort((t >>> 16) & 0xff, bswap16(t & 0xffff), fam)}`;
      }
      case TYPE_HASH_IPPORTIP: {
        const t = k[base + 2 * aw]!;
        return `${formatAddr(fam, addrAt(0), host)},${formatProtoPort((t >>> 16) & 0xff, bswap16(t & 0xffff), fam)},${formatAddr(fam, addrAt(aw), host)}`;
      }
      case TYPE_HASH_IPPORTNET: {
        const t = k[base + 2 * aw]!;
        const cidr = ((t >>> 16) & 0x7f) + 1;
        return `${formatAddr(fam, addrAt(0), host)},${formatProtoPort(t >>> 24, bswap16(t & 0xffff), fam)},${formatAddr(fam, addrAt(aw), cidr)}`;
      }
      case TYPE_HASH_NET:
        return formatAddr(fam, addrAt(0), k[base + aw]! >>> 24);
      case TYPE_HASH_NETPORT: {
        const t = k[base + aw]!;
        return `${formatAddr(fam, addrAt(0), ((t >>> 24) & 0x7f) + 1)},${formatProtoPort((t >>> 16) & 0xff, bswap16(t & 0xffff), fam)}`;
      }
    }
    return '';
  }

  sameSet(other: SetImpl): boolean {
    if (!(other instanceof HashSet) || other.type !== this.type || other.family !== this.family) return false;
    const a = this.p;
    const b = other.p;
    return a.maxelem === b.maxelem && a.timeout === b.timeout && a.netmask === b.netmask &&
      a.counters === b.counters && a.comment === b.comment && a.skbinfo === b.skbinfo;
  }

  clone(_remap: (h: SetRef) => SetRef): SetImpl {
    const ext = this.ext.clone();
    return new HashSet(this.type, this.family, { ...this.p }, this.table.clone(ext), ext, this.table.hashsize);
  }
}

/** Key words of a type's element struct (sizeof(struct hash_*_elem) / 4). */
function keyWords(type: number, aw: number): number {
  switch (type) {
    case TYPE_HASH_IP: return aw;
    case TYPE_HASH_IPPORT: return aw + 1;
    case TYPE_HASH_IPPORTIP: return 2 * aw + 1;
    case TYPE_HASH_IPPORTNET: return 2 * aw + 1;
    case TYPE_HASH_NET: return aw + 1;
    case TYPE_HASH_NETPORT: return aw + 1;
  }
  return aw;
}

/** Where the prefix length sits in a net type's key (bitfields as GCC lays them out on x86). */
function cidrSpec(type: number, aw: number): CidrSpec | null {
  switch (type) {
    case TYPE_HASH_NET: return { word: aw, shift: 24, mask: 0xff, bias: 0 };
    case TYPE_HASH_NETPORT: return { word: aw, shift: 24, mask: 0x7f, bias: 1 };
    case TYPE_HASH_IPPORTNET: return { word: 2 * aw, shift: 16, mask: 0x7f, bias: 1 };
  }
  return null;
}

function cidrOfKey(type: number, key: Uint32Array, aw: number): number {
  const c = cidrSpec(type, aw)!;
  return ((key[c.word]! >>> c.shift) & c.mask) + c.bias;
}

/** htable_bits: hashsize rounded up to a power of two (fls(hashsize - 1)). */
function bitsFor(hashsize: number): number {
  let bits = 0;
  while (2 ** bits < hashsize) bits++;
  return bits;
}

function isZero(w: Uint32Array): boolean {
  return (w[0]! | w[1]! | w[2]! | w[3]!) === 0;
}

/**
 * The packet's "port" as ipset reads it (ip_set_get_ip4_port / get_port): the source or
 * destination port for tcp/udp/sctp/udplite, type << 8 | code for ICMP and ICMPv6 (whatever
 * the direction), 0 for other protocols; -1 when there is none to read (protocol 0, or a
 * non-first fragment of a protocol with ports). Hot path.
 */
export function packetPort(pkt: Packet, src: boolean): number {
  const proto = pkt.proto;
  if (proto <= 0) return -1;
  switch (proto) {
    case IPPROTO_TCP:
    case IPPROTO_UDP:
    case IPPROTO_SCTP:
    case IPPROTO_UDPLITE:
      if (pkt.fragment) return -1;
      return src ? pkt.sport : pkt.dport;
    case IPPROTO_ICMP:
    case IPPROTO_ICMPV6:
      if (pkt.fragment) return -1;
      return ((pkt.icmpType & 0xff) << 8) | (pkt.icmpCode & 0xff);
    default:
      return 0;
  }
}
