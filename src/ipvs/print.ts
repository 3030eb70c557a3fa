/**
 * `ipvsadm` output, as ipvsadm 1.31 prints it (ipvsadm.c print_title, print_service_entry,
 * print_largenum, list_conn; libipvs.c ipvs_cmp_services / ipvs_cmp_dests for the order):
 * `-Ln` (with `--stats`, `--rate`, `--thresholds`, `--persistent-conn`, `--exact`,
 * `--nosort`), `-Sn` (ipvsadm-save -n), `-Lnc` and `-L --timeout`. Numeric output only
 * (`-n`): nfemu resolves no names.
 */
import { formatIpv4, formatWords, type Family } from '../core/index.ts';
import type { Ipvs } from './engine.ts';
import type { IpvsConn } from './conn.ts';
import { stateName, TCP_TIMEOUTS_S, UDP_TIMEOUT_S } from './proto.ts';
import type { IpvsStats, RealServer, VirtualService } from './service.ts';
import {
  IP_VS_CONN_F_TEMPLATE, IP_VS_CONN_F_TUNNEL, IP_VS_CONN_TAB_SIZE, IP_VS_CTPL_S_ASSURED, IP_VS_SVC_F_ONEPACKET, IP_VS_SVC_F_PERSISTENT,
  IP_VS_SVC_F_SCHED1, IP_VS_SVC_F_SCHED2, IP_VS_SVC_F_SCHED3, IP_VS_TCP_S_ESTABLISHED, IP_VS_TCP_S_FIN_WAIT,
  IP_VS_VERSION, IP_VS_CONN_F_FWD_MASK, fwdName, fwdSwitch,
} from './types.ts';

/** Listing options, as ipvsadm's format flags. */
export interface ListOptions {
  readonly stats?: boolean;
  readonly rate?: boolean;
  readonly thresholds?: boolean;
  readonly persistentConn?: boolean;
  /** --exact: numbers in full. */
  readonly exact?: boolean;
  /** --nosort: kernel order instead of ipvsadm's sort. */
  readonly nosort?: boolean;
}

const padR = (s: string | number, n: number): string => String(s).padEnd(n);
const padL = (s: string | number, n: number): string => String(s).padStart(n);

/** addrport_to_anyname with -n: `a.b.c.d:port`, `[v6]:port`. */
function addrPort(family: Family, w: Uint32Array, port: number): string {
  return family === 6 ? `[${formatWords(6, w)}]:${port}` : `${formatWords(4, w)}:${port}`;
}

/** print_largenum. */
function largenum(i: number, exact: boolean): string {
  if (exact) {
    const s = String(i);
    return padL(s, s.length <= 8 ? 9 : s.length + 1);
  }
  if (i < 100000000) return padL(i, 9);
  if (i < 1000000000) return padL(Math.floor(i / 1000), 8) + 'K';
  if (i < 100000000000) return padL(Math.floor(i / 1000000), 8) + 'M';
  if (i < 100000000000000) return padL(Math.floor(i / 1000000000), 8) + 'G';
  return padL(Math.floor(i / 1000000000000), 8) + 'T';
}

/** The kernel's int subtraction in the comparators: differences wrap to 32 bits. */
const diff32 = (a: number, b: number): number => (a - b) | 0;

/** ipvs_cmp_services. */
export function compareServices(a: VirtualService, b: VirtualService): number {
  let r = diff32(a.fwmark, b.fwmark);
  if (r !== 0) return r;
  r = (a.family === 4 ? 2 : 10) - (b.family === 4 ? 2 : 10); // AF_INET, AF_INET6
  if (r !== 0) return r;
  r = a.protocol - b.protocol;
  if (r !== 0) return r;
  if (a.family === 6) {
    for (let i = 0; !r && i < 4; i++) r = diff32(a.addr[i]!, b.addr[i]!);
  } else {
    r = diff32(a.addr[0]!, b.addr[0]!);
  }
  if (r !== 0) return r;
  return a.port - b.port;
}

/** ipvs_cmp_dests. */
export function compareDests(a: RealServer, b: RealServer): number {
  let r = 0;
  if (a.family === 6) {
    for (let i = 0; !r && i < 4; i++) r = diff32(a.addr[i]!, b.addr[i]!);
  } else {
    r = diff32(a.addr[0]!, b.addr[0]!);
  }
  if (r !== 0) return r;
  return a.port - b.port;
}

function protoLabel(p: number): string {
  return p === 6 ? 'TCP' : p === 17 ? 'UDP' : p === 132 ? 'SCTP' : '';
}

/** svc_name in list format ("%-4s %s", cut at 33 for IPv4; "FWM  %d"). */
function listName(s: VirtualService): string {
  if (s.fwmark !== 0) return s.family === 6 ? `FWM  ${s.fwmark} IPv6` : `FWM  ${s.fwmark}`;
  const n = `${padR(protoLabel(s.protocol), 4)} ${addrPort(s.family, s.addr, s.port)}`;
  return s.family === 6 ? n : n.slice(0, 33);
}

/** svc_name in rule format (-t / -u / --sctp-service / -f). */
function ruleName(s: VirtualService): string {
  if (s.fwmark !== 0) return s.family === 6 ? `-f ${s.fwmark} -6` : `-f ${s.fwmark}`;
  const opt = s.protocol === 6 ? '-t' : s.protocol === 17 ? '-u' : s.protocol === 132 ? '--sctp-service' : '--xxx-service';
  return `${opt} ${addrPort(s.family, s.addr, s.port)}`;
}

/** print_sched_flags: the flag names of the service's scheduler, comma separated. */
export function schedFlagsText(s: VirtualService): string {
  const f = s.flags;
  const names: string[] = [];
  const sched = s.scheduler.name;
  if (sched === 'sh' || sched === 'mh') {
    if (f & IP_VS_SVC_F_SCHED1) names.push(`${sched}-fallback`);
    if (f & IP_VS_SVC_F_SCHED2) names.push(`${sched}-port`);
  } else {
    if (f & IP_VS_SVC_F_SCHED1) names.push('flag-1');
    if (f & IP_VS_SVC_F_SCHED2) names.push('flag-2');
  }
  if (f & IP_VS_SVC_F_SCHED3) names.push('flag-3');
  return names.join(',');
}

function sortedServices(ipvs: Ipvs, nosort: boolean): VirtualService[] {
  const list = ipvs.serviceList();
  return nosort ? list : list.sort(compareServices);
}

function sortedDests(s: VirtualService, nosort: boolean): RealServer[] {
  return nosort ? s.dests.slice() : s.dests.slice().sort(compareDests);
}

function destName(s: VirtualService, d: RealServer): string {
  const n = addrPort(d.family, d.addr, d.port);
  return s.family === 6 ? n : n.slice(0, 28);
}

function statsCols(st: IpvsStats, exact: boolean): string {
  return largenum(st.conns, exact) + largenum(st.inpkts, exact) + largenum(st.outpkts, exact) + largenum(st.inbytes, exact) + largenum(st.outbytes, exact);
}

/** print_title. */
function title(o: ListOptions): string {
  if (o.stats) return `${padR('Prot LocalAddress:Port', 33)} ${padL('Conns', 8)} ${padL('InPkts', 8)} ${padL('OutPkts', 8)} ${padL('InBytes', 8)} ${padL('OutBytes', 8)}\n  -> RemoteAddress:Port\n`;
  if (o.rate) return `${padR('Prot LocalAddress:Port', 33)} ${padL('CPS', 8)} ${padL('InPPS', 8)} ${padL('OutPPS', 8)} ${padL('InBPS', 8)} ${padL('OutBPS', 8)}\n  -> RemoteAddress:Port\n`;
  if (o.thresholds) return `${padR('Prot LocalAddress:Port', 33)} ${padR('Uthreshold', 10)} ${padR('Lthreshold', 10)} ${padR('ActiveConn', 10)} ${padR('InActConn', 10)}\n  -> RemoteAddress:Port\n`;
  if (o.persistentConn) return `${padR('Prot LocalAddress:Port', 33)} ${padR('Weight', 9)} ${padR('PersistConn', 11)} ${padR('ActiveConn', 10)} ${padR('InActConn', 10)}\n  -> RemoteAddress:Port\n`;
  return 'Prot LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n';
}

function serviceLine(s: VirtualService, o: ListOptions): string {
  const exact = o.exact ?? false;
  if (o.stats) return `${padR(listName(s), 33)}${statsCols(s.stats, exact)}\n`;
  if (o.rate) return `${padR(listName(s), 33)}${largenum(0, exact).repeat(5)}\n`; // the estimator is not modelled
  let line = `${listName(s)} ${s.scheduler.name}`;
  const flags = schedFlagsText(s);
  if (flags) line += ` (${flags})`;
  if (s.flags & IP_VS_SVC_F_PERSISTENT) {
    line += ` persistent ${s.timeout}`;
    if (s.family === 4 && s.netmask >>> 0 !== 0xffffffff) line += ` mask ${formatIpv4(s.netmask >>> 0)}`;
    if (s.family === 6 && s.netmask !== 128) line += ` mask ${s.netmask}`;
    if (s.pe) line += ` pe ${s.pe}`;
  }
  if (s.flags & IP_VS_SVC_F_ONEPACKET) line += ' ops';
  return line + '\n';
}

function destLine(s: VirtualService, d: RealServer, o: ListOptions): string {
  const n = destName(s, d);
  const exact = o.exact ?? false;
  if (o.stats) return `  -> ${padR(n, 28)}${statsCols(d.stats, exact)}\n`;
  if (o.rate) return `  -> ${padR(n, 28)} ${padL(0, 8)} ${padL(0, 8)} ${padL(0, 8)}${largenum(0, exact)}${largenum(0, exact)}\n`;
  if (o.thresholds) return `  -> ${padR(n, 28)} ${padR(d.uThreshold, 10)} ${padR(d.lThreshold, 10)} ${padR(d.activeConns, 10)} ${padR(d.inactConns, 10)}\n`;
  if (o.persistentConn) return `  -> ${padR(n, 28)} ${padR(d.weight, 9)} ${padR(d.persistConns, 11)} ${padR(d.activeConns, 10)} ${padR(d.inactConns, 10)}\n`;
  return `  -> ${padR(n, 28)} ${padR(fwdName(d.connFlags), 7)} ${padR(d.weight, 6)} ${padR(d.activeConns, 10)} ${padR(d.inactConns, 10)}\n`;
}

/** `ipvsadm -Ln [--stats|--rate|--thresholds|--persistent-conn] [--exact] [--nosort]`. */
export function printList(ipvs: Ipvs, o: ListOptions = {}): string {
  ipvs.expire();
  let out = `IP Virtual Server version ${IP_VS_VERSION} (size=${IP_VS_CONN_TAB_SIZE})\n` + title(o);
  for (const s of sortedServices(ipvs, o.nosort ?? false)) {
    out += serviceLine(s, o);
    for (const d of sortedDests(s, o.nosort ?? false)) out += destLine(s, d, o);
  }
  return out;
}

/** `ipvsadm -Sn` (what `ipvsadm-save -n` prints). */
export function printSave(ipvs: Ipvs, o: { nosort?: boolean } = {}): string {
  let out = '';
  for (const s of sortedServices(ipvs, o.nosort ?? false)) {
    const name = ruleName(s);
    let line = `-A ${name} -s ${s.scheduler.name}`;
    if (s.flags & IP_VS_SVC_F_PERSISTENT) {
      line += ` -p ${s.timeout}`;
      if (s.family === 4 && s.netmask >>> 0 !== 0xffffffff) line += ` -M ${formatIpv4(s.netmask >>> 0)}`;
      if (s.family === 6 && s.netmask !== 128) line += ` -M ${s.netmask}`;
    }
    if (s.pe) line += ` --pe ${s.pe}`;
    if (s.flags & IP_VS_SVC_F_ONEPACKET) line += ' -o';
    const flags = schedFlagsText(s);
    if (flags) line += ` -b ${flags}`;
    out += line + '\n';
    for (const d of sortedDests(s, o.nosort ?? false)) {
      let dl = `-a ${name} -r ${addrPort(d.family, d.addr, d.port)} ${fwdSwitch(d.connFlags)} -w ${d.weight}`;
      if ((d.connFlags & IP_VS_CONN_F_FWD_MASK) === IP_VS_CONN_F_TUNNEL) dl += ' --tun-type ipip';
      out += dl + '\n';
    }
  }
  return out;
}

/** ip_vs_proto_name. */
function procProto(p: number): string {
  switch (p) {
    case 0: return 'IP';
    case 6: return 'TCP';
    case 17: return 'UDP';
    case 132: return 'SCTP';
    case 1: return 'ICMP';
    case 58: return 'ICMPv6';
    default: return `IP_${p}`;
  }
}

/** ip_vs_state_name. */
function connStateName(c: IpvsConn): string {
  if (c.flags & IP_VS_CONN_F_TEMPLATE) return c.state & IP_VS_CTPL_S_ASSURED ? 'ASSURED' : 'NONE';
  return stateName(c.protocol, c.state);
}

/** `ipvsadm -Lnc`: the connection table, as /proc/net/ip_vs_conn shows it (in creation order here). */
export function printConnections(ipvs: Ipvs): string {
  const now = ipvs.clock.nowMs();
  let out = `IPVS connection entries\npro expire ${padR('state', 11)} ${padR('source', 18)} ${padR('virtual', 18)} destination\n`;
  for (const c of ipvs.connections()) {
    const left = Math.max(0, Math.floor((c.expiresAt - now) / 1000));
    const expire = `${String(Math.floor(left / 60)).padStart(2, '0')}:${String(left % 60).padStart(2, '0')}`;
    const v = c.protocol === 0 ? addrPort(4, c.vaddr, c.vport) : addrPort(c.family, c.vaddr, c.vport);
    out += `${padR(procProto(c.protocol), 3)} ${padR(expire, 6)} ${padR(connStateName(c), 11)} ${padR(addrPort(c.family, c.caddr, c.cport), 18)} ${padR(v, 18)} ${addrPort(c.daf, c.daddr, c.dport)}\n`;
  }
  return out;
}

/** `ipvsadm -L --timeout` (the kernel defaults: TCP ESTABLISHED, FIN_WAIT, UDP). */
export function printTimeout(): string {
  return `Timeout (tcp tcpfin udp): ${TCP_TIMEOUTS_S[IP_VS_TCP_S_ESTABLISHED]} ${TCP_TIMEOUTS_S[IP_VS_TCP_S_FIN_WAIT]} ${UDP_TIMEOUT_S}\n`;
}

