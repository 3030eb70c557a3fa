/**
 * `-m sctp`: ports and chunk types of the SCTP header (libxt_sctp.c, xt_sctp.c; the kernel's
 * xt_sctp runs, iptables-nft has no native form for it).
 *
 * Ports work as in the kernel. nfemu packets carry no SCTP chunks, so `--chunk-types` cannot
 * be evaluated: the kernel would walk the chunks after the common header (and drop a packet
 * that has none); compile() refuses such a rule with an UNSUPPORTED error instead of guessing.
 */
import { IPPROTO_SCTP, NfemuError } from '../../../core/index.ts';
import type { CheckEnv, CompileEnv, Matcher, MatchExt, OptionDef, OptionUse, ParseEnv } from '../../ext.ts';
import { registerMatch } from '../../ext.ts';
import { xtCheckMatch } from './common.ts';
import { parsePortRangeOld } from './tcp.ts';
import { PortsMatcher } from './udp.ts';

export const SCTP_CHUNK_MATCH_ANY = 1;
export const SCTP_CHUNK_MATCH_ALL = 2;
export const SCTP_CHUNK_MATCH_ONLY = 4;

export interface SctpChunkFlags {
  /** Chunk type (the kernel tool stores the table index, equal to the type for 0-14). */
  readonly chunk: number;
  readonly flag: number;
  readonly mask: number;
}

export interface SctpData {
  readonly hasSrc: boolean;
  readonly hasDst: boolean;
  readonly spts: readonly [number, number];
  readonly dpts: readonly [number, number];
  readonly invSrc: boolean;
  readonly invDst: boolean;
  /** null when --chunk-types was not given. */
  readonly chunks: null | {
    readonly matchType: number;
    /** Chunk types in the map (0-255), ascending; all 256 for ALL. */
    readonly types: readonly number[];
    readonly flags: readonly SctpChunkFlags[];
    readonly invert: boolean;
  };
}

const CHUNK_NAMES: ReadonlyArray<readonly [string, number, string]> = [
  ['DATA', 0, '----IUBE'], ['INIT', 1, '--------'], ['INIT_ACK', 2, '--------'], ['SACK', 3, '--------'],
  ['HEARTBEAT', 4, '--------'], ['HEARTBEAT_ACK', 5, '--------'], ['ABORT', 6, '-------T'], ['SHUTDOWN', 7, '--------'],
  ['SHUTDOWN_ACK', 8, '--------'], ['ERROR', 9, '--------'], ['COOKIE_ECHO', 10, '--------'], ['COOKIE_ACK', 11, '--------'],
  ['ECN_ECNE', 12, '--------'], ['ECN_CWR', 13, '--------'], ['SHUTDOWN_COMPLETE', 14, '-------T'], ['ASCONF', 193, '--------'],
  ['ASCONF_ACK', 128, '--------'], ['FORWARD_TSN', 192, '--------'],
];

const OPTIONS: readonly OptionDef[] = [
  { name: 'source-port', args: 1, invertible: true, aliases: ['sport'] },
  { name: 'destination-port', args: 1, invertible: true, aliases: ['dport'] },
  { name: 'chunk-types', args: 2, invertible: true },
];

function parseChunks(matchText: string, list: string | undefined, invert: boolean, env: ParseEnv, token: string): NonNullable<SctpData['chunks']> {
  if (list === undefined || list.startsWith('-') || list.startsWith('!')) env.fail('--chunk-types requires two args', token);
  const mt = matchText.toLowerCase();
  const matchType = mt === 'any' ? SCTP_CHUNK_MATCH_ANY : mt === 'all' ? SCTP_CHUNK_MATCH_ALL : mt === 'only' ? SCTP_CHUNK_MATCH_ONLY : 0;
  if (matchType === 0) env.fail('Match type has to be one of "ALL", "ANY" or "ONLY"', token);
  const types = new Set<number>();
  const flags: { chunk: number; flag: number; mask: number }[] = [];
  if (list.toLowerCase() === 'all') {
    for (let i = 0; i < 256; i++) types.add(i);
  } else if (list.toLowerCase() !== 'none') {
    for (const item of list.split(',')) {
      if (item === '') continue;
      const colon = item.indexOf(':');
      const name = colon < 0 ? item : item.slice(0, colon);
      const idx = CHUNK_NAMES.findIndex(([n]) => n.toLowerCase() === name.toLowerCase());
      if (idx < 0) env.fail(`Unknown sctp chunk \`${name}'`, token);
      const [, type, valid] = CHUNK_NAMES[idx]!;
      types.add(type);
      if (colon < 0) continue;
      for (const ch of item.slice(colon + 1)) {
        const pos = valid.indexOf(ch.toUpperCase());
        if (pos < 0) env.fail(`Invalid flags for chunk type ${idx}`, token);
        const bit = 7 - pos;
        let f = flags.find((x) => x.chunk === idx);
        if (f === undefined) {
          if (flags.length === 4) {
            env.fail('Number of chunk types with flags exceeds currently allowed limit.Increasing this limit involves changing IPT_NUM_SCTP_FLAGS andrecompiling both the kernel space and user space modules', token);
          }
          f = { chunk: idx, flag: 0, mask: 0 };
          flags.push(f);
        }
        f.mask |= 1 << bit;
        if (ch >= 'A' && ch <= 'Z') f.flag |= 1 << bit;
      }
    }
  }
  return { matchType, types: [...types].sort((a, b) => a - b), flags, invert };
}

function parse(opts: readonly OptionUse[], env: ParseEnv): SctpData {
  let spts: [number, number] = [0, 0xffff];
  let dpts: [number, number] = [0, 0xffff];
  let hasSrc = false;
  let hasDst = false;
  let invSrc = false;
  let invDst = false;
  let chunks: SctpData['chunks'] = null;
  for (const o of opts) {
    switch (o.name) {
      case 'source-port':
        if (hasSrc) env.fail("Only one `--source-port' allowed", o.token);
        spts = parsePortRangeOld(o.args[0]!, 'sctp', env, o.token);
        hasSrc = true;
        invSrc = o.invert;
        break;
      case 'destination-port':
        if (hasDst) env.fail("Only one `--destination-port' allowed", o.token);
        dpts = parsePortRangeOld(o.args[0]!, 'sctp', env, o.token);
        hasDst = true;
        invDst = o.invert;
        break;
      case 'chunk-types':
        if (chunks !== null) env.fail("Only one `--chunk-types' allowed", o.token);
        chunks = parseChunks(o.args[0]!, o.args[1], o.invert, env, o.token);
        break;
      default:
        env.fail(`sctp: unknown option "--${o.name}"`, o.token);
    }
  }
  return { hasSrc, hasDst, spts, dpts, invSrc, invDst, chunks };
}

function printChunks(c: NonNullable<SctpData['chunks']>): string {
  const mt = c.matchType === SCTP_CHUNK_MATCH_ANY ? 'any' : c.matchType === SCTP_CHUNK_MATCH_ALL ? 'all' : 'only';
  let list: string;
  if (c.types.length === 0) list = 'NONE';
  else if (c.types.length === 256) list = 'ALL';
  else {
    const items: string[] = [];
    for (const t of c.types) {
      const entry = CHUNK_NAMES.find(([, type]) => type === t);
      let s = entry ? entry[0] : '';
      const f = c.flags.find((x) => x.chunk === t);
      if (f && f.mask) {
        // print_chunk_flags indexes the name table by the chunk number.
        const valid = CHUNK_NAMES[t]?.[2] ?? '--------';
        s += ':';
        for (let i = 7; i >= 0; i--) {
          if (!(f.mask & (1 << i))) continue;
          const ch = valid[7 - i]!;
          s += f.flag & (1 << i) ? ch : ch.toLowerCase();
        }
      }
      items.push(s);
    }
    list = items.join(',');
  }
  return `${c.invert ? '! ' : ''}--chunk-types ${mt} ${list}`;
}

function print(d: SctpData): string {
  const out: string[] = [];
  if (d.hasSrc) out.push(`${d.invSrc ? '! ' : ''}--sport ${d.spts[0] === d.spts[1] ? d.spts[0] : `${d.spts[0]}:${d.spts[1]}`}`);
  if (d.hasDst) out.push(`${d.invDst ? '! ' : ''}--dport ${d.dpts[0] === d.dpts[1] ? d.dpts[0] : `${d.dpts[0]}:${d.dpts[1]}`}`);
  if (d.chunks) out.push(printChunks(d.chunks));
  return out.join(' ');
}

function check(_d: SctpData, env: CheckEnv): string | null {
  return xtCheckMatch(env, 'sctp', { proto: IPPROTO_SCTP });
}

function compile(d: SctpData, _env: CompileEnv): Matcher {
  if (d.chunks !== null) {
    throw new NfemuError('UNSUPPORTED', 'sctp: nfemu packets carry no SCTP chunks, so -m sctp --chunk-types cannot be evaluated');
  }
  // sctp_mt: a non-first fragment never matches, whatever is asked.
  return new PortsMatcher(true, d.hasSrc, d.spts[0], d.spts[1], d.invSrc, d.hasDst, d.dpts[0], d.dpts[1], d.invDst);
}

export const sctpMatch: MatchExt<SctpData> = {
  name: 'sctp',
  options: OPTIONS,
  parse,
  print,
  check,
  compile,
};

registerMatch(sctpMatch);
