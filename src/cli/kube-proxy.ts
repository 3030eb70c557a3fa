/**
 * `nfemu kube-proxy`: what kube-proxy would program on a node, from Kubernetes manifests.
 * iptables mode only for now; the flags follow kube-proxy's own where there is one.
 */
import { parseArgs } from 'node:util';
import { NfemuError } from '../core/index.ts';
import { printSave } from '../xtables/index.ts';
import {
  generateIptables, iptablesHostRuleset, readManifestFiles, sortRestoreText,
  type IptablesProxyOptions, type LocalDetector,
} from '../kube/index.ts';

export const KUBE_PROXY_HELP = `usage: nfemu kube-proxy [--mode iptables] [--node NAME] [options] MANIFEST…

Prints the ruleset a node would hold after kube-proxy's sync (iptables-save form: the jumps
kube-proxy installs in the built-in chains, its canary chains and the restore payload), from
Services, EndpointSlices, Nodes and Pods in MANIFEST (YAML or JSON; many documents, Lists and
'kubectl get -o yaml' output are fine). Endpoints come from EndpointSlices; a Service with a
selector and no EndpointSlice gets the endpoints its Pods would give.

  --mode iptables            proxy mode (ipvs and nftables are not available yet)
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
    },
  });
  if (values.help) {
    out(KUBE_PROXY_HELP + '\n');
    return 0;
  }
  const mode = values.mode ?? 'iptables';
  if (mode === 'ipvs' || mode === 'nftables') {
    throw new NfemuError('UNSUPPORTED', `kube-proxy --mode ${mode} is not available yet (only --mode iptables)`, { token: mode });
  }
  if (mode !== 'iptables') throw new NfemuError('USAGE', `--mode must be iptables, ipvs or nftables, not ${JSON.stringify(mode)}`);
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
  const sync = generateIptables(objs, options);
  for (const w of [...objs.warnings, ...sync.warnings]) err(`nfemu: warning: ${w}\n`);
  if (values.payload) out(values.sorted ? sortRestoreText(sync.payload) : sync.payload);
  else out(printSave(iptablesHostRuleset(sync)));
  return 0;
}
