/**
 * `-m rpfilter [--loose] [--validmark] [--accept-local] [--invert]` (libxt_rpfilter.c,
 * ipt_rpfilter.c / ip6t_rpfilter.c): reverse-path check of the source address, asked of the
 * host (HostView.reversePathOk). Loopback traffic always passes, as do IPv4 packets from
 * 0.0.0.0/8 to broadcast or 224.0.0.0/24 and IPv6 packets from ::, before `--invert` applies.
 * Only PREROUTING, only in raw and mangle.
 */
import type { Packet } from '../../../packet/index.ts';
import type { CheckEnv, CompileEnv, Matcher, MatchExt, OptionUse, ParseEnv, XtContext } from '../../ext.ts';
import { registerMatch } from '../../ext.ts';
import { X6Parser, x6OptionDefs, xtCheckMatch, type X6Entry } from './common.ts';

export const XT_RPFILTER_LOOSE = 1;
export const XT_RPFILTER_VALID_MARK = 2;
export const XT_RPFILTER_ACCEPT_LOCAL = 4;
export const XT_RPFILTER_INVERT = 8;

export interface RpfilterData {
  readonly flags: number;
}

const TABLE: readonly X6Entry[] = [
  { id: 0, name: 'loose', args: 0 },
  { id: 1, name: 'validmark', args: 0 },
  { id: 2, name: 'accept-local', args: 0 },
  { id: 3, name: 'invert', args: 0 },
];
const BITS = [XT_RPFILTER_LOOSE, XT_RPFILTER_VALID_MARK, XT_RPFILTER_ACCEPT_LOCAL, XT_RPFILTER_INVERT];

function parse(opts: readonly OptionUse[], env: ParseEnv): RpfilterData {
  const x6 = new X6Parser('rpfilter', TABLE, env);
  let flags = 0;
  for (const o of opts) flags |= BITS[x6.use(o).id]!;
  x6.finish();
  return { flags };
}

function print(d: RpfilterData): string {
  const out: string[] = [];
  if (d.flags & XT_RPFILTER_LOOSE) out.push('--loose');
  if (d.flags & XT_RPFILTER_VALID_MARK) out.push('--validmark');
  if (d.flags & XT_RPFILTER_ACCEPT_LOCAL) out.push('--accept-local');
  if (d.flags & XT_RPFILTER_INVERT) out.push('--invert');
  return out.join(' ');
}

function check(_d: RpfilterData, env: CheckEnv): string | null {
  const generic = xtCheckMatch(env, 'rpfilter', { hooks: 1 << 0 });
  if (generic !== null) return generic;
  if (env.table !== 'mangle' && env.table !== 'raw') {
    return `${env.family === 4 ? 'ipt' : 'ip6t'}_rpfilter: only valid in 'raw' or 'mangle' table, not '${env.table}'`;
  }
  return null;
}

class RpfilterMatcher implements Matcher {
  constructor(
    private readonly loose: boolean,
    private readonly validMark: boolean,
    private readonly acceptLocal: boolean,
    private readonly invert: boolean,
  ) {}

  match(pkt: Packet, ctx: XtContext): boolean {
    // rpfilter_is_loopback(): nfemu's loopback device is `lo`.
    if (pkt.inIface === 'lo') return !this.invert;
    if (pkt.family === 4) {
      const s = pkt.saddr[0]!;
      const d = pkt.daddr[0]!;
      if (s >>> 24 === 0 && (d === 0xffffffff || d >>> 8 === 0xe00000)) return !this.invert;
    } else if ((pkt.saddr[0]! | pkt.saddr[1]! | pkt.saddr[2]! | pkt.saddr[3]!) === 0) {
      return !this.invert;
    }
    return ctx.host.reversePathOk(pkt, this.loose, this.acceptLocal, this.validMark) !== this.invert;
  }
}

export const rpfilterMatch: MatchExt<RpfilterData> = {
  name: 'rpfilter',
  options: x6OptionDefs(TABLE),
  parse,
  print,
  check,
  compile: (d: RpfilterData, _env: CompileEnv) =>
    new RpfilterMatcher(
      (d.flags & XT_RPFILTER_LOOSE) !== 0,
      (d.flags & XT_RPFILTER_VALID_MARK) !== 0,
      (d.flags & XT_RPFILTER_ACCEPT_LOCAL) !== 0,
      (d.flags & XT_RPFILTER_INVERT) !== 0,
    ),
};

registerMatch(rpfilterMatch);
