/**
 * `-m devgroup --src-group G[/mask] --dst-group G[/mask]` (libxt_devgroup.c, xt_devgroup.c):
 * the group of the input / output device. Names come from /etc/iproute2/group (`default` = 0).
 * --src-group only in PREROUTING, INPUT, FORWARD; --dst-group only in FORWARD, OUTPUT,
 * POSTROUTING (the kernel refuses other hooks without logging a reason).
 *
 * nfemu models no device groups: every interface is in group 0 (`default`), the kernel's
 * default for a new device.
 */
import type { Packet } from '../../../packet/index.ts';
import type { CheckEnv, CompileEnv, Matcher, MatchExt, OptionUse, ParseEnv } from '../../ext.ts';
import { registerMatch } from '../../ext.ts';
import { X6Parser, x6OptionDefs, xtStrtoul, type X6Entry } from './common.ts';

export interface GroupMatch {
  readonly value: number;
  readonly mask: number;
  readonly invert: boolean;
}

export interface DevgroupData {
  readonly src: GroupMatch | null;
  readonly dst: GroupMatch | null;
}

const GROUP_NAMES: ReadonlyArray<readonly [string, number]> = [['default', 0]];

const O_SRC = 0, O_DST = 1;
const TABLE: readonly X6Entry[] = [
  { id: O_SRC, name: 'src-group', args: 1, invert: true },
  { id: O_DST, name: 'dst-group', args: 1, invert: true },
];

/** xtables_parse_val_mask with the devgroup name map. */
function parseValMask(x6: X6Parser, e: X6Entry, text: string, token: string): { value: number; mask: number } {
  const byName = (): { value: number; mask: number } => {
    const n = GROUP_NAMES.find(([name]) => name === text);
    if (n === undefined) x6.env.fail(`devgroup: could not map name ${text} to an integer value for option "--${e.name}".`, token);
    return { value: n[1], mask: 0xffffffff };
  };
  const v = xtStrtoul(text, 0, 0xffffffff, false);
  if (v === null) return byName();
  if (v.end === text.length) return { value: v.value, mask: 0xffffffff };
  if (text[v.end] !== '/') return byName();
  const rest = text.slice(v.end + 1);
  const m = xtStrtoul(rest, 0, 0xffffffff, false);
  if (m === null) x6.env.fail(`devgroup: bad integer value for option "--${e.name}", or out of range.`, token);
  if (m.end !== rest.length) x6.env.fail(`devgroup: trailing garbage after value for option "--${e.name}".`, token);
  return { value: v.value, mask: m.value };
}

function parse(opts: readonly OptionUse[], env: ParseEnv): DevgroupData {
  const x6 = new X6Parser('devgroup', TABLE, env);
  let src: GroupMatch | null = null;
  let dst: GroupMatch | null = null;
  for (const o of opts) {
    const e = x6.use(o);
    const g = { ...parseValMask(x6, e, o.args[0]!, o.token), invert: o.invert };
    if (e.id === O_SRC) src = g;
    else dst = g;
  }
  if (src === null && dst === null) env.fail("devgroup match: You must specify either '--src-group' or '--dst-group'");
  x6.finish();
  return { src, dst };
}

function fmtGroup(g: GroupMatch): string {
  if (g.mask !== 0xffffffff) return `0x${g.value.toString(16)}/0x${g.mask.toString(16)}`;
  const n = GROUP_NAMES.find(([, v]) => v === g.value);
  return n ? n[0] : `0x${g.value.toString(16)}`;
}

function print(d: DevgroupData): string {
  const out: string[] = [];
  if (d.src) out.push(`${d.src.invert ? '! ' : ''}--src-group ${fmtGroup(d.src)}`);
  if (d.dst) out.push(`${d.dst.invert ? '! ' : ''}--dst-group ${fmtGroup(d.dst)}`);
  return out.join(' ');
}

const SRC_HOOKS = (1 << 0) | (1 << 1) | (1 << 2);
const DST_HOOKS = (1 << 2) | (1 << 3) | (1 << 4);

function check(d: DevgroupData, env: CheckEnv): string | null {
  if (d.src && env.hooks & ~SRC_HOOKS) return 'xt_devgroup: --src-group is only valid from PREROUTING/INPUT/FORWARD (Invalid argument)';
  if (d.dst && env.hooks & ~DST_HOOKS) return 'xt_devgroup: --dst-group is only valid from FORWARD/OUTPUT/POSTROUTING (Invalid argument)';
  return null;
}

/** Every nfemu device is in group 0. */
class DevgroupMatcher implements Matcher {
  private readonly ok: boolean;
  constructor(d: DevgroupData) {
    const one = (g: GroupMatch | null): boolean => g === null || ((0 ^ g.value) & g.mask ? 1 : 0) === (g.invert ? 1 : 0);
    this.ok = one(d.src) && one(d.dst);
  }
  match(_pkt: Packet): boolean {
    return this.ok;
  }
}

export const devgroupMatch: MatchExt<DevgroupData> = {
  name: 'devgroup',
  options: x6OptionDefs(TABLE),
  parse,
  print,
  check,
  compile: (d: DevgroupData, _env: CompileEnv) => new DevgroupMatcher(d),
};

registerMatch(devgroupMatch);
