/**
 * NFLOG (xt_NFLOG.c; with iptables-nft a native `log group` statement): hands the packet to
 * nfnetlink_log group N (ulogd and the like) and continues. `--nflog-group` (0-65535),
 * `--nflog-prefix`, `--nflog-size`, `--nflog-threshold`; `--nflog-range` is accepted with
 * iptables' warning and has no effect. nfemu has no listeners: the packet is recorded with
 * ctx.log as `kind: 'NFLOG'` in the line format ulogd's LOGEMU writes (prefix, then the
 * LOG fields).
 */
import { XT_CONTINUE } from '../../netfilter/index.ts';
import { registerTarget, type TargetExt } from '../ext.ts';
import { logPacketLine } from './logline.ts';
import { saveString, uintOption, xtParse, type XtOption } from './util.ts';

export interface NflogData {
  readonly group: number;
  readonly prefix: string;
  /** Bytes copied to userspace; -1 when not given (--nflog-size). */
  readonly size: number;
  readonly threshold: number;
}

const OPTIONS: readonly XtOption[] = [
  { name: 'nflog-group', args: 1 },
  { name: 'nflog-prefix', args: 1 },
  { name: 'nflog-range', args: 1, excl: ['nflog-size'] },
  { name: 'nflog-size', args: 1, excl: ['nflog-range'] },
  { name: 'nflog-threshold', args: 1 },
];

export const nflogTarget: TargetExt<NflogData> = {
  name: 'NFLOG',
  options: OPTIONS,
  parse(opts, env) {
    let group = 0;
    let prefix = '';
    let size = -1;
    let threshold = 0;
    xtParse('NFLOG', OPTIONS, opts, env, (use) => {
      switch (use.name) {
        case 'nflog-group': group = uintOption('NFLOG', use, env, 0, 65535); break;
        case 'nflog-prefix': {
          const arg = use.args[0]!;
          if (arg.length < 1) env.fail('Argument must have a minimum length of 1 characters', use.token);
          if (arg.includes('\n')) env.fail('Newlines not allowed in --log-prefix', use.token);
          prefix = arg;
          break;
        }
        // "--nflog-range has never worked and is no longer supported, please use --nflog-size instead"
        case 'nflog-range': uintOption('NFLOG', use, env, 0, 0xffffffff); break;
        case 'nflog-size': size = uintOption('NFLOG', use, env, 0, 0xffffffff); break;
        case 'nflog-threshold': threshold = uintOption('NFLOG', use, env, 0, 65535); break;
      }
    });
    return { group, prefix, size, threshold };
  },
  print(d) {
    const parts: string[] = [];
    if (d.prefix !== '') parts.push(`--nflog-prefix ${saveString(d.prefix)}`);
    if (d.group !== 0) parts.push(`--nflog-group ${d.group}`);
    if (d.size >= 0) parts.push(`--nflog-size ${d.size}`);
    if (d.threshold !== 0) parts.push(`--nflog-threshold ${d.threshold}`);
    return parts.join(' ');
  },
  compile(d) {
    const prefix = d.prefix;
    return {
      /** nflog_tg(): records the packet (allocates, as logging does) and continues. */
      run(pkt, ctx) {
        ctx.log({ kind: 'NFLOG', text: logPacketLine(prefix, pkt, 0) });
        return XT_CONTINUE;
      },
    };
  },
};

registerTarget(nflogTarget);
