/**
 * --why: the first condition of a rule that the packet failed. Only runs when asked for,
 * so it may allocate and print.
 */
import { formatCidr, formatWords, protoName } from '../core/index.ts';
import type { Packet } from '../packet/index.ts';
import { getMatch, type CompiledTable, type XtContext } from '../xtables/index.ts';

const STATEFUL = new Set(['statistic', 'recent', 'limit', 'hashlimit', 'connlimit', 'nfacct', 'quota']);

export function explainMiss(ct: CompiledTable, k: number, pkt: Packet, ctx: XtContext): string {
  const r = ct.rules[k]!;
  const fam = ct.family;
  const not = (inv: boolean) => (inv ? '! ' : '');
  const inCidr = (c: { addr: Uint32Array; mask: Uint32Array }, w: Uint32Array) =>
    [0, 1, 2, 3].every((i) => ((w[i]! & c.mask[i]!) >>> 0) === c.addr[i]);
  if (r.src && inCidr(r.src.cidr, pkt.saddr) === r.src.invert) return `${not(r.src.invert)}-s ${formatCidr(r.src.cidr)}: source is ${formatWords(fam, pkt.saddr)}`;
  if (r.dst && inCidr(r.dst.cidr, pkt.daddr) === r.dst.invert) return `${not(r.dst.invert)}-d ${formatCidr(r.dst.cidr)}: destination is ${formatWords(fam, pkt.daddr)}`;
  const ifm = (name: string, have: string) => (name.endsWith('+') ? have.startsWith(name.slice(0, -1)) : have === name);
  if (r.inIface && ifm(r.inIface.name, pkt.inIface) === r.inIface.invert) return `${not(r.inIface.invert)}-i ${r.inIface.name}: in interface is ${pkt.inIface || '(none)'}`;
  if (r.outIface && ifm(r.outIface.name, pkt.outIface) === r.outIface.invert) return `${not(r.outIface.invert)}-o ${r.outIface.name}: out interface is ${pkt.outIface || '(none)'}`;
  if (r.proto && r.proto.proto !== 0 && (pkt.proto === r.proto.proto) === r.proto.invert) return `${not(r.proto.invert)}-p ${protoName(r.proto.proto, fam)}: protocol is ${protoName(pkt.proto, fam)}`;
  if (r.fragment && pkt.fragment === r.fragment.invert) return `${not(r.fragment.invert)}-f: packet is ${pkt.fragment ? '' : 'not '}a fragment`;
  const ms = ct.matchers[k];
  if (ms) {
    // Stateful matches are not re-run (that would change their state or consume a random
    // decision); if every stateless one passes, the first stateful one is to blame.
    let firstStateful = -1;
    for (let j = 0; j < ms.length; j++) {
      if (STATEFUL.has(r.matches[j]!.name)) {
        if (firstStateful < 0) firstStateful = j;
        continue;
      }
      if (!ms[j]!.match(pkt, ctx)) {
        const spec = r.matches[j]!;
        const ext = getMatch(spec.name);
        const opts = ext ? ext.print(spec.data, fam) : '';
        const detail = ext?.explain ? `: ${ext.explain(spec.data, pkt)}` : '';
        return `-m ${spec.name}${opts ? ' ' + opts : ''}${detail}`;
      }
    }
    if (firstStateful >= 0) {
      const spec = r.matches[firstStateful]!;
      const ext = getMatch(spec.name);
      const opts = ext ? ext.print(spec.data, fam) : '';
      return `-m ${spec.name}${opts ? ' ' + opts : ''}: did not match`;
    }
  }
  return 'matched on re-check (state changed while tracing)';
}
