import { resolveOptions, syncIptablesRules, iptablesHostRuleset } from '../../src/kube/index.ts';
import { Host, SimulatedClock, SeededRng } from '../../src/index.ts';
import { proxyState, withEndpointChange, referenceState } from './cluster.ts';
const n = Number(process.argv[2] ?? 1000);
const t = () => Number(process.hrtime.bigint()) / 1e6;
const o = resolveOptions({ nodeName: 'node-0', nodeIPs: ['192.168.0.2'], clusterCIDR: '10.128.0.0/10' });
globalThis.gc?.(); const h0 = process.memoryUsage().heapUsed;
let t0 = t(); const st = proxyState({ services: n, endpoints: 4 }); let t1 = t();
const sync = syncIptablesRules(st, o); let t2 = t();
const rs = iptablesHostRuleset(sync); let t3 = t();
const host = new Host({ clock: new SimulatedClock(), rng: new SeededRng(1) }); host.load(rs); let t4 = t();
globalThis.gc?.(); const h1 = process.memoryUsage().heapUsed;
console.log(`n=${n} state ${(t1-t0).toFixed(0)}ms sync ${(t2-t1).toFixed(0)}ms restore ${(t3-t2).toFixed(0)}ms load ${(t4-t3).toFixed(0)}ms payload ${(sync.payload.length/1e6).toFixed(1)}MB lines ${sync.payload.split('\n').length} heap ${((h1-h0)/1e6).toFixed(0)}MB`);
const ch = withEndpointChange(st, { services: n, endpoints: 4 });
t0 = t(); const s2 = syncIptablesRules(ch.state, o, { previous: sync }); t1 = t();
const rs2 = iptablesHostRuleset(s2, rs); t2 = t(); host.load(rs2); t3 = t();
console.log(`partial: sync ${(t1-t0).toFixed(1)}ms restore ${(t2-t1).toFixed(1)}ms load ${(t3-t2).toFixed(1)}ms payload ${s2.payload.length}B lines ${s2.payload.split('\n').length} rewritten ${s2.rewritten}`);
if (n <= 50) { const ref = referenceState({ services: n, endpoints: 4 }); console.log('ref equal', JSON.stringify(ref.servicePorts) === JSON.stringify(st.servicePorts)); }
