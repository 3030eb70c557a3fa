/**
 * SECMARK (xt_SECMARK.c): sets the packet's security mark from an SELinux context.
 * Mangle or security table. nfemu has no LSM and no secmark field: the context is not
 * checked against a policy and the target continues with no effect.
 */
import { XT_CONTINUE } from '../../netfilter/index.ts';
import { registerTarget, type CheckEnv, type TargetExt } from '../ext.ts';
import { xtParse, type XtOption } from './util.ts';

export interface SecmarkData {
  readonly selctx: string;
}

/** SECMARK_SECCTX_MAX. */
const SECCTX_MAX = 256;

const OPTIONS: readonly XtOption[] = [{ name: 'selctx', args: 1, mand: true }];

/** The table rule of SECMARK and CONNSECMARK, with the kernel's wording. */
export function secTableCheck(module: string, env: CheckEnv): string | null {
  if (env.table === 'mangle' || env.table === 'security') return null;
  return `${module}: only valid in 'mangle' or 'security' table, not '${env.table}'`;
}

export const secmarkTarget: TargetExt<SecmarkData> = {
  name: 'SECMARK',
  options: OPTIONS,
  parse(opts, env) {
    let selctx = '';
    xtParse('SECMARK', OPTIONS, opts, env, (use) => {
      const arg = use.args[0]!;
      if (arg.length > SECCTX_MAX - 1) env.fail(`SECMARK: option "--selctx" is too long (max ${SECCTX_MAX - 1} characters)`, use.token);
      selctx = arg;
    });
    return { selctx };
  },
  print(d) {
    return `--selctx ${d.selctx}`;
  },
  check(_data, env) {
    return secTableCheck('xt_SECMARK', env);
  },
  compile() {
    return {
      run() {
        return XT_CONTINUE;
      },
    };
  },
};

registerTarget(secmarkTarget);
