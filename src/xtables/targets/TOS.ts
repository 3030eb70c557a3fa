/**
 * TOS (xt_DSCP.c tos_tg / tos_tg6, revision 1; libxt_TOS.c): rewrites the IPv4 TOS byte /
 * IPv6 traffic class as `tos = (tos & ~mask) ^ value`. Mangle table. `--set-tos v[/m]`
 * (mask 0xff) or a symbolic name (mask 0x3f), `--and-tos`, `--or-tos`, `--xor-tos`;
 * iptables-nft-save prints every form as `--set-tos 0xVV/0xMM`.
 */
import { XT_CONTINUE } from '../../netfilter/index.ts';
import { registerTarget, type TargetExt } from '../ext.ts';
import { checkTarget, hex2, parseUint, strtoul, uintOption, xtParse, type XtOption } from './util.ts';

export interface TosData {
  readonly value: number;
  readonly mask: number;
}

const SYMBOLS: ReadonlyMap<string, number> = new Map([
  ['minimize-delay', 0x10], ['maximize-throughput', 0x08], ['maximize-reliability', 0x04], ['minimize-cost', 0x02],
  ['normal-service', 0x00],
]);

const OPS = ['set-tos', 'and-tos', 'or-tos', 'xor-tos'];
const OPTIONS: readonly XtOption[] = OPS.map((name) => ({ name, args: 1 as const, excl: OPS.filter((o) => o !== name) }));

export const tosTarget: TargetExt<TosData> = {
  name: 'TOS',
  options: OPTIONS,
  parse(opts, env) {
    let value = 0;
    let mask = 0;
    const seen = xtParse('TOS', OPTIONS, opts, env, (use) => {
      const arg = use.args[0]!;
      switch (use.name) {
        case 'set-tos': {
          // XTTYPE_TOSMASK: a number with an optional /mask, else a symbolic name (mask 0x3f).
          const v = strtoul(arg);
          if (v !== null && v.value <= 255) {
            value = v.value;
            mask = 0xff;
            if (v.end === arg.length) break;
            const m = arg[v.end] === '/' ? parseUint(arg.slice(v.end + 1), 0, 255) : null;
            if (m === null) env.fail(`Illegal value: "${arg}"`, use.token);
            mask = m!;
            break;
          }
          const s = SYMBOLS.get(arg.toLowerCase());
          if (s === undefined) env.fail(`Symbolic name "${arg}" is unknown`, use.token);
          value = s!;
          mask = 0x3f;
          break;
        }
        case 'and-tos':
          value = 0;
          mask = ~uintOption('TOS', use, env, 0, 255) & 0xff;
          break;
        case 'or-tos':
          value = mask = uintOption('TOS', use, env, 0, 255);
          break;
        case 'xor-tos':
          value = uintOption('TOS', use, env, 0, 255);
          mask = 0;
          break;
      }
    });
    if (seen.size === 0) env.fail('TOS: An action is required');
    return { value, mask };
  },
  print(d) {
    return `--set-tos ${hex2(d.value)}/${hex2(d.mask)}`;
  },
  check(_data, env) {
    return checkTarget('TOS', env, 'mangle', 0);
  },
  compile(d) {
    const keep = ~d.mask & 0xff;
    const value = d.value & 0xff;
    return {
      /** tos_tg / tos_tg6. Hot path. */
      run(pkt) {
        pkt.tos = ((pkt.tos & keep) ^ value) & 0xff;
        return XT_CONTINUE;
      },
    };
  },
};

registerTarget(tosTarget);
