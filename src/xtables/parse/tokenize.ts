/**
 * Splits one rule line into arguments the way iptables-restore does (add_param_to_argv):
 * spaces and tabs separate; double quotes group and may sit inside a word, and a closing
 * quote ends the argument; inside quotes a backslash escapes the next character; outside
 * quotes a backslash is literal.
 *
 * An unterminated quote: returns null, unless `unterminated` is given. iptables-restore
 * then keeps the rest of the line, its newline included, as the last argument (pass
 * `unterminated: '\n'` for a line that ended with a newline, '' for a last line without).
 */
export function tokenizeRuleLine(line: string, opts: { readonly unterminated?: string } = {}): string[] | null {
  // Scans by index and slices whole runs (config-time hot loop: 10^5 lines per big dump).
  const out: string[] = [];
  const n = line.length;
  let buf = '';
  let has = false; // a parameter is being built (possibly empty, after "")
  let i = 0;
  while (i < n) {
    const c = line.charCodeAt(i);
    if (c === 32 || c === 9 || c === 10) {
      if (has) {
        out.push(buf);
        buf = '';
        has = false;
      }
      i++;
      continue;
    }
    if (c === 34) {
      // A quoted part: backslash escapes the next character; the closing quote ends the parameter.
      i++;
      let seg = '';
      let from = i;
      let closed = false;
      while (i < n) {
        const d = line.charCodeAt(i);
        if (d === 92) {
          seg += line.slice(from, i);
          if (i + 1 < n) seg += line[i + 1];
          i += 2;
          from = i;
          continue;
        }
        if (d === 34) {
          seg += line.slice(from, i);
          closed = true;
          i++;
          break;
        }
        i++;
      }
      if (!closed) {
        if (from < n) seg += line.slice(from, n);
        if (opts.unterminated === undefined) return null;
        out.push(buf + seg + opts.unterminated);
        return out;
      }
      out.push(buf + seg);
      buf = '';
      has = false;
      continue;
    }
    const from = i;
    while (i < n) {
      const d = line.charCodeAt(i);
      if (d === 32 || d === 9 || d === 10 || d === 34) break;
      i++;
    }
    buf += line.slice(from, i);
    has = true;
  }
  if (has) out.push(buf);
  return out;
}
