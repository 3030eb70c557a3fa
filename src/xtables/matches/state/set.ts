/**
 * `-m set` (revision 4): membership of the packet in an IP set (xt_set.c set_match_v4),
 * read along a list of up to six src/dst directions, one per set dimension.
 *
 * As ip_set_test() does, a set of another family, or one with more dimensions than
 * directions given, never contains the packet. The counter conditions (--packets-*,
 * --bytes-*) are parsed and printed; they only apply to sets created with the counters
 * extension, which IpsetHandle.test() does not expose, so nfemu evaluates the rule as for a
 * set without counters (the kernel then ignores them). --return-nomatch and the
 * --update-counters flags likewise only affect nomatch elements and counters.
 */
import { NfemuError, type Family } from '../../../core/index.ts';
import type { Packet } from '../../../packet/index.ts';
import { registerMatch, type IpsetHandle, type MatchExt, type Matcher, type OptionUse, type ParseEnv, type XtContext } from '../../ext.ts';

/** IPSET_COUNTER_* comparison operators. */
export const IPSET_COUNTER_NONE = 0;
export const IPSET_COUNTER_EQ = 1;
export const IPSET_COUNTER_NE = 2;
export const IPSET_COUNTER_LT = 3;
export const IPSET_COUNTER_GT = 4;
/** IPSET_MAXNAMELEN - 1. */
export const IPSET_MAX_NAME = 31;
export const IPSET_DIM_MAX = 6;

export interface SetData {
  readonly name: string;
  readonly invert: boolean;
  /** Per dimension: 1 = source, 0 = destination. */
  readonly dirs: readonly number[];
  readonly returnNomatch: boolean;
  /** `! --update-counters` / `! --update-subcounters`. */
  readonly skipCounterUpdate: boolean;
  readonly skipSubcounterUpdate: boolean;
  readonly packetsOp: number;
  /** Decimal text of a u64. */
  readonly packetsValue: string;
  readonly bytesOp: number;
  readonly bytesValue: string;
}

/** A 64-bit counter value, kept as canonical decimal text (it may exceed 2^53). */
function parseCounter(o: OptionUse, env: ParseEnv): string {
  const s = o.args[0]!;
  if (!/^[0-9]+$/.test(s) || BigInt(s) > 0xffffffffffffffffn) env.fail(`Cannot parse ${s} as a number`, s);
  return BigInt(s).toString();
}

function parseSet(opts: readonly OptionUse[], env: ParseEnv): SetData {
  let name: string | null = null;
  let invert = false;
  let dirs: number[] = [];
  let returnNomatch = false;
  let skipCounterUpdate = false;
  let skipSubcounterUpdate = false;
  let packetsOp = IPSET_COUNTER_NONE;
  let packetsValue = '0';
  let bytesOp = IPSET_COUNTER_NONE;
  let bytesValue = '0';
  for (const o of opts) {
    switch (o.name) {
      case 'match-set': {
        if (name !== null) env.fail('--match-set can be specified only once', o.token);
        const [setName, flags] = o.args;
        if (setName === undefined || flags === undefined || flags.startsWith('-')) env.fail('--match-set requires two args.', o.token);
        if (setName!.length > IPSET_MAX_NAME) env.fail(`setname \`${setName}' too long, max ${IPSET_MAX_NAME} characters.`, setName);
        const words = flags!.split(',');
        if (words.length > IPSET_DIM_MAX) env.fail(`Can't be more src/dst options than ${IPSET_DIM_MAX}.`, flags);
        dirs = words.map((w) => {
          if (w === 'src') return 1;
          if (w === 'dst') return 0;
          return env.fail(`You must spefify (the comma separated list of) 'src' or 'dst'.`, flags);
        });
        name = setName!;
        invert = o.invert;
        break;
      }
      case 'return-nomatch':
        returnNomatch = true;
        break;
      case 'update-counters':
        skipCounterUpdate = o.invert;
        break;
      case 'update-subcounters':
        skipSubcounterUpdate = o.invert;
        break;
      case 'packets-eq': case 'packets-lt': case 'packets-gt': {
        if (packetsOp !== IPSET_COUNTER_NONE) env.fail('only one of the --packets-[eq|lt|gt] is allowed', o.token);
        packetsValue = parseCounter(o, env);
        packetsOp = o.name === 'packets-eq' ? (o.invert ? IPSET_COUNTER_NE : IPSET_COUNTER_EQ) : o.name === 'packets-lt' ? IPSET_COUNTER_LT : IPSET_COUNTER_GT;
        break;
      }
      case 'bytes-eq': case 'bytes-lt': case 'bytes-gt': {
        if (bytesOp !== IPSET_COUNTER_NONE) env.fail('only one of the --bytes-[eq|lt|gt] is allowed', o.token);
        bytesValue = parseCounter(o, env);
        bytesOp = o.name === 'bytes-eq' ? (o.invert ? IPSET_COUNTER_NE : IPSET_COUNTER_EQ) : o.name === 'bytes-lt' ? IPSET_COUNTER_LT : IPSET_COUNTER_GT;
        break;
      }
    }
  }
  if (name === null) env.fail("You must specify `--match-set' with proper arguments");
  return { name: name!, invert, dirs, returnNomatch, skipCounterUpdate, skipSubcounterUpdate, packetsOp, packetsValue, bytesOp, bytesValue };
}

function printCounter(what: string, op: number, value: string): string {
  switch (op) {
    case IPSET_COUNTER_EQ: return ` --${what}-eq ${value}`;
    case IPSET_COUNTER_NE: return ` ! --${what}-eq ${value}`;
    case IPSET_COUNTER_LT: return ` --${what}-lt ${value}`;
    case IPSET_COUNTER_GT: return ` --${what}-gt ${value}`;
    default: return '';
  }
}

function printSet(d: SetData, _family: Family): string {
  let s = `${d.invert ? '! ' : ''}--match-set ${d.name} ${d.dirs.map((x) => (x ? 'src' : 'dst')).join(',')}`;
  if (d.returnNomatch) s += ' --return-nomatch';
  if (d.skipCounterUpdate) s += ' ! --update-counters';
  if (d.skipSubcounterUpdate) s += ' ! --update-subcounters';
  return s + printCounter('packets', d.packetsOp, d.packetsValue) + printCounter('bytes', d.bytesOp, d.bytesValue);
}

class SetMatcher implements Matcher {
  constructor(
    private readonly set: IpsetHandle,
    private readonly dirs: Uint8Array,
    private readonly invert: boolean,
  ) {}

  /** Hot path (match_set / ip_set_test). */
  match(pkt: Packet, ctx: XtContext): boolean {
    const s = this.set;
    let found = false;
    if (this.dirs.length >= s.dimensions && (s.family === 0 || s.family === pkt.family)) {
      found = s.test(pkt, this.dirs, ctx.nowMs);
    }
    return found !== this.invert;
  }
}

export const setMatch: MatchExt<SetData> = {
  name: 'set',
  options: [
    { name: 'match-set', args: 2, invertible: true, aliases: ['set'] },
    { name: 'return-nomatch', args: 0 },
    { name: 'update-counters', args: 0, invertible: true },
    { name: 'update-subcounters', args: 0, invertible: true },
    { name: 'packets-eq', args: 1, invertible: true },
    { name: 'packets-lt', args: 1 },
    { name: 'packets-gt', args: 1 },
    { name: 'bytes-eq', args: 1, invertible: true },
    { name: 'bytes-lt', args: 1 },
    { name: 'bytes-gt', args: 1 },
  ],
  parse: parseSet,
  print: printSet,
  check(d, env) {
    if (env.sets !== null && env.sets.get(d.name) === null) return `Set ${d.name} doesn't exist.`;
    return null;
  },
  compile(d, env) {
    // Parsed and printed, but the set handle exposes neither nomatch results nor counters:
    // refuse rather than ignore them silently.
    if (d.returnNomatch) throw new NfemuError('UNSUPPORTED', `set: --return-nomatch is not modelled by nfemu`, { token: '--return-nomatch' });
    if (d.packetsOp !== IPSET_COUNTER_NONE || d.bytesOp !== IPSET_COUNTER_NONE) {
      throw new NfemuError('UNSUPPORTED', `set: --packets-*/--bytes-* counter matches are not modelled by nfemu`, { token: d.packetsOp !== IPSET_COUNTER_NONE ? '--packets' : '--bytes' });
    }
    const handle = env.sets.get(d.name);
    if (handle === null) throw new NfemuError('VALIDATE', `Set ${d.name} doesn't exist.`, { token: d.name });
    return new SetMatcher(handle, Uint8Array.from(d.dirs), d.invert);
  },
};

registerMatch(setMatch);
