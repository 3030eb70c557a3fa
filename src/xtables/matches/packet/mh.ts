/**
 * `-m mh --mh-type type[:type]` (IPv6 Mobility Header as upper-layer protocol, `-p mh`;
 * libip6t_mh.c, ip6t_mh.c). Names by prefix, an exact name winning. nfemu packets carry no
 * mobility header: only the full range 0:255 can be evaluated (see exthdr.ts).
 */
import type { Family } from '../../../core/index.ts';
import { IPPROTO_MH } from '../../../core/index.ts';
import type { CheckEnv, CompileEnv, MatchExt, OptionUse, ParseEnv } from '../../ext.ts';
import { registerMatch } from '../../ext.ts';
import { X6Parser, x6OptionDefs, xtCheckMatch, xtStrtoul, type X6Entry } from './common.ts';
import { upperLayerMatcher } from './exthdr.ts';

export interface MhData {
  readonly min: number;
  readonly max: number;
  readonly invert: boolean;
}

const NAMES: ReadonlyArray<readonly [string, number]> = [
  ['binding-refresh-request', 0], ['brr', 0], ['home-test-init', 1], ['hoti', 1], ['careof-test-init', 2], ['coti', 2],
  ['home-test', 3], ['hot', 3], ['careof-test', 4], ['cot', 4], ['binding-update', 5], ['bu', 5],
  ['binding-acknowledgement', 6], ['ba', 6], ['binding-error', 7], ['be', 7],
];

const TABLE: readonly X6Entry[] = [{ id: 0, name: 'mh-type', args: 1, invert: true }];

/** name_to_type: prefix match (case-insensitive), the last exact match or else the first prefix match. */
function nameToType(text: string, env: ParseEnv, token: string): number {
  let match = -1;
  for (let i = 0; i < NAMES.length; i++) {
    const n = NAMES[i]![0];
    if (n.slice(0, text.length).toLowerCase() === text.toLowerCase() && n.length >= text.length) {
      if (match < 0 || n.length === text.length) match = i;
    }
  }
  if (match >= 0) return NAMES[match]![1];
  const v = xtStrtoul(text, 0, 255);
  if (v === null) env.fail(`Invalid MH type \`${text}'`, token);
  return v.value;
}

function parse(opts: readonly OptionUse[], env: ParseEnv): MhData {
  const x6 = new X6Parser('mh', TABLE, env);
  let d: MhData = { min: 0, max: 0xff, invert: false };
  for (const o of opts) {
    x6.use(o);
    const text = o.args[0]!;
    const colon = text.indexOf(':');
    if (colon < 0) {
      const t = nameToType(text, env, o.token);
      d = { min: t, max: t, invert: o.invert };
    } else {
      const a = text.slice(0, colon);
      const b = text.slice(colon + 1);
      const min = a.length ? nameToType(a, env, o.token) : 0;
      const max = b.length ? nameToType(b, env, o.token) : 0xff;
      if (min > max) env.fail('Invalid MH type range (min > max)', o.token);
      d = { min, max, invert: o.invert };
    }
  }
  x6.finish();
  return d;
}

function print(d: MhData): string {
  if (d.min === 0 && d.max === 0xff) return '';
  return `${d.invert ? '! ' : ''}--mh-type ${d.min === d.max ? d.min : `${d.min}:${d.max}`}`;
}

export const mhMatch: MatchExt<MhData> = {
  name: 'mh',
  family: 6 as Family,
  options: x6OptionDefs(TABLE),
  parse,
  print,
  check: (_d: MhData, env: CheckEnv) => xtCheckMatch(env, 'mh', { proto: IPPROTO_MH }),
  compile: (d: MhData, _env: CompileEnv) => upperLayerMatcher('mh', 'mobility header (type)', d.min === 0 && d.max === 0xff, d.invert),
};

registerMatch(mhMatch);
