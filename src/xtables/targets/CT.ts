/**
 * CT (xt_CT.c, revision 2; libxt_CT.c): sets up the conntrack template of a packet in the
 * raw table. `--notrack` (untracked, as NOTRACK), `--zone`, `--zone-orig`, `--zone-reply`
 * (`ID` or `mark`), `--helper`, `--timeout`, `--ctevents`, `--expevents`.
 *
 * nfemu model: the template is pkt.ctZone. A zone from `mark` is the packet mark's low 16
 * bits when the rule runs (the kernel reads it at conntrack time, after the rest of raw);
 * a zone for one direction only is applied as a plain zone (nfemu's entries have one
 * zone). Helpers, event masks and timeout policies are checked as the kernel does at load
 * but have no effect (nfemu's conntrack has no helpers, events or timeout policies). A
 * packet that already has conntrack state is left alone, as the kernel does.
 */
import { IPPROTO_TCP, IPPROTO_UDP, type Family } from '../../core/index.ts';
import { IP_CT_UNTRACKED, XT_CONTINUE } from '../../netfilter/index.ts';
import { registerTarget, type TargetExt } from '../ext.ts';
import { checkTarget, ruleProto, strtoul, xtParse, type XtOption } from './util.ts';

/** XT_CT_* flags. */
export const XT_CT_NOTRACK = 1 << 0;
export const XT_CT_NOTRACK_ALIAS = 1 << 1;
export const XT_CT_ZONE_DIR_ORIG = 1 << 2;
export const XT_CT_ZONE_DIR_REPL = 1 << 3;
export const XT_CT_ZONE_MARK = 1 << 4;

export interface CtData {
  /** XT_CT_* bits. */
  readonly flags: number;
  readonly zone: number;
  /** '' when none. */
  readonly helper: string;
  readonly timeout: string;
  /** Bit masks of IPCT_* / IPEXP_* events, in the kernel's bit order. */
  readonly ctEvents: number;
  readonly expEvents: number;
}

/** ct_event_tbl: names in bit order (IPCT_NEW … IPCT_SECMARK). */
const CT_EVENTS = ['new', 'related', 'destroy', 'reply', 'assured', 'protoinfo', 'helper', 'mark', 'natseqinfo', 'secmark'];
const EXP_EVENTS = ['new'];

/** The helpers Linux 6.x registers: name, L4 protocols, IPv6 too? */
const HELPERS: ReadonlyMap<string, { readonly protos: readonly number[]; readonly v6: boolean }> = new Map([
  ['ftp', { protos: [IPPROTO_TCP], v6: true }],
  ['irc', { protos: [IPPROTO_TCP], v6: false }],
  ['tftp', { protos: [IPPROTO_UDP], v6: true }],
  ['sip', { protos: [IPPROTO_UDP, IPPROTO_TCP], v6: true }],
  ['sane', { protos: [IPPROTO_TCP], v6: true }],
  ['amanda', { protos: [IPPROTO_UDP], v6: true }],
  ['pptp', { protos: [IPPROTO_TCP], v6: false }],
  ['netbios-ns', { protos: [IPPROTO_UDP], v6: false }],
  ['snmp', { protos: [IPPROTO_UDP], v6: false }],
  ['snmp_trap', { protos: [IPPROTO_UDP], v6: false }],
  ['RAS', { protos: [IPPROTO_UDP], v6: true }],
  ['Q.931', { protos: [IPPROTO_TCP], v6: true }],
  ['H.245', { protos: [IPPROTO_TCP], v6: true }],
]);

/** Whether the kernel has a helper by that name for the family and protocol. */
export function helperExists(name: string, family: Family, proto: number): boolean {
  const h = HELPERS.get(name);
  return h !== undefined && (family === 4 || h.v6) && h.protos.includes(proto);
}

const OPTIONS: readonly XtOption[] = [
  { name: 'notrack', args: 0 },
  { name: 'helper', args: 1 },
  { name: 'timeout', args: 1 },
  { name: 'ctevents', args: 1 },
  { name: 'expevents', args: 1 },
  { name: 'zone-orig', args: 1 },
  { name: 'zone-reply', args: 1 },
  { name: 'zone', args: 1 },
];

function parseEvents(arg: string, names: readonly string[], fail: (m: string) => never): number {
  let mask = 0;
  for (const w of arg.split(',')) {
    const i = names.indexOf(w);
    if (i < 0) fail(`Unknown event type "${w}"`);
    mask |= 1 << i;
  }
  return mask;
}

function printEvents(mask: number, names: readonly string[]): string {
  return names.filter((_, i) => mask & (1 << i)).join(',');
}

export const ctTarget: TargetExt<CtData> = {
  name: 'CT',
  options: OPTIONS,
  parse(opts, env) {
    let flags = 0;
    let zone = 0;
    let helper = '';
    let timeout = '';
    let ctEvents = 0;
    let expEvents = 0;
    xtParse('CT', OPTIONS, opts, env, (use) => {
      const arg = use.args[0] ?? '';
      const fail = (m: string): never => env.fail(m, use.token);
      switch (use.name) {
        case 'notrack': flags |= XT_CT_NOTRACK; break;
        // The name buffers are 16 and 32 bytes: longer names are cut.
        case 'helper': helper = arg.slice(0, 15); break;
        case 'timeout': timeout = arg.slice(0, 31); break;
        case 'ctevents': ctEvents = parseEvents(arg, CT_EVENTS, fail); break;
        case 'expevents': expEvents = parseEvents(arg, EXP_EVENTS, fail); break;
        default: {
          if (use.name === 'zone-orig') flags |= XT_CT_ZONE_DIR_ORIG;
          else if (use.name === 'zone-reply') flags |= XT_CT_ZONE_DIR_REPL;
          if (arg === 'mark') {
            flags |= XT_CT_ZONE_MARK;
          } else {
            const r = strtoul(arg);
            if (r === null || r.end !== arg.length || r.value > 65535) fail(`Cannot parse ${arg} as a zone ID`);
            zone = r!.value;
          }
        }
      }
    });
    return { flags, zone, helper, timeout, ctEvents, expEvents };
  },
  print(d) {
    const parts: string[] = [];
    if (d.flags & XT_CT_NOTRACK) parts.push('--notrack');
    if (d.helper !== '') parts.push(`--helper ${d.helper}`);
    if (d.timeout !== '') parts.push(`--timeout ${d.timeout}`);
    if (d.ctEvents) parts.push(`--ctevents ${printEvents(d.ctEvents, CT_EVENTS)}`);
    if (d.expEvents) parts.push(`--expevents ${printEvents(d.expEvents, EXP_EVENTS)}`);
    if (d.zone !== 0 || (d.flags & XT_CT_ZONE_MARK)) {
      const dir = d.flags & (XT_CT_ZONE_DIR_ORIG | XT_CT_ZONE_DIR_REPL);
      const opt = dir === XT_CT_ZONE_DIR_ORIG ? 'zone-orig' : dir === XT_CT_ZONE_DIR_REPL ? 'zone-reply' : 'zone';
      parts.push(`--${opt} ${d.flags & XT_CT_ZONE_MARK ? 'mark' : d.zone}`);
    }
    return parts.join(' ');
  },
  check(d, env) {
    const m = checkTarget('CT', env, 'raw', 0);
    if (m !== null || (d.flags & XT_CT_NOTRACK)) return m;
    if (d.helper !== '') {
      const proto = ruleProto(env);
      if (proto === 0) return 'xt_CT: You must specify a L4 protocol and not use inversions on it';
      if (!helperExists(d.helper, env.family, proto)) return `xt_CT: No such helper "${d.helper}"`;
    }
    // nfemu has no cttimeout policies (nfct add timeout): every name is unknown.
    if (d.timeout !== '') return `xt_CT: No such timeout policy "${d.timeout}"`;
    return null;
  },
  compile(d) {
    const notrack = (d.flags & XT_CT_NOTRACK) !== 0;
    const fromMark = (d.flags & XT_CT_ZONE_MARK) !== 0;
    const zone = d.zone;
    return {
      /** xt_ct_target(). Hot path. */
      run(pkt) {
        if (pkt.ct !== null || pkt.ctinfo === IP_CT_UNTRACKED) return XT_CONTINUE;
        if (notrack) pkt.ctinfo = IP_CT_UNTRACKED;
        else pkt.ctZone = fromMark ? pkt.mark & 0xffff : zone;
        return XT_CONTINUE;
      },
    };
  },
};

registerTarget(ctTarget);
