/**
 * `nfemu kube-proxy`: what kube-proxy would program on a node, from Kubernetes manifests.
 * iptables mode only for now; the flags follow kube-proxy's own where there is one.
 */
import { parseArgs } from 'node:util';
import { NfemuError, SimulatedClock } from '../core/index.ts';
import { printSave } from '../xtables/index.ts';
import { IpsetRegistry } from '../ipset/index.ts';
import { Ipvs, printSave as ipvsadmSave, restoreIpvs } from '../ipvs/index.ts';
import {
  KUBE_IPVS_DEVICE, generateIptables, generateIpvs, iptablesHostRuleset, ipvsHostRuleset, readManifestFiles, sortRestoreText,
  type IptablesProxyOptions, type LocalDetector,
} from '../kube/index.ts';

export const KUBE_PROXY_HELP = `usage: nfemu kube-proxy [--mode iptables|ipvs] [--node NAME] [options] MANIFEST…

Prints the ruleset a node would hold after kube-proxy's sync (iptables-save form: the jumps
kube-proxy installs in the built-in chains, its canary chains and the restore payload), from
Services, EndpointSlices, Nodes and Pods in MANIFEST (YAML or JSON; many documents, Lists and
'kubectl get -o yaml' output are fine). Endpoints come from EndpointSlices; a Service with a
selector and no EndpointSlice gets the endpoints its Pods would give.

  --mode iptables|ipvs       proxy mode (default iptables; nftables is not available yet).
                             ipvs prints, each under a header: the ipsets (ipset save
                             form), the iptables rules, the addresses on kube-ipvs0 and the
                             virtual servers (ipvsadm-save -n)
  --ipvs-scheduler NAME      ipvs mode: rr (default), wrr, lc, wlc, sh, dh, sed, nq, mh
  --ipvs-strict-arp          ipvs mode: also set arp_ignore=1, arp_announce=2
  --node NAME                this node (--hostname-override): endpoints with this nodeName
                             are local; its Node object gives the node IPs and pod CIDR
  --payload                  print the iptables-restore --noflush input kube-proxy writes
  --sorted                   with --payload: order it as kube-proxy's tests do
  --node-ip ADDR             node address (repeatable; default: the Node object's)
  --cluster-cidr CIDR        pod range (ClusterCIDR local-traffic detection)
  --detect-local-mode MODE   ClusterCIDR | NodeCIDR | BridgeInterface | InterfaceNamePrefix
  --pod-bridge-interface IF  for BridgeInterface
  --pod-interface-name-prefix P  for InterfaceNamePrefix
  --masquerade-all           masquerade all ClusterIP traffic
  --iptables-masquerade-bit N    mark bit (default 14)
  --no-localhost-nodeports   --iptables-localhost-nodeports=false
  --nodeport-addresses CIDRS comma-separated
  --no-random-fully          MASQUERADE without --random-fully (iptables < 1.6.2)
  --style current|2023       kube-proxy version whose output to reproduce (default current)
  -6, --ipv6                 the IPv6 proxier (default: the node IP's family)`;

/** Runs `nfemu kube-proxy`; returns the exit status. */
export function kubeProxyCommand(argv: string[], out: (s: string) => void, err: (s: string) => void): number {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      mode: { type: 'string' }, node: { type: 'string' }, payload: { type: 'boolean' }, sorted: { type: 'boolean' },
      'node-ip': { type: 'string', multiple: true }, 'cluster-cidr': { type: 'string' }, 'detect-local-mode': { type: 'string' },
      'pod-bridge-interface': { type: 'string' }, 'pod-interface-name-prefix': { type: 'string' },
      'masquerade-all': { type: 'boolean' }, 'iptables-masquerade-bit': { type: 'string' }, 'no-localhost-nodeports': { type: 'boolean' },
      'nodeport-addresses': { type: 'string' }, 'no-random-fully': { type: 'boolean' }, style: { type: 'string' },
      '6': { type: 'boolean' }, ipv6: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
      'ipvs-scheduler': { type: 'string' }, 'ipvs-strict-arp': { type: 'boolean' },
    },
  });
  if (values.help) {
    out(KUBE_PROXY_HELP + '\n');
    return 0;
  }
  const mode = values.mode ?? 'iptables';
  if (mode === 'nftables') {
    throw new NfemuError('UNSUPPORTED', `kube-proxy --mode ${mode} is not available yet (--mode iptables or ipvs)`, { token: mode });
  }
  if (mode !== 'iptables' && mode !== 'ipvs') throw new NfemuError('USAGE', `--mode must be iptables, ipvs or nftables, not ${JSON.stringify(mode)}`);
  if (positionals.length === 0) throw new NfemuError('USAGE', 'kube-proxy needs at least one MANIFEST file (see nfemu kube-proxy --help)');
  const style = values.style ?? 'current';
  if (style !== 'current' && style !== '2023') throw new NfemuError('USAGE', `--style takes current or 2023, not ${JSON.stringify(style)}`);
  let bit: number | undefined;
  if (values['iptables-masquerade-bit'] !== undefined) {
    bit = Number(values['iptables-masquerade-bit']);
    if (!Number.isInteger(bit)) throw new NfemuError('USAGE', `--iptables-masquerade-bit takes an integer, not ${values['iptables-masquerade-bit']}`);
  }
  let detector: LocalDetector | undefined;
  const dlm = values['detect-local-mode'];
  if (dlm !== undefined) {
    switch (dlm) {
      case 'ClusterCIDR':
        detector = { kind: dlm, value: values['cluster-cidr'] };
        break;
      case 'NodeCIDR':
        detector = { kind: dlm };
        break;
      case 'BridgeInterface':
        detector = { kind: dlm, value: values['pod-bridge-interface'] };
        break;
      case 'InterfaceNamePrefix':
        detector = { kind: dlm, value: values['pod-interface-name-prefix'] };
        break;
      default:
        throw new NfemuError('USAGE', `--detect-local-mode takes ClusterCIDR, NodeCIDR, BridgeInterface or InterfaceNamePrefix, not ${JSON.stringify(dlm)}`);
    }
  }
  const options: IptablesProxyOptions = {
    nodeName: values.node ?? null,
    ...(values['node-ip'] ? { nodeIPs: values['node-ip'] } : {}),
    ...(values['cluster-cidr'] ? { clusterCIDR: values['cluster-cidr'] } : {}),
    ...(detector ? { localDetector: detector } : {}),
    masqueradeAll: values['masquerade-all'] ?? false,
    ...(bit !== undefined ? { masqueradeBit: bit } : {}),
    localhostNodePorts: !values['no-localhost-nodeports'],
    ...(values['nodeport-addresses'] ? { nodePortAddresses: values['nodeport-addresses'].split(',').map((s) => s.trim()).filter(Boolean) } : {}),
    randomFully: !values['no-random-fully'],
    style,
    ...(values['6'] || values.ipv6 ? { family: 6 as const } : {}),
  };
  const objs = readManifestFiles(positionals);
  if (values.node && !objs.nodes.some((n) => n.meta.name === values.node) && !values['node-ip']) {
    err(`nfemu: warning: no Node ${values.node} in the manifests and no --node-ip: NodePort rules are still written, but the node has no address\n`);
  }
  if (mode === 'ipvs') {
    const sync = generateIpvs(objs, { ...options, scheduler: values['ipvs-scheduler'], strictARP: values['ipvs-strict-arp'] ?? false });
    for (const w of [...objs.warnings, ...sync.warnings]) err(`nfemu: warning: ${w}\n`);
    // Load each part the way the node would, so what is printed is what the kernel would hold.
    const clock = new SimulatedClock(0);
    const sets = new IpsetRegistry(clock);
    sets.restore(sync.ipsets, 'kube-proxy ipsets');
    const ipvs = new Ipvs({ clock });
    restoreIpvs(ipvs, sync.ipvs, 'kube-proxy ipvs');
    out(`# ipsets (ipset save)\n${sets.save()}`);
    out(values.payload
      ? `# iptables (iptables-restore --noflush payload)\n${values.sorted ? sortRestoreText(sync.iptables) : sync.iptables}`
      : `# iptables (iptables-save)\n${printSave(ipvsHostRuleset(sync, { get: (n) => sets.get(n) }))}`);
    out(`# ${KUBE_IPVS_DEVICE} addresses\n${sync.vips.map((a) => `${a}\n`).join('')}`);
    out(`# IPVS virtual servers (ipvsadm-save -n)\n${ipvsadmSave(ipvs)}`);
    return 0;
  }
  const sync = generateIptables(objs, options);
  for (const w of [...objs.warnings, ...sync.warnings]) err(`nfemu: warning: ${w}\n`);
  if (values.payload) out(values.sorted ? sortRestoreText(sync.payload) : sync.payload);
  else out(printSave(iptablesHostRuleset(sync)));
  return 0;
}
