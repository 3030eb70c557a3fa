/**
 * kube-proxy's names and numbers, computed exactly as it computes them
 * (pkg/proxy/iptables/proxier.go): per-service-port chain names hashed from the service
 * port name, endpoint chain names, and `--probability` values printed with Go's `%0.10f`.
 */
import { createHash } from 'node:crypto';

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/**
 * First 16 characters of the standard (RFC 4648) base32 encoding of SHA-256(text): what
 * `portProtoHash` / `servicePortEndpointChainName` keep. 16 characters are exactly the
 * first 10 digest bytes (80 bits), so padding never shows.
 */
export function hash16(text: string): string {
  const d = createHash('sha256').update(text, 'utf8').digest();
  let out = '';
  for (let i = 0; i < 10; i += 5) {
    // 5 bytes → 8 characters; 40 bits fit in a double exactly.
    const v = d[i]! * 2 ** 32 + ((d[i + 1]! << 24) >>> 0) + (d[i + 2]! << 16) + (d[i + 3]! << 8) + d[i + 4]!;
    for (let k = 7; k >= 0; k--) out += BASE32[Math.floor(v / 2 ** (5 * k)) % 32]!;
  }
  return out;
}

/** The chain names of one service port (all four share one hash of `<svcPortName><proto>`). */
export interface ServicePortChains {
  /** KUBE-SVC-…: Cluster traffic policy, load-balances over all usable endpoints. */
  readonly svc: string;
  /** KUBE-SVL-…: Local traffic policy, node-local endpoints only. */
  readonly svl: string;
  /** KUBE-EXT-…: entry for NodePort, externalIP and load-balancer traffic. */
  readonly ext: string;
  /** KUBE-FW-…: loadBalancerSourceRanges allow-list. */
  readonly fw: string;
}

/**
 * Chain names for a service port. `svcPortName` is `<ns>/<svc>:<port name>` (or `<ns>/<svc>`
 * when the port is unnamed); `protocol` is lower case (`tcp`, `udp`, `sctp`).
 */
export function servicePortChains(svcPortName: string, protocol: string): ServicePortChains {
  const h = hash16(svcPortName + protocol);
  return { svc: `KUBE-SVC-${h}`, svl: `KUBE-SVL-${h}`, ext: `KUBE-EXT-${h}`, fw: `KUBE-FW-${h}` };
}

/** KUBE-SEP-… for one endpoint (`ip:port`, IPv6 as `[ip]:port`) of a service port. */
export function endpointChain(svcPortName: string, protocol: string, endpoint: string): string {
  return `KUBE-SEP-${hash16(svcPortName + protocol + endpoint)}`;
}

/** The prefixes of per-service chains: the ones kube-proxy deletes when they go stale. */
export const SERVICE_CHAIN_PREFIXES = ['KUBE-SVC-', 'KUBE-SVL-', 'KUBE-SEP-', 'KUBE-FW-', 'KUBE-EXT-'] as const;

export function isServiceChainName(name: string): boolean {
  for (const p of SERVICE_CHAIN_PREFIXES) if (name.startsWith(p)) return true;
  return false;
}

const probabilityCache: string[] = [];

/**
 * `fmt.Sprintf("%0.10f", 1.0/float64(n))`: Go prints the exact binary value of the double
 * rounded to ten decimals, ties to even (strconv's bigFtoa path). JavaScript's toFixed
 * rounds ties up, which differs at n = 2048 (0.00048828125 → Go "0.0004882812"), so the
 * rounding is done here on the exact value with BigInt.
 */
export function probability(n: number): string {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`probability: n must be a positive integer, got ${n}`);
  const cached = probabilityCache[n];
  if (cached !== undefined) return cached;
  const s = formatFixed10(1 / n);
  if (n < 100000) probabilityCache[n] = s;
  return s;
}

/** A non-negative finite double printed like Go's `%0.10f` (exact value, round half to even). */
export function formatFixed10(x: number): string {
  if (!(x >= 0) || !Number.isFinite(x)) throw new RangeError(`formatFixed10: ${x}`);
  // x = mant · 2^exp exactly.
  const buf = new DataView(new ArrayBuffer(8));
  buf.setFloat64(0, x);
  const hi = buf.getUint32(0);
  const lo = buf.getUint32(4);
  const bexp = (hi >>> 20) & 0x7ff;
  let mant = (BigInt(hi & 0xfffff) << 32n) | BigInt(lo);
  let exp: number;
  if (bexp === 0) exp = -1074;
  else {
    mant |= 1n << 52n;
    exp = bexp - 1075;
  }
  const scale = 10n ** 10n;
  let q: bigint;
  if (exp >= 0) q = (mant << BigInt(exp)) * scale;
  else {
    const num = mant * scale;
    const den = 1n << BigInt(-exp);
    q = num / den;
    const r2 = (num % den) * 2n;
    if (r2 > den || (r2 === den && (q & 1n) === 1n)) q += 1n;
  }
  const digits = q.toString().padStart(11, '0');
  return `${digits.slice(0, -10)}.${digits.slice(-10)}`;
}
