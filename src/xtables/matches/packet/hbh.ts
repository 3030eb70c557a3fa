/**
 * `-m hbh` (IPv6 Hop-by-Hop Options header; libip6t_hbh.c, ip6t_hbh.c): --hbh-len and
 * --hbh-opts TYPE[:LEN],…, and the factory `-m dst` shares. nfemu packets carry no extension
 * headers, so the kernel's match returns false (negated or not) — see exthdr.ts.
 */
import type { Family } from '../../../core/index.ts';
import type { CompileEnv, MatchExt, OptionUse, ParseEnv } from '../../ext.ts';
import { registerMatch } from '../../ext.ts';
import { strtoul, X6Parser, x6OptionDefs, type X6Entry } from './common.ts';
import { NO_HEADER } from './exthdr.ts';

export interface OptsData {
  readonly len: { readonly value: number; readonly invert: boolean } | null;
  /** Each option as (type << 8) | length, length 0xff meaning "any" (null when not given). */
  readonly opts: readonly number[] | null;
}

/** IP6T_OPTS_OPTSNR. */
const OPTSNR = 16;

function optsNum(ext: string, text: string, what: string, env: ParseEnv, token: string): number {
  const r = strtoul(text, 0, 0);
  if (r.end === 0) env.fail(`${ext}: no valid digits in ${what} \`${text}'`, token);
  if (r.overflow) env.fail(`${what} \`${text}' specified too big: would overflow`, token);
  if (text.length && r.end !== text.length) env.fail(`${ext}: error parsing ${what} \`${text}'`, token);
  return Number(r.value & 0xffn);
}

/** Builds the hbh or dst module (same options, prefixed by the name). */
export function makeOptsModule(ext: 'hbh' | 'dst'): MatchExt<OptsData> {
  const O_LEN = 0, O_OPTS = 1;
  const table: readonly X6Entry[] = [
    { id: O_LEN, name: `${ext}-len`, args: 1, invert: true },
    { id: O_OPTS, name: `${ext}-opts`, args: 1 },
  ];
  const parse = (opts: readonly OptionUse[], env: ParseEnv): OptsData => {
    const x6 = new X6Parser(ext, table, env);
    let len: OptsData['len'] = null;
    let list: number[] | null = null;
    for (const o of opts) {
      const e = x6.use(o);
      if (e.id === O_LEN) {
        len = { value: x6.uint(e, o.args[0]!, 0, 0xffffffff, o.token), invert: o.invert };
        continue;
      }
      const items = o.args[0]!.split(',');
      list = [];
      for (let i = 0; i < items.length; i++) {
        if (i === OPTSNR) env.fail('too many addresses specified', o.token);
        const item = items[i]!;
        const colon = item.indexOf(':');
        if (colon >= 0 && i === OPTSNR - 1) env.fail('too many ports specified', o.token);
        const type = optsNum(ext, colon < 0 ? item : item.slice(0, colon), 'opt', env, o.token);
        let v = type << 8;
        if (colon >= 0) {
          // The two tools word this differently.
          if (v === 0) env.fail(ext === 'hbh' ? 'PAD0 has not got length' : "PAD0 hasn't got length", o.token);
          v |= optsNum(ext, item.slice(colon + 1), 'length', env, o.token);
        } else {
          v |= 0xff;
        }
        list.push(v);
      }
    }
    x6.finish();
    return { len, opts: list };
  };
  const print = (d: OptsData): string => {
    const out: string[] = [];
    if (d.len) out.push(`${d.len.invert ? '! ' : ''}--${ext}-len ${d.len.value}`);
    if (d.opts) {
      out.push(`--${ext}-opts ${d.opts.map((v) => ((v & 0xff) !== 0xff ? `${v >> 8}:${v & 0xff}` : String(v >> 8))).join(',')}`);
    }
    return out.join(' ');
  };
  return {
    name: ext,
    family: 6 as Family,
    options: x6OptionDefs(table),
    parse,
    print,
    compile: (_d: OptsData, _env: CompileEnv) => NO_HEADER,
  };
}

export const hbhMatch = makeOptsModule('hbh');

registerMatch(hbhMatch);
