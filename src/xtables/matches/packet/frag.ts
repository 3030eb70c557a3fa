/**
 * `-m frag` (IPv6 Fragment header; libip6t_frag.c, ip6t_frag.c): --fragid, --fraglen,
 * --fragres, --fragfirst, --fragmore, --fraglast. nfemu packets carry no extension headers,
 * so the kernel's match returns false (negated or not) — see exthdr.ts.
 */
import type { Family } from '../../../core/index.ts';
import type { CompileEnv, MatchExt, OptionUse, ParseEnv } from '../../ext.ts';
import { registerMatch } from '../../ext.ts';
import { X6Parser, x6OptionDefs, type X6Entry } from './common.ts';
import { FULL_U32, NO_HEADER, printU32Range, type U32Range } from './exthdr.ts';

export interface FragData {
  readonly ids: U32Range;
  readonly len: { readonly value: number; readonly invert: boolean } | null;
  readonly res: boolean;
  readonly first: boolean;
  readonly more: boolean;
  readonly last: boolean;
}

const O_ID = 0, O_LEN = 1, O_RES = 2, O_FIRST = 3, O_MORE = 4, O_LAST = 5;
const TABLE: readonly X6Entry[] = [
  { id: O_ID, name: 'fragid', args: 1, invert: true },
  { id: O_LEN, name: 'fraglen', args: 1, invert: true },
  { id: O_RES, name: 'fragres', args: 0 },
  { id: O_FIRST, name: 'fragfirst', args: 0 },
  { id: O_MORE, name: 'fragmore', args: 0, excl: 1 << O_LAST },
  { id: O_LAST, name: 'fraglast', args: 0, excl: 1 << O_MORE },
];

function parse(opts: readonly OptionUse[], env: ParseEnv): FragData {
  const x6 = new X6Parser('frag', TABLE, env);
  let ids = FULL_U32;
  let len: FragData['len'] = null;
  let res = false, first = false, more = false, last = false;
  for (const o of opts) {
    const e = x6.use(o);
    switch (e.id) {
      case O_ID: {
        const v = x6.uintRange(e, o.args[0]!, 0xffffffff, o.token);
        ids = { min: v[0]!, max: v.length > 1 ? v[1]! : v[0]!, invert: o.invert };
        break;
      }
      case O_LEN: len = { value: x6.uint(e, o.args[0]!, 0, 0xffffffff, o.token), invert: o.invert }; break;
      case O_RES: res = true; break;
      case O_FIRST: first = true; break;
      case O_MORE: more = true; break;
      default: last = true;
    }
  }
  x6.finish();
  return { ids, len, res, first, more, last };
}

function print(d: FragData): string {
  const out = [printU32Range('fragid', d.ids)];
  if (d.len) out.push(`${d.len.invert ? '! ' : ''}--fraglen ${d.len.value}`);
  if (d.res) out.push('--fragres');
  if (d.first) out.push('--fragfirst');
  if (d.more) out.push('--fragmore');
  if (d.last) out.push('--fraglast');
  return out.filter((s) => s).join(' ');
}

export const fragMatch: MatchExt<FragData> = {
  name: 'frag',
  family: 6 as Family,
  options: x6OptionDefs(TABLE),
  parse,
  print,
  compile: (_d: FragData, _env: CompileEnv) => NO_HEADER,
};

registerMatch(fragMatch);
