/**
 * Error types. Leaf module: no imports here.
 *
 * Exceptions are for misuse and bad configuration only; the packet path returns verdicts.
 * Every error carries a stable code and, where it came from a file, the file, line and the
 * offending token, so the CLI can print `nfemu: FILE:LINE: message`.
 */

/** Stable error codes. */
export type ErrorCode =
  | 'PARSE' // text could not be read (ruleset, ipset, case, packet string)
  | 'VALIDATE' // text read, but the kernel would refuse it
  | 'UNSUPPORTED' // a match, target or option nfemu does not model
  | 'USAGE' // the command line is wrong
  | 'IO' // a file could not be read
  | 'INTERNAL';

export interface Location {
  readonly file?: string;
  readonly line?: number;
  readonly token?: string;
}

/** An error a user can act on: code, message and where it was found. */
export class NfemuError extends Error {
  readonly code: ErrorCode;
  readonly file: string | undefined;
  readonly line: number | undefined;
  readonly token: string | undefined;

  constructor(code: ErrorCode, message: string, where: Location = {}) {
    super(message);
    this.name = 'NfemuError';
    this.code = code;
    this.file = where.file;
    this.line = where.line;
    this.token = where.token;
  }

  /**
   * `FILE:LINE: message` (parts that are unknown are left out), with the offending token
   * named when the message does not already quote it.
   */
  located(): string {
    const parts: string[] = [];
    if (this.file !== undefined) parts.push(this.file);
    if (this.line !== undefined) parts.push(String(this.line));
    const tok = this.token !== undefined && this.token !== '' && !this.message.includes(this.token) ? ` (at \`${this.token}')` : '';
    return parts.length ? `${parts.join(':')}: ${this.message}${tok}` : `${this.message}${tok}`;
  }

  /** A copy of this error with the file (and line, if unset) filled in. */
  at(where: Location): NfemuError {
    return new NfemuError(this.code, this.message, {
      file: this.file ?? where.file,
      line: this.line ?? where.line,
      token: this.token ?? where.token,
    });
  }
}

export function isNfemuError(e: unknown): e is NfemuError {
  return e instanceof NfemuError;
}
