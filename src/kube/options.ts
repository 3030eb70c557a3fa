/**
 * kube-proxy's iptables-mode settings (the flags and config fields that change the rules),
 * their defaults, and how they are resolved against the manifests: the node's addresses and
 * pod CIDR come from its Node object when not given.
 */
import { NfemuError, cidrContains, parseCidr, parseIp, type Family } from '../core/index.ts';
import type { KubeObjects, Node } from './objects.ts';

/** `--detect-local-mode` and its value: how kube-proxy tells pod traffic from the rest. */
export interface LocalDetector {
  readonly kind: 'ClusterCIDR' | 'NodeCIDR' | 'BridgeInterface' | 'InterfaceNamePrefix';
  /** The CIDR (comma-separated per family allowed), bridge name or interface prefix. NodeCIDR defaults to the Node's podCIDRs. */
  readonly value?: string;
}

/** Options of the iptables-mode generator (all optional; defaults as kube-proxy's). */
export interface IptablesProxyOptions {
  /** `--hostname-override`: endpoints whose `nodeName` equals it are node-local. */
  readonly nodeName?: string | null;
  /** This node's addresses (default: the Node object's InternalIP then ExternalIP addresses). */
  readonly nodeIPs?: readonly string[];
  /** `--cluster-cidr` (one CIDR, or one per family comma-separated): the ClusterCIDR detector. */
  readonly clusterCIDR?: string | null;
  /** Explicit detector; overrides `clusterCIDR`. null: no detector. */
  readonly localDetector?: LocalDetector | null;
  /** `--masquerade-all` (default false). */
  readonly masqueradeAll?: boolean;
  /** `--iptables-masquerade-bit` (default 14: mark 0x4000). */
  readonly masqueradeBit?: number;
  /** `--iptables-localhost-nodeports` (default true; IPv4 only). */
  readonly localhostNodePorts?: boolean;
  /** `--nodeport-addresses` CIDRs (default: all local addresses). */
  readonly nodePortAddresses?: readonly string[];
  /** Append `--random-fully` to MASQUERADE (kube-proxy does when iptables ≥ 1.6.2; default true). */
  readonly randomFully?: boolean;
  /** Which kube-proxy: 'current' (2025 main) or '2023' (v1.27 cycle: no KUBE-FIREWALL, no nfacct, no FW trailer). */
  readonly style?: 'current' | '2023';
  /** The proxier's IP family (default: the family of the first node IP, else 4). */
  readonly family?: Family;
  /** nfacct counters available (current style only; default true). */
  readonly nfacct?: boolean;
  /** `net.netfilter.nf_conntrack_tcp_be_liberal` is set: no INVALID drop rule (default false). */
  readonly conntrackTCPLiberal?: boolean;
  /**
   * How the mark is written: 'padded' as kube-proxy writes it (Go `%#08x`: `0x00004000`),
   * 'short' as iptables-save prints it back and kube-proxy's own tests spell it (`0x4000`).
   */
  readonly markFormat?: 'padded' | 'short';
  /** Addresses on the node's interfaces, for `--nodeport-addresses` (default: node IPs and loopback). */
  readonly interfaceAddresses?: readonly string[];
  /** Include the KUBE-PROXY-CANARY chains in the host ruleset (default true). */
  readonly canary?: boolean;
}

/** The options with every default applied and the node looked up. */
export interface ResolvedOptions {
  readonly family: Family;
  readonly style: 'current' | '2023';
  readonly nodeName: string | null;
  readonly nodeIPs: readonly string[];
  /** The node IP of this family kube-proxy uses (first one), or null. */
  readonly nodeIP: string | null;
  readonly detector: ResolvedDetector | null;
  readonly masqueradeAll: boolean;
  readonly mark: string;
  /** `localhostNodePorts` after kube-proxy's adjustments (IPv6: off; nodePortAddresses without loopback: off). */
  readonly localhostNodePorts: boolean;
  /** null: match all local addresses. */
  readonly nodePortAddresses: readonly string[] | null;
  readonly interfaceAddresses: readonly string[];
  readonly randomFully: boolean;
  readonly nfacct: boolean;
  readonly conntrackTCPLiberal: boolean;
  readonly canary: boolean;
}

/** A detector as rule fragments (pkg/proxy/util LocalTrafficDetector). */
export interface ResolvedDetector {
  readonly kind: LocalDetector['kind'];
  /** Matches pod traffic, e.g. `-s 10.0.0.0/8`. */
  readonly ifLocal: string;
  /** Matches the rest, e.g. `! -s 10.0.0.0/8`. */
  readonly ifNotLocal: string;
}

function familyOf(text: string): Family | 0 {
  const ip = parseIp(text.split('/')[0]!.trim());
  return ip ? ip.family : 0;
}

function pickCidr(value: string, family: Family, what: string): string | null {
  const parts = value.split(',').map((s) => s.trim()).filter(Boolean);
  for (const p of parts) {
    const fam = familyOf(p);
    if (!fam || !parseCidr(fam, p) || !p.includes('/')) throw new NfemuError('USAGE', `${what}: ${JSON.stringify(p)} is not a CIDR`);
  }
  return parts.find((p) => familyOf(p) === family) ?? null;
}

/** The Node object named `nodeName`, if the manifests have it. */
export function findNode(objs: KubeObjects | undefined, nodeName: string | null | undefined): Node | undefined {
  if (!objs || !nodeName) return undefined;
  return objs.nodes.find((n) => n.meta.name === nodeName);
}

/** Node addresses as kube-proxy takes them (GetNodeHostIPs): InternalIP ones, then ExternalIP ones. */
export function nodeAddresses(node: Node): string[] {
  const out: string[] = [];
  for (const t of ['InternalIP', 'ExternalIP']) for (const a of node.addresses) if (a.type === t && parseIp(a.address)) out.push(a.address);
  return out;
}

/** Applies defaults and looks the node up in `objs`. Throws NfemuError('USAGE') on bad values. */
export function resolveOptions(opts: IptablesProxyOptions, objs?: KubeObjects): ResolvedOptions {
  const nodeName = opts.nodeName ?? null;
  const node = findNode(objs, nodeName);
  for (const a of opts.nodeIPs ?? []) if (!parseIp(a)) throw new NfemuError('USAGE', `node IP ${JSON.stringify(a)} is not an IP address`);
  const nodeIPs = opts.nodeIPs ? [...opts.nodeIPs] : node ? nodeAddresses(node) : [];
  const family: Family = opts.family ?? (nodeIPs.length ? (familyOf(nodeIPs[0]!) || 4) : 4);
  const style = opts.style ?? 'current';
  if (style !== 'current' && style !== '2023') throw new NfemuError('USAGE', `style must be 'current' or '2023', not ${JSON.stringify(style)}`);
  const nodeIP = nodeIPs.find((a) => familyOf(a) === family) ?? null;
  const bit = opts.masqueradeBit ?? 14;
  if (!Number.isInteger(bit) || bit < 0 || bit > 31) throw new NfemuError('USAGE', `masqueradeBit must be 0-31, not ${bit}`);
  const value = 2 ** bit;
  const mark = opts.markFormat === 'short' ? `0x${value.toString(16)}` : `0x${value.toString(16).padStart(8, '0')}`;

  // NewNodePortAddresses: keep this family's CIDRs; none → match all.
  let npa: string[] | null = null;
  let containsV4Loopback = family === 4;
  if (opts.nodePortAddresses && opts.nodePortAddresses.length) {
    for (const c of opts.nodePortAddresses) pickCidr(c, familyOf(c) || 4, 'nodePortAddresses');
    const mine = opts.nodePortAddresses.filter((c) => familyOf(c) === family);
    if (mine.length) {
      containsV4Loopback = false;
      npa = [];
      for (const c of mine) {
        const cidr = parseCidr(family, c.trim())!;
        // cidr.IP.IsLoopback() || cidr.Contains(127.0.0.0)
        if (family === 4 && (cidrContains(cidr, parseIp('127.0.0.0')!.w) || cidr.addr[0]! >>> 24 === 127)) containsV4Loopback = true;
        if (cidr.prefix === 0) {
          npa = null;
          break;
        }
        npa.push(c.trim());
      }
    }
  }
  let localhostNodePorts = opts.localhostNodePorts ?? true;
  if (!containsV4Loopback) localhostNodePorts = false;
  if (family === 6) localhostNodePorts = false; // NewDualStackProxier passes false for IPv6

  let detector: ResolvedDetector | null = null;
  const spec: LocalDetector | null =
    opts.localDetector !== undefined ? opts.localDetector : opts.clusterCIDR ? { kind: 'ClusterCIDR', value: opts.clusterCIDR } : null;
  if (spec) {
    switch (spec.kind) {
      case 'ClusterCIDR':
      case 'NodeCIDR': {
        let v = spec.value;
        if (!v && spec.kind === 'NodeCIDR') v = node?.podCIDRs.join(',');
        if (!v) throw new NfemuError('USAGE', `local detector ${spec.kind} needs a CIDR${spec.kind === 'NodeCIDR' ? ' (or a Node object with spec.podCIDR for --node)' : ''}`);
        const c = pickCidr(v, family, `local detector ${spec.kind}`);
        if (c) detector = { kind: spec.kind, ifLocal: `-s ${c}`, ifNotLocal: `! -s ${c}` };
        break;
      }
      case 'BridgeInterface':
        if (!spec.value) throw new NfemuError('USAGE', 'local detector BridgeInterface needs an interface name');
        detector = { kind: spec.kind, ifLocal: `-i ${spec.value}`, ifNotLocal: `! -i ${spec.value}` };
        break;
      case 'InterfaceNamePrefix':
        if (!spec.value) throw new NfemuError('USAGE', 'local detector InterfaceNamePrefix needs an interface name prefix');
        detector = { kind: spec.kind, ifLocal: `-i ${spec.value}+`, ifNotLocal: `! -i ${spec.value}+` };
        break;
      default:
        throw new NfemuError('USAGE', `unknown local detector ${JSON.stringify((spec as LocalDetector).kind)} (ClusterCIDR, NodeCIDR, BridgeInterface or InterfaceNamePrefix)`);
    }
  }
  const interfaceAddresses = opts.interfaceAddresses ? [...opts.interfaceAddresses] : [...nodeIPs, family === 6 ? '::1' : '127.0.0.1'];
  return {
    family, style, nodeName, nodeIPs, nodeIP, detector, masqueradeAll: opts.masqueradeAll ?? false, mark,
    localhostNodePorts, nodePortAddresses: npa, interfaceAddresses,
    randomFully: opts.randomFully ?? true,
    nfacct: style === 'current' && (opts.nfacct ?? true),
    conntrackTCPLiberal: opts.conntrackTCPLiberal ?? false,
    canary: opts.canary ?? true,
  };
}
