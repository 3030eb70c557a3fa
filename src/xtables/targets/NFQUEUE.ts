/**
 * NFQUEUE (xt_NFQUEUE.c, revision 3; libxt_NFQUEUE.c): hands the packet to a userspace
 * queue. `--queue-num N` (default 0) or `--queue-balance first:last`, `--queue-bypass`,
 * `--queue-cpu-fanout` (needs --queue-balance). Returns NF_QUEUE; the engine reports QUEUE
 * and the host decides the fate. In the kernel a packet for a queue nobody listens on is
 * dropped, or accepted with --queue-bypass (NFQ_FLAG_BYPASS in the data's flags).
 */
import { NF_QUEUE } from '../../netfilter/index.ts';
import { registerTarget, type TargetExt } from '../ext.ts';
import { strtoul, uintOption, xtParse, type XtOption } from './util.ts';

export const NFQ_FLAG_BYPASS = 0x01;
export const NFQ_FLAG_CPU_FANOUT = 0x02;

export interface NfqueueData {
  readonly queueNum: number;
  /** Number of queues from queueNum (1 without --queue-balance). */
  readonly queuesTotal: number;
  /** NFQ_FLAG_* bits. */
  readonly flags: number;
}

const OPTIONS: readonly XtOption[] = [
  { name: 'queue-num', args: 1, excl: ['queue-balance'] },
  { name: 'queue-balance', args: 1, excl: ['queue-num'] },
  { name: 'queue-bypass', args: 0 },
  { name: 'queue-cpu-fanout', args: 0, also: ['queue-balance'] },
];

export const nfqueueTarget: TargetExt<NfqueueData> = {
  name: 'NFQUEUE',
  options: OPTIONS,
  parse(opts, env) {
    let queueNum = 0;
    let queuesTotal = 1;
    let flags = 0;
    xtParse('NFQUEUE', OPTIONS, opts, env, (use) => {
      switch (use.name) {
        case 'queue-num': queueNum = uintOption('NFQUEUE', use, env, 0, 65535); break;
        case 'queue-balance': {
          // XTTYPE_UINT16RC: `a:b`; an empty first part is 0, an empty last part 65535.
          const arg = use.args[0]!;
          const parts = arg.split(':');
          if (parts.length > 2) env.fail(`NFQUEUE: Too many components for option "--queue-balance" (max: 2)`, use.token);
          const vals: number[] = [];
          let rest = arg;
          for (const [i, p] of parts.entries()) {
            const r = p === '' ? { value: i === 0 ? 0 : 65535, end: 0 } : strtoul(p);
            if (r === null || r.end !== p.length || r.value > 65535) {
              env.fail(`NFQUEUE: bad value for option "--queue-balance" near "${rest}", or out of range (0-65535).`, use.token);
            }
            vals.push(r!.value);
            rest = rest.slice(p.length + 1);
          }
          if (vals.length !== 2) env.fail(`Bad range "${arg}"`, use.token);
          if (vals[0]! >= vals[1]!) env.fail(`${vals[0]} should be less than ${vals[1]}`, use.token);
          queueNum = vals[0]!;
          // queues_total is a u16 in the kernel's struct.
          queuesTotal = (vals[1]! - vals[0]! + 1) & 0xffff;
          break;
        }
        case 'queue-bypass': flags |= NFQ_FLAG_BYPASS; break;
        case 'queue-cpu-fanout': flags |= NFQ_FLAG_CPU_FANOUT; break;
      }
    });
    return { queueNum, queuesTotal, flags };
  },
  print(d) {
    let s = d.queuesTotal > 1 || d.queuesTotal === 0 ? `--queue-balance ${d.queueNum}:${(d.queueNum + d.queuesTotal - 1) & 0xffff}` : `--queue-num ${d.queueNum}`;
    if (d.flags & NFQ_FLAG_BYPASS) s += ' --queue-bypass';
    if (d.flags & NFQ_FLAG_CPU_FANOUT) s += ' --queue-cpu-fanout';
    return s;
  },
  check(d) {
    if (d.queuesTotal === 0) return 'xt_NFQUEUE: number of total queues is 0';
    const maxid = d.queuesTotal - 1 + d.queueNum;
    if (maxid > 0xffff) return `xt_NFQUEUE: number of queues (${d.queuesTotal}) out of range (got ${maxid})`;
    return null;
  },
  compile() {
    return {
      /** Hot path. */
      run() {
        return NF_QUEUE;
      },
    };
  },
};

registerTarget(nfqueueTarget);
