/**
 * The `[proto:]port` element part as the ipset tool reads and prints it (lib/parse.c
 * ipset_parse_proto_port, lib/print.c ipset_print_proto_port, lib/icmp.c, lib/icmpv6.c):
 * a bare port means tcp; tcp/udp/sctp/udplite take a port or `from-to`; icmp/icmpv6 take a
 * name or `type/code` (stored as type << 8 | code); other protocols only the pseudo port 0.
 */
import { protoName, protoNumber, IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP, IPPROTO_UDPLITE } from '../core/index.ts';
import { NfemuError } from '../core/index.ts';
import { syntaxError } from './types.ts';

/** lib/icmp.c, in table order (printing uses the first name of a type/code). */
const ICMP_NAMES: ReadonlyArray<readonly [string, number, number]> = [
  ['echo-reply', 0, 0], ['pong', 0, 0], ['network-unreachable', 3, 0], ['host-unreachable', 3, 1],
  ['protocol-unreachable', 3, 2], ['port-unreachable', 3, 3], ['fragmentation-needed', 3, 4],
  ['source-route-failed', 3, 5], ['network-unknown', 3, 6], ['host-unknown', 3, 7],
  ['network-prohibited', 3, 9], ['host-prohibited', 3, 10], ['TOS-network-unreachable', 3, 11],
  ['TOS-host-unreachable', 3, 12], ['communication-prohibited', 3, 13],
  ['host-precedence-violation', 3, 14], ['precedence-cutoff', 3, 15], ['source-quench', 4, 0],
  ['network-redirect', 5, 0], ['host-redirect', 5, 1], ['TOS-network-redirect', 5, 2],
  ['TOS-host-redirect', 5, 3], ['echo-request', 8, 0], ['ping', 8, 0],
  ['router-advertisement', 9, 0], ['router-solicitation', 10, 0],
  ['ttl-zero-during-transit', 11, 0], ['ttl-zero-during-reassembly', 11, 1],
  ['ip-header-bad', 12, 0], ['required-option-missing', 12, 1], ['timestamp-request', 13, 0],
  ['timestamp-reply', 14, 0], ['address-mask-request', 17, 0], ['address-mask-reply', 18, 0],
];

/** lib/icmpv6.c. */
const ICMPV6_NAMES: ReadonlyArray<readonly [string, number, number]> = [
  ['no-route', 1, 0], ['communication-prohibited', 1, 1], ['address-unreachable', 1, 3],
  ['port-unreachable', 1, 4], ['packet-too-big', 2, 0], ['ttl-zero-during-transit', 3, 0],
  ['ttl-zero-during-reassembly', 3, 1], ['bad-header', 4, 0], ['unknown-header-type', 4, 1],
  ['unknown-option', 4, 2], ['echo-request', 128, 0], ['ping', 128, 0], ['echo-reply', 129, 0],
  ['pong', 129, 0], ['router-solicitation', 133, 0], ['router-advertisement', 134, 0],
  ['neighbour-solicitation', 135, 0], ['neigbour-solicitation', 135, 0],
  ['neighbour-advertisement', 136, 0], ['neigbour-advertisement', 136, 0], ['redirect', 137, 0],
];

/** Whether the protocol carries ports in ipset's sense (ip_set_proto_with_ports). */
export function protoWithPorts(proto: number): boolean {
  return proto === IPPROTO_TCP || proto === IPPROTO_UDP || proto === IPPROTO_SCTP || proto === IPPROTO_UDPLITE;
}

/** A parsed `[proto:]port[-port]`. */
export interface ProtoPort {
  proto: number;
  port: number;
  portTo: number;
}

function parsePortNumber(text: string, protoText: string): number {
  if (/^(0x[0-9a-fA-F]+|[0-9]+)$/.test(text)) {
    const n = Number(text);
    if (n <= 65535) return n;
    throw syntaxError(`'${text}' is out of range 0-65535`, text);
  }
  throw syntaxError(`cannot parse '${text}' as a ${protoText} port`, text);
}

function parseTypeCode(text: string, family: 4 | 6): number {
  const table = family === 4 ? ICMP_NAMES : ICMPV6_NAMES;
  for (const [name, type, code] of table) if (name.toLowerCase() === text.toLowerCase()) return (type << 8) | code;
  const m = /^([0-9]+)\/([0-9]+)$/.exec(text);
  if (!m || Number(m[1]) > 255 || Number(m[2]) > 255) {
    throw new NfemuError('PARSE', `Cannot parse ${text} as an ${family === 4 ? 'ICMP' : 'ICMPv6'} type/code.`, { token: text });
  }
  return (Number(m[1]) << 8) | Number(m[2]);
}

/**
 * Parses `[proto:]port[-port]` for a set of `family`; throws NfemuError('PARSE') with the
 * tool's wording.
 */
export function parseProtoPort(text: string, family: 4 | 6): ProtoPort {
  const colon = text.indexOf(':');
  let proto = IPPROTO_TCP;
  let protoText = 'tcp';
  let portText = text;
  if (colon > 0 && colon < text.length - 1) {
    protoText = text.slice(0, colon);
    portText = text.slice(colon + 1);
    const p = protoNumber(protoText);
    if (p === null) throw syntaxError(`cannot parse '${protoText}' as a protocol`, protoText);
    if (p === 0) throw syntaxError(`Unsupported protocol '${protoText}'`, protoText);
    proto = p;
    if (proto === IPPROTO_ICMP) {
      if (family !== 4) throw syntaxError('Protocol ICMP can be used with family inet only', text);
      const tc = parseTypeCode(portText, 4);
      return { proto, port: tc, portTo: tc };
    }
    if (proto === IPPROTO_ICMPV6) {
      if (family !== 6) throw syntaxError('Protocol ICMPv6 can be used with family inet6 only', text);
      const tc = parseTypeCode(portText, 6);
      return { proto, port: tc, portTo: tc };
    }
    if (!protoWithPorts(proto)) {
      if (portText !== '0') throw syntaxError(`Protocol ${protoText} can be used with pseudo port value 0 only.`, text);
      return { proto, port: 0, portTo: 0 };
    }
  }
  const dash = portText.indexOf('-');
  if (dash > 0 && dash < portText.length - 1) {
    const to = parsePortNumber(portText.slice(dash + 1), protoText);
    const from = parsePortNumber(portText.slice(0, dash), protoText);
    return { proto, port: Math.min(from, to), portTo: Math.max(from, to) };
  }
  const port = parsePortNumber(portText, protoText);
  return { proto, port, portTo: port };
}

/** `proto:port` as ipset_print_proto_port prints it. */
export function formatProtoPort(proto: number, port: number, family: 4 | 6): string {
  const name = protoName(proto, family);
  if (proto === IPPROTO_ICMP || proto === IPPROTO_ICMPV6) {
    const type = port >>> 8;
    const code = port & 0xff;
    for (const [n, t, c] of proto === IPPROTO_ICMP ? ICMP_NAMES : ICMPV6_NAMES) {
      if (t === type && c === code) return `${name}:${n}`;
    }
    return `${name}:${type}/${code}`;
  }
  return `${name}:${port}`;
}
