/**
 * `-m string`: a byte pattern in the packet (xt_string.c, Boyer-Moore or KMP over the
 * whole packet from --from to --to). Parsed, checked and printed as iptables does; nfemu's
 * packets carry no bytes to search, so compiling it is UNSUPPORTED.
 */
import { NfemuError, type Family } from '../../../core/index.ts';
import { registerMatch, type MatchExt, type OptionUse, type ParseEnv } from '../../ext.ts';
import { checkOnce, optionsFcheck, parseUint, type OptionRule } from './common.ts';

/** XT_STRING_MAX_PATTERN_SIZE. */
export const STRING_MAX_PATTERN = 128;
const ALGOS = ['bm', 'kmp'];

export interface StringData {
  /** The pattern, one char per byte (0..255). */
  readonly pattern: string;
  readonly invert: boolean;
  readonly algo: string;
  readonly from: number;
  readonly to: number;
  readonly icase: boolean;
}

const OPTION_RULES: readonly OptionRule[] = [
  { name: 'from' },
  { name: 'to' },
  { name: 'algo', mand: true },
  { name: 'string', excl: ['hex-string'] },
  { name: 'hex-string', excl: ['string'] },
  { name: 'icase' },
];

/** parse_hex_string: text with `|hex bytes|` blocks and `\`-escaped characters. */
function parseHex(s: string, env: ParseEnv, token: string): string {
  let out = '';
  let i = 0;
  let hex = false;
  while (i < s.length) {
    const c = s[i]!;
    if (c === '\\' && !hex) {
      if (i + 1 >= s.length) env.fail('Bad escaped character', token);
      out += s[i + 1];
      i += 2;
      continue;
    }
    if (c === '|') {
      hex = !hex;
      i++;
      continue;
    }
    if (hex) {
      if (c === ' ') {
        i++;
        continue;
      }
      const pair = s.slice(i, i + 2);
      if (!/^[0-9a-fA-F]{2}$/.test(pair)) env.fail('Invalid hex block', token);
      out += String.fromCharCode(parseInt(pair, 16));
      i += 2;
      continue;
    }
    out += c;
    i++;
  }
  if (hex) env.fail('Invalid hex block', token);
  return out;
}

function isHexString(p: string): boolean {
  for (let i = 0; i < p.length; i++) {
    const c = p.charCodeAt(i);
    if (c < 0x20 || c > 0x7e) return true;
  }
  return false;
}

export const stringMatch: MatchExt<StringData> = {
  name: 'string',
  options: [
    { name: 'from', args: 1 },
    { name: 'to', args: 1 },
    { name: 'algo', args: 1 },
    { name: 'string', args: 1, invertible: true },
    { name: 'hex-string', args: 1, invertible: true },
    { name: 'icase', args: 0 },
  ],
  parse(opts: readonly OptionUse[], env: ParseEnv) {
    checkOnce('string', opts, env);
    let pattern: string | null = null;
    let invert = false;
    let algo = '';
    let from = 0;
    let to = 0xffff;
    let icase = false;
    for (const o of opts) {
      const arg = o.args[0] ?? '';
      switch (o.name) {
        case 'from': case 'to': {
          const n = parseUint(arg, 0, 0xffff);
          if (n === null) env.fail(`string: bad value for option "--${o.name}", or out of range (0-65535).`, o.token);
          if (o.name === 'from') from = n!;
          else to = n!;
          break;
        }
        case 'algo':
          if (arg.length > 15) env.fail(`string: option "--algo" is too long (max: 15)`, o.token);
          algo = arg;
          break;
        case 'string': case 'hex-string':
          pattern = o.name === 'string' ? arg : parseHex(arg, env, o.token);
          if (pattern.length > STRING_MAX_PATTERN) env.fail(`STRING too long "${arg}"`, o.token);
          invert = o.invert;
          break;
        case 'icase':
          icase = true;
          break;
      }
    }
    if (pattern === null) env.fail("STRING match: You must specify `--string' or `--hex-string'");
    optionsFcheck('string', OPTION_RULES, opts, env);
    return { pattern: pattern!, invert, algo, from, to, icase };
  },
  print(d: StringData, _family: Family) {
    const inv = d.invert ? '! ' : '';
    let s: string;
    if (isHexString(d.pattern)) {
      let h = '';
      for (let i = 0; i < d.pattern.length; i++) h += d.pattern.charCodeAt(i).toString(16).padStart(2, '0');
      s = `${inv}--hex-string "|${h}|"`;
    } else {
      s = `${inv}--string "${d.pattern.replace(/["\\]/g, (c) => `\\${c}`)}"`;
    }
    s += ` --algo ${d.algo}`;
    if (d.from !== 0) s += ` --from ${d.from}`;
    if (d.to !== 0xffff) s += ` --to ${d.to}`;
    if (d.icase) s += ' --icase';
    return s;
  },
  check(d) {
    if (d.from > d.to) return 'string: --from is beyond --to (Invalid argument)';
    if (d.pattern.length === 0) return 'string: empty pattern (Invalid argument)';
    if (!ALGOS.includes(d.algo)) return `string: no textsearch algorithm \`${d.algo}' (No such file or directory)`;
    return null;
  },
  compile() {
    throw new NfemuError('UNSUPPORTED', 'string match: nfemu packets carry no payload bytes to search (-m string)', { token: 'string' });
  },
};

registerMatch(stringMatch);
