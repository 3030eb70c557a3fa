/**
 * `-m ttl --ttl-eq|--ttl-lt|--ttl-gt N` (IPv4; libipt_ttl.c, ipt_ttl.c) and the shared
 * comparison used by `-m hl` (IPv6). Only `--ttl-eq` may be negated (stored as "not equal").
 */
import type { Family } from '../../../core/index.ts';
import type { Packet } from '../../../packet/index.ts';
import type { CompileEnv, Matcher, MatchExt, OptionUse, ParseEnv } from '../../ext.ts';
import { registerMatch } from '../../ext.ts';
import { X6Parser, x6OptionDefs, type X6Entry } from './common.ts';

/** Comparison modes (IPT_TTL_EQ … / IP6T_HL_EQ …, same numbering). */
export const TTL_EQ = 0;
export const TTL_NE = 1;
export const TTL_LT = 2;
export const TTL_GT = 3;

export interface TtlData {
  readonly mode: number;
  readonly value: number;
}

const O_EQ = 0;
const O_LT = 1;
const O_GT = 2;
const F_ANY = 7;

/** The option table of libipt_ttl / libip6t_hl (lt, gt, eq, old name), with the prefix. */
export function ttlTable(prefix: string): X6Entry[] {
  return [
    { id: O_LT, name: `${prefix}-lt`, args: 1, excl: F_ANY },
    { id: O_GT, name: `${prefix}-gt`, args: 1, excl: F_ANY },
    { id: O_EQ, name: `${prefix}-eq`, args: 1, excl: F_ANY, invert: true },
    { id: O_EQ, name: prefix, args: 1, excl: F_ANY, invert: true },
  ];
}

/** Parses one of the ttl/hl options; `required` is the message when none was given. */
export function parseTtlLike(ext: string, table: readonly X6Entry[], required: string, opts: readonly OptionUse[], env: ParseEnv): TtlData {
  const x6 = new X6Parser(ext, table, env);
  let d: TtlData | null = null;
  for (const o of opts) {
    const e = x6.use(o);
    const value = x6.uint(e, o.args[0]!, 0, 255, o.token);
    const mode = e.id === O_LT ? TTL_LT : e.id === O_GT ? TTL_GT : o.invert ? TTL_NE : TTL_EQ;
    d = { mode, value };
  }
  if (d === null) env.fail(required);
  x6.finish();
  return d;
}

export function printTtlLike(prefix: string, d: TtlData): string {
  switch (d.mode) {
    case TTL_EQ: return `--${prefix}-eq ${d.value}`;
    case TTL_NE: return `! --${prefix}-eq ${d.value}`;
    case TTL_LT: return `--${prefix}-lt ${d.value}`;
    default: return `--${prefix}-gt ${d.value}`;
  }
}

/** Compares pkt.ttl (the IPv4 TTL or the IPv6 hop limit). Hot path. */
export class TtlMatcher implements Matcher {
  constructor(
    private readonly mode: number,
    private readonly value: number,
  ) {}

  match(pkt: Packet): boolean {
    const t = pkt.ttl;
    switch (this.mode) {
      case TTL_EQ: return t === this.value;
      case TTL_NE: return t !== this.value;
      case TTL_LT: return t < this.value;
      default: return t > this.value;
    }
  }
}

const TABLE = ttlTable('ttl');

export const ttlMatch: MatchExt<TtlData> = {
  name: 'ttl',
  family: 4 as Family,
  options: x6OptionDefs(TABLE),
  parse: (opts, env) => parseTtlLike('ttl', TABLE, "TTL match: You must specify one of `--ttl-eq', `--ttl-lt', `--ttl-gt", opts, env),
  print: (d) => printTtlLike('ttl', d),
  compile: (d: TtlData, _env: CompileEnv) => new TtlMatcher(d.mode, d.value),
};

registerMatch(ttlMatch);
