/**
 * Numbers as libxtables reads them (C strtoul with base 0), shared by matches and targets.
 * Configuration-time code.
 */

export interface Strtoul {
  readonly value: number;
  readonly end: number;
}

const SPACE = ' \t\n\v\f\r';

/**
 * C strtoul() with base 0 (or 10) as xtables_strtoul_base() calls it: leading white space
 * and an optional `+`, a leading `-` refused, `0x` hexadecimal and `0` octal (base 0),
 * otherwise decimal. Null when no digits. Values beyond 2^53 saturate (out of every range).
 */
export function strtoul(s: string, from = 0, base0 = true): Strtoul | null {
  let i = from;
  while (i < s.length && SPACE.includes(s[i]!)) i++;
  if (s[i] === '-') return null;
  if (s[i] === '+') i++;
  let base = 10;
  if (base0 && s[i] === '0') {
    const x = s[i + 1];
    if ((x === 'x' || x === 'X') && /[0-9a-fA-F]/.test(s[i + 2] ?? '')) {
      base = 16;
      i += 2;
    } else {
      base = 8;
    }
  }
  const start = i;
  let v = 0;
  for (; i < s.length; i++) {
    const d = parseInt(s[i]!, 16);
    if (Number.isNaN(d) || d >= base) break;
    v = v * base + d;
  }
  if (i === start) return null;
  return { value: Math.min(v, Number.MAX_SAFE_INTEGER), end: i };
}

/** xtables_strtoui(s, NULL, …, min, max): the whole string a number in range, else null. */
export function parseUint(s: string, min: number, max: number): number | null {
  const r = strtoul(s);
  if (r === null || r.end !== s.length || r.value < min || r.value > max) return null;
  return r.value;
}
