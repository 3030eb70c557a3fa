/**
 * `-m policy` (IPsec policy; libxt_policy.c, xt_policy.c): --dir in|out, --pol none|ipsec,
 * --strict, and per element --reqid, --spi, --proto, --mode, --tunnel-src, --tunnel-dst,
 * --next.
 *
 * nfemu hosts have no IPsec: a packet never carries a security path (dir in) nor an xfrm
 * route (dir out), so the kernel's match_policy_*() returns "no policy": `--pol none`
 * matches every packet and `--pol ipsec` none, whatever the elements say.
 */
import type { Family } from '../../../core/index.ts';
import { maskPrefix, parseIpOf, prefixMask, protoNumber } from '../../../core/index.ts';
import type { CheckEnv, CompileEnv, Matcher, MatchExt, OptionUse, ParseEnv } from '../../ext.ts';
import { registerMatch } from '../../ext.ts';
import { ALWAYS, NEVER, ntop, X6Parser, x6OptionDefs, xtNumericToIpv4, xtStrtoul, type X6Entry } from './common.ts';

export const XT_POLICY_MATCH_IN = 1;
export const XT_POLICY_MATCH_OUT = 2;
export const XT_POLICY_MATCH_NONE = 4;
export const XT_POLICY_MATCH_STRICT = 8;
export const XT_POLICY_MODE_TRANSPORT = 0;
export const XT_POLICY_MODE_TUNNEL = 1;
const XT_POLICY_MAX_ELEM = 4;

export interface PolicyAddr {
  readonly addr: Uint32Array;
  readonly mask: Uint32Array;
  readonly invert: boolean;
}

export interface PolicyElem {
  readonly reqid: { readonly value: number; readonly invert: boolean } | null;
  readonly spi: { readonly value: number; readonly invert: boolean } | null;
  readonly proto: { readonly value: number; readonly invert: boolean } | null;
  readonly mode: { readonly value: number; readonly invert: boolean } | null;
  readonly saddr: PolicyAddr | null;
  readonly daddr: PolicyAddr | null;
}

export interface PolicyData {
  /** XT_POLICY_MATCH_* bits. */
  readonly flags: number;
  /** The elements the kernel gets (none for --pol none). */
  readonly elems: readonly PolicyElem[];
}

const O_DIR = 0, O_POL = 1, O_STRICT = 2, O_REQID = 3, O_SPI = 4, O_PROTO = 5, O_MODE = 6, O_TSRC = 7, O_TDST = 8, O_NEXT = 9;
const TABLE: readonly X6Entry[] = [
  { id: O_DIR, name: 'dir', args: 1, invert: true },
  { id: O_POL, name: 'pol', args: 1 },
  { id: O_STRICT, name: 'strict', args: 0 },
  { id: O_REQID, name: 'reqid', args: 1, multi: true, invert: true },
  { id: O_SPI, name: 'spi', args: 1, multi: true, invert: true },
  { id: O_TSRC, name: 'tunnel-src', args: 1, multi: true, invert: true },
  { id: O_TDST, name: 'tunnel-dst', args: 1, multi: true, invert: true },
  { id: O_PROTO, name: 'proto', args: 1, multi: true, invert: true },
  { id: O_MODE, name: 'mode', args: 1, multi: true, invert: true },
  { id: O_NEXT, name: 'next', args: 0, multi: true, also: 1 << O_STRICT },
];

type MutableElem = { -readonly [K in keyof PolicyElem]: PolicyElem[K] };

const emptyElem = (): MutableElem => ({ reqid: null, spi: null, proto: null, mode: null, saddr: null, daddr: null });

function parseHostMask(x6: X6Parser, e: X6Entry, text: string, invert: boolean, token: string): PolicyAddr {
  const family = x6.env.family;
  const slash = text.indexOf('/');
  const host = slash < 0 ? text : text.slice(0, slash);
  const ip = parseIpOf(family, host);
  if (ip === null) x6.env.fail(`host/network \`${host}' not found`, token);
  const max = family === 4 ? 32 : 128;
  if (slash < 0) return { addr: Uint32Array.from(ip.w), mask: prefixMask(family, max), invert };
  const m = text.slice(slash + 1);
  const p = xtStrtoul(m, 0, max);
  if (p !== null) return { addr: Uint32Array.from(ip.w), mask: prefixMask(family, p.value), invert };
  // A mask written as an address (255.255.0.0).
  const mask = new Uint32Array(4);
  if (family === 4) {
    const v = m.split('.').length === 4 ? xtNumericToIpv4(m) : null;
    if (v === null) x6.badInt(e, 0, max, token);
    mask[0] = v;
  } else {
    const v = parseIpOf(6, m);
    if (v === null) x6.badInt(e, 0, max, token);
    mask.set(v.w);
  }
  return { addr: Uint32Array.from(ip.w), mask, invert };
}

function parse(opts: readonly OptionUse[], env: ParseEnv): PolicyData {
  const x6 = new X6Parser('policy', TABLE, env);
  let flags = 0;
  const elems: MutableElem[] = [emptyElem()];
  for (const o of opts) {
    const e = x6.use(o);
    const cur = elems[elems.length - 1]!;
    const a = o.args[0] ?? '';
    const dbl = (what: string): never => env.fail(`policy match: double --${what} option`, o.token);
    switch (e.id) {
      case O_DIR:
        if (a === 'in') flags |= XT_POLICY_MATCH_IN;
        else if (a === 'out') flags |= XT_POLICY_MATCH_OUT;
        else env.fail(`policy_match: invalid dir "${a}"`, o.token);
        break;
      case O_POL:
        if (a === 'none') flags |= XT_POLICY_MATCH_NONE;
        else if (a !== 'ipsec') env.fail(`policy match: invalid policy "${a}"`, o.token);
        break;
      case O_STRICT:
        flags |= XT_POLICY_MATCH_STRICT;
        break;
      case O_REQID:
        if (cur.reqid) dbl('reqid');
        cur.reqid = { value: x6.uint(e, a, 0, 0xffffffff, o.token), invert: o.invert };
        break;
      case O_SPI:
        if (cur.spi) dbl('spi');
        cur.spi = { value: x6.uint(e, a, 0, 0xffffffff, o.token), invert: o.invert };
        break;
      case O_TSRC:
        if (cur.saddr) dbl('tunnel-src');
        cur.saddr = parseHostMask(x6, e, a, o.invert, o.token);
        break;
      case O_TDST:
        if (cur.daddr) dbl('tunnel-dst');
        cur.daddr = parseHostMask(x6, e, a, o.invert, o.token);
        break;
      case O_PROTO: {
        if (cur.proto) dbl('proto');
        const p = protoNumber(a);
        if (p === null) env.fail(`unknown protocol "${a}" specified`, o.token);
        if (p !== 50 && p !== 51 && p !== 108) env.fail('policy match: protocol must be ah/esp/ipcomp', o.token);
        cur.proto = { value: p, invert: o.invert };
        break;
      }
      case O_MODE:
        if (cur.mode) dbl('mode');
        if (a === 'transport') cur.mode = { value: XT_POLICY_MODE_TRANSPORT, invert: o.invert };
        else if (a === 'tunnel') cur.mode = { value: XT_POLICY_MODE_TUNNEL, invert: o.invert };
        else env.fail(`policy match: invalid mode "${a}"`, o.token);
        break;
      default:
        elems.push(emptyElem());
        if (elems.length - 1 === XT_POLICY_MAX_ELEM) env.fail('policy match: maximum policy depth reached', o.token);
    }
  }
  if (!(flags & (XT_POLICY_MATCH_IN | XT_POLICY_MATCH_OUT))) env.fail('policy match: neither --dir in nor --dir out specified');
  let len = elems.length - 1;
  if (flags & XT_POLICY_MATCH_NONE) {
    if (flags & XT_POLICY_MATCH_STRICT) env.fail('policy match: policy none but --strict given');
    if (len !== 0) env.fail('policy match: policy none but policy given');
  } else {
    len++;
  }
  for (let i = 0; i < len; i++) {
    const el = elems[i]!;
    if (flags & XT_POLICY_MATCH_STRICT && !(el.reqid || el.spi || el.saddr || el.daddr || el.proto || el.mode)) {
      env.fail(
        `policy match: empty policy element ${i}. --strict is in effect, but at least one of reqid, spi, tunnel-src, tunnel-dst, proto or mode is required.`,
      );
    }
    const mode = el.mode?.value ?? XT_POLICY_MODE_TRANSPORT;
    const invMode = el.mode?.invert ?? false;
    if ((el.saddr || el.daddr) && ((mode === XT_POLICY_MODE_TUNNEL && invMode) || (mode === XT_POLICY_MODE_TRANSPORT && !invMode))) {
      env.fail('policy match: --tunnel-src/--tunnel-dst is only valid in tunnel mode');
    }
  }
  x6.finish();
  return { flags, elems: elems.slice(0, len) };
}

const PROTO_NAMES: Readonly<Record<number, string>> = { 50: 'esp', 51: 'ah', 108: 'ipcomp' };

function printAddr(family: Family, a: PolicyAddr): string {
  const p = maskPrefix(family, a.mask);
  const max = family === 4 ? 32 : 128;
  const suffix = p === max ? '' : p >= 0 ? `/${p}` : `/${ntop(family, a.mask)}`;
  return ntop(family, a.addr) + suffix;
}

function print(d: PolicyData, family: Family): string {
  const out: string[] = [];
  out.push(d.flags & XT_POLICY_MATCH_IN ? '--dir in' : '--dir out');
  out.push(d.flags & XT_POLICY_MATCH_NONE ? '--pol none' : '--pol ipsec');
  if (d.flags & XT_POLICY_MATCH_STRICT) out.push('--strict');
  const inv = (x: { invert: boolean }): string => (x.invert ? '! ' : '');
  d.elems.forEach((el, i) => {
    if (el.reqid) out.push(`${inv(el.reqid)}--reqid ${el.reqid.value}`);
    if (el.spi) out.push(`${inv(el.spi)}--spi 0x${el.spi.value.toString(16)}`);
    if (el.proto) out.push(`${inv(el.proto)}--proto ${PROTO_NAMES[el.proto.value] ?? el.proto.value}`);
    if (el.mode) out.push(`${inv(el.mode)}--mode ${el.mode.value === XT_POLICY_MODE_TUNNEL ? 'tunnel' : 'transport'}`);
    if (el.daddr) out.push(`${inv(el.daddr)}--tunnel-dst ${printAddr(family, el.daddr)}`);
    if (el.saddr) out.push(`${inv(el.saddr)}--tunnel-src ${printAddr(family, el.saddr)}`);
    if (i + 1 < d.elems.length) out.push('--next');
  });
  return out.join(' ');
}

const IN_HOOKS = (1 << 0) | (1 << 1); // PREROUTING, INPUT
const OUT_HOOKS = (1 << 4) | (1 << 3); // POSTROUTING, OUTPUT

function check(d: PolicyData, env: CheckEnv): string | null {
  if (env.hooks & IN_HOOKS && d.flags & XT_POLICY_MATCH_OUT) return 'xt_policy: output policy not valid in PREROUTING and INPUT';
  if (env.hooks & OUT_HOOKS && d.flags & XT_POLICY_MATCH_IN) return 'xt_policy: input policy not valid in POSTROUTING and OUTPUT';
  return null;
}

export const policyMatch: MatchExt<PolicyData> = {
  name: 'policy',
  options: x6OptionDefs(TABLE),
  parse,
  print,
  check,
  // No IPsec on nfemu hosts: "no policy" for every packet.
  compile: (d: PolicyData, _env: CompileEnv): Matcher => (d.flags & XT_POLICY_MATCH_NONE ? ALWAYS : NEVER),
};

registerMatch(policyMatch);
