/**
 * LOG (xt_LOG.c + nf_log_syslog.c; with iptables-nft a native `log` statement): writes a
 * kernel log line for the packet and continues. `--log-level` (0-7 or a syslog name,
 * default 4), `--log-prefix` (up to 29 characters; longer is cut, as iptables does),
 * `--log-tcp-sequence`, `--log-tcp-options`, `--log-ip-options`, `--log-uid`,
 * `--log-macdecode`. The line goes to ctx.log as `kind: 'LOG'`, prefix first, without the
 * syslog level marker. (The kernel logs only from the initial network namespace unless
 * net.netfilter.nf_log_all_netns is set; nfemu always logs.)
 */
import { XT_CONTINUE } from '../../netfilter/index.ts';
import { registerTarget, type TargetExt } from '../ext.ts';
import { logPacketLine, XT_LOG_IPOPT, XT_LOG_MACDECODE, XT_LOG_TCPOPT, XT_LOG_TCPSEQ, XT_LOG_UID } from './logline.ts';
import { parseUint, saveString, xtParse, type XtOption } from './util.ts';

export interface LogData {
  /** Syslog level 0-7. */
  readonly level: number;
  readonly prefix: string;
  /** XT_LOG_* bits. */
  readonly flags: number;
}

/** Names XTTYPE_SYSLOGLEVEL accepts (case-sensitive). */
const LEVELS: ReadonlyMap<string, number> = new Map([
  ['emerg', 0], ['alert', 1], ['crit', 2], ['error', 3], ['warning', 4], ['notice', 5], ['info', 6], ['debug', 7], ['panic', 0],
]);

/** xt_log_info.prefix is 30 bytes. */
export const LOG_PREFIX_MAX = 29;

const FLAG_OPTIONS: ReadonlyArray<readonly [string, number]> = [
  ['log-tcp-sequence', XT_LOG_TCPSEQ], ['log-tcp-options', XT_LOG_TCPOPT], ['log-ip-options', XT_LOG_IPOPT],
  ['log-uid', XT_LOG_UID], ['log-macdecode', XT_LOG_MACDECODE],
];

const OPTIONS: readonly XtOption[] = [
  { name: 'log-level', args: 1 },
  { name: 'log-prefix', args: 1 },
  ...FLAG_OPTIONS.map(([name]) => ({ name, args: 0 as const })),
];

export const logTarget: TargetExt<LogData> = {
  name: 'LOG',
  options: OPTIONS,
  parse(opts, env) {
    let level = 4;
    let prefix = '';
    let flags = 0;
    xtParse('LOG', OPTIONS, opts, env, (use) => {
      const arg = use.args[0] ?? '';
      switch (use.name) {
        case 'log-level': {
          const n = LEVELS.get(arg) ?? parseUint(arg, 0, 7);
          if (n === null) env.fail(`log level "${arg}" unknown`, use.token);
          level = n!;
          break;
        }
        case 'log-prefix':
          if (arg.length < 1) env.fail('Argument must have a minimum length of 1 characters', use.token);
          if (arg.includes('\n')) env.fail('Newlines not allowed in --log-prefix', use.token);
          prefix = arg.slice(0, LOG_PREFIX_MAX);
          break;
        default:
          flags |= FLAG_OPTIONS.find(([n]) => n === use.name)![1];
      }
    });
    return { level, prefix, flags };
  },
  print(d) {
    const parts: string[] = [];
    if (d.prefix !== '') parts.push(`--log-prefix ${saveString(d.prefix)}`);
    if (d.level !== 4) parts.push(`--log-level ${d.level}`);
    for (const [name, bit] of FLAG_OPTIONS) if (d.flags & bit) parts.push(`--${name}`);
    return parts.join(' ');
  },
  compile(d) {
    const prefix = d.prefix;
    const flags = d.flags;
    return {
      /** log_tg(): builds the line (allocates, as logging does) and continues. */
      run(pkt, ctx) {
        ctx.log({ kind: 'LOG', text: logPacketLine(prefix, pkt, flags) });
        return XT_CONTINUE;
      },
    };
  },
};

registerTarget(logTarget);
