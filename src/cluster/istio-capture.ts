/**
 * The Istio sidecar's traffic capture: the iptables rules `istio-iptables` (the
 * istio-init container, or the Istio CNI plugin) installs in a pod, in REDIRECT mode,
 * written in the form istio-iptables hands to iptables-restore: tables in name order, each
 * `* table`, `-N` for every Istio chain in order of first use, then the `-A` / `-I` lines in
 * the order they were generated, then `COMMIT`.
 *
 * What the rules do: TCP arriving at the pod is redirected to the proxy's inbound port
 * (15006) unless its port is excluded; TCP the pod sends is redirected to the outbound port
 * (15001) unless it is the proxy's own (uid/gid 1337), goes to localhost, or its port or
 * destination is excluded. The generation follows the order of istio-iptables'
 * IptablesConfigurator.Run (tools/istio-iptables/pkg/capture/run.go): this file is an
 * independent rewrite of that behaviour, not a copy of its code.
 *
 * Not modelled: TPROXY interception mode (NfemuError UNSUPPORTED), NFLOG trace logging.
 */
import { NfemuError, parseCidr, type Family } from '../core/index.ts';
import { restore, type Ruleset } from '../xtables/index.ts';

/** istio-iptables settings (flag names in camelCase). Lists are comma-separated strings as on its command line. */
export interface IstioCaptureOptions {
  /** `-p`: outbound capture port (default 15001). */
  readonly proxyPort?: number;
  /** `-z`: inbound capture port (default 15006). */
  readonly inboundCapturePort?: number;
  /** `-e`: the HBONE tunnel port never captured (default 15008). */
  readonly inboundTunnelPort?: number;
  /** `-u`: uids whose traffic is not captured (default "1337"). */
  readonly proxyUid?: string;
  /** `-g`: gids whose traffic is not captured (default "1337"). */
  readonly proxyGid?: string;
  /** `-b`: inbound ports to capture, "*" for all (default "*", as the sidecar injector passes). */
  readonly inboundPortsInclude?: string;
  /** `-d`: inbound ports not captured when including "*" (default "15090,15021,15020", the injector's). */
  readonly inboundPortsExclude?: string;
  /** `-q`: outbound ports to capture in addition to the ranges (default ""). */
  readonly outboundPortsInclude?: string;
  /** `-o`: outbound ports never captured (default ""). */
  readonly outboundPortsExclude?: string;
  /** `-i`: outbound destination CIDRs to capture, "*" for all (default "*"). */
  readonly outboundIpRangesInclude?: string;
  /** `-x`: outbound destination CIDRs never captured (default ""). */
  readonly outboundIpRangesExclude?: string;
  /** `-c`: interfaces whose traffic is never captured (default ""). */
  readonly excludeInterfaces?: string;
  /** `-k`: virtual interfaces (KubeVirt) whose inbound traffic is treated as outbound (default ""). */
  readonly kubeVirtInterfaces?: string;
  /** `--redirect-dns`: capture DNS to the agent on 15053 (default false). */
  readonly redirectDns?: boolean;
  /** `--capture-all-dns` (default false). */
  readonly captureAllDns?: boolean;
  /** The pod's IPv4 / IPv6 nameservers (from resolv.conf) for DNS capture. */
  readonly dnsServersV4?: readonly string[];
  readonly dnsServersV6?: readonly string[];
  /** `--drop-invalid` (default false). */
  readonly dropInvalid?: boolean;
  /** Also write the IPv6 rules (default false). */
  readonly enableIPv6?: boolean;
  /** The loopback CIDR treated as localhost (default "127.0.0.1/32"). */
  readonly hostIPv4LoopbackCidr?: string;
  /** Owner groups whose traffic is captured ("*" all, default) or not. */
  readonly ownerGroupsInclude?: string;
  readonly ownerGroupsExclude?: string;
  /** `-m`: only REDIRECT is modelled. */
  readonly interceptionMode?: 'REDIRECT' | 'TPROXY';
}

/** The sidecar injector's defaults (what an injected pod gets without annotations). */
export const ISTIO_SIDECAR_DEFAULTS = {
  proxyPort: 15001,
  inboundCapturePort: 15006,
  inboundTunnelPort: 15008,
  proxyUid: '1337',
  proxyGid: '1337',
  inboundPortsInclude: '*',
  inboundPortsExclude: '15090,15021,15020',
  outboundIpRangesInclude: '*',
} as const;

/** The uid (and gid) the Istio proxy runs as. */
export const ISTIO_PROXY_UID = 1337;

/** The address the inbound proxy connects to the application from (its passthrough bind). */
export const ISTIO_INBOUND_PASSTHROUGH_SRC = '127.0.0.6';

const BUILTIN_CHAINS = new Set(['INPUT', 'OUTPUT', 'FORWARD', 'PREROUTING', 'POSTROUTING']);

const ISTIO_INBOUND = 'ISTIO_INBOUND';
const ISTIO_REDIRECT = 'ISTIO_REDIRECT';
const ISTIO_IN_REDIRECT = 'ISTIO_IN_REDIRECT';
const ISTIO_OUTPUT = 'ISTIO_OUTPUT';
const ISTIO_OUTPUT_DNS = 'ISTIO_OUTPUT_DNS';
const ISTIO_DROP = 'ISTIO_DROP';
const DNS_AGENT_PORT = '15053';

interface Rule {
  readonly table: string;
  readonly chain: string;
  /** The line after the table: `-A CHAIN …` or `-I CHAIN N …`. */
  readonly line: string;
}

/** Splits a comma list, trimming and dropping empty items (istio's config.Split). */
function split(s: string): string[] {
  return s.split(',').map((x) => x.trim()).filter((x) => x !== '');
}

/** Rules for both families in generation order. */
class Builder {
  readonly v4: Rule[] = [];
  readonly v6: Rule[] = [];
  constructor(private readonly ipv6: boolean) {}
  private add(list: Rule[], table: string, chain: string, head: string, params: readonly string[]): void {
    list.push({ table, chain, line: [head, ...params].join(' ') });
  }
  appendV4(chain: string, table: string, ...p: string[]): void {
    this.add(this.v4, table, chain, `-A ${chain}`, p);
  }
  appendV6(chain: string, table: string, ...p: string[]): void {
    if (this.ipv6) this.add(this.v6, table, chain, `-A ${chain}`, p);
  }
  append(chain: string, table: string, ...p: string[]): void {
    this.appendV4(chain, table, ...p);
    this.appendV6(chain, table, ...p);
  }
  /** A rule with one family-specific address: `v4` in the IPv4 rules, `v6` in the IPv6 ones. */
  appendVersioned(v4: string, v6: string, chain: string, table: string, ...p: string[]): void {
    this.appendV4(chain, table, ...p.map((x) => (x === VERSIONED ? v4 : x)));
    this.appendV6(chain, table, ...p.map((x) => (x === VERSIONED ? v6 : x)));
  }
  insertV4(chain: string, table: string, pos: number, ...p: string[]): void {
    this.add(this.v4, table, chain, `-I ${chain} ${pos}`, p);
  }
  insertV6(chain: string, table: string, pos: number, ...p: string[]): void {
    if (this.ipv6) this.add(this.v6, table, chain, `-I ${chain} ${pos}`, p);
  }
  insert(chain: string, table: string, pos: number, ...p: string[]): void {
    this.insertV4(chain, table, pos, ...p);
    this.insertV6(chain, table, pos, ...p);
  }
}

const VERSIONED = '\0ip';

/** Restore text for one family: tables by name, `-N` for each Istio chain in order of first use, then the rules. */
function restoreText(rules: readonly Rule[]): string {
  const tables = new Map<string, string[]>();
  const declared = new Set<string>();
  for (const r of rules) {
    if (!tables.has(r.table)) tables.set(r.table, []);
    const key = `${r.chain}:${r.table}`;
    if (!declared.has(key) && !BUILTIN_CHAINS.has(r.chain)) {
      declared.add(key);
      tables.get(r.table)!.push(`-N ${r.chain}`);
    }
  }
  for (const r of rules) tables.get(r.table)!.push(r.line);
  let out = '';
  for (const t of [...tables.keys()].sort()) {
    out += `* ${t}\n${tables.get(t)!.join('\n')}\nCOMMIT\n`;
  }
  return out;
}

interface Ranges {
  readonly wildcard: boolean;
  readonly cidrs: string[];
  loopback: boolean;
}

/** Splits a CIDR list by family; entries that do not parse are ignored, as istio-iptables does. */
function separateV4V6(list: string): [Ranges, Ranges] {
  if (list === '*') return [{ wildcard: true, cidrs: [], loopback: false }, { wildcard: true, cidrs: [], loopback: false }];
  const v4: Ranges = { wildcard: false, cidrs: [], loopback: false };
  const v6: Ranges = { wildcard: false, cidrs: [], loopback: false };
  for (const item of split(list)) {
    const fam: Family = item.includes(':') ? 6 : 4;
    const c = parseCidr(fam, item);
    if (!c || !item.includes('/')) continue;
    const r = fam === 4 ? v4 : v6;
    r.cidrs.push(item);
    if (fam === 4 ? c.addr[0]! >>> 24 === 127 : c.addr[0] === 0 && c.addr[1] === 0 && c.addr[2] === 0 && c.addr[3] === 1) r.loopback = true;
  }
  return [v4, v6];
}

/**
 * The restore input istio-iptables would feed to iptables-restore (and ip6tables-restore
 * when IPv6 is enabled) for these options. Defaults are the sidecar injector's.
 */
export function istioIptables(options: IstioCaptureOptions = {}): { v4: string; v6: string | null } {
  if ((options.interceptionMode ?? 'REDIRECT') !== 'REDIRECT') {
    throw new NfemuError('UNSUPPORTED', 'istio capture: only REDIRECT interception mode is modelled (TPROXY needs socket lookups nfemu does not do)');
  }
  const o = {
    proxyPort: String(options.proxyPort ?? ISTIO_SIDECAR_DEFAULTS.proxyPort),
    inboundCapturePort: String(options.inboundCapturePort ?? ISTIO_SIDECAR_DEFAULTS.inboundCapturePort),
    inboundTunnelPort: String(options.inboundTunnelPort ?? ISTIO_SIDECAR_DEFAULTS.inboundTunnelPort),
    proxyUid: options.proxyUid ?? ISTIO_SIDECAR_DEFAULTS.proxyUid,
    proxyGid: options.proxyGid ?? ISTIO_SIDECAR_DEFAULTS.proxyGid,
    inboundPortsInclude: options.inboundPortsInclude ?? ISTIO_SIDECAR_DEFAULTS.inboundPortsInclude,
    inboundPortsExclude: options.inboundPortsExclude ?? ISTIO_SIDECAR_DEFAULTS.inboundPortsExclude,
    outboundPortsInclude: options.outboundPortsInclude ?? '',
    outboundPortsExclude: options.outboundPortsExclude ?? '',
    outboundIpRangesInclude: options.outboundIpRangesInclude ?? ISTIO_SIDECAR_DEFAULTS.outboundIpRangesInclude,
    outboundIpRangesExclude: options.outboundIpRangesExclude ?? '',
    excludeInterfaces: options.excludeInterfaces ?? '',
    kubeVirtInterfaces: options.kubeVirtInterfaces ?? '',
    dnsServersV4: options.dnsServersV4 ?? [],
    dnsServersV6: options.dnsServersV6 ?? [],
    captureAllDns: options.captureAllDns ?? false,
    loopback: options.hostIPv4LoopbackCidr ?? '127.0.0.1/32',
    ownerGroupsInclude: options.ownerGroupsInclude ?? '*',
    ownerGroupsExclude: options.ownerGroupsExclude ?? '',
  };
  const ipv6 = options.enableIPv6 ?? false;
  const b = new Builder(ipv6);

  const [excludeV4, excludeV6] = separateV4V6(o.outboundIpRangesExclude);
  if (excludeV4.wildcard) throw new NfemuError('VALIDATE', 'istio capture: invalid value for OUTBOUND_IP_RANGES_EXCLUDE ("*")');
  const [includeV4, includeV6] = separateV4V6(o.outboundIpRangesInclude);
  let redirectDns = options.redirectDns ?? false;
  // DNS capture without capture-all and without nameservers captures nothing: istio-iptables turns it off.
  if (redirectDns && !o.captureAllDns && o.dnsServersV4.length === 0 && o.dnsServersV6.length === 0) redirectDns = false;

  // Interfaces never captured.
  for (const nic of split(o.excludeInterfaces)) {
    b.append('PREROUTING', 'nat', '-i', nic, '-j', 'RETURN');
    b.append('OUTPUT', 'nat', '-o', nic, '-j', 'RETURN');
  }
  // KubeVirt interfaces: no inbound capture.
  for (const nic of split(o.kubeVirtInterfaces)) b.insert('PREROUTING', 'nat', 1, '-i', nic, '-j', 'RETURN');
  if (options.dropInvalid) {
    b.append('PREROUTING', 'mangle', '-m', 'conntrack', '--ctstate', 'INVALID', '-j', ISTIO_DROP);
    b.append(ISTIO_DROP, 'mangle', '-j', 'DROP');
  }
  b.append(ISTIO_INBOUND, 'nat', '-p', 'tcp', '--dport', o.inboundTunnelPort, '-j', 'RETURN');
  b.append(ISTIO_REDIRECT, 'nat', '-p', 'tcp', '-j', 'REDIRECT', '--to-ports', o.proxyPort);
  b.append(ISTIO_IN_REDIRECT, 'nat', '-p', 'tcp', '-j', 'REDIRECT', '--to-ports', o.inboundCapturePort);

  // Inbound.
  if (o.inboundPortsInclude !== '') {
    b.append('PREROUTING', 'nat', '-p', 'tcp', '-j', ISTIO_INBOUND);
    if (o.inboundPortsInclude === '*') {
      for (const port of split(o.inboundPortsExclude)) b.append(ISTIO_INBOUND, 'nat', '-p', 'tcp', '--dport', port, '-j', 'RETURN');
      b.append(ISTIO_INBOUND, 'nat', '-p', 'tcp', '-j', ISTIO_IN_REDIRECT);
    } else {
      for (const port of split(o.inboundPortsInclude)) b.append(ISTIO_INBOUND, 'nat', '-p', 'tcp', '--dport', port, '-j', ISTIO_IN_REDIRECT);
    }
  }

  // Outbound.
  b.append('OUTPUT', 'nat', '-j', ISTIO_OUTPUT);
  for (const port of split(o.outboundPortsExclude)) {
    b.append(ISTIO_OUTPUT, 'nat', '-p', 'tcp', '--dport', port, '-j', 'RETURN');
    b.append(ISTIO_OUTPUT, 'nat', '-p', 'udp', '--dport', port, '-j', 'RETURN');
  }
  b.appendVersioned('127.0.0.6/32', '::6/128', ISTIO_OUTPUT, 'nat', '-o', 'lo', '-s', VERSIONED, '-j', 'RETURN');
  const loopbackIncluded = includeV4.loopback || includeV6.loopback;
  for (const [kind, ids] of [['uid', split(o.proxyUid)], ['gid', split(o.proxyGid)]] as const) {
    const opt = kind === 'uid' ? '--uid-owner' : '--gid-owner';
    for (const id of ids) {
      // The proxy calling a service VIP that lands back in this pod: app → proxy (out) → proxy (in) → app.
      if (redirectDns && kind === 'uid') {
        b.appendVersioned(o.loopback, '::1/128', ISTIO_OUTPUT, 'nat', '-o', 'lo', '!', '-d', VERSIONED, '-p', 'tcp', '-m', 'multiport', '!', '--dports', `53,${o.inboundTunnelPort}`, '-m', 'owner', opt, id, '-j', ISTIO_IN_REDIRECT);
      } else {
        b.appendVersioned(o.loopback, '::1/128', ISTIO_OUTPUT, 'nat', '-o', 'lo', '!', '-d', VERSIONED, '-p', 'tcp', '!', '--dport', o.inboundTunnelPort, '-m', 'owner', opt, id, '-j', ISTIO_IN_REDIRECT);
      }
      // The application talking to itself over lo is left alone.
      if (!loopbackIncluded) {
        if (redirectDns) b.append(ISTIO_OUTPUT, 'nat', '-o', 'lo', '-p', 'tcp', '!', '--dport', '53', '-m', 'owner', '!', opt, id, '-j', 'RETURN');
        else b.append(ISTIO_OUTPUT, 'nat', '-o', 'lo', '-m', 'owner', '!', opt, id, '-j', 'RETURN');
      }
      // The proxy's own traffic is never captured again (no loop).
      b.append(ISTIO_OUTPUT, 'nat', '-m', 'owner', opt, id, '-j', 'RETURN');
    }
  }
  // Owner groups.
  const groupsInclude = o.ownerGroupsInclude.trim();
  const groupsExclude = o.ownerGroupsExclude.trim();
  if (groupsInclude !== '*' && groupsInclude !== '') {
    const p: string[] = [];
    for (const g of split(groupsInclude)) p.push('-m', 'owner', '!', '--gid-owner', g);
    b.append(ISTIO_OUTPUT, 'nat', ...p, '-j', 'RETURN');
  } else {
    for (const g of split(groupsExclude)) b.append(ISTIO_OUTPUT, 'nat', '-m', 'owner', '--gid-owner', g, '-j', 'RETURN');
  }
  if (redirectDns) dnsRules(b, o.proxyUid, o.proxyGid, o.dnsServersV4, o.dnsServersV6, o.captureAllDns);
  // Localhost is never captured.
  b.appendVersioned(o.loopback, '::1/128', ISTIO_OUTPUT, 'nat', '-d', VERSIONED, '-j', 'RETURN');
  for (const c of excludeV4.cidrs) b.appendV4(ISTIO_OUTPUT, 'nat', '-d', c, '-j', 'RETURN');
  for (const c of excludeV6.cidrs) b.appendV6(ISTIO_OUTPUT, 'nat', '-d', c, '-j', 'RETURN');
  for (const port of split(o.outboundPortsInclude)) b.append(ISTIO_OUTPUT, 'nat', '-p', 'tcp', '--dport', port, '-j', ISTIO_REDIRECT);
  outboundIncludes(includeV4, split(o.kubeVirtInterfaces), (...p) => b.appendV4(...p), (...p) => b.insertV4(...p));
  outboundIncludes(includeV6, split(o.kubeVirtInterfaces), (...p) => b.appendV6(...p), (...p) => b.insertV6(...p));

  return { v4: restoreText(b.v4), v6: ipv6 ? restoreText(b.v6) : null };
}

function outboundIncludes(
  r: Ranges, virt: string[],
  append: (chain: string, table: string, ...p: string[]) => void,
  insert: (chain: string, table: string, pos: number, ...p: string[]) => void,
): void {
  if (r.wildcard) {
    append(ISTIO_OUTPUT, 'nat', '-j', ISTIO_REDIRECT);
    for (const nic of virt) insert('PREROUTING', 'nat', 1, '-i', nic, '-j', ISTIO_REDIRECT);
    return;
  }
  for (const c of r.cidrs) {
    for (const nic of virt) insert('PREROUTING', 'nat', 1, '-i', nic, '-d', c, '-j', ISTIO_REDIRECT);
    append(ISTIO_OUTPUT, 'nat', '-d', c, '-j', ISTIO_REDIRECT);
  }
}

/** DNS to the agent (15053) and the conntrack zones that keep its two UDP flows apart. */
function dnsRules(b: Builder, uids: string, gids: string, v4: readonly string[], v6: readonly string[], all: boolean): void {
  b.append('OUTPUT', 'raw', '-j', ISTIO_OUTPUT_DNS);
  if (all || v4.length > 0) b.appendV4(ISTIO_OUTPUT, 'nat', '-j', ISTIO_OUTPUT_DNS);
  if (all || v6.length > 0) b.appendV6(ISTIO_OUTPUT, 'nat', '-j', ISTIO_OUTPUT_DNS);
  if (all) {
    b.append(ISTIO_OUTPUT_DNS, 'nat', '-p', 'tcp', '--dport', '53', '-j', 'REDIRECT', '--to-ports', DNS_AGENT_PORT);
    b.append(ISTIO_OUTPUT_DNS, 'nat', '-p', 'udp', '--dport', '53', '-j', 'REDIRECT', '--to-port', DNS_AGENT_PORT);
  } else {
    for (const s of v4) b.appendV4(ISTIO_OUTPUT_DNS, 'nat', '-p', 'tcp', '--dport', '53', '-d', `${s}/32`, '-j', 'REDIRECT', '--to-ports', DNS_AGENT_PORT);
    for (const s of v6) b.appendV6(ISTIO_OUTPUT_DNS, 'nat', '-p', 'tcp', '--dport', '53', '-d', `${s}/128`, '-j', 'REDIRECT', '--to-ports', DNS_AGENT_PORT);
    for (const s of v4) b.appendV4(ISTIO_OUTPUT_DNS, 'nat', '-p', 'udp', '--dport', '53', '-d', `${s}/32`, '-j', 'REDIRECT', '--to-port', DNS_AGENT_PORT);
    for (const s of v6) b.appendV6(ISTIO_OUTPUT_DNS, 'nat', '-p', 'udp', '--dport', '53', '-d', `${s}/128`, '-j', 'REDIRECT', '--to-port', DNS_AGENT_PORT);
  }
  for (const [opt, ids] of [['--uid-owner', split(uids)], ['--gid-owner', split(gids)]] as const) {
    for (const id of ids) {
      b.append(ISTIO_OUTPUT_DNS, 'raw', '-p', 'udp', '--dport', '53', '-m', 'owner', opt, id, '-j', 'CT', '--zone', '1');
      b.append(ISTIO_OUTPUT_DNS, 'raw', '-p', 'udp', '--sport', DNS_AGENT_PORT, '-m', 'owner', opt, id, '-j', 'CT', '--zone', '2');
    }
  }
  if (all) {
    b.append('PREROUTING', 'raw', '-j', ISTIO_INBOUND);
    b.append(ISTIO_OUTPUT_DNS, 'raw', '-p', 'udp', '--dport', '53', '-j', 'CT', '--zone', '2');
    b.append(ISTIO_INBOUND, 'raw', '-p', 'udp', '--sport', '53', '-j', 'CT', '--zone', '1');
    return;
  }
  if (v4.length) b.appendV4('PREROUTING', 'raw', '-j', ISTIO_INBOUND);
  for (const s of v4) {
    b.appendV4(ISTIO_OUTPUT_DNS, 'raw', '-p', 'udp', '--dport', '53', '-d', `${s}/32`, '-j', 'CT', '--zone', '2');
    b.appendV4(ISTIO_INBOUND, 'raw', '-p', 'udp', '--sport', '53', '-s', `${s}/32`, '-j', 'CT', '--zone', '1');
  }
  if (v6.length) b.appendV6('PREROUTING', 'raw', '-j', ISTIO_INBOUND);
  for (const s of v6) {
    b.appendV6(ISTIO_OUTPUT_DNS, 'raw', '-p', 'udp', '--dport', '53', '-d', `${s}/128`, '-j', 'CT', '--zone', '2');
    b.appendV6(ISTIO_INBOUND, 'raw', '-p', 'udp', '--sport', '53', '-s', `${s}/128`, '-j', 'CT', '--zone', '1');
  }
}

/** The IPv4 capture rules as a ruleset (through iptables-restore's parser and validation). */
export function istioCaptureRuleset(options: IstioCaptureOptions = {}): Ruleset {
  return restore(istioIptables(options).v4, { family: 4, file: 'istio-iptables' });
}
