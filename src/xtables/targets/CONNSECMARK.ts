/**
 * CONNSECMARK (xt_CONNSECMARK.c): copies the security mark between packet and connection
 * (`--save` / `--restore`). Mangle or security table. nfemu has no secmark: the target
 * continues with no effect.
 */
import { XT_CONTINUE } from '../../netfilter/index.ts';
import { registerTarget, type TargetExt } from '../ext.ts';
import { secTableCheck } from './SECMARK.ts';
import { xtParse, type XtOption } from './util.ts';

export const CONNSECMARK_SAVE = 1;
export const CONNSECMARK_RESTORE = 2;

export interface ConnsecmarkData {
  readonly mode: number;
}

const OPTIONS: readonly XtOption[] = [
  { name: 'save', args: 0, excl: ['restore'] },
  { name: 'restore', args: 0, excl: ['save'] },
];

export const connsecmarkTarget: TargetExt<ConnsecmarkData> = {
  name: 'CONNSECMARK',
  options: OPTIONS,
  parse(opts, env) {
    let mode = 0;
    xtParse('CONNSECMARK', OPTIONS, opts, env, (use) => {
      mode = use.name === 'save' ? CONNSECMARK_SAVE : CONNSECMARK_RESTORE;
    });
    if (mode === 0) env.fail('CONNSECMARK target: parameter required');
    return { mode };
  },
  print(d) {
    return d.mode === CONNSECMARK_SAVE ? '--save' : '--restore';
  },
  check(_data, env) {
    return secTableCheck('xt_CONNSECMARK', env);
  },
  compile() {
    return {
      run() {
        return XT_CONTINUE;
      },
    };
  },
};

registerTarget(connsecmarkTarget);
