/**
 * The compiled evaluator (explicit jump stack over columns) agrees with a deliberately
 * naive recursive walker over the rule model, on generated rulesets and packets:
 * same verdict, same matched rules in the same order.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { parseCidr, parseIp, cidrContains, SeededRng, type Cidr } from '../../src/core/index.ts';
import { Packet } from '../../src/packet/index.ts';
import { NF_ACCEPT, NF_DROP, NF_INET_FORWARD, NF_INET_LOCAL_IN, NF_INET_LOCAL_OUT, TABLE_FILTER } from '../../src/netfilter/index.ts';
import {
  CompiledTable, StateRegistry, evaluate, TARGET_GOTO, TARGET_JUMP, TARGET_VERDICT, ZERO_COUNTERS,
  type Rule, type Table, type XtContext, type RuleTracer,
} from '../../src/xtables/index.ts';

const ADDRS = ['10.0.0.1', '10.0.0.2', '10.0.1.7', '192.168.1.9'];
const CIDRS = ['10.0.0.0/8', '10.0.0.0/24', '10.0.0.2/32', '192.168.0.0/16', '0.0.0.0/0'];
const IFACES = ['eth0', 'eth1', 'cni0'];
const IFACE_SPECS = ['eth0', 'eth+', 'cni0', 'veth+'];
const USER = ['U0', 'U1', 'U2', 'U3'];

type TargetGen = { kind: 'none' } | { kind: 'verdict'; name: 'ACCEPT' | 'DROP' | 'RETURN' } | { kind: 'jump' | 'goto'; to: number };

const ruleArb = (chainIdx: number) =>
  fc.record({
    src: fc.option(fc.record({ c: fc.constantFrom(...CIDRS), inv: fc.boolean() }), { nil: undefined }),
    dst: fc.option(fc.record({ c: fc.constantFrom(...CIDRS), inv: fc.boolean() }), { nil: undefined }),
    iif: fc.option(fc.record({ n: fc.constantFrom(...IFACE_SPECS), inv: fc.boolean() }), { nil: undefined }),
    proto: fc.option(fc.record({ p: fc.constantFrom(6, 17), inv: fc.boolean() }), { nil: undefined }),
    target: fc.oneof(
      fc.constant<TargetGen>({ kind: 'none' }),
      fc.constantFrom<TargetGen>({ kind: 'verdict', name: 'ACCEPT' }, { kind: 'verdict', name: 'DROP' }, { kind: 'verdict', name: 'RETURN' }),
      // user chain i may only call chains after it (no loops)
      ...(chainIdx < USER.length - 1 ? [fc.record({ kind: fc.constantFrom<'jump' | 'goto'>('jump', 'goto'), to: fc.integer({ min: chainIdx + 1, max: USER.length - 1 }) }) as fc.Arbitrary<TargetGen>] : []),
    ),
  });

type RuleGen = { src?: { c: string; inv: boolean }; dst?: { c: string; inv: boolean }; iif?: { n: string; inv: boolean }; proto?: { p: number; inv: boolean }; target: TargetGen };

function toRule(g: RuleGen): Rule {
  const t = g.target;
  return {
    src: g.src ? { cidr: parseCidr(4, g.src.c)!, invert: g.src.inv } : null,
    dst: g.dst ? { cidr: parseCidr(4, g.dst.c)!, invert: g.dst.inv } : null,
    inIface: g.iif ? { name: g.iif.n, invert: g.iif.inv } : null,
    outIface: null,
    proto: g.proto ? { proto: g.proto.p, invert: g.proto.inv } : null,
    fragment: null,
    matches: [],
    target: t.kind === 'none' ? null : t.kind === 'verdict' ? { kind: TARGET_VERDICT, name: t.name, data: null } : { kind: t.kind === 'jump' ? TARGET_JUMP : TARGET_GOTO, name: USER[t.to]!, data: null },
    counters: ZERO_COUNTERS,
  };
}

const tableArb = fc
  .record({
    input: fc.array(ruleArb(-1), { maxLength: 6 }),
    u0: fc.array(ruleArb(0), { maxLength: 5 }),
    u1: fc.array(ruleArb(1), { maxLength: 5 }),
    u2: fc.array(ruleArb(2), { maxLength: 5 }),
    u3: fc.array(ruleArb(3), { maxLength: 5 }),
    policy: fc.constantFrom<'ACCEPT' | 'DROP'>('ACCEPT', 'DROP'),
  })
  .map(({ input, u0, u1, u2, u3, policy }): Table => ({
    name: 'filter',
    chains: [
      { name: 'INPUT', builtin: true, policy, counters: ZERO_COUNTERS, rules: (input as RuleGen[]).map(toRule) },
      { name: 'FORWARD', builtin: true, policy: 'ACCEPT', counters: ZERO_COUNTERS, rules: [] },
      { name: 'OUTPUT', builtin: true, policy: 'ACCEPT', counters: ZERO_COUNTERS, rules: [] },
      ...[u0, u1, u2, u3].map((rs, i) => ({ name: USER[i]!, builtin: false, policy: null, counters: ZERO_COUNTERS, rules: (rs as RuleGen[]).map(toRule) })),
    ],
  }));

const packetArb = fc.record({ s: fc.constantFrom(...ADDRS), d: fc.constantFrom(...ADDRS), i: fc.constantFrom(...IFACES), p: fc.constantFrom(6, 17) });

/** The reference: the textbook recursive reading of iptables chain semantics. */
function naive(t: Table, pkt: { s: string; d: string; i: string; p: number }): { verdict: number; path: string[] } {
  const path: string[] = [];
  const inC = (c: Cidr, a: string) => cidrContains(c, parseIp(a)!.w);
  const ifm = (spec: string, name: string) => (spec.endsWith('+') ? name.startsWith(spec.slice(0, -1)) : spec === name);
  const matches = (r: Rule) =>
    (!r.src || inC(r.src.cidr, pkt.s) !== r.src.invert) &&
    (!r.dst || inC(r.dst.cidr, pkt.d) !== r.dst.invert) &&
    (!r.inIface || ifm(r.inIface.name, pkt.i) !== r.inIface.invert) &&
    (!r.proto || (pkt.p === r.proto.proto) !== r.proto.invert);
  const walk = (name: string): number | 'return' => {
    const chain = t.chains.find((c) => c.name === name)!;
    for (let i = 0; i < chain.rules.length; i++) {
      const r = chain.rules[i]!;
      if (!matches(r)) continue;
      path.push(`${name}#${i + 1}`);
      if (!r.target) continue;
      if (r.target.kind === TARGET_VERDICT) {
        if (r.target.name === 'RETURN') return 'return';
        return r.target.name === 'ACCEPT' ? NF_ACCEPT : NF_DROP;
      }
      const sub = walk(r.target.name);
      if (sub !== 'return') return sub;
      if (r.target.kind === TARGET_GOTO) return 'return';
    }
    return 'return';
  };
  const v = walk('INPUT');
  const policy = t.chains[0]!.policy === 'DROP' ? NF_DROP : NF_ACCEPT;
  return { verdict: v === 'return' ? policy : v, path };
}

test('compiled evaluator = naive recursive walker (verdict and matched rules)', () => {
  const seed = Number(process.env.FC_SEED ?? (Date.now() % 2147483647));
  console.log(`eval property seed: ${seed} (replay with FC_SEED=${seed})`);
  const rng = new SeededRng(1);
  fc.assert(
    fc.property(tableArb, packetArb, (table, p) => {
      const ct = new CompiledTable(table, TABLE_FILTER, 4, { get: () => null }, new StateRegistry());
      const pkt = new Packet();
      pkt.saddr[0] = parseIp(p.s)!.w[0]!;
      pkt.daddr[0] = parseIp(p.d)!.w[0]!;
      pkt.inIface = p.i;
      pkt.proto = p.p;
      const path: string[] = [];
      const tracer: RuleTracer = {
        why: false,
        rule: (c, k) => path.push(`${c.chainNames[c.ruleChain[k]!]}#${c.rulePos[k]}`),
        chainEnd: () => {},
      };
      const ctx = { hook: NF_INET_LOCAL_IN, table: TABLE_FILTER, family: 4, nowMs: 0, rng, chance: () => true, host: null as never, conntrack: null, states: [], emit: () => {}, log: () => {} } as XtContext;
      const v = evaluate(ct, pkt, ctx, tracer, null);
      const ref = naive(table, p);
      assert.is(v, ref.verdict);
      assert.equal(path, ref.path);
    }),
    { seed, numRuns: 3000 },
  );
  void NF_INET_FORWARD;
  void NF_INET_LOCAL_OUT;
});

test.run();
