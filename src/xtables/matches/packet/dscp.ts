/**
 * `-m dscp --dscp N | --dscp-class CLASS` (libxt_dscp.c, xt_dscp.c): the upper six bits of
 * the TOS byte / traffic class (pkt.tos >> 2). Printed as `--dscp 0xNN` whichever was given.
 */
import type { Packet } from '../../../packet/index.ts';
import type { CompileEnv, Matcher, MatchExt, OptionUse, ParseEnv } from '../../ext.ts';
import { registerMatch } from '../../ext.ts';
import { X6Parser, x6OptionDefs, type X6Entry } from './common.ts';

export interface DscpData {
  readonly dscp: number;
  readonly invert: boolean;
}

const O_DSCP = 0;
const O_CLASS = 1;
const TABLE: readonly X6Entry[] = [
  { id: O_DSCP, name: 'dscp', args: 1, invert: true, excl: 1 << O_CLASS },
  { id: O_CLASS, name: 'dscp-class', args: 1, invert: true, excl: 1 << O_DSCP },
];

/** ds_classes of libxt_dscp_helper.c, in its order (a name is matched by its prefix of the argument). */
const CLASSES: ReadonlyArray<readonly [string, number]> = [
  ['CS0', 0x00], ['CS1', 0x08], ['CS2', 0x10], ['CS3', 0x18], ['CS4', 0x20], ['CS5', 0x28], ['CS6', 0x30], ['CS7', 0x38],
  ['BE', 0x00], ['AF11', 0x0a], ['AF12', 0x0c], ['AF13', 0x0e], ['AF21', 0x12], ['AF22', 0x14], ['AF23', 0x16],
  ['AF31', 0x1a], ['AF32', 0x1c], ['AF33', 0x1e], ['AF41', 0x22], ['AF42', 0x24], ['AF43', 0x26], ['EF', 0x2e],
];

/** class_to_dscp: strncasecmp(arg, class, strlen(class)). */
export function classToDscp(text: string): number | null {
  for (const [n, v] of CLASSES) if (text.slice(0, n.length).toLowerCase() === n.toLowerCase()) return v;
  return null;
}

function parse(opts: readonly OptionUse[], env: ParseEnv): DscpData {
  const x6 = new X6Parser('dscp', TABLE, env);
  let d: DscpData | null = null;
  for (const o of opts) {
    const e = x6.use(o);
    if (e.id === O_DSCP) {
      d = { dscp: x6.uint(e, o.args[0]!, 0, 63, o.token), invert: o.invert };
    } else {
      const v = classToDscp(o.args[0]!);
      if (v === null) env.fail(`Invalid DSCP value \`${o.args[0]}'`, o.token);
      d = { dscp: v, invert: o.invert };
    }
  }
  if (d === null) env.fail('DSCP match: Parameter --dscp is required');
  x6.finish();
  return d;
}

class DscpMatcher implements Matcher {
  constructor(
    private readonly dscp: number,
    private readonly invert: boolean,
  ) {}

  match(pkt: Packet): boolean {
    return ((pkt.tos >>> 2) & 0x3f) === this.dscp !== this.invert;
  }
}

export const dscpMatch: MatchExt<DscpData> = {
  name: 'dscp',
  options: x6OptionDefs(TABLE),
  parse,
  print: (d) => `${d.invert ? '! ' : ''}--dscp 0x${d.dscp.toString(16).padStart(2, '0')}`,
  compile: (d: DscpData, _env: CompileEnv) => new DscpMatcher(d.dscp, d.invert),
};

registerMatch(dscpMatch);
