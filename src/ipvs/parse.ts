/**
 * ipvsadm command lines, as `ipvsadm-save -n` prints them and `ipvsadm-restore` reads them
 * (ipvsadm 1.31 parse_options / process_options): -A/-E/-D services, -a/-e/-d real servers,
 * -C. The text is parsed into commands first (every error names its line), then applied to
 * an engine in order, so the scheduler state is built exactly as the kernel builds it from
 * the same sequence of additions.
 */
import { NfemuError, parseIpv4, parseIpv6, type Family } from '../core/index.ts';
import type { DestSpec, Ipvs, ServiceSpec } from './engine.ts';
import { schedulerNames } from './sched/index.ts';
import {
  IP_VS_CONN_F_DROUTE, IP_VS_CONN_F_MASQ, IP_VS_CONN_F_TUNNEL, IP_VS_SVC_F_ONEPACKET, IP_VS_SVC_F_PERSISTENT, IP_VS_SVC_F_SCHED1,
  IP_VS_SVC_F_SCHED2, IP_VS_SVC_F_SCHED3,
} from './types.ts';

/** One ipvsadm command. */
export interface IpvsCommand {
  /** -A add service, -E edit service, -D delete service, -a/-e/-d the same for servers, -C clear. */
  readonly op: 'A' | 'E' | 'D' | 'a' | 'e' | 'd' | 'C';
  readonly service: ServiceSpec;
  readonly dest: DestSpec | null;
  readonly line: number;
}

/** ipvsadm's default scheduler (DEF_SCHED). */
export const DEFAULT_SCHEDULER = 'wlc';
/** The default persistence timeout (ipvsadm -p without a value), seconds. */
export const DEFAULT_PERSISTENT_TIMEOUT = 300;
const MAX_TIMEOUT = 86400 * 31;
/** Schedulers the kernel has that nfemu does not model. */
const KNOWN_UNMODELLED = new Set(['lblc', 'lblcr', 'fo', 'ovf', 'twos']);

interface Endpoint {
  family: Family;
  addr: Uint32Array;
  port: number;
  hasPort: boolean;
}

/** parse_service: `host[:port]` or `[v6]:port` (numeric only). */
function parseEndpoint(text: string): Endpoint | null {
  let host = text;
  let port: string | null = null;
  const m6 = /^\[([^\]]+)\](?::(.*))?$/.exec(text);
  if (m6) {
    host = m6[1]!;
    port = m6[2] ?? null;
  } else if (text.split(':').length === 2) {
    [host, port] = text.split(':') as [string, string];
  }
  let family: Family = 4;
  const addr = new Uint32Array(4);
  const v4 = parseIpv4(host);
  if (v4 !== null) {
    addr[0] = v4;
  } else {
    const v6 = parseIpv6(host);
    if (v6 === null) return null;
    addr.set(v6);
    family = 6;
  }
  if (port === null) return { family, addr, port: 0, hasPort: false };
  if (!/^[0-9]+$/.test(port) || Number(port) > 65535) return null;
  return { family, addr, port: Number(port), hasPort: true };
}

function parseUint(text: string | undefined, max: number): number | null {
  if (text === undefined || !/^[0-9]+$/.test(text)) return null;
  const n = Number(text);
  return n <= max ? n : null;
}

/** Splits one command line; `--opt=value` becomes two words. */
function words(line: string): string[] {
  const out: string[] = [];
  for (const w of line.trim().split(/\s+/)) {
    if (w === '') continue;
    const eq = w.startsWith('--') ? w.indexOf('=') : -1;
    if (eq > 0) out.push(w.slice(0, eq), w.slice(eq + 1));
    else out.push(w);
  }
  return out;
}

const LONG: Readonly<Record<string, string>> = {
  '--add-service': '-A', '--edit-service': '-E', '--delete-service': '-D', '--clear': '-C', '--add-server': '-a',
  '--edit-server': '-e', '--delete-server': '-d', '--tcp-service': '-t', '--udp-service': '-u', '--fwmark-service': '-f',
  '--ipv6': '-6', '--scheduler': '-s', '--persistent': '-p', '--netmask': '-M', '--real-server': '-r', '--gatewaying': '-g',
  '--ipip': '-i', '--masquerading': '-m', '--weight': '-w', '--u-threshold': '-x', '--l-threshold': '-y', '--ops': '-o',
  '--sched-flags': '-b',
};

/** Parses one command line (ipvsadm's argument syntax). Throws NfemuError('PARSE') with the line. */
export function parseIpvsadmLine(line: string, lineNo: number, file?: string): IpvsCommand | null {
  const w = words(line);
  if (w.length === 0 || w[0]!.startsWith('#')) return null;
  const fail = (msg: string, token?: string): never => {
    throw new NfemuError('PARSE', msg, { file, line: lineNo, token });
  };
  let op: IpvsCommand['op'] | null = null;
  let proto = 0;
  let svcEp: Endpoint | null = null;
  let fwmark = 0;
  let v6 = false;
  let sched: string | null = null;
  let persistent = false;
  let timeout = DEFAULT_PERSISTENT_TIMEOUT;
  let netmaskText: string | null = null;
  let pe = '';
  let ops = false;
  let schedFlags: string | null = null;
  let destEp: Endpoint | null = null;
  let fwd = -1;
  let weight = 1;
  let uth = 0;
  let lth = 0;
  for (let i = 0; i < w.length; i++) {
    const raw = w[i]!;
    const opt = LONG[raw] ?? raw;
    const arg = (): string => {
      const v = w[++i];
      if (v === undefined) fail(`option '${raw}' needs an argument`, raw);
      return v!;
    };
    switch (opt) {
      case '-A': case '-E': case '-D': case '-a': case '-e': case '-d': case '-C': {
        if (op !== null) fail('multiple commands specified', raw);
        op = opt.slice(1) as IpvsCommand['op'];
        break;
      }
      case '-t': case '-u': case '--sctp-service': {
        if (svcEp !== null || fwmark) fail("multiple '-t/-u/-f' options specified", raw);
        proto = opt === '-t' ? 6 : opt === '-u' ? 17 : 132;
        const a = arg();
        svcEp = parseEndpoint(a);
        if (svcEp === null) fail('illegal virtual server address[:port] specified', a);
        break;
      }
      case '-f': {
        const a = arg();
        const n = parseUint(a, 0xffffffff);
        if (n === null || n === 0) fail(`invalid fwmark value \`${a}' specified`, a);
        fwmark = n!;
        break;
      }
      case '-6': v6 = true; break;
      case '-s': sched = arg(); break;
      case '-p': {
        persistent = true;
        const next = w[i + 1];
        if (next !== undefined && !next.startsWith('-')) {
          i++;
          const t = parseUint(next, MAX_TIMEOUT);
          if (t === null || t < 1) fail(`invalid timeout value \`${next}' specified`, next);
          timeout = t!;
        }
        break;
      }
      case '-M': netmaskText = arg(); break;
      case '--pe': pe = arg(); break;
      case '-o': ops = true; break;
      case '-b': schedFlags = arg(); break;
      case '-r': {
        const a = arg();
        destEp = parseEndpoint(a);
        if (destEp === null) fail('illegal real server address[:port] specified', a);
        break;
      }
      case '-g': fwd = IP_VS_CONN_F_DROUTE; break;
      case '-i': fwd = IP_VS_CONN_F_TUNNEL; break;
      case '-m': fwd = IP_VS_CONN_F_MASQ; break;
      case '-w': {
        const a = arg();
        const n = parseUint(a, 2147483647);
        if (n === null) fail('illegal weight specified', a);
        weight = n!;
        break;
      }
      case '-x': {
        const a = arg();
        const n = parseUint(a, 2147483647);
        if (n === null) fail('illegal u_threshold specified', a);
        uth = n!;
        break;
      }
      case '-y': {
        const a = arg();
        const n = parseUint(a, 2147483647);
        if (n === null) fail('illegal l_threshold specified', a);
        lth = n!;
        break;
      }
      case '--tun-type': case '--tun-port': arg(); break;
      case '--tun-nocsum': case '--tun-csum': case '--tun-remcsum': break;
      default: fail(`unknown option '${raw}'`, raw);
    }
  }
  if (op === null) fail('no command specified (-A, -E, -D, -a, -e, -d or -C)');
  const family: Family = fwmark ? (v6 ? 6 : 4) : svcEp?.family ?? 4;
  if (op !== 'C' && svcEp === null && !fwmark) fail('You need to supply the \'service-address\' option for the \'' + commandName(op!) + '\' command');
  const schedName = sched ?? DEFAULT_SCHEDULER;
  if ((op === 'A' || op === 'E') && !schedulerNames().includes(schedName)) {
    if (KNOWN_UNMODELLED.has(schedName)) throw new NfemuError('UNSUPPORTED', `scheduler ${schedName} is not modelled by nfemu`, { file, line: lineNo, token: schedName });
    fail('Scheduler not found', schedName);
  }
  let flags = 0;
  if (persistent) flags |= IP_VS_SVC_F_PERSISTENT;
  if (ops) flags |= IP_VS_SVC_F_ONEPACKET;
  if (schedFlags !== null) {
    for (const f of schedFlags.split(',')) {
      if (f === 'flag-1') flags |= IP_VS_SVC_F_SCHED1;
      else if (f === 'flag-2') flags |= IP_VS_SVC_F_SCHED2;
      else if (f === 'flag-3') flags |= IP_VS_SVC_F_SCHED3;
      else if (f === 'sh-fallback' || f === 'sh-port' || f === 'mh-fallback' || f === 'mh-port') {
        if (schedName !== f.slice(0, 2)) fail(`incompatible scheduler flag \`${f}'`, f);
        flags |= f.endsWith('fallback') ? IP_VS_SVC_F_SCHED1 : IP_VS_SVC_F_SCHED2;
      } else fail(`invalid scheduler flag \`${f}'`, f);
    }
  }
  let netmask = family === 4 ? 0xffffffff : 128;
  if (netmaskText !== null) {
    if (family === 4) {
      const m = parseIpv4(netmaskText);
      if (m === null) fail('illegal virtual server persistent mask specified', netmaskText);
      netmask = m!;
    } else {
      const m = parseUint(netmaskText, 128);
      if (m === null || m < 1) fail('illegal ipv6 netmask specified', netmaskText);
      netmask = m!;
    }
  }
  const service: ServiceSpec = {
    family, protocol: fwmark ? 0 : proto, addr: svcEp?.addr ?? new Uint32Array(4), port: fwmark ? 0 : svcEp?.port ?? 0, fwmark,
    scheduler: schedName, flags, timeout, netmask, pe,
  };
  if (op === 'A' || op === 'E') {
    if (!fwmark && service.port === 0 && !persistent) fail('Zero port specified for non-persistent service');
    if (ops && service.protocol !== 17) fail('One-Packet Scheduling is only for UDP virtual services');
  }
  let dest: DestSpec | null = null;
  if (op === 'a' || op === 'e' || op === 'd') {
    if (destEp === null) fail(`You need to supply the 'real-server' option for the '${commandName(op)}' command`);
    const method = fwd < 0 ? IP_VS_CONN_F_DROUTE : fwd;
    let port = destEp!.hasPort ? destEp!.port : service.port;
    if (!fwmark && (method === IP_VS_CONN_F_TUNNEL || method === IP_VS_CONN_F_DROUTE)) port = service.port;
    if (destEp!.family !== family && method !== IP_VS_CONN_F_TUNNEL) fail('Different address family is allowed only for tunneling servers');
    dest = { family: destEp!.family, addr: destEp!.addr, port, fwd: method, weight, uThreshold: uth, lThreshold: lth };
  }
  return { op: op!, service, dest, line: lineNo };
}

function commandName(op: string): string {
  return { A: 'add-service', E: 'edit-service', D: 'delete-service', a: 'add-server', e: 'edit-server', d: 'delete-server', C: 'flush' }[op] ?? op;
}

/** Parses `ipvsadm-save -n` text (or any ipvsadm-restore input) into commands. */
export function parseIpvsadm(text: string, file?: string): IpvsCommand[] {
  const out: IpvsCommand[] = [];
  text.split('\n').forEach((l, i) => {
    const c = parseIpvsadmLine(l, i + 1, file);
    if (c !== null) out.push(c);
  });
  return out;
}

/** Applies commands in order; an engine error gets the command's file and line. */
export function applyIpvsadm(ipvs: Ipvs, cmds: readonly IpvsCommand[], file?: string): void {
  for (const c of cmds) {
    try {
      switch (c.op) {
        case 'A': ipvs.addService(c.service); break;
        case 'E': ipvs.editService(c.service); break;
        case 'D': ipvs.deleteService(c.service); break;
        case 'a': ipvs.addDest(c.service, c.dest!); break;
        case 'e': ipvs.editDest(c.service, c.dest!); break;
        case 'd': ipvs.deleteDest(c.service, c.dest!.family, c.dest!.addr, c.dest!.port); break;
        case 'C': ipvs.flush(); break;
      }
    } catch (e) {
      if (e instanceof NfemuError) throw e.at({ file, line: c.line });
      throw e;
    }
  }
}

/** ipvsadm-restore: parse then apply. */
export function restoreIpvs(ipvs: Ipvs, text: string, file?: string): void {
  applyIpvsadm(ipvs, parseIpvsadm(text, file), file);
}
