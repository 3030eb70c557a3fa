/**
 * A kube-proxy-shaped iptables-save dump of N services × E endpoints (ClusterIP services,
 * statistic-random endpoint choice, DNAT per endpoint, masquerade mark), for benchmarks.
 * The shape follows ../shared/KUBE-PROXY.md §1; names are synthetic but of the real length.
 */
export interface DumpShape {
  services: number;
  endpoints: number;
}

export function serviceIp(i: number): string {
  return `10.96.${(i >> 8) & 255}.${i & 255}`;
}

function name(prefix: string, i: number, j = -1): string {
  const base = (i * 7919 + (j + 1) * 104729).toString(36).toUpperCase().padStart(16, 'X').slice(-16);
  return `${prefix}${base}`;
}

export function kubeDump({ services, endpoints }: DumpShape): string {
  const decl: string[] = [];
  const rules: string[] = [];
  for (let i = 0; i < services; i++) {
    const svc = name('KUBE-SVC-', i);
    decl.push(`:${svc} - [0:0]`);
    rules.push(`-A KUBE-SERVICES -d ${serviceIp(i)}/32 -p tcp -m comment --comment "ns/svc${i}:http cluster IP" -m tcp --dport 80 -j ${svc}`);
    rules.push(`-A ${svc} ! -s 10.244.0.0/16 -d ${serviceIp(i)}/32 -p tcp -m comment --comment "ns/svc${i}:http cluster IP" -m tcp --dport 80 -j KUBE-MARK-MASQ`);
    for (let j = 0; j < endpoints; j++) {
      const sep = name('KUBE-SEP-', i, j);
      const ep = `10.244.${(i * endpoints + j) >> 8 & 255}.${(i * endpoints + j) & 255}`;
      decl.push(`:${sep} - [0:0]`);
      const left = endpoints - j;
      const stat = left > 1 ? ` -m statistic --mode random --probability ${(1 / left).toFixed(10)}` : '';
      rules.push(`-A ${svc} -m comment --comment "ns/svc${i}:http -> ${ep}:8080"${stat} -j ${sep}`);
      rules.push(`-A ${sep} -s ${ep}/32 -m comment --comment "ns/svc${i}:http" -j KUBE-MARK-MASQ`);
      rules.push(`-A ${sep} -p tcp -m comment --comment "ns/svc${i}:http" -m tcp -j DNAT --to-destination ${ep}:8080`);
    }
  }
  return [
    '*filter',
    ':INPUT ACCEPT [0:0]',
    ':FORWARD ACCEPT [0:0]',
    ':OUTPUT ACCEPT [0:0]',
    ':KUBE-FORWARD - [0:0]',
    '-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD',
    '-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP',
    '-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT',
    '-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT',
    'COMMIT',
    '*nat',
    ':PREROUTING ACCEPT [0:0]',
    ':INPUT ACCEPT [0:0]',
    ':OUTPUT ACCEPT [0:0]',
    ':POSTROUTING ACCEPT [0:0]',
    ':KUBE-SERVICES - [0:0]',
    ':KUBE-POSTROUTING - [0:0]',
    ':KUBE-MARK-MASQ - [0:0]',
    ...decl,
    '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
    '-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
    '-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING',
    '-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000',
    '-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN',
    '-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000',
    '-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE',
    ...rules,
    'COMMIT',
    '',
  ].join('\n');
}
