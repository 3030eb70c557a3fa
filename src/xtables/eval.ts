/**
 * The evaluator: ipt_do_table as a loop over the compiled columns with an explicit jump
 * stack (no recursion). Header compare first, extension matches only after it passes,
 * standard verdicts inline, extension targets through their ops objects.
 * Hot path: allocation-free when tracing is off (tracer === null).
 */
import { NF_ACCEPT, NF_DROP, NF_QUEUE, XT_CONTINUE, XT_RETURN } from '../netfilter/index.ts';
import type { Packet } from '../packet/index.ts';
import type { XtContext } from './ext.ts';
import {
  CompiledTable, F_DST, F_FRAG, F_IN, F_IN_WILD, F_INV_DST, F_INV_FRAG, F_INV_IN, F_INV_OUT, F_INV_PROTO, F_INV_SRC,
  F_OUT, F_OUT_WILD, F_PROTO, F_SRC, T_EXT, T_GOTO, T_JUMP, T_NONE, T_VERDICT,
} from './compile.ts';

/** Receives trace events while a table is evaluated (only when tracing). */
export interface RuleTracer {
  /** Rule k matched and its target gave `verdict` (ACCEPT, DROP, CONTINUE, JUMP:X, GOTO:X, RETURN, QUEUE). */
  rule(ct: CompiledTable, k: number, verdict: string, pkt: Packet): void;
  /** A chain ran out: a user chain returns (`RETURN`), a built-in chain applies its policy. */
  chainEnd(ct: CompiledTable, chain: number, verdict: string, pkt: Packet): void;
  /** Rule k did not match (called only when `why` is true). */
  miss?(ct: CompiledTable, k: number, pkt: Packet, ctx: XtContext): void;
  readonly why: boolean;
}

/** Where the last evaluate() decided: the deciding rule's flat index, or -1 for a policy. */
export interface Decision {
  rule: number;
  chain: number;
}

/** Header match (ip_packet_match). Hot path. */
export function headerMatches(ct: CompiledTable, k: number, pkt: Packet): boolean {
  const f = ct.flags[k]!;
  if (f === 0) return true;
  if (f & F_SRC) {
    const b = 4 * k;
    const s = pkt.saddr;
    const m = ct.srcMask;
    const a = ct.srcAddr;
    const hit = ((s[0]! & m[b]!) >>> 0) === a[b] && ((s[1]! & m[b + 1]!) >>> 0) === a[b + 1] &&
      ((s[2]! & m[b + 2]!) >>> 0) === a[b + 2] && ((s[3]! & m[b + 3]!) >>> 0) === a[b + 3];
    if (hit === ((f & F_INV_SRC) !== 0)) return false;
  }
  if (f & F_DST) {
    const b = 4 * k;
    const s = pkt.daddr;
    const m = ct.dstMask;
    const a = ct.dstAddr;
    const hit = ((s[0]! & m[b]!) >>> 0) === a[b] && ((s[1]! & m[b + 1]!) >>> 0) === a[b + 1] &&
      ((s[2]! & m[b + 2]!) >>> 0) === a[b + 2] && ((s[3]! & m[b + 3]!) >>> 0) === a[b + 3];
    if (hit === ((f & F_INV_DST) !== 0)) return false;
  }
  if (f & F_IN) {
    const name = ct.inName[k]!;
    const hit = f & F_IN_WILD ? pkt.inIface.startsWith(name) : pkt.inIface === name;
    if (hit === ((f & F_INV_IN) !== 0)) return false;
  }
  if (f & F_OUT) {
    const name = ct.outName[k]!;
    const hit = f & F_OUT_WILD ? pkt.outIface.startsWith(name) : pkt.outIface === name;
    if (hit === ((f & F_INV_OUT) !== 0)) return false;
  }
  if (f & F_PROTO) {
    if ((pkt.proto === ct.proto[k]) === ((f & F_INV_PROTO) !== 0)) return false;
  }
  if (f & F_FRAG) {
    if (pkt.fragment === ((f & F_INV_FRAG) !== 0)) return false;
  }
  return true;
}

/** Header flags the IPv4 fast path handles inline. */
const FAST4 = F_SRC | F_INV_SRC | F_DST | F_INV_DST | F_PROTO | F_INV_PROTO;

/**
 * The IPv4 header scan: the first rule in [k, end) that is not ruled out by its source,
 * destination and protocol columns alone (or has other header fields and needs the full
 * check). Kept small and separate so the engine optimises it as a tight loop — the linear
 * walk over kube-proxy's KUBE-SERVICES is this loop. Hot path.
 */
function scan4(
  flags: Uint32Array, dst4: Int32Array, dstMask4: Int32Array, src4: Int32Array, srcMask4: Int32Array,
  protos: Int32Array, k: number, end: number, s0: number, d0: number, proto: number,
): number {
  for (; k < end; k++) {
    const f = flags[k]!;
    if ((f & ~FAST4) !== 0) return k;
    if ((f & F_DST) !== 0 && (((d0 & dstMask4[k]!) === dst4[k]) === ((f & F_INV_DST) !== 0))) continue;
    if ((f & F_SRC) !== 0 && (((s0 & srcMask4[k]!) === src4[k]) === ((f & F_INV_SRC) !== 0))) continue;
    if ((f & F_PROTO) !== 0 && ((proto === protos[k]) === ((f & F_INV_PROTO) !== 0))) continue;
    return k;
  }
  return end;
}

const stackChain = new Int32Array(1024);
const stackRet = new Int32Array(1024);

/**
 * Runs the table's built-in chain for ctx.hook over the packet. Returns NF_ACCEPT,
 * NF_DROP or NF_QUEUE. `decision` (if given) receives the deciding rule. The table must
 * have a chain at the hook.
 */
export function evaluate(ct: CompiledTable, pkt: Packet, ctx: XtContext, tracer: RuleTracer | null, decision: Decision | null): number {
  const base = ct.hookChain[ctx.hook]!;
  let chain = base;
  let k = ct.chainStart[chain]!;
  let end = ct.chainEnd[chain]!;
  let sp = 0;
  const len = pkt.length;
  const v4 = ct.family === 4;
  const flags = ct.flags;
  const src4 = ct.src4;
  const srcMask4 = ct.srcMask4;
  const dst4 = ct.dst4;
  const dstMask4 = ct.dstMask4;
  const protos = ct.proto;
  // Packet header words, hoisted; reloaded after an extension target (which may rewrite them).
  let s0 = pkt.saddr[0]! | 0;
  let d0 = pkt.daddr[0]! | 0;
  let proto = pkt.proto;
  // Without --why no miss needs reporting, so runs of non-matching rules are skipped by scan4.
  const skip = v4 && (tracer === null || !tracer.why);
  // An explicit RETURN ends the chain the way running out of it does, without the
  // implicit-RETURN trace entry.
  let returning = false;
  for (;;) {
    if (k >= end) {
      // Chain ran out.
      if (ct.chainBuiltin[chain]) {
        const v = ct.chainPolicy[chain]!;
        if (tracer !== null) tracer.chainEnd(ct, chain, v === NF_DROP ? 'policy:DROP' : 'policy:ACCEPT', pkt);
        if (decision !== null) {
          decision.rule = -1;
          decision.chain = chain;
        }
        return v;
      }
      if (tracer !== null && !returning) tracer.chainEnd(ct, chain, 'RETURN', pkt);
      returning = false;
      if (sp === 0) {
        // A goto from the built-in chain ran out: the built-in chain's policy applies.
        chain = base;
        k = ct.chainEnd[base]!;
        end = k;
        continue;
      }
      sp--;
      chain = stackChain[sp]!;
      k = stackRet[sp]!;
      end = ct.chainEnd[chain]!;
      continue;
    }
    let hit = true;
    if (skip) {
      k = scan4(flags, dst4, dstMask4, src4, srcMask4, protos, k, end, s0, d0, proto);
      if (k >= end) continue;
    }
    // Header compare: IPv4 source/destination/protocol inline on int32 columns (the
    // common case: kube-proxy's dispatch rules), everything else through headerMatches.
    const f = flags[k]!;
    if (skip && (f & ~FAST4) === 0) {
      // scan4 has checked this rule's header already.
    } else if (f !== 0) {
      if (v4 && (f & ~FAST4) === 0) {
        if ((f & F_DST) !== 0 && (((d0 & dstMask4[k]!) === dst4[k]) === ((f & F_INV_DST) !== 0))) hit = false;
        else if ((f & F_SRC) !== 0 && (((s0 & srcMask4[k]!) === src4[k]) === ((f & F_INV_SRC) !== 0))) hit = false;
        else if ((f & F_PROTO) !== 0 && ((proto === protos[k]) === ((f & F_INV_PROTO) !== 0))) hit = false;
      } else {
        hit = headerMatches(ct, k, pkt);
      }
    }
    if (hit) {
      const ms = ct.matchers[k];
      if (ms !== null) {
        for (let j = 0; j < ms.length; j++) {
          if (!ms[j]!.match(pkt, ctx)) {
            hit = false;
            break;
          }
        }
      }
    }
    if (!hit) {
      if (tracer !== null && tracer.why && tracer.miss) tracer.miss(ct, k, pkt, ctx);
      k++;
      continue;
    }
    ct.pkts[k]!++;
    ct.bytes[k]! += len;
    switch (ct.targetKind[k]) {
      case T_NONE:
        if (tracer !== null) tracer.rule(ct, k, 'CONTINUE', pkt);
        k++;
        continue;
      case T_VERDICT: {
        const v = ct.targetArg[k]!;
        if (v === XT_RETURN) {
          // In a built-in chain the policy decides; in a user chain, back to the caller.
          if (tracer !== null) tracer.rule(ct, k, 'RETURN', pkt);
          returning = true;
          k = end;
          continue;
        }
        if (tracer !== null) tracer.rule(ct, k, v === NF_ACCEPT ? 'ACCEPT' : v === NF_DROP ? 'DROP' : 'QUEUE', pkt);
        if (decision !== null) {
          decision.rule = k;
          decision.chain = chain;
        }
        return v;
      }
      case T_JUMP: {
        const to = ct.targetArg[k]!;
        if (tracer !== null) tracer.rule(ct, k, 'JUMP:' + ct.chainNames[to], pkt);
        stackChain[sp] = chain;
        stackRet[sp] = k + 1;
        sp++;
        chain = to;
        k = ct.chainStart[to]!;
        end = ct.chainEnd[to]!;
        continue;
      }
      case T_GOTO: {
        const to = ct.targetArg[k]!;
        if (tracer !== null) tracer.rule(ct, k, 'GOTO:' + ct.chainNames[to], pkt);
        chain = to;
        k = ct.chainStart[to]!;
        end = ct.chainEnd[to]!;
        continue;
      }
      case T_EXT: {
        const v = ct.targets[k]!.run(pkt, ctx);
        s0 = pkt.saddr[0]! | 0;
        d0 = pkt.daddr[0]! | 0;
        proto = pkt.proto;
        if (v === XT_CONTINUE) {
          if (tracer !== null) tracer.rule(ct, k, 'CONTINUE', pkt);
          k++;
          continue;
        }
        if (v === XT_RETURN) {
          if (tracer !== null) tracer.rule(ct, k, 'RETURN', pkt);
          returning = true;
          k = end;
          continue;
        }
        if (tracer !== null) tracer.rule(ct, k, v === NF_ACCEPT ? 'ACCEPT' : v === NF_DROP ? 'DROP' : v === NF_QUEUE ? 'QUEUE' : 'STOLEN', pkt);
        if (decision !== null) {
          decision.rule = k;
          decision.chain = chain;
        }
        return v;
      }
    }
  }
}
