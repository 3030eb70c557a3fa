/**
 * `-m physdev` (bridge ports; libxt_physdev.c, xt_physdev.c): --physdev-in, --physdev-out,
 * --physdev-is-in, --physdev-is-out, --physdev-is-bridged. Parsed, checked and printed like
 * iptables; nfemu models no bridges, so compile() refuses the rule with an UNSUPPORTED error
 * that names the module instead of silently matching or skipping it.
 */
import { NfemuError } from '../../../core/index.ts';
import type { CheckEnv, CompileEnv, Matcher, MatchExt, OptionUse, ParseEnv } from '../../ext.ts';
import { registerMatch } from '../../ext.ts';
import { X6Parser, x6OptionDefs, type X6Entry } from './common.ts';

export const XT_PHYSDEV_OP_IN = 1;
export const XT_PHYSDEV_OP_OUT = 2;
export const XT_PHYSDEV_OP_BRIDGED = 4;
export const XT_PHYSDEV_OP_ISIN = 8;
export const XT_PHYSDEV_OP_ISOUT = 16;

export interface PhysdevData {
  readonly bitmask: number;
  readonly invert: number;
  readonly physIn: string;
  readonly physOut: string;
}

const O_IN = 0, O_OUT = 1, O_IS_IN = 2, O_IS_OUT = 3, O_BRIDGED = 4;
const TABLE: readonly X6Entry[] = [
  { id: O_IN, name: 'physdev-in', args: 1, invert: true },
  { id: O_OUT, name: 'physdev-out', args: 1, invert: true },
  { id: O_IS_IN, name: 'physdev-is-in', args: 0, invert: true },
  { id: O_IS_OUT, name: 'physdev-is-out', args: 0, invert: true },
  { id: O_BRIDGED, name: 'physdev-is-bridged', args: 0, invert: true },
];
const BITS = [XT_PHYSDEV_OP_IN, XT_PHYSDEV_OP_OUT, XT_PHYSDEV_OP_ISIN, XT_PHYSDEV_OP_ISOUT, XT_PHYSDEV_OP_BRIDGED];

/** xtables_parse_interface's length rule (IFNAMSIZ - 1 characters). */
export function checkIfaceName(name: string, env: ParseEnv, token: string): void {
  if (name.length > 15) env.fail(`interface name \`${name}' must be shorter than IFNAMSIZ (15)`, token);
}

function parse(opts: readonly OptionUse[], env: ParseEnv): PhysdevData {
  const x6 = new X6Parser('physdev', TABLE, env);
  let bitmask = 0, invert = 0, physIn = '', physOut = '';
  for (const o of opts) {
    const e = x6.use(o);
    const bit = BITS[e.id]!;
    if (e.id === O_IN || e.id === O_OUT) {
      checkIfaceName(o.args[0]!, env, o.token);
      if (e.id === O_IN) physIn = o.args[0]!;
      else physOut = o.args[0]!;
    }
    bitmask |= bit;
    if (o.invert) invert |= bit;
  }
  if (bitmask === 0) env.fail('PHYSDEV: no physdev option specified');
  x6.finish();
  return { bitmask, invert, physIn, physOut };
}

function print(d: PhysdevData): string {
  const out: string[] = [];
  const inv = (bit: number): string => (d.invert & bit ? '! ' : '');
  if (d.bitmask & XT_PHYSDEV_OP_ISIN) out.push(`${inv(XT_PHYSDEV_OP_ISIN)}--physdev-is-in`);
  if (d.bitmask & XT_PHYSDEV_OP_IN) out.push(`${inv(XT_PHYSDEV_OP_IN)}--physdev-in ${d.physIn}`);
  if (d.bitmask & XT_PHYSDEV_OP_ISOUT) out.push(`${inv(XT_PHYSDEV_OP_ISOUT)}--physdev-is-out`);
  if (d.bitmask & XT_PHYSDEV_OP_OUT) out.push(`${inv(XT_PHYSDEV_OP_OUT)}--physdev-out ${d.physOut}`);
  if (d.bitmask & XT_PHYSDEV_OP_BRIDGED) out.push(`${inv(XT_PHYSDEV_OP_BRIDGED)}--physdev-is-bridged`);
  return out.join(' ');
}

/** physdev_mt_check: the output-port tests need bridged traffic, which LOCAL_OUT never is. */
function check(d: PhysdevData, env: CheckEnv): string | null {
  if (
    d.bitmask & (XT_PHYSDEV_OP_OUT | XT_PHYSDEV_OP_ISOUT) &&
    (!(d.bitmask & XT_PHYSDEV_OP_BRIDGED) || d.invert & XT_PHYSDEV_OP_BRIDGED) &&
    env.hooks & (1 << 3)
  ) {
    return 'xt_physdev: --physdev-out and --physdev-is-out only supported in the FORWARD and POSTROUTING chains with bridged traffic';
  }
  return null;
}

export const physdevMatch: MatchExt<PhysdevData> = {
  name: 'physdev',
  options: x6OptionDefs(TABLE),
  parse,
  print,
  check,
  compile: (_d: PhysdevData, _env: CompileEnv): Matcher => {
    throw new NfemuError('UNSUPPORTED', 'physdev: nfemu models no bridge ports, so -m physdev cannot be evaluated');
  },
};

registerMatch(physdevMatch);
