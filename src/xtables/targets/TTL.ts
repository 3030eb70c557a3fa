/**
 * TTL (IPv4; xt_HL.c, libipt_TTL.c), and the factory HL.ts shares: set, decrement
 * (not below 0) or increment (not above 255) the TTL / hop limit. Mangle table.
 */
import type { Family } from '../../core/index.ts';
import { XT_CONTINUE } from '../../netfilter/index.ts';
import { registerTarget, type TargetExt } from '../ext.ts';
import { checkTarget, uintOption, xtParse, type XtOption } from './util.ts';

/** IPT_TTL_* / IP6T_HL_* modes. */
export const TTL_SET = 0;
export const TTL_INC = 1;
export const TTL_DEC = 2;

export interface TtlData {
  readonly mode: number;
  readonly value: number;
}

/** The TTL / HL target for its family (the two differ only in names). */
export function makeTtlTarget(name: 'TTL' | 'HL', family: Family): TargetExt<TtlData> {
  const p = name === 'TTL' ? 'ttl' : 'hl';
  const ops = [`${p}-set`, `${p}-dec`, `${p}-inc`];
  const options: readonly XtOption[] = ops.map((o) => ({ name: o, args: 1 as const, excl: ops.filter((x) => x !== o) }));
  return {
    name,
    family,
    options,
    parse(opts, env) {
      let mode = TTL_SET;
      let value = 0;
      const seen = xtParse(name, options, opts, env, (use) => {
        const i = ops.indexOf(use.name);
        mode = i === 0 ? TTL_SET : i === 1 ? TTL_DEC : TTL_INC;
        value = uintOption(name, use, env, i === 0 ? 0 : 1, 255);
      });
      if (seen.size === 0) env.fail(`${name}: You must specify an action`);
      return { mode, value };
    },
    print(d) {
      const op = d.mode === TTL_SET ? 'set' : d.mode === TTL_DEC ? 'dec' : 'inc';
      return `--${p}-${op} ${d.value}`;
    },
    check(d, env) {
      const m = checkTarget(name, env, 'mangle', 0);
      if (m !== null) return m;
      if (d.mode !== TTL_SET && d.value === 0) return `${name}: increment/decrement by 0 refused by the kernel (Invalid argument)`;
      return null;
    },
    compile(d) {
      const mode = d.mode;
      const v = d.value;
      return {
        /** ttl_tg / hl_tg6. Hot path. */
        run(pkt) {
          if (mode === TTL_SET) pkt.ttl = v;
          else if (mode === TTL_INC) pkt.ttl = Math.min(255, pkt.ttl + v);
          else pkt.ttl = Math.max(0, pkt.ttl - v);
          return XT_CONTINUE;
        },
      };
    },
  };
}

export const ttlTarget = makeTtlTarget('TTL', 4);

registerTarget(ttlTarget);
