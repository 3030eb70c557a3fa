/**
 * compile(): a table → flat columns the evaluator walks by index (DESIGN.md §3).
 * Header fields become numeric columns, jump targets become chain indexes, matches and
 * targets become their extensions' compiled ops objects. Run once per configuration
 * change; the result is cached per Table object identity by the caller.
 */
import { NfemuError, type Family } from '../core/index.ts';
import { NUM_HOOKS, NF_ACCEPT, NF_DROP, NF_QUEUE, XT_RETURN, hookByName } from '../netfilter/index.ts';
import { getMatch, getTarget, type CompileEnv, type ExtState, type IpsetView, type Matcher, type Target } from './ext.ts';
import { TARGET_EXTENSION, TARGET_GOTO, TARGET_JUMP, TARGET_VERDICT, type Rule, type Table } from './model.ts';

export const F_SRC = 1 << 0;
export const F_INV_SRC = 1 << 1;
export const F_DST = 1 << 2;
export const F_INV_DST = 1 << 3;
export const F_IN = 1 << 4;
export const F_INV_IN = 1 << 5;
export const F_OUT = 1 << 6;
export const F_INV_OUT = 1 << 7;
export const F_PROTO = 1 << 8;
export const F_INV_PROTO = 1 << 9;
export const F_FRAG = 1 << 10;
export const F_INV_FRAG = 1 << 11;
export const F_IN_WILD = 1 << 12;
export const F_OUT_WILD = 1 << 13;

/** Target kinds in the compiled form. */
export const T_NONE = 0;
export const T_VERDICT = 1;
export const T_JUMP = 2;
export const T_GOTO = 3;
export const T_EXT = 4;

/** Extension state shared by everything compiled for one host (see CompileEnv.stateSlot). */
export class StateRegistry {
  readonly slots: ExtState[] = [];
  private readonly byKey = new Map<string, number>();
  slot(key: string, create: () => ExtState): number {
    let s = this.byKey.get(key);
    if (s === undefined) {
      s = this.slots.length;
      this.slots.push(create());
      this.byKey.set(key, s);
    }
    return s;
  }
  /** Deep copy (states cloned), same slot numbers. */
  clone(): StateRegistry {
    const r = new StateRegistry();
    for (const s of this.slots) r.slots.push(s.clone());
    for (const [k, v] of this.byKey) r.byKey.set(k, v);
    return r;
  }
}

export class CompiledTable {
  readonly n: number;
  readonly srcAddr: Uint32Array;
  readonly srcMask: Uint32Array;
  readonly dstAddr: Uint32Array;
  readonly dstMask: Uint32Array;
  readonly flags: Uint32Array;
  /** IPv4 fast path: word 0 of the address and mask columns as int32 (see eval.ts). */
  readonly src4: Int32Array;
  readonly srcMask4: Int32Array;
  readonly dst4: Int32Array;
  readonly dstMask4: Int32Array;
  readonly proto: Int32Array;
  readonly inName: string[];
  readonly outName: string[];
  readonly matchers: (Matcher[] | null)[];
  readonly targetKind: Uint8Array;
  /** Verdict code (T_VERDICT) or chain index (T_JUMP/T_GOTO). */
  readonly targetArg: Int32Array;
  readonly targets: (Target | null)[];
  readonly ruleChain: Int32Array;
  /** 1-based position of the rule in its chain. */
  readonly rulePos: Int32Array;
  readonly pkts: Float64Array;
  readonly bytes: Float64Array;
  readonly chainNames: string[];
  readonly chainStart: Int32Array;
  readonly chainEnd: Int32Array;
  readonly chainBuiltin: Uint8Array;
  /** NF_ACCEPT / NF_DROP for built-in chains. */
  readonly chainPolicy: Int32Array;
  /** Chain index of the built-in chain at each hook, -1 if the table has none there. */
  readonly hookChain: Int32Array;
  /** The source rules, by flat index (for traces and --why). */
  readonly rules: Rule[];
  /** Longest possible jump stack. */
  readonly maxDepth: number;

  constructor(readonly table: Table, readonly tableId: number, readonly family: Family, sets: IpsetView, states: StateRegistry) {
    const chains = table.chains;
    let n = 0;
    for (const c of chains) n += c.rules.length;
    this.n = n;
    this.srcAddr = new Uint32Array(4 * n);
    this.srcMask = new Uint32Array(4 * n);
    this.dstAddr = new Uint32Array(4 * n);
    this.dstMask = new Uint32Array(4 * n);
    this.flags = new Uint32Array(n);
    this.src4 = new Int32Array(n);
    this.srcMask4 = new Int32Array(n);
    this.dst4 = new Int32Array(n);
    this.dstMask4 = new Int32Array(n);
    this.proto = new Int32Array(n);
    this.inName = new Array<string>(n).fill('');
    this.outName = new Array<string>(n).fill('');
    this.matchers = new Array<Matcher[] | null>(n).fill(null);
    this.targetKind = new Uint8Array(n);
    this.targetArg = new Int32Array(n);
    this.targets = new Array<Target | null>(n).fill(null);
    this.ruleChain = new Int32Array(n);
    this.rulePos = new Int32Array(n);
    this.pkts = new Float64Array(n);
    this.bytes = new Float64Array(n);
    this.chainNames = chains.map((c) => c.name);
    this.chainStart = new Int32Array(chains.length);
    this.chainEnd = new Int32Array(chains.length);
    this.chainBuiltin = new Uint8Array(chains.length);
    this.chainPolicy = new Int32Array(chains.length);
    this.hookChain = new Int32Array(NUM_HOOKS).fill(-1);
    this.rules = [];
    const chainIndex = new Map<string, number>(chains.map((c, i) => [c.name, i]));

    let k = 0;
    chains.forEach((c, ci) => {
      this.chainStart[ci] = k;
      this.chainBuiltin[ci] = c.builtin ? 1 : 0;
      this.chainPolicy[ci] = c.policy === 'DROP' ? NF_DROP : NF_ACCEPT;
      if (c.builtin) this.hookChain[hookByName(c.name)] = ci;
      c.rules.forEach((r, ri) => {
        this.rules.push(r);
        this.ruleChain[k] = ci;
        this.rulePos[k] = ri + 1;
        let f = 0;
        if (r.src) {
          f |= F_SRC | (r.src.invert ? F_INV_SRC : 0);
          this.srcAddr.set(r.src.cidr.addr, 4 * k);
          this.srcMask.set(r.src.cidr.mask, 4 * k);
          this.src4[k] = r.src.cidr.addr[0]! | 0;
          this.srcMask4[k] = r.src.cidr.mask[0]! | 0;
        }
        if (r.dst) {
          f |= F_DST | (r.dst.invert ? F_INV_DST : 0);
          this.dstAddr.set(r.dst.cidr.addr, 4 * k);
          this.dstMask.set(r.dst.cidr.mask, 4 * k);
          this.dst4[k] = r.dst.cidr.addr[0]! | 0;
          this.dstMask4[k] = r.dst.cidr.mask[0]! | 0;
        }
        if (r.inIface) {
          f |= F_IN | (r.inIface.invert ? F_INV_IN : 0);
          const wild = r.inIface.name.endsWith('+');
          if (wild) f |= F_IN_WILD;
          this.inName[k] = wild ? r.inIface.name.slice(0, -1) : r.inIface.name;
        }
        if (r.outIface) {
          f |= F_OUT | (r.outIface.invert ? F_INV_OUT : 0);
          const wild = r.outIface.name.endsWith('+');
          if (wild) f |= F_OUT_WILD;
          this.outName[k] = wild ? r.outIface.name.slice(0, -1) : r.outIface.name;
        }
        if (r.proto && r.proto.proto !== 0) {
          f |= F_PROTO | (r.proto.invert ? F_INV_PROTO : 0);
          this.proto[k] = r.proto.proto;
        }
        if (r.fragment) f |= F_FRAG | (r.fragment.invert ? F_INV_FRAG : 0);
        this.flags[k] = f;
        const ruleKey = `${table.name}/${c.name}/${ri + 1}`;
        const env: CompileEnv = {
          family,
          table: tableId,
          sets,
          stateSlot: (key, create) => states.slot(key, create),
          ruleKey,
        };
        const where = { line: r.line };
        if (r.matches.length) {
          const ms: Matcher[] = [];
          for (const m of r.matches) {
            const ext = getMatch(m.name);
            if (!ext) throw new NfemuError('UNSUPPORTED', `match \`${m.name}' is not available in nfemu`, { ...where, token: m.name });
            ms.push(ext.compile(m.data, env));
          }
          this.matchers[k] = ms;
        }
        const t = r.target;
        if (!t) {
          this.targetKind[k] = T_NONE;
        } else if (t.kind === TARGET_VERDICT) {
          this.targetKind[k] = T_VERDICT;
          this.targetArg[k] = t.name === 'ACCEPT' ? NF_ACCEPT : t.name === 'DROP' ? NF_DROP : t.name === 'QUEUE' ? NF_QUEUE : XT_RETURN;
        } else if (t.kind === TARGET_JUMP || t.kind === TARGET_GOTO) {
          const ti = chainIndex.get(t.name);
          if (ti === undefined) throw new NfemuError('VALIDATE', `Chain '${t.name}' does not exist`, { ...where, token: t.name });
          this.targetKind[k] = t.kind === TARGET_JUMP ? T_JUMP : T_GOTO;
          this.targetArg[k] = ti;
        } else if (t.kind === TARGET_EXTENSION) {
          const ext = getTarget(t.name);
          if (!ext) throw new NfemuError('UNSUPPORTED', `target \`${t.name}' is not available in nfemu`, { ...where, token: t.name });
          this.targetKind[k] = T_EXT;
          this.targets[k] = ext.compile(t.data, env);
        }
        k++;
      });
      this.chainEnd[ci] = k;
    });
    this.maxDepth = chains.length + 1;
  }
}
