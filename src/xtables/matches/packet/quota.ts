/**
 * `-m quota --quota BYTES` (libxt_quota.c, xt_quota.c): matches while the rule's byte budget
 * lasts, each matching packet spending its length (pkt.length, the skb length at the IP
 * layer); the first packet that does not fit empties the budget. `!` swaps the answers.
 * The budget is per rule and survives recompiles (state slot).
 */
import type { Packet } from '../../../packet/index.ts';
import type { CompileEnv, ExtState, Matcher, MatchExt, OptionUse, ParseEnv, XtContext } from '../../ext.ts';
import { registerMatch } from '../../ext.ts';
import { strtoul, X6Parser, x6OptionDefs, type X6Entry } from './common.ts';

export interface QuotaData {
  /** The budget in bytes, as a decimal string (up to 2^64 - 1, beyond a double's precision). */
  readonly quota: string;
  readonly invert: boolean;
}

const TABLE: readonly X6Entry[] = [{ id: 0, name: 'quota', args: 1, invert: true, mand: true }];
const U64_MAX = (1n << 64n) - 1n;

function parse(opts: readonly OptionUse[], env: ParseEnv): QuotaData {
  const x6 = new X6Parser('quota', TABLE, env);
  let d: QuotaData = { quota: '0', invert: false };
  for (const o of opts) {
    const e = x6.use(o);
    const text = o.args[0]!;
    const r = strtoul(text, 0, 0);
    if (r.end === 0 || r.end !== text.length || r.overflow || text.trimStart().startsWith('-')) x6.badInt(e, 0, U64_MAX, o.token);
    d = { quota: r.value.toString(), invert: o.invert };
  }
  x6.finish();
  return d;
}

/** Remaining bytes (a double: exact below 2^53 bytes). */
export class QuotaState implements ExtState {
  constructor(public remaining: number) {}
  clone(): QuotaState {
    return new QuotaState(this.remaining);
  }
}

class QuotaMatcher implements Matcher {
  constructor(
    private readonly slot: number,
    private readonly invert: boolean,
  ) {}

  match(pkt: Packet, ctx: XtContext): boolean {
    const s = ctx.states[this.slot] as QuotaState;
    if (s.remaining >= pkt.length) {
      s.remaining -= pkt.length;
      return !this.invert;
    }
    s.remaining = 0;
    return this.invert;
  }
}

export const quotaMatch: MatchExt<QuotaData> = {
  name: 'quota',
  options: x6OptionDefs(TABLE),
  parse,
  print: (d) => `${d.invert ? '! ' : ''}--quota ${d.quota}`,
  compile: (d: QuotaData, env: CompileEnv) =>
    new QuotaMatcher(env.stateSlot(`${env.ruleKey}/quota/${d.quota}`, () => new QuotaState(Number(d.quota))), d.invert),
};

registerMatch(quotaMatch);
