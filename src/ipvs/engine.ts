/**
 * The IPVS engine of one network namespace (ip_vs_core.c, ip_vs_ctl.c, ip_vs_conn.c,
 * ip_vs_xmit.c, ip_vs_nfct.c): the service table, the connection table on the injected
 * clock, and the hook functions the host calls at the kernel's points (nf_hook_ops of
 * ip_vs_core.c, IPv4 and IPv6 alike):
 *
 *   LOCAL_IN   NF_IP_PRI_NAT_SRC - 2 (98)   outHook  replies from real servers, un-NATed to the VIP
 *   LOCAL_IN   NF_IP_PRI_NAT_SRC - 1 (99)   inHook   requests from remote clients: schedule, DNAT, xmit
 *   LOCAL_OUT  NF_IP_PRI_NAT_DST + 1 (-99)  outHook
 *   LOCAL_OUT  NF_IP_PRI_NAT_DST + 2 (-98)  inHook   requests from local clients
 *   FORWARD    100                          outHook
 *
 * (The FORWARD hook at 99, ip_vs_forward_icmp, serves ICMP errors only; see below.)
 *
 * A hook returns NF_ACCEPT, NF_DROP, or NF_STOLEN: the packet was rewritten for a remote
 * real server and must now go out the way ip_vs_nat_xmit sends it — through the whole
 * LOCAL_OUT hook (NF_HOOK(LOCAL_OUT) in ip_vs_nat_send_or_cont) and then POSTROUTING, to
 * the next hop `xmitNextHop` (the real server; for direct routing and tunnelling the
 * packet's own destination stays the VIP). A packet IPVS has handled carries
 * skb->ipvs_property: IPVS hooks pass it untouched from then on.
 *
 * With net.ipv4.vs.conntrack=1 a masqueraded connection's conntrack entry gets its reply
 * tuple rewritten to come from the real server before confirmation (ip_vs_update_conntrack),
 * so the iptables rules of the host (MASQUERADE in POSTROUTING, -m conntrack) see it; with
 * 0 the packet is made untracked (ip_vs_notrack), as the kernel does.
 *
 * Not modelled, on purpose or for lack of the packet fields: ICMP errors about IPVS
 * connections (ip_vs_in_icmp / ip_vs_out_icmp; they pass IPVS unchanged), SCTP connections
 * (SCTP services load and list, SCTP packets pass unchanged), the IPIP/GUE/GRE outer header
 * of tunnelling (the packet keeps its own header and goes to the real server as next hop),
 * the sync daemon, persistence engines (--pe is recorded only), cache_bypass, secure_tcp,
 * the rate estimator (rates print as 0) and ip_vs_todrop / drop_entry.
 */
import {
  IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP, NfemuError, formatWords, prefixMask, protoShort, type Clock, type Family,
} from '../core/index.ts';
import {
  NF_ACCEPT, NF_DROP, NF_STOLEN, NF_INET_LOCAL_IN, NF_INET_LOCAL_OUT, IP_CT_UNTRACKED, IP_CT_IS_REPLY, IPS_CONFIRMED, IPS_DYING,
} from '../netfilter/index.ts';
import { Packet, PACKET_HOST, TCP_RST, TCP_SYN, formatTcpFlags } from '../packet/index.ts';
import { Conn, makeTuple, type ConntrackTable } from '../conntrack/index.ts';
import { RTN_LOCAL } from '../xtables/index.ts';
import { ConnTable, IpvsConn } from './conn.ts';
import { TCP_DIR_INPUT, TCP_DIR_INPUT_ONLY, TCP_DIR_OUTPUT, TCP_STATE_ACTIVE, TCP_TIMEOUTS_S, UDP_TIMEOUT_S, tcpNextState } from './proto.ts';
import { IpvsStats, RealServer, ServiceTable, VirtualService } from './service.ts';
import { schedulerByName } from './sched/index.ts';
import {
  FTPDATA, FTPPORT, IP_VS_CONN_F_DROUTE, IP_VS_CONN_F_FWD_MASK, IP_VS_CONN_F_INACTIVE, IP_VS_CONN_F_LOCALNODE, IP_VS_CONN_F_MASQ,
  IP_VS_CONN_F_NFCT, IP_VS_CONN_F_NOOUTPUT, IP_VS_CONN_F_ONE_PACKET, IP_VS_CONN_F_TEMPLATE, IP_VS_CONN_F_TUNNEL,
  IP_VS_CTPL_S_ASSURED, IP_VS_DEST_F_AVAILABLE, IP_VS_DEST_F_OVERLOAD, IP_VS_DIR_INPUT, IP_VS_DIR_OUTPUT, IP_VS_SVC_F_HASHED,
  IP_VS_SVC_F_ONEPACKET, IP_VS_SVC_F_PERSISTENT, IP_VS_TCP_S_ESTABLISHED, IP_VS_TCP_S_FIN_WAIT, IP_VS_TCP_S_TIME_WAIT,
} from './types.ts';

/** What the hooks need from the host for one packet: its conntrack table, address types and a way to send ICMP. */
export interface IpvsEnv {
  readonly conntrack: ConntrackTable | null;
  readonly host: { addrType(family: Family, w: Uint32Array, iface: string | null): number };
  /** Queue a packet the host generated in answer (ICMP port unreachable from ip_vs_leave). */
  emit(pkt: Packet): void;
}

/** Identifies a virtual service: (family, protocol, address, port), or (family, fwmark) with fwmark ≠ 0. */
export interface ServiceKey {
  readonly family: Family;
  readonly protocol: number;
  readonly addr: Uint32Array;
  readonly port: number;
  readonly fwmark: number;
}

/** A virtual service as ipvsadm -A / -E describes it (struct ip_vs_service_user_kern). */
export interface ServiceSpec extends ServiceKey {
  readonly scheduler: string;
  /** IP_VS_SVC_F_PERSISTENT, IP_VS_SVC_F_ONEPACKET, IP_VS_SVC_F_SCHED1..3. */
  readonly flags: number;
  /** Persistence timeout, seconds. */
  readonly timeout: number;
  /** IPv4 mask (host order) or IPv6 prefix length. */
  readonly netmask: number;
  readonly pe?: string;
}

/** A real server as ipvsadm -a / -e describes it (struct ip_vs_dest_user_kern). */
export interface DestSpec {
  readonly family: Family;
  readonly addr: Uint32Array;
  readonly port: number;
  /** IP_VS_CONN_F_MASQ, _DROUTE or _TUNNEL. */
  readonly fwd: number;
  readonly weight: number;
  readonly uThreshold: number;
  readonly lThreshold: number;
}

/** The net.ipv4.vs.* sysctls the engine reads (defaults as in ip_vs_ctl.c). */
export interface IpvsSysctls {
  conntrack: number;
  connReuseMode: number;
  expireNodestConn: number;
  expireQuiescentTemplate: number;
  sloppyTcp: number;
}

const SYSCTL_KEYS: Readonly<Record<string, keyof IpvsSysctls>> = {
  'net.ipv4.vs.conntrack': 'conntrack',
  'net.ipv4.vs.conn_reuse_mode': 'connReuseMode',
  'net.ipv4.vs.expire_nodest_conn': 'expireNodestConn',
  'net.ipv4.vs.expire_quiescent_template': 'expireQuiescentTemplate',
  'net.ipv4.vs.sloppy_tcp': 'sloppyTcp',
};

/** Options of an Ipvs engine. */
export interface IpvsOptions {
  readonly clock: Clock;
}

function isLoopback(family: Family, w: Uint32Array): boolean {
  return family === 4 ? w[0]! >>> 24 === 127 : w[0] === 0 && w[1] === 0 && w[2] === 0 && w[3] === 1;
}


/** The IPVS state of one network namespace. */
export class Ipvs {
  readonly clock: Clock;
  readonly services = new ServiceTable();
  conns = new ConnTable();
  readonly sysctls: IpvsSysctls = { conntrack: 0, connReuseMode: 1, expireNodestConn: 0, expireQuiescentTemplate: 0, sloppyTcp: 0 };
  /** ipvs->tot_stats. */
  readonly totalStats = new IpvsStats();
  /** After a hook returned NF_STOLEN: where the packet goes next (the real server). */
  readonly xmitNextHop = new Uint32Array(4);
  /** Why the last NF_DROP happened, in words. */
  lastReason = '';
  /** Removed servers still referenced by connections (ipvs->dest_trash). */
  private trash: RealServer[] = [];
  /** The packet that carries skb->ipvs_property. */
  private marked: Packet | null = null;
  /** Conntrack table last seen, for ip_vs_conn_drop_conntrack when entries expire. */
  private ct: ConntrackTable | null = null;
  private now = 0;
  /** ip_vs_schedule's *ignored. */
  private ignored = 1;
  private readonly snet = new Uint32Array(4);
  private readonly fwmarkAddr = new Uint32Array(4);

  constructor(opts: IpvsOptions) {
    this.clock = opts.clock;
  }

  /**
   * A new packet enters the host: no packet carries skb->ipvs_property yet. (The mark is
   * kept by identity, as nfemu's Packet has no field for it; hosts that reuse a Packet
   * object for the next packet must call this first.)
   */
  unmark(): void {
    this.marked = null;
  }

  /** Sets a net.ipv4.vs.* sysctl; other keys are ignored. Returns whether the key is one of ours. */
  setSysctl(key: string, value: number): boolean {
    const k = SYSCTL_KEYS[key];
    if (k === undefined) return false;
    this.sysctls[k] = value;
    return true;
  }

  // ------------------------------------------------------------------------------------
  // Configuration (ip_vs_ctl.c). Errors carry the messages ipvsadm prints for the kernel's errno.

  /** The service with this key, or null. */
  findService(k: ServiceKey): VirtualService | null {
    return k.fwmark !== 0 ? this.services.findFwmark(k.family, k.fwmark) : this.services.find(k.family, k.protocol, k.addr, k.port);
  }

  /** ip_vs_add_service. */
  addService(spec: ServiceSpec): VirtualService {
    if (this.findService(spec)) throw new NfemuError('VALIDATE', 'Service already exists');
    const sched = schedulerByName(spec.scheduler);
    const svc = new VirtualService(spec.family, spec.fwmark !== 0 ? 0 : spec.protocol, spec.addr, spec.fwmark !== 0 ? 0 : spec.port, spec.fwmark, sched);
    this.setServiceFields(svc, spec);
    sched.initService(svc);
    this.services.add(svc, FTPPORT);
    return svc;
  }

  /** ip_vs_edit_service: scheduler, flags, timeout, netmask. */
  editService(spec: ServiceSpec): VirtualService {
    const svc = this.findService(spec);
    if (!svc) throw new NfemuError('VALIDATE', 'No such service');
    const sched = schedulerByName(spec.scheduler);
    this.setServiceFields(svc, spec);
    if (sched !== svc.scheduler) {
      svc.scheduler.doneService?.(svc);
      svc.scheduler = sched;
      sched.initService(svc);
    }
    return svc;
  }

  private setServiceFields(svc: VirtualService, spec: ServiceSpec): void {
    svc.flags = spec.flags | IP_VS_SVC_F_HASHED;
    svc.timeout = spec.timeout;
    svc.netmask = spec.netmask;
    svc.pe = spec.pe ?? '';
  }

  /** ip_vs_del_service: its servers go (to the trash while connections use them). */
  deleteService(k: ServiceKey): void {
    const svc = this.findService(k);
    if (!svc) throw new NfemuError('VALIDATE', 'No such service');
    this.removeService(svc);
  }

  private removeService(svc: VirtualService): void {
    svc.scheduler.doneService?.(svc);
    for (const d of svc.dests) this.unlinkDest(d);
    svc.dests = [];
    this.services.remove(svc, FTPPORT);
  }

  /** ipvsadm -C: every service. */
  flush(): void {
    for (const svc of this.services.all()) this.removeService(svc);
  }

  /** ip_vs_add_dest. */
  addDest(k: ServiceKey, spec: DestSpec): RealServer {
    const svc = this.findService(k);
    if (!svc) throw new NfemuError('VALIDATE', 'Service not defined');
    checkDestSpec(spec);
    if (svc.findDest(spec.family, spec.addr, spec.port)) throw new NfemuError('VALIDATE', 'Destination already exists');
    // ip_vs_trash_get_dest: a removed server still in use comes back with its counters.
    let dest = this.trash.find((d) => d.svc === svc && d.family === spec.family && d.port === spec.port &&
      d.addr[0] === spec.addr[0] && d.addr[1] === spec.addr[1] && d.addr[2] === spec.addr[2] && d.addr[3] === spec.addr[3]) ?? null;
    if (dest) this.trash.splice(this.trash.indexOf(dest), 1);
    else dest = new RealServer(svc, spec.family, spec.addr, spec.port);
    this.updateDest(svc, dest, spec, true);
    return dest;
  }

  /** ip_vs_edit_dest. */
  editDest(k: ServiceKey, spec: DestSpec): RealServer {
    const svc = this.findService(k);
    if (!svc) throw new NfemuError('VALIDATE', 'Service not defined');
    checkDestSpec(spec);
    const dest = svc.findDest(spec.family, spec.addr, spec.port);
    if (!dest) throw new NfemuError('VALIDATE', 'No such destination');
    this.updateDest(svc, dest, spec, false);
    return dest;
  }

  /** ip_vs_del_dest. */
  deleteDest(k: ServiceKey, family: Family, addr: Uint32Array, port: number): void {
    const svc = this.findService(k);
    if (!svc) throw new NfemuError('VALIDATE', 'Service not defined');
    const dest = svc.findDest(family, addr, port);
    if (!dest) throw new NfemuError('VALIDATE', 'No such destination');
    const i = svc.dests.indexOf(dest);
    svc.dests.splice(i, 1);
    this.unlinkDest(dest);
    svc.scheduler.delDest?.(svc, dest, i);
  }

  /** __ip_vs_unlink_dest + __ip_vs_del_dest: no longer available; kept while connections use it. */
  private unlinkDest(dest: RealServer): void {
    dest.flags &= ~IP_VS_DEST_F_AVAILABLE;
    if (dest.refs > 0) this.trash.push(dest);
  }

  /** __ip_vs_update_dest. */
  private updateDest(svc: VirtualService, dest: RealServer, spec: DestSpec, add: boolean): void {
    if (add || spec.weight !== 0) dest.lastWeight = spec.weight;
    dest.weight = spec.weight;
    let connFlags = (spec.fwd & IP_VS_CONN_F_FWD_MASK) | IP_VS_CONN_F_INACTIVE;
    if ((connFlags & IP_VS_CONN_F_FWD_MASK) !== IP_VS_CONN_F_MASQ) connFlags |= IP_VS_CONN_F_NOOUTPUT;
    dest.connFlags = connFlags;
    if (dest.svc !== svc) {
      dest.svc = svc;
      dest.stats.zero();
    }
    dest.flags |= IP_VS_DEST_F_AVAILABLE;
    if (spec.uThreshold === 0 || spec.uThreshold > dest.uThreshold) dest.flags &= ~IP_VS_DEST_F_OVERLOAD;
    dest.uThreshold = spec.uThreshold;
    dest.lThreshold = spec.lThreshold;
    if (add) {
      svc.dests.unshift(dest); // list_add_rcu: at the head
      svc.scheduler.addDest?.(svc, dest);
    } else {
      svc.scheduler.updDest?.(svc, dest);
    }
  }

  // ------------------------------------------------------------------------------------
  // Hook functions

  /**
   * ip_vs_in_hook at LOCAL_IN (remote clients) or LOCAL_OUT (local clients): find or create
   * the connection, update its state and transmit. Hot path: allocates only when it
   * creates a connection.
   */
  inHook(hook: number, pkt: Packet, env: IpvsEnv): number {
    if (pkt === this.marked) return NF_ACCEPT;
    if (pkt.pktType !== PACKET_HOST && hook !== NF_INET_LOCAL_OUT) return NF_ACCEPT;
    if (this.services.size === 0) return NF_ACCEPT;
    this.enter(env);
    const proto = pkt.proto;
    if (proto !== IPPROTO_TCP && proto !== IPPROTO_UDP) return NF_ACCEPT;
    const fam = pkt.family;
    let cp = this.conns.findIn(fam, proto, pkt.saddr, pkt.sport, pkt.daddr, pkt.dport);
    if (cp === null && this.conns.noCportCount > 0) cp = this.conns.findIn(fam, proto, pkt.saddr, 0, pkt.daddr, pkt.dport);

    if (cp !== null && proto === IPPROTO_TCP && (pkt.tcpFlags & TCP_SYN) !== 0) {
      // A SYN for an old connection: reschedule it when the kernel would (conn_reuse_mode).
      let oldCt = false;
      let resched = false;
      if (this.sysctls.expireNodestConn !== 0 && cp.dest !== null && cp.dest.weight === 0) {
        resched = true;
        oldCt = usesOldConntrack(pkt);
      } else if (this.sysctls.connReuseMode !== 0 && this.newConnExpected(cp)) {
        oldCt = usesOldConntrack(pkt);
        resched = cp.nControl === 0 ? true : !oldCt;
      }
      if (resched) {
        if (!oldCt) cp.flags &= ~IP_VS_CONN_F_NFCT;
        if (cp.nControl === 0) this.expireNow(cp);
        if (oldCt) return this.dropWith('IPVS: SYN reusing an old connection that is still tracked (conn_reuse_mode)');
        cp = null;
      }
    }

    if (cp !== null && cp.dest !== null && !cp.dest.available) {
      // The destination server is not available (deleted).
      if (this.sysctls.expireNodestConn !== 0) {
        const oldCt = usesOldConntrack(pkt);
        if (!oldCt) cp.flags &= ~IP_VS_CONN_F_NFCT;
        this.expireNow(cp);
        if (oldCt) return this.dropWith('IPVS: the real server of this connection was removed (expire_nodest_conn)');
        cp = null;
      } else {
        return this.dropWith('IPVS: the real server of this connection was removed');
      }
    }

    if (cp === null) {
      const r = this.tryToSchedule(hook, pkt, env);
      if (r === null) return this.verdict;
      cp = r;
    }

    this.inStats(cp, pkt);
    this.setState(cp, IP_VS_DIR_INPUT, pkt);
    const ret = this.xmit(cp, pkt, hook, env);
    if ((cp.flags & IP_VS_CONN_F_ONE_PACKET) === 0) cp.inPkts++;
    this.connPut(cp);
    return ret;
  }

  /**
   * ip_vs_out_hook at LOCAL_IN, LOCAL_OUT and FORWARD: a packet from a real server of a
   * masqueraded connection gets the virtual address and port back as its source
   * (handle_response). Hot path: allocation-free.
   */
  outHook(_hook: number, pkt: Packet, env: IpvsEnv): number {
    if (pkt === this.marked) return NF_ACCEPT;
    if (this.services.size === 0 && this.conns.count === 0) return NF_ACCEPT;
    this.enter(env);
    const proto = pkt.proto;
    if (proto !== IPPROTO_TCP && proto !== IPPROTO_UDP) return NF_ACCEPT;
    const cp = this.conns.findOut(pkt.family, proto, pkt.saddr, pkt.sport, pkt.daddr, pkt.dport);
    if (cp === null) return NF_ACCEPT;
    if (cp.fwdMethod === IP_VS_CONN_F_MASQ) {
      pkt.saddr.set(cp.vaddr);
      pkt.sport = cp.vport;
    }
    this.outStats(cp, pkt);
    this.setState(cp, IP_VS_DIR_OUTPUT, pkt);
    this.marked = pkt;
    if ((cp.flags & IP_VS_CONN_F_NFCT) === 0) notrack(pkt, env);
    else this.updateConntrack(pkt, cp, false);
    this.connPut(cp);
    return NF_ACCEPT;
  }

  /** Removes every entry whose timer is due (the kernel's timers, on our clock). */
  expire(): void {
    this.now = this.clock.nowMs();
    for (let c = this.conns.due(this.now); c !== null; c = this.conns.due(this.now)) this.fire(c);
  }

  private enter(env: IpvsEnv): void {
    this.ct = env.conntrack;
    this.lastReason = '';
    this.expire();
  }

  private verdict = NF_ACCEPT;

  private dropWith(reason: string): number {
    this.lastReason = reason;
    return NF_DROP;
  }

  /** is_new_conn_expected. */
  private newConnExpected(cp: IpvsConn): boolean {
    if (cp.control !== null) return false;
    if (cp.protocol === IPPROTO_TCP) {
      return cp.state === IP_VS_TCP_S_TIME_WAIT ||
        ((this.sysctls.connReuseMode & 2) !== 0 && cp.state === IP_VS_TCP_S_FIN_WAIT && (cp.flags & IP_VS_CONN_F_NOOUTPUT) !== 0);
    }
    return false;
  }

  /**
   * ip_vs_try_to_schedule + tcp/udp_conn_schedule: the new connection, or null with the
   * verdict in `this.verdict` (NF_ACCEPT: not for IPVS; NF_DROP after ip_vs_leave).
   */
  private tryToSchedule(hook: number, pkt: Packet, env: IpvsEnv): IpvsConn | null {
    this.verdict = NF_ACCEPT;
    if (pkt.proto === IPPROTO_TCP) {
      const f = pkt.tcpFlags;
      if ((f & TCP_RST) !== 0 || !(this.sysctls.sloppyTcp !== 0 || (f & TCP_SYN) !== 0)) return null;
    }
    const svc = this.serviceFind(pkt);
    if (svc === null) return null;
    const cp = this.schedule(svc, pkt, hook);
    if (cp === null && this.ignored <= 0) {
      this.verdict = this.ignored === 0 ? this.leave(svc, pkt, hook, env) : this.dropWith('IPVS: could not create the connection');
    }
    return cp;
  }

  /** ip_vs_service_find: fwmark first, then the address, the FTP service, the port-zero service. */
  private serviceFind(pkt: Packet): VirtualService | null {
    const fam = pkt.family;
    if (pkt.mark !== 0) {
      const s = this.services.findFwmark(fam, pkt.mark >>> 0);
      if (s !== null) return s;
    }
    let s = this.services.find(fam, pkt.proto, pkt.daddr, pkt.dport);
    if (s === null && pkt.proto === IPPROTO_TCP && this.services.ftpSvcCount > 0 && (pkt.dport === FTPDATA || pkt.dport >= 1024)) {
      s = this.services.find(fam, pkt.proto, pkt.daddr, FTPPORT);
    }
    if (s === null && this.services.nullSvcCount > 0) s = this.services.find(fam, pkt.proto, pkt.daddr, 0);
    return s;
  }

  /** ip_vs_schedule. */
  private schedule(svc: VirtualService, pkt: Packet, hook: number): IpvsConn | null {
    this.ignored = 1;
    const cport = pkt.sport;
    const vport = pkt.dport;
    if (cport === FTPDATA) return null;
    // Do not schedule replies from a local real server (no skb->dev, or loopback).
    if (hook === NF_INET_LOCAL_OUT || pkt.inIface === 'lo') {
      if (this.conns.findIn(pkt.family, pkt.proto, pkt.daddr, pkt.dport, pkt.saddr, pkt.sport) !== null) return null;
    }
    if ((svc.flags & IP_VS_SVC_F_PERSISTENT) !== 0) return this.schedPersist(svc, pkt, cport, vport);
    this.ignored = 0;
    if (svc.fwmark === 0 && vport !== svc.port) return null; // port zero only for persistent services
    const dest = svc.scheduler.schedule(svc, pkt);
    if (dest === null) return null;
    const flags = (svc.flags & IP_VS_SVC_F_ONEPACKET) !== 0 && pkt.proto === IPPROTO_UDP ? IP_VS_CONN_F_ONE_PACKET : 0;
    const cp = this.connNew(pkt.family, pkt.proto, pkt.saddr, cport, pkt.daddr, vport, dest, dest.port !== 0 ? dest.port : vport, flags, pkt.mark);
    this.connStats(cp, svc);
    return cp;
  }

  /** ip_vs_sched_persist: a connection through the client's template, creating the template if needed. */
  private schedPersist(svc: VirtualService, pkt: Packet, srcPort: number, dstPort: number): IpvsConn | null {
    const fam = svc.family;
    const snet = this.snet;
    if (fam === 4) {
      snet.fill(0);
      snet[0] = (pkt.saddr[0]! & svc.netmask) >>> 0;
    } else {
      const m = prefixMask(6, svc.netmask);
      for (let i = 0; i < 4; i++) snet[i] = (pkt.saddr[i]! & m[i]!) >>> 0;
    }
    let protocol = pkt.proto;
    let vaddr: Uint32Array = pkt.daddr;
    let vport = 0;
    if (dstPort === svc.port) {
      if (svc.port !== FTPPORT) vport = dstPort;
    } else if (svc.fwmark !== 0) {
      protocol = 0; // IPPROTO_IP: the template is keyed by the mark
      this.fwmarkAddr.fill(0);
      this.fwmarkAddr[0] = svc.fwmark;
      vaddr = this.fwmarkAddr;
    }
    let ct = this.conns.findTemplate(fam, protocol, snet, 0, vaddr, vport);
    let dest: RealServer;
    if (ct === null || !this.checkTemplate(ct)) {
      const d = svc.scheduler.schedule(svc, pkt);
      if (d === null) {
        this.ignored = 0;
        return null;
      }
      dest = d;
      const tport = dstPort === svc.port && svc.port !== FTPPORT ? dest.port : 0;
      ct = this.connNew(fam, protocol, snet, 0, vaddr, vport, dest, tport, IP_VS_CONN_F_TEMPLATE, pkt.mark);
      ct.timeoutMs = svc.timeout * 1000;
    } else {
      dest = ct.dest!;
    }
    let dport = dstPort;
    if (dport === svc.port && dest.port !== 0) dport = dest.port;
    const flags = (svc.flags & IP_VS_SVC_F_ONEPACKET) !== 0 && pkt.proto === IPPROTO_UDP ? IP_VS_CONN_F_ONE_PACKET : 0;
    const cp = this.connNew(pkt.family, pkt.proto, pkt.saddr, srcPort, pkt.daddr, dstPort, dest, dport, flags, pkt.mark);
    cp.control = ct; // ip_vs_control_add
    ct.nControl++;
    this.connPut(ct);
    this.connStats(cp, svc);
    return cp;
  }

  /** ip_vs_check_template: a template whose server went away (or is quiescent, with the sysctl) is invalidated. */
  private checkTemplate(ct: IpvsConn): boolean {
    const dest = ct.dest;
    if (dest === null || !dest.available || (this.sysctls.expireQuiescentTemplate !== 0 && dest.weight === 0)) {
      if (ct.vport !== 0xffff) {
        ct.dport = 0xffff;
        ct.vport = 0xffff;
        ct.cport = 0;
        this.conns.rehash(ct);
      }
      return false;
    }
    return true;
  }

  /** ip_vs_leave: no server for a new connection. ICMP port unreachable, and drop. */
  private leave(svc: VirtualService, pkt: Packet, hook: number, env: IpvsEnv): number {
    if (svc.port === FTPPORT && pkt.dport !== FTPPORT) return NF_ACCEPT;
    env.emit(icmpPortUnreachable(pkt, hook, env));
    return this.dropWith('IPVS: no destination available, ICMP port unreachable sent (ip_vs_leave)');
  }

  // ------------------------------------------------------------------------------------
  // Connections (ip_vs_conn.c)

  /** ip_vs_conn_new: bound to `dest`, hashed, its timer armed 3 s out until the first put. */
  private connNew(family: Family, protocol: number, caddr: Uint32Array, cport: number, vaddr: Uint32Array, vport: number,
    dest: RealServer, dport: number, flags: number, fwmark: number): IpvsConn {
    const c = this.conns.create();
    c.family = family;
    c.daf = dest.family;
    c.protocol = protocol;
    c.caddr.set(caddr);
    c.cport = cport;
    c.vaddr.set(vaddr);
    c.vport = vport;
    c.daddr.set(dest.addr);
    c.dport = dport;
    c.flags = flags;
    c.fwmark = fwmark >>> 0;
    this.bindDest(c, dest);
    c.state = 0;
    c.timeoutMs = 3000;
    c.expiresAt = this.now + 3000;
    if (this.sysctls.conntrack !== 0) c.flags |= IP_VS_CONN_F_NFCT;
    this.conns.insert(c);
    return c;
  }

  /** ip_vs_bind_dest: inherit the server's flags; count the connection; set OVERLOAD at the upper threshold. */
  private bindDest(c: IpvsConn, dest: RealServer): void {
    dest.refs++;
    let connFlags = dest.connFlags;
    if (c.protocol !== IPPROTO_UDP) connFlags &= ~IP_VS_CONN_F_ONE_PACKET;
    c.flags |= connFlags;
    c.dest = dest;
    if ((c.flags & IP_VS_CONN_F_TEMPLATE) === 0) {
      if ((c.flags & IP_VS_CONN_F_INACTIVE) === 0) dest.activeConns++;
      else dest.inactConns++;
    } else {
      dest.persistConns++;
    }
    if (dest.uThreshold !== 0 && dest.totalConns >= dest.uThreshold) dest.flags |= IP_VS_DEST_F_OVERLOAD;
  }

  /** ip_vs_unbind_dest: uncount; clear OVERLOAD below the lower threshold (or 3/4 of the upper). */
  private unbindDest(c: IpvsConn): void {
    const dest = c.dest;
    if (dest === null) return;
    if ((c.flags & IP_VS_CONN_F_TEMPLATE) === 0) {
      if ((c.flags & IP_VS_CONN_F_INACTIVE) !== 0) dest.inactConns--;
      else dest.activeConns--;
    } else {
      dest.persistConns--;
    }
    if (dest.lThreshold !== 0) {
      if (dest.totalConns < dest.lThreshold) dest.flags &= ~IP_VS_DEST_F_OVERLOAD;
    } else if (dest.uThreshold !== 0) {
      if (dest.totalConns * 4 < dest.uThreshold * 3) dest.flags &= ~IP_VS_DEST_F_OVERLOAD;
    } else {
      dest.flags &= ~IP_VS_DEST_F_OVERLOAD;
    }
    dest.refs--;
    if (dest.refs === 0 && !dest.available) {
      const i = this.trash.indexOf(dest);
      if (i >= 0) this.trash.splice(i, 1);
    }
  }

  /** ip_vs_conn_put: restart the timer (a one-packet connection expires at once). */
  private connPut(c: IpvsConn): void {
    if ((c.flags & IP_VS_CONN_F_ONE_PACKET) !== 0) {
      this.fire(c);
      return;
    }
    this.conns.setExpiry(c, this.now + c.timeoutMs);
  }

  /** ip_vs_conn_expire_now. */
  private expireNow(c: IpvsConn): void {
    this.conns.setExpiry(c, this.now);
    this.expire();
  }

  /** ip_vs_conn_expire: the timer fired. A template still controlling connections waits 60 s more. */
  private fire(c: IpvsConn): void {
    if (c.nControl > 0) {
      c.timeoutMs = 60000;
      this.conns.setExpiry(c, c.expiresAt + 60000);
      return;
    }
    this.conns.remove(c);
    if (c.control !== null) {
      c.control.nControl--;
      c.control = null;
    }
    if ((c.flags & IP_VS_CONN_F_NFCT) !== 0 && (c.flags & IP_VS_CONN_F_ONE_PACKET) === 0) this.dropConntrack(c);
    this.unbindDest(c);
    this.conns.recycle(c);
  }

  /** ip_vs_conn_drop_conntrack: the conntrack entry of the client-to-virtual tuple goes too. */
  private dropConntrack(c: IpvsConn): void {
    const ctt = this.ct;
    if (ctt === null || c.cport === 0) return;
    const t = makeTuple(c.family, c.protocol, c.caddr, c.cport, c.vaddr, c.vport);
    const node = ctt.findNode(t, 0);
    if (node >= 0) ctt.kill(ctt.connAt(node >> 1));
  }

  /** The protocol's state_transition. */
  private setState(c: IpvsConn, dir: number, pkt: Packet): void {
    if (c.protocol === IPPROTO_UDP) {
      c.timeoutMs = UDP_TIMEOUT_S * 1000;
      if (dir === IP_VS_DIR_OUTPUT) controlAssure(c);
      return;
    }
    if (c.protocol !== IPPROTO_TCP) return;
    let off = dir === IP_VS_DIR_INPUT ? TCP_DIR_INPUT : TCP_DIR_OUTPUT;
    if ((c.flags & IP_VS_CONN_F_NOOUTPUT) !== 0) {
      if (off === TCP_DIR_OUTPUT) c.flags &= ~IP_VS_CONN_F_NOOUTPUT;
      else off = TCP_DIR_INPUT_ONLY;
    }
    const next = tcpNextState(off, pkt.tcpFlags, c.state);
    if (next !== c.state) {
      const dest = c.dest;
      if (dest !== null) {
        if ((c.flags & IP_VS_CONN_F_INACTIVE) === 0 && !TCP_STATE_ACTIVE[next]) {
          dest.activeConns--;
          dest.inactConns++;
          c.flags |= IP_VS_CONN_F_INACTIVE;
        } else if ((c.flags & IP_VS_CONN_F_INACTIVE) !== 0 && TCP_STATE_ACTIVE[next]) {
          dest.activeConns++;
          dest.inactConns--;
          c.flags &= ~IP_VS_CONN_F_INACTIVE;
        }
      }
      if (next === IP_VS_TCP_S_ESTABLISHED) controlAssure(c);
    }
    c.state = next;
    c.timeoutMs = TCP_TIMEOUTS_S[next]! * 1000;
  }

  private inStats(c: IpvsConn, pkt: Packet): void {
    const d = c.dest;
    if (d === null || !d.available) return;
    d.stats.inpkts++;
    d.stats.inbytes += pkt.length;
    d.svc.stats.inpkts++;
    d.svc.stats.inbytes += pkt.length;
    this.totalStats.inpkts++;
    this.totalStats.inbytes += pkt.length;
  }

  private outStats(c: IpvsConn, pkt: Packet): void {
    const d = c.dest;
    if (d === null || !d.available) return;
    d.stats.outpkts++;
    d.stats.outbytes += pkt.length;
    d.svc.stats.outpkts++;
    d.svc.stats.outbytes += pkt.length;
    this.totalStats.outpkts++;
    this.totalStats.outbytes += pkt.length;
  }

  private connStats(c: IpvsConn, svc: VirtualService): void {
    c.dest!.stats.conns++;
    svc.stats.conns++;
    this.totalStats.conns++;
  }

  // ------------------------------------------------------------------------------------
  // Transmission (ip_vs_xmit.c) and conntrack (ip_vs_nfct.c)

  private xmit(c: IpvsConn, pkt: Packet, hook: number, env: IpvsEnv): number {
    switch (c.fwdMethod) {
      case IP_VS_CONN_F_MASQ: return this.natXmit(c, pkt, hook, env);
      case IP_VS_CONN_F_DROUTE:
      case IP_VS_CONN_F_TUNNEL: return this.drXmit(c, pkt, env);
      case IP_VS_CONN_F_LOCALNODE: return NF_ACCEPT; // ip_vs_null_xmit
      default: return NF_ACCEPT;
    }
  }

  /** ip_vs_nat_xmit: rewrite the destination to the real server; local servers continue in LOCAL_IN. */
  private natXmit(c: IpvsConn, pkt: Packet, hook: number, env: IpvsEnv): number {
    const local = env.host.addrType(c.daf, c.daddr, null) === RTN_LOCAL;
    if (local && isLoopback(c.daf, c.daddr) && hook === NF_INET_LOCAL_IN) {
      return this.dropWith('IPVS: stopping DNAT to a loopback address for a packet from outside (ip_vs_nat_xmit)');
    }
    if (!local && isLoopback(pkt.family, pkt.saddr)) {
      return this.dropWith('IPVS: stopping traffic from a loopback source to a non-local real server');
    }
    pkt.daddr.set(c.daddr);
    pkt.dport = c.dport;
    this.marked = pkt;
    if ((c.flags & IP_VS_CONN_F_NFCT) === 0) notrack(pkt, env);
    else this.updateConntrack(pkt, c, true);
    if (local) return NF_ACCEPT;
    this.xmitNextHop.set(pkt.daddr);
    return NF_STOLEN;
  }

  /** ip_vs_dr_xmit / ip_vs_tunnel_xmit: the packet keeps its destination and goes to the real server. */
  private drXmit(c: IpvsConn, pkt: Packet, env: IpvsEnv): number {
    const local = env.host.addrType(c.daf, c.daddr, null) === RTN_LOCAL;
    if (!local && isLoopback(pkt.family, pkt.saddr)) {
      return this.dropWith('IPVS: stopping traffic from a loopback source to a non-local real server');
    }
    this.marked = pkt;
    if ((c.flags & IP_VS_CONN_F_NFCT) === 0) notrack(pkt, env);
    if (local) return NF_ACCEPT;
    this.xmitNextHop.set(c.daddr);
    return NF_STOLEN;
  }

  /** ip_vs_update_conntrack: rewrite the unconfirmed entry's reply tuple (outin: to come from the real server). */
  private updateConntrack(pkt: Packet, c: IpvsConn, outin: boolean): void {
    const ct = pkt.ct;
    if (!(ct instanceof Conn) || (ct.status & (IPS_CONFIRMED | IPS_DYING)) !== 0) return;
    if (c.fwdMethod !== IP_VS_CONN_F_MASQ) return;
    if ((c.flags & IP_VS_CONN_F_ONE_PACKET) !== 0) return;
    if (pkt.ctinfo >= IP_CT_IS_REPLY) return;
    const r = ct.reply;
    const icmp = r.proto === IPPROTO_ICMP || r.proto === IPPROTO_ICMPV6;
    if (outin) {
      r.src.set(c.daddr);
      if (!icmp) r.sport = c.dport;
    } else {
      r.dst.set(c.vaddr);
      if (!icmp) r.dport = c.vport;
    }
  }

  // ------------------------------------------------------------------------------------
  // Inspection

  /** Services in table order. */
  serviceList(): VirtualService[] {
    return this.services.all();
  }

  /** Connections and templates, oldest first, with expired ones reaped. */
  connections(): IpvsConn[] {
    this.expire();
    return this.conns.entries();
  }

  /** One-line description of an entry (tests, traces). */
  describeConn(c: IpvsConn): string {
    const a = (w: Uint32Array, f: Family) => formatWords(f, w);
    return `${protoShort(c.protocol)} ${a(c.caddr, c.family)}:${c.cport} -> ${a(c.vaddr, c.family)}:${c.vport} -> ${a(c.daddr, c.daf)}:${c.dport}` +
      `${c.isTemplate ? ' template' : ''} state ${c.state}`;
  }

  /**
   * A deep copy for exploring branches (Host.clone): services, servers, scheduler state,
   * connections and counters are copied; the clock is shared.
   */
  clone(): Ipvs {
    const t = new Ipvs({ clock: this.clock });
    Object.assign(t.sysctls, this.sysctls);
    t.totalStats.copyFrom(this.totalStats);
    const map = new Map<RealServer, RealServer>();
    const copyDest = (d: RealServer, svc: VirtualService): RealServer => {
      let k = map.get(d);
      if (k) return k;
      k = new RealServer(svc, d.family, d.addr, d.port);
      k.weight = d.weight;
      k.lastWeight = d.lastWeight;
      k.connFlags = d.connFlags;
      k.flags = d.flags;
      k.uThreshold = d.uThreshold;
      k.lThreshold = d.lThreshold;
      k.activeConns = d.activeConns;
      k.inactConns = d.inactConns;
      k.persistConns = d.persistConns;
      k.refs = d.refs;
      k.stats.copyFrom(d.stats);
      map.set(d, k);
      return k;
    };
    const svcMap = new Map<VirtualService, VirtualService>();
    for (const s of this.services.all()) {
      const k = new VirtualService(s.family, s.protocol, s.addr, s.port, s.fwmark, s.scheduler);
      k.flags = s.flags;
      k.timeout = s.timeout;
      k.netmask = s.netmask;
      k.pe = s.pe;
      k.stats.copyFrom(s.stats);
      k.dests = s.dests.map((d) => copyDest(d, k));
      k.schedData = s.scheduler.cloneData(s.schedData, (d) => map.get(d) ?? copyDest(d, k));
      svcMap.set(s, k);
      t.services.add(k, FTPPORT);
    }
    t.trash = this.trash.map((d) => copyDest(d, svcMap.get(d.svc) ?? d.svc));
    t.conns = this.conns.clone((d) => map.get(d) ?? copyDest(d, svcMap.get(d.svc) ?? d.svc));
    return t;
  }
}

function checkDestSpec(spec: DestSpec): void {
  if (spec.weight < 0) throw new NfemuError('VALIDATE', 'Server weight less than zero');
  if (spec.lThreshold > spec.uThreshold && spec.uThreshold !== 0) {
    throw new NfemuError('VALIDATE', "Server's lower threshold must be less than or equal to upper threshold");
  }
}

/** ip_vs_conn_uses_old_conntrack: the packet's conntrack entry is already confirmed. */
function usesOldConntrack(pkt: Packet): boolean {
  const ct = pkt.ct;
  return ct instanceof Conn && (ct.status & IPS_CONFIRMED) !== 0;
}

/** ip_vs_control_assure_ct. */
function controlAssure(c: IpvsConn): void {
  const ct = c.control;
  if (ct !== null && (ct.state & IP_VS_CTPL_S_ASSURED) === 0 && (ct.flags & IP_VS_CONN_F_TEMPLATE) !== 0) ct.state |= IP_VS_CTPL_S_ASSURED;
}

/** ip_vs_notrack: the packet leaves its conntrack entry (an unconfirmed one is freed) and is untracked. */
function notrack(pkt: Packet, env: IpvsEnv): void {
  if (pkt.ct === null) return;
  env.conntrack?.release(pkt);
  pkt.ct = null;
  pkt.ctinfo = IP_CT_UNTRACKED;
}

/**
 * icmp_send(skb, ICMP_DEST_UNREACH, ICMP_PORT_UNREACH) (icmpv6_send for IPv6): from the
 * virtual address when it is local (it is, on kube-ipvs0), else from the packet's source.
 * The quoted packet is written into `payload`, as REJECT does.
 */
function icmpPortUnreachable(pkt: Packet, _hook: number, env: IpvsEnv): Packet {
  const v4 = pkt.family === 4;
  const p = new Packet();
  p.family = pkt.family;
  p.proto = v4 ? IPPROTO_ICMP : IPPROTO_ICMPV6;
  p.icmpType = v4 ? 3 : 1;
  p.icmpCode = v4 ? 3 : 4;
  p.icmpId = 0;
  p.daddr.set(pkt.saddr);
  p.saddr.set(env.host.addrType(pkt.family, pkt.daddr, null) === RTN_LOCAL ? pkt.daddr : pkt.saddr);
  p.ttl = 64;
  p.tos = v4 ? (pkt.tos & 0x1e) | 0xc0 : 0;
  p.length = v4 ? 28 + Math.min(pkt.length, 548) : 48 + Math.min(pkt.length, 1232);
  const end = (w: Uint32Array, port: number) => (pkt.family === 6 ? `[${formatWords(6, w)}]:${port}` : `${formatWords(4, w)}:${port}`);
  let q = `${protoShort(pkt.proto)} ${end(pkt.saddr, pkt.sport)} -> ${end(pkt.daddr, pkt.dport)}`;
  if (pkt.proto === IPPROTO_TCP && pkt.tcpFlags !== 0) q += ` [${formatTcpFlags(pkt.tcpFlags)}]`;
  p.payload = `quoted: ${q}`;
  return p;
}

