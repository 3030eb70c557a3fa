/**
 * CONNMARK (xt_connmark.c, revision 2; libxt_CONNMARK.c): the conntrack entry's mark.
 * - set (`--set-xmark v/m`, `--set-mark v[/m]`, `--and-mark`, `--or-mark`, `--xor-mark`):
 *   ctmark = ((ctmark & ~ctmask) ^ ctmark_value), then shifted;
 * - `--save-mark`: ctmark = (ctmark & ~ctmask) ^ ((mark & nfmask) shifted);
 * - `--restore-mark`: mark = (mark & ~nfmask) ^ ((ctmark & ctmask) shifted).
 * `--mask m` sets both masks; `--left-shift-mark` / `--right-shift-mark` the shift. The
 * packet needs a conntrack entry (untracked and invalid packets are left alone).
 * iptables-nft-save prints set forms as `--set-xmark v/m` and save/restore with both masks.
 */
import { XT_CONTINUE } from '../../netfilter/index.ts';
import type { Conn } from '../../conntrack/index.ts';
import { registerTarget, type TargetExt } from '../ext.ts';
import { hex, markMaskOption, uintOption, xtParse, type XtOption } from './util.ts';

export const XT_CONNMARK_SET = 0;
export const XT_CONNMARK_SAVE = 1;
export const XT_CONNMARK_RESTORE = 2;
export const D_SHIFT_LEFT = 0;
export const D_SHIFT_RIGHT = 1;

export interface ConnmarkData {
  /** XT_CONNMARK_*. */
  readonly mode: number;
  readonly ctmark: number;
  readonly ctmask: number;
  readonly nfmask: number;
  /** D_SHIFT_LEFT / D_SHIFT_RIGHT. */
  readonly shiftDir: number;
  readonly shiftBits: number;
}

const OPS = ['set-xmark', 'set-mark', 'and-mark', 'or-mark', 'xor-mark', 'save-mark', 'restore-mark'];
const excl = (name: string) => OPS.filter((o) => o !== name);

/** In libxt_CONNMARK's table order (the order its conflicts are reported in). */
const OPTIONS: readonly XtOption[] = [
  { name: 'set-xmark', args: 1, excl: excl('set-xmark') },
  { name: 'set-mark', args: 1, excl: excl('set-mark') },
  { name: 'and-mark', args: 1, excl: excl('and-mark') },
  { name: 'or-mark', args: 1, excl: excl('or-mark') },
  { name: 'xor-mark', args: 1, excl: excl('xor-mark') },
  { name: 'save-mark', args: 0, excl: excl('save-mark') },
  { name: 'restore-mark', args: 0, excl: excl('restore-mark') },
  { name: 'ctmask', args: 1, excl: ['mask'] },
  { name: 'nfmask', args: 1, excl: ['mask'] },
  { name: 'mask', args: 1, excl: ['ctmask', 'nfmask'] },
  { name: 'left-shift-mark', args: 1 },
  { name: 'right-shift-mark', args: 1 },
];

export const connmarkTarget: TargetExt<ConnmarkData> = {
  name: 'CONNMARK',
  options: OPTIONS,
  parse(opts, env) {
    const d = { mode: XT_CONNMARK_SET, ctmark: 0, ctmask: 0xffffffff, nfmask: 0xffffffff, shiftDir: D_SHIFT_LEFT, shiftBits: 0 };
    const u32 = (use: (typeof opts)[number]) => uintOption('CONNMARK', use, env, 0, 0xffffffff);
    const seen = xtParse('CONNMARK', OPTIONS, opts, env, (use) => {
      switch (use.name) {
        case 'set-xmark': {
          const mm = markMaskOption('CONNMARK', use, env);
          d.mode = XT_CONNMARK_SET;
          d.ctmark = mm.value;
          d.ctmask = mm.mask;
          break;
        }
        case 'set-mark': {
          const mm = markMaskOption('CONNMARK', use, env);
          d.mode = XT_CONNMARK_SET;
          d.ctmark = mm.value;
          d.ctmask = (mm.value | mm.mask) >>> 0;
          break;
        }
        case 'and-mark':
          d.mode = XT_CONNMARK_SET;
          d.ctmark = 0;
          d.ctmask = ~u32(use) >>> 0;
          break;
        case 'or-mark':
          d.mode = XT_CONNMARK_SET;
          d.ctmark = d.ctmask = u32(use);
          break;
        case 'xor-mark':
          d.mode = XT_CONNMARK_SET;
          d.ctmark = u32(use);
          d.ctmask = 0;
          break;
        case 'save-mark': d.mode = XT_CONNMARK_SAVE; break;
        case 'restore-mark': d.mode = XT_CONNMARK_RESTORE; break;
        case 'ctmask': d.ctmask = u32(use); break;
        case 'nfmask': d.nfmask = u32(use); break;
        case 'mask': d.ctmask = d.nfmask = u32(use); break;
        case 'left-shift-mark':
        case 'right-shift-mark':
          d.shiftDir = use.name === 'left-shift-mark' ? D_SHIFT_LEFT : D_SHIFT_RIGHT;
          d.shiftBits = uintOption('CONNMARK', use, env, 0, 32);
          break;
      }
    });
    if (!OPS.some((o) => seen.has(o))) env.fail('CONNMARK target: No operation specified');
    return d;
  },
  print(d) {
    let s: string;
    if (d.mode === XT_CONNMARK_SET) s = `--set-xmark ${hex(d.ctmark)}/${hex(d.ctmask)}`;
    else s = `--${d.mode === XT_CONNMARK_SAVE ? 'save' : 'restore'}-mark --nfmask ${hex(d.nfmask)} --ctmask ${hex(d.ctmask)}`;
    if (d.shiftBits !== 0) s += ` --${d.shiftDir === D_SHIFT_RIGHT ? 'right' : 'left'}-shift-mark ${d.shiftBits}`;
    return s;
  },
  check(d) {
    // connmark_tg_check_v2 refuses silently (EINVAL): nothing in the kernel log.
    if (d.shiftBits >= 32) return 'CONNMARK: shift of 32 bits or more refused by the kernel (Invalid argument)';
    return null;
  },
  compile(d) {
    const mode = d.mode;
    const ctmark = d.ctmark >>> 0;
    const ctmask = d.ctmask >>> 0;
    const nfmask = d.nfmask >>> 0;
    const right = d.shiftDir === D_SHIFT_RIGHT;
    const bits = d.shiftBits;
    const shift = (v: number) => (bits === 0 ? v >>> 0 : right ? v >>> bits : (v << bits) >>> 0);
    return {
      /** connmark_tg_shift(). Hot path. */
      run(pkt) {
        const ct = pkt.ct as Conn | null;
        if (ct === null) return XT_CONTINUE;
        switch (mode) {
          case XT_CONNMARK_SET:
            ct.mark = shift((ct.mark & ~ctmask) ^ ctmark);
            break;
          case XT_CONNMARK_SAVE:
            ct.mark = ((ct.mark & ~ctmask) ^ shift(pkt.mark & nfmask)) >>> 0;
            break;
          default:
            pkt.mark = ((pkt.mark & ~nfmask) ^ shift(ct.mark & ctmask)) >>> 0;
        }
        return XT_CONTINUE;
      },
    };
  },
};

registerTarget(connmarkTarget);
