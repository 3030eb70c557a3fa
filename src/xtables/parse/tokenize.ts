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
  const out: string[] = [];
  let buf = '';
  let has = false; // a parameter is being built (possibly empty, after "")
  let quoted = false;
  let escaped = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (quoted) {
      if (escaped) {
        buf += ch;
        escaped = false;
      } else if (ch === '\\') {
        escaped = true;
      } else if (ch === '"') {
        quoted = false;
        out.push(buf); // a closing quote ends the parameter
        buf = '';
        has = false;
      } else {
        buf += ch;
      }
      continue;
    }
    if (ch === '"') {
      quoted = true;
      has = true;
      continue;
    }
    if (ch === ' ' || ch === '\t' || ch === '\n') {
      if (has || buf.length) out.push(buf);
      buf = '';
      has = false;
      continue;
    }
    buf += ch;
    has = true;
  }
  if (quoted) {
    if (opts.unterminated === undefined) return null;
    out.push(buf + opts.unterminated);
    return out;
  }
  if (has || buf.length) out.push(buf);
  return out;
}
