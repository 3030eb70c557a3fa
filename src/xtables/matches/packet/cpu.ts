/**
 * `-m cpu --cpu N` (libxt_cpu.c, xt_cpu.c): the CPU processing the packet. nfemu runs every
 * packet on CPU 0.
 */
import type { CompileEnv, Matcher, MatchExt, OptionUse, ParseEnv } from '../../ext.ts';
import { registerMatch } from '../../ext.ts';
import { ALWAYS, NEVER, X6Parser, x6OptionDefs, type X6Entry } from './common.ts';

export interface CpuData {
  readonly cpu: number;
  readonly invert: boolean;
}

/** The CPU every nfemu packet is processed on. */
export const NFEMU_CPU = 0;

const TABLE: readonly X6Entry[] = [{ id: 0, name: 'cpu', args: 1, invert: true, mand: true }];

function parse(opts: readonly OptionUse[], env: ParseEnv): CpuData {
  const x6 = new X6Parser('cpu', TABLE, env);
  let d: CpuData = { cpu: 0, invert: false };
  for (const o of opts) {
    const e = x6.use(o);
    d = { cpu: x6.uint(e, o.args[0]!, 0, 0xffffffff, o.token), invert: o.invert };
  }
  x6.finish();
  return d;
}

export const cpuMatch: MatchExt<CpuData> = {
  name: 'cpu',
  options: x6OptionDefs(TABLE),
  parse,
  print: (d) => `${d.invert ? '! ' : ''}--cpu ${d.cpu}`,
  compile: (d: CpuData, _env: CompileEnv): Matcher => ((d.cpu === NFEMU_CPU) !== d.invert ? ALWAYS : NEVER),
};

registerMatch(cpuMatch);
