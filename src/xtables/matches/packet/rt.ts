/**
 * `-m rt` (IPv6 Routing header; libip6t_rt.c, ip6t_rt.c): --rt-type, --rt-segsleft, --rt-len,
 * --rt-0-res, --rt-0-addrs, --rt-0-not-strict. nfemu packets carry no extension headers, so
 * the kernel's match returns false (negated or not) — see exthdr.ts.
 */
import type { Family } from '../../../core/index.ts';
import { parseIpv6 } from '../../../core/index.ts';
import type { CompileEnv, MatchExt, OptionUse, ParseEnv } from '../../ext.ts';
import { registerMatch } from '../../ext.ts';
import { ntop6, X6Parser, x6OptionDefs, type X6Entry } from './common.ts';
import { FULL_U32, NO_HEADER, printU32Range, type U32Range } from './exthdr.ts';

export interface RtData {
  readonly type: { readonly value: number; readonly invert: boolean } | null;
  readonly segsleft: U32Range;
  readonly len: { readonly value: number; readonly invert: boolean } | null;
  readonly res: boolean;
  /** --rt-0-addrs, as address words (null when not given). */
  readonly addrs: readonly Uint32Array[] | null;
  readonly notStrict: boolean;
}

const O_TYPE = 0, O_SEGS = 1, O_LEN = 2, O_RES = 3, O_ADDRS = 4, O_NSTRICT = 5;
const TABLE: readonly X6Entry[] = [
  { id: O_TYPE, name: 'rt-type', args: 1, invert: true },
  { id: O_SEGS, name: 'rt-segsleft', args: 1, invert: true },
  { id: O_LEN, name: 'rt-len', args: 1, invert: true },
  { id: O_RES, name: 'rt-0-res', args: 0 },
  { id: O_ADDRS, name: 'rt-0-addrs', args: 1 },
  { id: O_NSTRICT, name: 'rt-0-not-strict', args: 0 },
];

/** IP6T_RT_HOPS. */
const RT_HOPS = 16;

function parse(opts: readonly OptionUse[], env: ParseEnv): RtData {
  const x6 = new X6Parser('rt', TABLE, env);
  let type: RtData['type'] = null;
  let segsleft = FULL_U32;
  let len: RtData['len'] = null;
  let res = false, notStrict = false;
  let addrs: Uint32Array[] | null = null;
  const type0 = (): boolean => type !== null && type.value === 0 && !type.invert;
  for (const o of opts) {
    const e = x6.use(o);
    switch (e.id) {
      case O_TYPE: type = { value: x6.uint(e, o.args[0]!, 0, 0xffffffff, o.token), invert: o.invert }; break;
      case O_SEGS: {
        const v = x6.uintRange(e, o.args[0]!, 0xffffffff, o.token);
        segsleft = { min: v[0]!, max: v.length > 1 ? v[1]! : v[0]!, invert: o.invert };
        break;
      }
      case O_LEN: len = { value: x6.uint(e, o.args[0]!, 0, 0xffffffff, o.token), invert: o.invert }; break;
      case O_RES:
        if (!type0()) env.fail("`--rt-type 0' required before `--rt-0-res'", o.token);
        res = true;
        break;
      case O_ADDRS: {
        if (!type0()) env.fail("`--rt-type 0' required before `--rt-0-addrs'", o.token);
        const list = o.args[0]!.split(',');
        if (list.length > RT_HOPS) env.fail('too many addresses specified', o.token);
        addrs = list.map((a) => {
          const w = parseIpv6(a);
          if (w === null) env.fail(`bad address: ${a}`, o.token);
          return w;
        });
        break;
      }
      default:
        if (addrs === null) env.fail("`--rt-0-addr ...' required before `--rt-0-not-strict'", o.token);
        notStrict = true;
    }
  }
  x6.finish();
  return { type, segsleft, len, res, addrs, notStrict };
}

function print(d: RtData): string {
  const out: string[] = [];
  if (d.type) out.push(`${d.type.invert ? '! ' : ''}--rt-type ${d.type.value}`);
  out.push(printU32Range('rt-segsleft', d.segsleft));
  if (d.len) out.push(`${d.len.invert ? '! ' : ''}--rt-len ${d.len.value}`);
  if (d.res) out.push('--rt-0-res');
  if (d.addrs) out.push(`--rt-0-addrs ${d.addrs.map(ntop6).join(',')}`);
  if (d.notStrict) out.push('--rt-0-not-strict');
  return out.filter((s) => s).join(' ');
}

export const rtMatch: MatchExt<RtData> = {
  name: 'rt',
  family: 6 as Family,
  options: x6OptionDefs(TABLE),
  parse,
  print,
  compile: (_d: RtData, _env: CompileEnv) => NO_HEADER,
};

registerMatch(rtMatch);
