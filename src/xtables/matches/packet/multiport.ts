/**
 * `-m multiport --sports|--dports|--ports LIST` (libxt_multiport.c revision 1, xt_multiport.c):
 * up to 15 ports, a range `a:b` taking two of the 15 slots; `!` negates the whole list.
 *
 * The rule's `-p` must already be tcp, udp, udplite, sctp or dccp (not negated) when the
 * option is parsed: iptables checks it then, not at the end of the rule. The kernel's match
 * never matches a non-first fragment, with or without `!`.
 */
import { IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP, IPPROTO_UDPLITE } from '../../../core/index.ts';
import type { Packet } from '../../../packet/index.ts';
import type { CompileEnv, Matcher, MatchExt, OptionUse, ParseEnv } from '../../ext.ts';
import { registerMatch } from '../../ext.ts';
import { parsePortByProto, X6Parser, x6OptionDefs, type X6Entry } from './common.ts';

const IPPROTO_DCCP = 33;

export const XT_MULTIPORT_SOURCE = 0;
export const XT_MULTIPORT_DESTINATION = 1;
export const XT_MULTIPORT_EITHER = 2;
const XT_MULTI_PORTS = 15;

export interface MultiportData {
  /** XT_MULTIPORT_SOURCE / DESTINATION / EITHER. */
  readonly flags: number;
  /** Inclusive ranges in the order written (a single port is lo === hi, written without ':'). */
  readonly ports: readonly { readonly lo: number; readonly hi: number; readonly range: boolean }[];
  readonly invert: boolean;
}

const O_SRC = 0;
const O_DST = 1;
const O_SD = 2;
const F_ANY = 7;

const TABLE: readonly X6Entry[] = [
  { id: O_SRC, name: 'source-ports', args: 1, invert: true, excl: F_ANY },
  { id: O_SRC, name: 'sports', args: 1, invert: true, excl: F_ANY },
  { id: O_DST, name: 'destination-ports', args: 1, invert: true, excl: F_ANY },
  { id: O_DST, name: 'dports', args: 1, invert: true, excl: F_ANY },
  { id: O_SD, name: 'ports', args: 1, invert: true, excl: F_ANY },
];

function protoName(env: ParseEnv, token: string): string {
  if (env.protoInvert) env.fail('multiport only works with TCP, UDP, UDPLITE, SCTP and DCCP', token);
  switch (env.proto ?? 0) {
    case IPPROTO_TCP: return 'tcp';
    case IPPROTO_UDP: return 'udp';
    case IPPROTO_UDPLITE: return 'udplite';
    case IPPROTO_SCTP: return 'sctp';
    case IPPROTO_DCCP: return 'dccp';
    case 0: return env.fail("multiport needs `-p tcp', `-p udp', `-p udplite', `-p sctp' or `-p dccp'", token);
    default: return env.fail('multiport only works with TCP, UDP, UDPLITE, SCTP and DCCP', token);
  }
}

/** parse_multi_ports_v1. */
function parsePorts(text: string, proto: string, env: ParseEnv, token: string): MultiportData['ports'] {
  const port = (t: string): number => {
    const p = parsePortByProto(t, proto);
    if (p === null) env.fail(`invalid port/service \`${t}' specified`, token);
    return p;
  };
  const out: { lo: number; hi: number; range: boolean }[] = [];
  const items = text.split(',');
  let slots = 0;
  let k = 0;
  for (; k < items.length && slots < XT_MULTI_PORTS; k++) {
    const item = items[k]!;
    const colon = item.indexOf(':');
    if (colon >= 0 && slots === XT_MULTI_PORTS - 1) env.fail('too many ports specified', token);
    if (colon < 0) {
      const p = port(item);
      out.push({ lo: p, hi: p, range: false });
      slots++;
    } else {
      const lo = port(item.slice(0, colon));
      const hi = port(item.slice(colon + 1));
      if (lo >= hi) env.fail('invalid portrange specified', token);
      out.push({ lo, hi, range: true });
      slots += 2;
    }
  }
  if (k < items.length) env.fail('too many ports specified', token);
  return out;
}

function parse(opts: readonly OptionUse[], env: ParseEnv): MultiportData {
  const x6 = new X6Parser('multiport', TABLE, env);
  let data: MultiportData | null = null;
  for (const o of opts) {
    const e = x6.use(o);
    const proto = protoName(env, o.token);
    const ports = parsePorts(o.args[0]!, proto, env, o.token);
    const flags = e.id === O_SRC ? XT_MULTIPORT_SOURCE : e.id === O_DST ? XT_MULTIPORT_DESTINATION : XT_MULTIPORT_EITHER;
    data = { flags, ports, invert: o.invert };
  }
  if (data === null) env.fail('multiport expection an option');
  x6.finish();
  return data;
}

function print(d: MultiportData): string {
  const opt = d.flags === XT_MULTIPORT_SOURCE ? 'sports' : d.flags === XT_MULTIPORT_DESTINATION ? 'dports' : 'ports';
  const list = d.ports.map((p) => (p.range ? `${p.lo}:${p.hi}` : String(p.lo))).join(',');
  return `${d.invert ? '! ' : ''}--${opt} ${list}`;
}

/** ports_match_v1 over flat lo/hi arrays. Hot path. */
class MultiportMatcher implements Matcher {
  constructor(
    private readonly lo: Uint16Array,
    private readonly hi: Uint16Array,
    private readonly src: boolean,
    private readonly dst: boolean,
    private readonly invert: boolean,
  ) {}

  match(pkt: Packet): boolean {
    if (pkt.fragment) return false;
    const s = pkt.sport;
    const d = pkt.dport;
    for (let i = 0; i < this.lo.length; i++) {
      const lo = this.lo[i]!;
      const hi = this.hi[i]!;
      if ((this.src && s >= lo && s <= hi) || (this.dst && d >= lo && d <= hi)) return !this.invert;
    }
    return this.invert;
  }
}

function compile(d: MultiportData, _env: CompileEnv): Matcher {
  return new MultiportMatcher(
    Uint16Array.from(d.ports.map((p) => p.lo)),
    Uint16Array.from(d.ports.map((p) => p.hi)),
    d.flags !== XT_MULTIPORT_DESTINATION,
    d.flags !== XT_MULTIPORT_SOURCE,
    d.invert,
  );
}

export const multiportMatch: MatchExt<MultiportData> = {
  name: 'multiport',
  options: x6OptionDefs(TABLE),
  parse,
  print,
  compile,
};

registerMatch(multiportMatch);
