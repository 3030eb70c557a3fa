/**
 * CHECKSUM (xt_CHECKSUM.c): fills in a checksum left for offload. Mangle table only,
 * `--checksum-fill` required. nfemu does not model checksums: the target continues with no
 * effect on the packet.
 */
import { XT_CONTINUE } from '../../netfilter/index.ts';
import { registerTarget, type TargetExt } from '../ext.ts';
import { checkTarget, xtParse, type XtOption } from './util.ts';

export interface ChecksumData {
  /** XT_CHECKSUM_OP_FILL. */
  readonly operation: number;
}

const OPTIONS: readonly XtOption[] = [{ name: 'checksum-fill', args: 0, mand: true }];

export const checksumTarget: TargetExt<ChecksumData> = {
  name: 'CHECKSUM',
  options: OPTIONS,
  parse(opts, env) {
    xtParse('CHECKSUM', OPTIONS, opts, env, () => {});
    return { operation: 1 };
  },
  print() {
    return '--checksum-fill';
  },
  check(_data, env) {
    return checkTarget('CHECKSUM', env, 'mangle', 0);
  },
  compile() {
    return {
      run() {
        return XT_CONTINUE;
      },
    };
  },
};

registerTarget(checksumTarget);
