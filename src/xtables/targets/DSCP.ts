/**
 * DSCP (xt_DSCP.c): sets the DSCP bits of the IPv4 TOS / IPv6 traffic class, keeping the
 * two ECN bits: `tos = (tos & 0x03) | (dscp << 2)`. Mangle table. `--set-dscp 0-63` or
 * `--set-dscp-class` (CSn, BE, AFxy, EF).
 */
import { XT_CONTINUE } from '../../netfilter/index.ts';
import { registerTarget, type TargetExt } from '../ext.ts';
import { checkTarget, hex2, uintOption, xtParse, type XtOption } from './util.ts';

export interface DscpData {
  readonly dscp: number;
}

/** ds_classes of libxt_dscp_helper.c, in its order (the first class the argument starts with wins). */
const CLASSES: ReadonlyArray<readonly [string, number]> = [
  ['CS0', 0x00], ['CS1', 0x08], ['CS2', 0x10], ['CS3', 0x18], ['CS4', 0x20], ['CS5', 0x28], ['CS6', 0x30], ['CS7', 0x38],
  ['BE', 0x00], ['AF11', 0x0a], ['AF12', 0x0c], ['AF13', 0x0e], ['AF21', 0x12], ['AF22', 0x14], ['AF23', 0x16],
  ['AF31', 0x1a], ['AF32', 0x1c], ['AF33', 0x1e], ['AF41', 0x22], ['AF42', 0x24], ['AF43', 0x26], ['EF', 0x2e],
];

const OPTIONS: readonly XtOption[] = [
  { name: 'set-dscp', args: 1, excl: ['set-dscp-class'] },
  { name: 'set-dscp-class', args: 1, excl: ['set-dscp'] },
];

export const dscpTarget: TargetExt<DscpData> = {
  name: 'DSCP',
  options: OPTIONS,
  parse(opts, env) {
    let dscp = 0;
    const seen = xtParse('DSCP', OPTIONS, opts, env, (use) => {
      if (use.name === 'set-dscp') {
        dscp = uintOption('DSCP', use, env, 0, 63);
        return;
      }
      const arg = use.args[0]!;
      const c = CLASSES.find(([name]) => arg.toUpperCase().startsWith(name));
      if (c === undefined) env.fail(`Invalid DSCP value \`${arg}'`, use.token);
      dscp = c![1];
    });
    if (seen.size === 0) env.fail('DSCP target: Parameter --set-dscp is required');
    return { dscp };
  },
  print(d) {
    return `--set-dscp ${hex2(d.dscp)}`;
  },
  check(_data, env) {
    return checkTarget('DSCP', env, 'mangle', 0);
  },
  compile(d) {
    const bits = d.dscp << 2;
    return {
      /** dscp_tg / dscp_tg6. Hot path. */
      run(pkt) {
        pkt.tos = (pkt.tos & 0x03) | bits;
        return XT_CONTINUE;
      },
    };
  },
};

registerTarget(dscpTarget);
