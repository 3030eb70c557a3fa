/**
 * Reading `ipset restore` / `ipset save` text: splitting lines into words the way the
 * ipset tool does (double quotes group words, for comments), command names and aliases,
 * numbers, and the keyword options of `create` and of elements (lib/parse.c, lib/args.c,
 * src/ipset.c). Wording of errors follows the tool.
 */
import { parseIpOf } from '../core/index.ts';
import { mask4 } from './addr.ts';
import { parsePortRange } from './bitmap-set.ts';
import {
  IPSET_MAX_COMMENT_SIZE, IPSET_MAXNAMELEN, TYPE_BITMAP_IP, TYPE_BITMAP_PORT, TYPE_HASH_IP, TYPE_LIST_SET,
  defaultCreateOptions, emptyAdtExt, isHashType, syntaxError, type AdtExt, type CreateOptions,
} from './types.ts';

export const CMD_CREATE = 0;
export const CMD_ADD = 1;
export const CMD_DEL = 2;
export const CMD_TEST = 3;
export const CMD_DESTROY = 4;
export const CMD_FLUSH = 5;
export const CMD_RENAME = 6;
export const CMD_SWAP = 7;

const COMMANDS: ReadonlyArray<readonly [number, readonly string[]]> = [
  [CMD_CREATE, ['create', 'n', '-N', '--create']],
  [CMD_ADD, ['add', 'a', '-A', '--add']],
  [CMD_DEL, ['del', 'd', '-D', '--del']],
  [CMD_TEST, ['test', 't', '-T', '--test']],
  [CMD_DESTROY, ['destroy', 'x', '-X', '--destroy']],
  [CMD_FLUSH, ['flush', 'f', '-F', '--flush']],
  [CMD_RENAME, ['rename', 'e', '-E', '--rename']],
  [CMD_SWAP, ['swap', 'w', '-W', '--swap']],
];

/** CMD_* for a command word, or -1. */
export function commandOf(word: string): number {
  for (const [cmd, names] of COMMANDS) if (names.includes(word)) return cmd;
  return -1;
}

/** Splits one line into words; `"…"` is one word without its quotes. */
export function splitWords(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let inWord = false;
  let quoted = false;
  for (const ch of line) {
    if (quoted) {
      if (ch === '"') quoted = false;
      else cur += ch;
      continue;
    }
    if (ch === '"') {
      quoted = true;
      inWord = true;
      continue;
    }
    if (ch === ' ' || ch === '\t' || ch === '\r') {
      if (inWord) out.push(cur);
      cur = '';
      inWord = false;
      continue;
    }
    cur += ch;
    inWord = true;
  }
  if (quoted) throw syntaxError(`unterminated quoted string in ${line.trim()}`);
  if (inWord) out.push(cur);
  return out;
}

/** Checks a set name (IPSET_MAXNAMELEN). */
export function checkSetName(name: string | undefined): string {
  if (name === undefined || name === '') throw syntaxError('missing setname');
  if (name.length > IPSET_MAXNAMELEN - 1) {
    throw syntaxError(`setname '${name}' is longer than ${IPSET_MAXNAMELEN - 1} characters`, name);
  }
  return name;
}

/** string_to_number_ll: decimal, 0x hex or 0 octal, within [min, max]. */
export function parseNumber(text: string | undefined, min: number, max: number, keyword: string): number {
  if (text === undefined) throw syntaxError(`missing value for ${keyword}`, keyword);
  let n: number;
  if (/^0[xX][0-9a-fA-F]+$/.test(text)) n = parseInt(text.slice(2), 16);
  else if (/^0[0-7]+$/.test(text)) n = parseInt(text.slice(1), 8);
  else if (/^[0-9]+$/.test(text)) n = Number(text);
  else throw syntaxError(`'${text}' is invalid as number`, text);
  if (n < min || n > max) throw syntaxError(`'${text}' is out of range ${min}-${max}`, text);
  return n;
}

const U32 = 0xffffffff;

function unknownArgument(word: string): never {
  throw syntaxError(`Unknown argument ${word}`, word);
}

/** Parses the options of `create NAME TYPE …` for TYPE_* `type`. */
export function parseCreateOptions(type: number, words: readonly string[]): CreateOptions {
  const o = defaultCreateOptions();
  let familySeen = false;
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    const val = (): string | undefined => words[++i];
    const hash = isHashType(type);
    switch (w) {
      case 'family': {
        if (!hash) unknownArgument(w);
        const f = val();
        if (familySeen) throw syntaxError('protocol family may not be specified multiple times');
        familySeen = true;
        if (f === 'inet' || f === 'ipv4' || f === '-4') o.family = 4;
        else if (f === 'inet6' || f === 'ipv6' || f === '-6') o.family = 6;
        else throw syntaxError(`unknown inet family ${f ?? ''}`, f);
        break;
      }
      case '-4': case 'inet':
        if (!hash) unknownArgument(w);
        o.family = 4;
        break;
      case '-6': case 'inet6':
        if (!hash) unknownArgument(w);
        o.family = 6;
        break;
      case 'hashsize':
        if (!hash) unknownArgument(w);
        o.hashsize = parseNumber(val(), 0, U32, w);
        break;
      case 'maxelem':
        if (!hash) unknownArgument(w);
        o.maxelem = parseNumber(val(), 0, U32, w);
        break;
      case 'bucketsize':
        if (!hash) unknownArgument(w);
        o.bucketsize = parseNumber(val(), 0, 255, w);
        break;
      case 'initval':
        if (!hash) unknownArgument(w);
        o.initval = parseNumber(val(), 0, U32, w);
        break;
      case 'probes': case 'resize': case 'gc':
        // Accepted and ignored for backward compatibility.
        if (!hash) unknownArgument(w);
        parseNumber(val(), 0, U32, w);
        break;
      case 'netmask': {
        if (type !== TYPE_HASH_IP && type !== TYPE_BITMAP_IP) unknownArgument(w);
        const max = o.family === 6 ? 128 : 32;
        o.netmask = parseNumber(val(), 1, max, w);
        break;
      }
      case 'timeout':
        o.timeout = parseNumber(val(), 0, U32, w);
        break;
      case 'counters': o.counters = true; break;
      case 'comment': o.comment = true; break;
      case 'skbinfo': o.skbinfo = true; break;
      case 'forceadd':
        if (!hash) unknownArgument(w);
        o.forceadd = true;
        break;
      case 'range': {
        const r = val();
        if (r === undefined) throw syntaxError('missing value for range', w);
        if (type === TYPE_BITMAP_IP) {
          [o.rangeFrom, o.rangeTo] = parseIpv4Range(r);
        } else if (type === TYPE_BITMAP_PORT) {
          [o.rangeFrom, o.rangeTo] = parsePortRange(r);
        } else unknownArgument(w);
        o.hasRange = true;
        break;
      }
      case 'size':
        if (type !== TYPE_LIST_SET) unknownArgument(w);
        o.size = parseNumber(val(), 0, U32, w);
        break;
      default:
        unknownArgument(w);
    }
  }
  return o;
}

/** bitmap:ip `range`: `IP/cidr` or `IP-IP` (ipset_parse_netrange). */
function parseIpv4Range(text: string): [number, number] {
  const slash = text.indexOf('/');
  const dash = text.indexOf('-');
  if (slash < 0 && dash < 0) throw syntaxError(`IP/cidr or IP-IP range must be specified: ${text}`, text);
  const addr = (s: string): number => {
    const ip = parseIpOf(4, s);
    if (ip === null) throw syntaxError(`cannot parse ${s}: resolving to IPv4 address failed`, s);
    return ip.w[0]!;
  };
  if (slash > 0) {
    const cidr = parseNumber(text.slice(slash + 1), 0, 32, 'range');
    const ip = addr(text.slice(0, slash));
    if (cidr === 32) return [ip, ip];
    const first = (ip & mask4(cidr)) >>> 0;
    return [first, (first | ~mask4(cidr)) >>> 0];
  }
  return [addr(text.slice(0, dash)), addr(text.slice(dash + 1))];
}

/**
 * Parses the options after an element (`timeout 30 nomatch packets 1 …`).
 * `nomatch` only where the type takes it; `before`/`after` only for list:set.
 */
export function parseAdtOptions(words: readonly string[], acceptsNomatch: boolean, isList: boolean): AdtExt {
  const e = emptyAdtExt();
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    const val = (): string | undefined => words[++i];
    switch (w) {
      case 'timeout':
        e.timeout = parseNumber(val(), 0, U32, w);
        break;
      case 'nomatch':
        if (!acceptsNomatch) unknownArgument(w);
        e.nomatch = true;
        break;
      case 'packets':
        e.packets = parseNumber(val(), 0, Number.MAX_SAFE_INTEGER, w);
        break;
      case 'bytes':
        e.bytes = parseNumber(val(), 0, Number.MAX_SAFE_INTEGER, w);
        break;
      case 'comment': {
        const c = val();
        if (c === undefined) throw syntaxError('missing value for comment', w);
        if (c.includes('"')) throw syntaxError('" character is not permitted in comments', c);
        if (c.length > IPSET_MAX_COMMENT_SIZE) {
          throw syntaxError(`Comment is longer than the maximum allowed ${IPSET_MAX_COMMENT_SIZE} characters`, c);
        }
        e.comment = c;
        break;
      }
      case 'skbmark': {
        const v = val() ?? '';
        const [mark, mask] = v.split('/');
        e.skbmark = parseNumber(mark, 0, U32, w);
        e.skbmarkmask = mask === undefined ? U32 : parseNumber(mask, 0, U32, w);
        e.hasSkbmark = true;
        break;
      }
      case 'skbprio': {
        const v = val() ?? '';
        const m = /^([0-9a-fA-F]+):([0-9a-fA-F]+)$/.exec(v);
        if (!m) throw syntaxError(`Invalid skbprio format, it should be: MAJOR:MINOR (see manpage)`, v);
        e.skbprio = ((parseInt(m[1]!, 16) & 0xffff) << 16 | (parseInt(m[2]!, 16) & 0xffff)) >>> 0;
        break;
      }
      case 'skbqueue':
        e.skbqueue = parseNumber(val(), 0, 0xffff, w);
        break;
      case 'before':
      case 'after': {
        if (!isList) unknownArgument(w);
        const ref = val();
        if (ref === undefined) throw syntaxError(`missing value for ${w}`, w);
        e.before = w === 'before' ? 1 : -1;
        e.ref = ref;
        break;
      }
      default:
        unknownArgument(w);
    }
  }
  return e;
}
