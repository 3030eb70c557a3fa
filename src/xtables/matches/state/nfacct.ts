/**
 * `-m nfacct`: counts the packet in a named accounting object and always matches
 * (xt_nfacct.c). The kernel refuses a name with no nfacct object (ENOENT); nfemu has no
 * nfacct objects, so it creates the counter on first use instead.
 */
import type { Family } from '../../../core/index.ts';
import type { Packet } from '../../../packet/index.ts';
import { registerMatch, type ExtState, type MatchExt, type Matcher, type OptionUse, type ParseEnv, type XtContext } from '../../ext.ts';
import { checkOnce } from './common.ts';

/** NFACCT_NAME_MAX - 1. */
export const NFACCT_NAME_MAX = 31;

export interface NfacctData {
  readonly name: string;
}

/** An accounting object's counters. */
export class NfacctCounter implements ExtState {
  packets = 0;
  bytes = 0;
  clone(): NfacctCounter {
    const c = new NfacctCounter();
    c.packets = this.packets;
    c.bytes = this.bytes;
    return c;
  }
}

class NfacctMatcher implements Matcher {
  constructor(private readonly slot: number) {}

  /** Hot path. */
  match(pkt: Packet, ctx: XtContext): boolean {
    const c = ctx.states[this.slot] as NfacctCounter;
    c.packets++;
    c.bytes += pkt.length;
    return true;
  }
}

export const nfacctMatch: MatchExt<NfacctData> = {
  name: 'nfacct',
  options: [{ name: 'nfacct-name', args: 1 }],
  parse(opts: readonly OptionUse[], env: ParseEnv) {
    checkOnce('nfacct', opts, env);
    const o = opts.find((x) => x.name === 'nfacct-name');
    if (o === undefined) env.fail('nfacct: option "--nfacct-name" must be specified');
    const name = o!.args[0]!;
    if (name.length > NFACCT_NAME_MAX) env.fail(`nfacct: option "--nfacct-name" is too long (max: ${NFACCT_NAME_MAX})`, o!.token);
    return { name };
  },
  print: (d: NfacctData, _family: Family) => `--nfacct-name ${d.name}`,
  compile: (d, env) => new NfacctMatcher(env.stateSlot(`nfacct:${d.name}`, () => new NfacctCounter())),
};

registerMatch(nfacctMatch);
