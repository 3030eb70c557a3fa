import { resolveOptions, syncIptablesRules, iptablesHostText } from '../../src/kube/index.ts';
import { writeFileSync } from 'node:fs';
import { proxyState } from './cluster.ts';
const n = Number(process.argv[2] ?? 1000);
const o = resolveOptions({ nodeName: 'node-0', nodeIPs: ['192.168.0.2'], clusterCIDR: '10.128.0.0/10' });
const sync = syncIptablesRules(proxyState({ services: n, endpoints: 4 }), o);
writeFileSync(`/tmp/kube-${n}.rules`, iptablesHostText(sync));
