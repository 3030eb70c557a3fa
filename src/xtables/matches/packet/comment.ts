/**
 * `-m comment --comment TEXT` (libxt_comment.c, xt_comment.c): always matches. The kernel
 * keeps at most 255 bytes (XT_MAX_COMMENT_LEN - 1); iptables truncates longer text silently.
 * iptables-save prints the text bare when it is made only of [A-Za-z0-9_-], else in double
 * quotes with `"`, `\` and `'` escaped by a backslash.
 */
import type { CompileEnv, Matcher, MatchExt, OptionUse, ParseEnv } from '../../ext.ts';
import { registerMatch } from '../../ext.ts';
import { ALWAYS, saveString, X6Parser, x6OptionDefs, type X6Entry } from './common.ts';

export interface CommentData {
  readonly comment: string;
}

/** XT_MAX_COMMENT_LEN - 1: bytes the kernel stores. */
export const MAX_COMMENT_BYTES = 255;

const TABLE: readonly X6Entry[] = [{ id: 0, name: 'comment', args: 1, mand: true }];

/**
 * Cuts UTF-8 text to at most `max` bytes, as strncpy does with the kernel's fixed buffer.
 * nfemu deviation: a cut inside a multi-byte character drops the whole character (the kernel
 * keeps the partial bytes, which cannot be represented in a JS string).
 */
export function truncateUtf8(text: string, max: number): string {
  const bytes = new TextEncoder().encode(text);
  if (bytes.length <= max) return text;
  let end = max;
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--;
  return new TextDecoder().decode(bytes.subarray(0, end));
}

function parse(opts: readonly OptionUse[], env: ParseEnv): CommentData {
  const x6 = new X6Parser('comment', TABLE, env);
  let comment = '';
  for (const o of opts) {
    x6.use(o);
    comment = truncateUtf8(o.args[0]!, MAX_COMMENT_BYTES);
  }
  x6.finish();
  return { comment };
}

export const commentMatch: MatchExt<CommentData> = {
  name: 'comment',
  options: x6OptionDefs(TABLE),
  parse,
  print: (d) => `--comment ${saveString(d.comment)}`,
  compile: (_d: CommentData, _env: CompileEnv): Matcher => ALWAYS,
};

registerMatch(commentMatch);
