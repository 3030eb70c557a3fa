/**
 * MARK (xt_mark.c, revision 2; libxt_MARK.c): rewrites skb->mark as
 * `mark = (mark & ~mask) ^ value`. Every form is stored as that value/mask pair and
 * iptables-nft-save prints it back as `--set-xmark value/mask`:
 * `--set-mark v/m` is v/(v|m), `--and-mark b` is 0/~b, `--or-mark b` is b/b, `--xor-mark b` is b/0.
 * Any table, any hook.
 */
import { XT_CONTINUE } from '../../netfilter/index.ts';
import { registerTarget, type TargetExt } from '../ext.ts';
import { hex, markMaskOption, uintOption, xtParse, type XtOption } from './util.ts';

export interface MarkData {
  /** Value XORed in after clearing `mask` (xt_mark_tginfo2.mark). */
  readonly mark: number;
  readonly mask: number;
}

const OPS = ['set-xmark', 'set-mark', 'and-mark', 'or-mark', 'xor-mark'];
const excl = (name: string) => OPS.filter((o) => o !== name);

const OPTIONS: readonly XtOption[] = [
  { name: 'set-xmark', args: 1, excl: excl('set-xmark') },
  { name: 'set-mark', args: 1, excl: excl('set-mark') },
  { name: 'and-mark', args: 1, excl: excl('and-mark') },
  { name: 'or-mark', args: 1, excl: excl('or-mark') },
  { name: 'xor-mark', args: 1, excl: excl('xor-mark') },
];

export const markTarget: TargetExt<MarkData> = {
  name: 'MARK',
  options: OPTIONS,
  parse(opts, env) {
    let mark = 0;
    let mask = 0;
    const seen = xtParse('MARK', OPTIONS, opts, env, (use) => {
      switch (use.name) {
        case 'set-xmark': {
          const mm = markMaskOption('MARK', use, env);
          mark = mm.value;
          mask = mm.mask;
          break;
        }
        case 'set-mark': {
          const mm = markMaskOption('MARK', use, env);
          mark = mm.value;
          mask = (mm.value | mm.mask) >>> 0;
          break;
        }
        case 'and-mark':
          mark = 0;
          mask = ~uintOption('MARK', use, env, 0, 0xffffffff) >>> 0;
          break;
        case 'or-mark':
          mark = mask = uintOption('MARK', use, env, 0, 0xffffffff);
          break;
        case 'xor-mark':
          mark = uintOption('MARK', use, env, 0, 0xffffffff);
          mask = 0;
          break;
      }
    });
    if (seen.size === 0) env.fail('MARK: One of the --set-xmark, --{and,or,xor,set}-mark options is required');
    return { mark, mask };
  },
  print(data) {
    return `--set-xmark ${hex(data.mark)}/${hex(data.mask)}`;
  },
  compile(data) {
    const mark = data.mark >>> 0;
    const keep = ~data.mask >>> 0;
    return {
      /** mark_tg(). Hot path. */
      run(pkt) {
        pkt.mark = ((pkt.mark & keep) ^ mark) >>> 0;
        return XT_CONTINUE;
      },
    };
  },
};

registerTarget(markTarget);
