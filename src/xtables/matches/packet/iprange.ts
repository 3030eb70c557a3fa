/**
 * `-m iprange --src-range A-B --dst-range C-D` (libxt_iprange.c revision 1, xt_iprange.c).
 * An address alone means A-A. A reversed range loads (iptables only warns) and never matches.
 * The kernel compares whole addresses (IPv6 as 128-bit numbers); no fragment rule.
 */
import type { Family } from '../../../core/index.ts';
import { parseIpv6 } from '../../../core/index.ts';
import type { Packet } from '../../../packet/index.ts';
import type { CompileEnv, Matcher, MatchExt, OptionUse, ParseEnv } from '../../ext.ts';
import { registerMatch } from '../../ext.ts';
import { ntop, X6Parser, x6OptionDefs, xtNumericToIpv4, type X6Entry } from './common.ts';

export interface AddrRange {
  readonly min: Uint32Array;
  readonly max: Uint32Array;
  readonly invert: boolean;
}

export interface IprangeData {
  readonly src: AddrRange | null;
  readonly dst: AddrRange | null;
}

const O_SRC = 0;
const O_DST = 1;
const TABLE: readonly X6Entry[] = [
  { id: O_SRC, name: 'src-range', args: 1, invert: true },
  { id: O_DST, name: 'dst-range', args: 1, invert: true },
];

function parseAddr(family: Family, text: string, opt: string, env: ParseEnv, token: string): Uint32Array {
  const w = new Uint32Array(4);
  if (family === 4) {
    const v = xtNumericToIpv4(text);
    if (v === null) env.fail(`iprange: Bad value for "--${opt}" option: "${text}"`, token);
    w[0] = v;
  } else {
    const v = parseIpv6(text);
    if (v === null) env.fail(`iprange: Bad value for "--${opt}" option: "${text}"`, token);
    w.set(v);
  }
  return w;
}

function parseRange(family: Family, text: string, opt: string, invert: boolean, env: ParseEnv, token: string): AddrRange {
  const dash = text.indexOf('-');
  const a = dash < 0 ? text : text.slice(0, dash);
  const b = dash < 0 ? text : text.slice(dash + 1);
  return { min: parseAddr(family, a, opt, env, token), max: parseAddr(family, b, opt, env, token), invert };
}

function parse(opts: readonly OptionUse[], env: ParseEnv): IprangeData {
  const x6 = new X6Parser('iprange', TABLE, env);
  let src: AddrRange | null = null;
  let dst: AddrRange | null = null;
  for (const o of opts) {
    const e = x6.use(o);
    const r = parseRange(env.family, o.args[0]!, e.name, o.invert, env, o.token);
    if (e.id === O_SRC) src = r;
    else dst = r;
  }
  if (src === null && dst === null) env.fail("iprange match: You must specify `--src-range' or `--dst-range'");
  x6.finish();
  return { src, dst };
}

function print(d: IprangeData, family: Family): string {
  const out: string[] = [];
  const one = (opt: string, r: AddrRange | null): void => {
    if (r) out.push(`${r.invert ? '! ' : ''}--${opt} ${ntop(family, r.min)}-${ntop(family, r.max)}`);
  };
  one('src-range', d.src);
  one('dst-range', d.dst);
  return out.join(' ');
}

/** a < b as unsigned 128-bit numbers (IPv4 uses word 0, the rest are 0). */
function lt(a: Uint32Array, b: Uint32Array): boolean {
  for (let i = 0; i < 4; i++) {
    if (a[i] !== b[i]) return a[i]! < b[i]!;
  }
  return false;
}

/** Hot path: allocation-free comparisons against the precomputed bounds. */
class IprangeMatcher implements Matcher {
  constructor(
    private readonly src: AddrRange | null,
    private readonly dst: AddrRange | null,
  ) {}

  match(pkt: Packet): boolean {
    const s = this.src;
    if (s !== null && (lt(pkt.saddr, s.min) || lt(s.max, pkt.saddr)) !== s.invert) return false;
    const d = this.dst;
    if (d !== null && (lt(pkt.daddr, d.min) || lt(d.max, pkt.daddr)) !== d.invert) return false;
    return true;
  }
}

export const iprangeMatch: MatchExt<IprangeData> = {
  name: 'iprange',
  options: x6OptionDefs(TABLE),
  parse,
  print,
  compile: (d: IprangeData, _env: CompileEnv) => new IprangeMatcher(d.src, d.dst),
};

registerMatch(iprangeMatch);
