/**
 * `-m hl --hl-eq|--hl-lt|--hl-gt N` (IPv6 hop limit; libip6t_hl.c, ip6t_hl.c). Same shape as
 * `-m ttl`; pkt.ttl carries the hop limit.
 */
import type { Family } from '../../../core/index.ts';
import type { CompileEnv, MatchExt } from '../../ext.ts';
import { registerMatch } from '../../ext.ts';
import { x6OptionDefs } from './common.ts';
import { parseTtlLike, printTtlLike, ttlTable, TtlMatcher, type TtlData } from './ttl.ts';

const TABLE = ttlTable('hl');

export const hlMatch: MatchExt<TtlData> = {
  name: 'hl',
  family: 6 as Family,
  options: x6OptionDefs(TABLE),
  parse: (opts, env) => parseTtlLike('hl', TABLE, "HL match: You must specify one of `--hl-eq', `--hl-lt', `--hl-gt'", opts, env),
  print: (d) => printTtlLike('hl', d),
  compile: (d: TtlData, _env: CompileEnv) => new TtlMatcher(d.mode, d.value),
};

registerMatch(hlMatch);
