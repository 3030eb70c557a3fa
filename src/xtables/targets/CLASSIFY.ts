/**
 * CLASSIFY (xt_CLASSIFY.c): sets skb->priority (the tc class) to MAJOR:MINOR (hex). Any
 * table, from FORWARD, OUTPUT and POSTROUTING. nfemu has no traffic control and no
 * priority field: the target continues with no effect.
 */
import { NF_INET_FORWARD, NF_INET_LOCAL_OUT, NF_INET_POST_ROUTING, XT_CONTINUE } from '../../netfilter/index.ts';
import { registerTarget, type TargetExt } from '../ext.ts';
import { checkTarget, xtParse, type XtOption } from './util.ts';

export interface ClassifyData {
  /** TC_H_MAKE(major << 16, minor). */
  readonly priority: number;
}

const OPTIONS: readonly XtOption[] = [{ name: 'set-class', args: 1, mand: true }];

/** sscanf("%x"): white space, a sign, an optional 0x, hex digits (mod 2^32). Null when no digits. */
function scanHex(s: string, from: number): { value: number; end: number } | null {
  let i = from;
  while (i < s.length && ' \t\n\v\f\r'.includes(s[i]!)) i++;
  let neg = false;
  if (s[i] === '+' || s[i] === '-') neg = s[i++] === '-';
  if (s[i] === '0' && (s[i + 1] === 'x' || s[i + 1] === 'X') && /[0-9a-fA-F]/.test(s[i + 2] ?? '')) i += 2;
  const start = i;
  let v = 0;
  while (i < s.length && /[0-9a-fA-F]/.test(s[i]!)) v = (v * 16 + parseInt(s[i++]!, 16)) % 2 ** 32;
  if (i === start) return null;
  return { value: neg ? (2 ** 32 - v) % 2 ** 32 : v, end: i };
}

export const classifyTarget: TargetExt<ClassifyData> = {
  name: 'CLASSIFY',
  options: OPTIONS,
  parse(opts, env) {
    let priority = 0;
    xtParse('CLASSIFY', OPTIONS, opts, env, (use) => {
      const arg = use.args[0]!;
      const maj = scanHex(arg, 0);
      const min = maj !== null && arg[maj.end] === ':' ? scanHex(arg, maj.end + 1) : null;
      if (min === null) env.fail(`Bad class value "${arg}"`, use.token);
      priority = (((maj!.value << 16) & 0xffff0000) | (min!.value & 0xffff)) >>> 0;
    });
    return { priority };
  },
  print(d) {
    const h = (n: number) => n.toString(16).padStart(4, '0');
    return `--set-class ${h(d.priority >>> 16)}:${h(d.priority & 0xffff)}`;
  },
  check(_data, env) {
    return checkTarget('CLASSIFY', env, null, (1 << NF_INET_LOCAL_OUT) | (1 << NF_INET_FORWARD) | (1 << NF_INET_POST_ROUTING));
  },
  compile() {
    return {
      run() {
        return XT_CONTINUE;
      },
    };
  },
};

registerTarget(classifyTarget);
