/**
 * AUDIT (xt_AUDIT.c): writes an audit record (NETFILTER_PKT) for the packet and
 * continues. `--type accept|drop|reject` is required but, since Linux 4.x, not part of the
 * record. LogRecord has no audit kind: the record goes to ctx.log as `kind: 'LOG'` with
 * the text `audit: NETFILTER_PKT mark=… saddr=… daddr=… proto=…` (mark as printf "%#x":
 * `0` when zero; IPv6 addresses compressed).
 */
import { formatWords } from '../../core/index.ts';
import { XT_CONTINUE } from '../../netfilter/index.ts';
import { registerTarget, type TargetExt } from '../ext.ts';
import { xtParse, type XtOption } from './util.ts';

export const XT_AUDIT_TYPE_ACCEPT = 0;
export const XT_AUDIT_TYPE_DROP = 1;
export const XT_AUDIT_TYPE_REJECT = 2;
const TYPES = ['accept', 'drop', 'reject'];

export interface AuditData {
  readonly type: number;
}

const OPTIONS: readonly XtOption[] = [{ name: 'type', args: 1, mand: true }];

export const auditTarget: TargetExt<AuditData> = {
  name: 'AUDIT',
  options: OPTIONS,
  parse(opts, env) {
    let type = 0;
    xtParse('AUDIT', OPTIONS, opts, env, (use) => {
      const arg = use.args[0]!;
      const i = TYPES.indexOf(arg.toLowerCase());
      if (i < 0) env.fail(`Bad action type value "${arg}"`, use.token);
      type = i;
    });
    return { type };
  },
  print(d) {
    return `--type ${TYPES[d.type]}`;
  },
  compile() {
    return {
      /** audit_tg(): builds the record (allocates, as logging does). */
      run(pkt, ctx) {
        const mark = pkt.mark === 0 ? '0' : `0x${(pkt.mark >>> 0).toString(16)}`;
        const text = `audit: NETFILTER_PKT mark=${mark} saddr=${formatWords(pkt.family, pkt.saddr)} daddr=${formatWords(pkt.family, pkt.daddr)} proto=${pkt.proto}`;
        ctx.log({ kind: 'LOG', text });
        return XT_CONTINUE;
      },
    };
  },
};

registerTarget(auditTarget);
