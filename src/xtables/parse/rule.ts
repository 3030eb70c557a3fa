/**
 * The iptables command line of one rule: getopt-style option parsing with the module
 * option tables merged as iptables does (the newest `-m` module's options first, the
 * target's options after `-j`, the protocol match loaded implicitly on the first option
 * nobody knows), then expansion of address lists into one rule per address pair.
 */
import { NfemuError, parseCidr, protoNumber, protoName, type Cidr, type Family } from '../../core/index.ts';
import { getMatch, getTarget, type MatchExt, type OptionDef, type OptionUse, type ParseEnv, type TargetExt } from '../ext.ts';
import {
  TARGET_EXTENSION, TARGET_GOTO, TARGET_JUMP, TARGET_VERDICT, ZERO_COUNTERS,
  type AddrMatch, type Counters, type IfaceMatch, type MatchSpec, type ProtoMatch, type Rule, type TargetSpec,
} from '../model.ts';

/** Commands iptables takes (one per line in restore input). */
export type CommandLetter = 'A' | 'I' | 'D' | 'R' | 'C' | 'N' | 'X' | 'F' | 'Z' | 'P' | 'E' | 'L' | 'S';

export interface ParsedCommand {
  readonly command: CommandLetter;
  /** The chain the command names (absent for -F/-X/-Z/-L/-S without one). */
  readonly chain?: string;
  /** -I/-R/-D rule number (1-based), -P policy, -E new name. */
  readonly rulenum?: number;
  readonly policy?: string;
  readonly newName?: string;
  /** -t TABLE (command lines only; restore rejects it). */
  readonly table?: string;
  /** For rule commands: the rules, one per source × destination address. */
  readonly rules: readonly Rule[];
  /** `-4`/`-6` seen. */
  readonly family?: Family;
}

/** How a caller treats match modules nfemu does not know. */
export type UnknownMatchPolicy = 'error' | 'skip';

export interface RuleParseOptions {
  readonly family: Family;
  /** The table the line belongs to (restore) or the default table (commands). */
  readonly table: string;
  /** Whether a name is a chain of the current table (for -j/-g resolution). */
  readonly isChain: (name: string) => boolean;
  readonly file?: string;
  readonly line?: number;
  /** Restore input: -t is refused. */
  readonly restore: boolean;
  readonly unknownMatches?: UnknownMatchPolicy;
  /** Warnings (unknown modules skipped by policy). */
  readonly warn?: (message: string) => void;
}

interface GenericOpt {
  readonly letter: string;
  /** 0 none, 1 required, 2 optional (positional, as -F [chain]) */
  readonly arg: 0 | 1 | 2;
}

const LONG_GENERIC: ReadonlyMap<string, GenericOpt> = new Map<string, GenericOpt>([
  ['append', { letter: 'A', arg: 1 }], ['delete', { letter: 'D', arg: 1 }], ['check', { letter: 'C', arg: 1 }],
  ['insert', { letter: 'I', arg: 1 }], ['replace', { letter: 'R', arg: 1 }], ['list', { letter: 'L', arg: 2 }],
  ['list-rules', { letter: 'S', arg: 2 }], ['flush', { letter: 'F', arg: 2 }], ['zero', { letter: 'Z', arg: 2 }],
  ['new-chain', { letter: 'N', arg: 1 }], ['delete-chain', { letter: 'X', arg: 2 }], ['rename-chain', { letter: 'E', arg: 1 }],
  ['policy', { letter: 'P', arg: 1 }], ['source', { letter: 's', arg: 1 }], ['destination', { letter: 'd', arg: 1 }],
  ['src', { letter: 's', arg: 1 }], ['dst', { letter: 'd', arg: 1 }], ['protocol', { letter: 'p', arg: 1 }],
  ['in-interface', { letter: 'i', arg: 1 }], ['jump', { letter: 'j', arg: 1 }], ['table', { letter: 't', arg: 1 }],
  ['match', { letter: 'm', arg: 1 }], ['numeric', { letter: 'n', arg: 0 }], ['out-interface', { letter: 'o', arg: 1 }],
  ['verbose', { letter: 'v', arg: 0 }], ['wait', { letter: 'w', arg: 2 }], ['wait-interval', { letter: 'W', arg: 2 }],
  ['exact', { letter: 'x', arg: 0 }], ['fragments', { letter: 'f', arg: 0 }], ['fragment', { letter: 'f', arg: 0 }],
  ['line-numbers', { letter: '0', arg: 0 }], ['modprobe', { letter: 'M', arg: 1 }], ['set-counters', { letter: 'c', arg: 1 }],
  ['goto', { letter: 'g', arg: 1 }], ['ipv4', { letter: '4', arg: 0 }], ['ipv6', { letter: '6', arg: 0 }],
]);

const SHORT_GENERIC: ReadonlyMap<string, GenericOpt> = new Map<string, GenericOpt>([
  ['A', { letter: 'A', arg: 1 }], ['C', { letter: 'C', arg: 1 }], ['D', { letter: 'D', arg: 1 }], ['R', { letter: 'R', arg: 1 }],
  ['I', { letter: 'I', arg: 1 }], ['L', { letter: 'L', arg: 2 }], ['S', { letter: 'S', arg: 2 }], ['M', { letter: 'M', arg: 1 }],
  ['F', { letter: 'F', arg: 2 }], ['Z', { letter: 'Z', arg: 2 }], ['N', { letter: 'N', arg: 1 }], ['X', { letter: 'X', arg: 2 }],
  ['E', { letter: 'E', arg: 1 }], ['P', { letter: 'P', arg: 1 }], ['o', { letter: 'o', arg: 1 }], ['p', { letter: 'p', arg: 1 }],
  ['s', { letter: 's', arg: 1 }], ['d', { letter: 'd', arg: 1 }], ['j', { letter: 'j', arg: 1 }], ['i', { letter: 'i', arg: 1 }],
  ['f', { letter: 'f', arg: 0 }], ['v', { letter: 'v', arg: 0 }], ['w', { letter: 'w', arg: 2 }], ['W', { letter: 'W', arg: 2 }],
  ['n', { letter: 'n', arg: 0 }], ['t', { letter: 't', arg: 1 }], ['m', { letter: 'm', arg: 1 }], ['x', { letter: 'x', arg: 0 }],
  ['c', { letter: 'c', arg: 1 }], ['g', { letter: 'g', arg: 1 }], ['4', { letter: '4', arg: 0 }], ['6', { letter: '6', arg: 0 }],
  ['h', { letter: 'h', arg: 2 }], ['V', { letter: 'V', arg: 0 }],
]);

const COMMAND_LETTERS = new Set(['A', 'C', 'D', 'R', 'I', 'L', 'S', 'F', 'Z', 'N', 'X', 'E', 'P']);
const VERDICTS = new Set(['ACCEPT', 'DROP', 'RETURN', 'QUEUE']);
/** XT_EXTENSION_MAXNAMELEN - 1 */
export const MAX_CHAIN_NAME = 28;
/** IFNAMSIZ - 1 */
const MAX_IFACE = 15;

/** One loaded module instance and the options given to it so far. */
interface Loaded {
  readonly kind: 'match' | 'target';
  readonly ext: MatchExt | TargetExt;
  readonly byName: ReadonlyMap<string, OptionDef>;
  readonly opts: OptionUse[];
  completed: boolean;
  /** Unknown module kept by the 'skip' policy: options are swallowed. */
  readonly unknown?: string;
}

const optionIndex = new WeakMap<object, Map<string, OptionDef>>();
function optionsByName(ext: MatchExt | TargetExt): Map<string, OptionDef> {
  let m = optionIndex.get(ext);
  if (!m) {
    m = new Map();
    for (const o of ext.options) {
      m.set(o.name, o);
      for (const a of o.aliases ?? []) m.set(a, o);
    }
    optionIndex.set(ext, m);
  }
  return m;
}

/** The implicit match iptables loads for `-p NAME` (load_proto). */
function protoMatchName(proto: number, family: Family): string | null {
  switch (proto) {
    case 6: return 'tcp';
    case 17: return 'udp';
    case 132: return 'sctp';
    case 136: return 'udplite';
    case 33: return 'dccp';
    case 1: return family === 4 ? 'icmp' : null;
    case 58: return family === 6 ? 'icmp6' : null;
    case 50: return 'esp';
    case 51: return 'ah';
    case 135: return family === 6 ? 'mh' : null;
    default: return null;
  }
}

/**
 * Parses the arguments of one iptables command (without the program name).
 * Throws NfemuError('PARSE') naming the offending token, with iptables' wording.
 */
export function parseCommandArgs(argv: readonly string[], o: RuleParseOptions): ParsedCommand {
  const where = { file: o.file, line: o.line };
  const fail = (message: string, token?: string): never => {
    throw new NfemuError('PARSE', message, { ...where, token });
  };

  let command = null as CommandLetter | null;
  let chain: string | undefined;
  let rulenum: number | undefined;
  let policy: string | undefined;
  let newName: string | undefined;
  let table: string | undefined;
  let family: Family | undefined;
  let src = null as { text: string; invert: boolean } | null;
  let dst = null as { text: string; invert: boolean } | null;
  let inIface = null as IfaceMatch | null;
  let outIface = null as IfaceMatch | null;
  let proto = null as ProtoMatch | null;
  let protoText = '';
  let fragment = null as { invert: boolean } | null;
  let counters: Counters = ZERO_COUNTERS;
  let targetName = null as string | null;
  let targetKind = -1;
  let protoUsed = false;
  const loaded: Loaded[] = [];
  let target = null as Loaded | null;
  let invert = false;

  const envFor = (): ParseEnv => ({
    family: o.family,
    table: o.table,
    proto: proto ? proto.proto : null,
    protoInvert: proto ? proto.invert : false,
    fail,
  });

  const loadMatch = (name: string, token: string): void => {
    const ext = getMatch(name);
    if (!ext || (ext.family !== undefined && ext.family !== o.family)) {
      if (o.unknownMatches === 'skip') {
        o.warn?.(`${o.file ?? ''}${o.line !== undefined ? ':' + o.line : ''}: unknown match \`${name}' skipped (unknown-match policy "skip")`);
        for (const l of loaded) if (l.unknown === name) l.completed = true;
        loaded.push({ kind: 'match', ext: SKIPPED, byName: new Map(), opts: [], completed: false, unknown: name });
        return;
      }
      fail(`Couldn't load match \`${name}':No such file or directory`, token);
    }
    for (const l of loaded) if (l.kind === 'match' && l.ext === ext) l.completed = true;
    loaded.push({ kind: 'match', ext: ext!, byName: optionsByName(ext!), opts: [], completed: false });
  };

  /** Finds the module whose option this long name is, getopt-style (exact, then unique prefix). */
  const resolveLong = (name: string): { mod: Loaded | null; def: OptionDef | GenericOpt; generic: boolean } | 'ambiguous' | null => {
    const g = LONG_GENERIC.get(name);
    if (g) return { mod: null, def: g, generic: true };
    if (target) {
      const d = target.byName.get(name);
      if (d) return { mod: target, def: d, generic: false };
    }
    for (let i = loaded.length - 1; i >= 0; i--) {
      const l = loaded[i]!;
      const d = l.byName.get(name);
      if (d) return l.completed ? null : { mod: l, def: d, generic: false };
    }
    // Unique-prefix abbreviation, as getopt_long allows.
    const hits: { mod: Loaded | null; def: OptionDef | GenericOpt; generic: boolean; full: string }[] = [];
    for (const [full, def] of LONG_GENERIC) if (full.startsWith(name)) hits.push({ mod: null, def, generic: true, full });
    const mods = target ? [target, ...loaded.slice().reverse()] : loaded.slice().reverse();
    for (const l of mods) {
      for (const [full, def] of l.byName) if (full.startsWith(name) && !l.completed) hits.push({ mod: l, def, generic: false, full });
    }
    if (hits.length === 0) return null;
    const distinct = new Set(hits.map((h) => h.def));
    if (distinct.size > 1) return 'ambiguous';
    return hits[0]!;
  };

  let i = 0;
  const takeArg = (opt: string, required: boolean): string => {
    const a = argv[i];
    if (a === undefined) {
      if (required) fail(`option "${opt}" requires an argument`, opt);
      return '';
    }
    i++;
    return a;
  };
  /** Optional positional argument: the next word if it does not start with '-' or '!'. */
  const peekPositional = (): string | undefined => {
    const a = argv[i];
    if (a !== undefined && a[0] !== '-' && a !== '!') {
      i++;
      return a;
    }
    return undefined;
  };

  const setCommand = (letter: CommandLetter, token: string): void => {
    if (command !== null) fail(`Cannot use -${letter} with -${command}`, token);
    if (invert) fail(`unexpected ! flag before --${letter}`, token);
    command = letter;
  };

  const handleGeneric = (letter: string, token: string, inlineArg: string | undefined): void => {
    const arg = (req: boolean) => (inlineArg !== undefined ? inlineArg : takeArg(token, req));
    const inv = invert;
    invert = false;
    const noInvert = () => {
      if (inv) fail(`cannot have ! before ${token}`, token);
    };
    switch (letter) {
      case 'A': case 'C': case 'D': case 'R': case 'I': case 'N': case 'E': case 'P':
      case 'F': case 'Z': case 'X': case 'L': case 'S': {
        invert = inv;
        setCommand(letter as CommandLetter, token);
        invert = false;
        const opt = LONG_GENERIC.get(token.replace(/^--/, '')) ?? SHORT_GENERIC.get(letter)!;
        if (opt.arg === 1) chain = arg(true);
        else chain = inlineArg ?? peekPositional();
        if (letter === 'I' || letter === 'R' || letter === 'D') {
          const n = peekPositional();
          if (n !== undefined) {
            if (!/^[0-9]+$/.test(n)) {
              if (letter === 'D') fail(`Bad argument \`${n}'`, n);
              fail(`Invalid rule number \`${n}'`, n);
            }
            rulenum = Number(n);
            if (rulenum < 1) fail(`Invalid rule number \`${n}'`, n);
          } else if (letter === 'R') {
            fail(`-R requires a rule number`, token);
          }
        }
        if (letter === 'P') {
          const p = peekPositional();
          if (p === undefined) fail(`-P requires a chain and a policy`, token);
          policy = p;
        }
        if (letter === 'E') {
          const n = peekPositional();
          if (n === undefined) fail(`-E requires old-chain-name and new-chain-name`, token);
          newName = n;
        }
        return;
      }
      case 's': case 'd': {
        const text = arg(true);
        const spec = { text, invert: inv };
        if (letter === 's') {
          if (src) fail(`multiple -s flags not allowed`, token);
          src = spec;
        } else {
          if (dst) fail(`multiple -d flags not allowed`, token);
          dst = spec;
        }
        return;
      }
      case 'p': {
        if (proto) fail(`multiple -p flags not allowed`, token);
        const text = arg(true);
        const n = protoNumber(text);
        if (n === null) fail(`unknown protocol "${text}" specified`, text);
        if (n === 0 && inv) fail(`rule would never match protocol`, token);
        proto = { proto: n!, invert: inv };
        protoText = text;
        return;
      }
      case 'i': case 'o': {
        const text = arg(true);
        if (text.length > MAX_IFACE) fail(`interface name \`${text}' must be shorter than IFNAMSIZ (${MAX_IFACE + 1})`, text);
        const spec = { name: text, invert: inv };
        if (letter === 'i') {
          if (inIface) fail(`multiple -i flags not allowed`, token);
          inIface = spec;
        } else {
          if (outIface) fail(`multiple -o flags not allowed`, token);
          outIface = spec;
        }
        return;
      }
      case 'f':
        if (o.family === 6) fail(`ip6tables: unknown option "${token}"`, token);
        if (fragment) fail(`multiple -f flags not allowed`, token);
        fragment = { invert: inv };
        return;
      case 'j': case 'g': {
        noInvert();
        if (targetName !== null) fail(`multiple -j flags not allowed`, token);
        const name = arg(true);
        targetName = name;
        if (letter === 'g') {
          if (!o.isChain(name)) fail(`goto '${name}' is not a chain`, name);
          targetKind = TARGET_GOTO;
          return;
        }
        if (o.isChain(name)) {
          targetKind = TARGET_JUMP;
          return;
        }
        if (VERDICTS.has(name)) {
          targetKind = TARGET_VERDICT;
          return;
        }
        const ext = getTarget(name);
        if (!ext || (ext.family !== undefined && ext.family !== o.family)) fail(`Couldn't load target \`${name}':No such file or directory`, name);
        targetKind = TARGET_EXTENSION;
        target = { kind: 'target', ext: ext!, byName: optionsByName(ext!), opts: [], completed: false };
        return;
      }
      case 'm':
        if (inv) fail(`unexpected ! flag before --match`, token);
        loadMatch(arg(true), token);
        return;
      case 't':
        noInvert();
        if (o.restore) fail(`The -t option cannot be used in ${o.family === 6 ? 'ip6' : 'ip'}tables-restore.`, token);
        if (table !== undefined) fail(`multiple -t flags not allowed`, token);
        table = arg(true);
        return;
      case 'c': {
        noInvert();
        const p = arg(true);
        let b: string | undefined;
        const m = /^\[?(\d+):(\d+)\]?$/.exec(p);
        if (m) {
          counters = { packets: Number(m[1]), bytes: Number(m[2]) };
          return;
        }
        b = takeArg(token, true);
        if (!/^\d+$/.test(p)) fail(`invalid packet counter \`${p}'`, p);
        if (!/^\d+$/.test(b)) fail(`invalid byte counter \`${b}'`, b);
        counters = { packets: Number(p), bytes: Number(b) };
        return;
      }
      case '4': family = 4; return;
      case '6': family = 6; return;
      case 'n': case 'v': case 'x': case '0': case 'V': return;
      case 'w': case 'W': if (inlineArg === undefined) peekPositional(); return;
      case 'M': arg(true); return;
      case 'h': fail(`help is not available here`, token); return;
      default:
        fail(`unknown option "${token}"`, token);
    }
  };

  while (i < argv.length) {
    const tok = argv[i++]!;
    if (tok === '!') {
      if (invert) fail(`multiple consecutive ! not allowed`, tok);
      invert = true;
      continue;
    }
    if (tok.startsWith('--') && tok.length > 2) {
      const eq = tok.indexOf('=');
      const name = eq >= 0 ? tok.slice(2, eq) : tok.slice(2);
      const inlineArg = eq >= 0 ? tok.slice(eq + 1) : undefined;
      let r = resolveLong(name);
      if (r === null) {
        // load_proto: the implicit protocol match, once, for an option nobody knows.
        const pm = proto && !proto.invert && !protoUsed ? protoMatchName(proto.proto, o.family) : null;
        if (pm && getMatch(pm)) {
          protoUsed = true;
          loadMatch(pm, tok);
          r = resolveLong(name);
        }
      }
      if (r === 'ambiguous') fail(`option "${tok}" is ambiguous`, tok);
      if (r === null) fail(`unknown option "${tok}"`, tok);
      const hit = r as { mod: Loaded | null; def: OptionDef | GenericOpt; generic: boolean };
      if (hit.generic) {
        handleGeneric((hit.def as GenericOpt).letter, tok, inlineArg);
        continue;
      }
      const def = hit.def as OptionDef;
      const mod = hit.mod!;
      if (invert && !def.invertible) fail(`${mod.ext.name}: option "--${def.name}" cannot be inverted.`, tok);
      const args: string[] = [];
      if (def.args >= 1) args.push(inlineArg !== undefined ? inlineArg : takeArg(tok, true));
      if (def.args === 2) args.push(takeArg(tok, true));
      mod.opts.push({ name: def.name, args, invert, token: tok });
      invert = false;
      continue;
    }
    if (tok.startsWith('-') && tok.length > 1 && tok !== '-') {
      // Short options, possibly bundled (-nvL) or with an attached argument (-AINPUT).
      let j = 1;
      while (j < tok.length) {
        const letter = tok[j]!;
        const g = SHORT_GENERIC.get(letter);
        if (!g) fail(`unknown option "-${letter}"`, tok);
        const rest = tok.slice(j + 1);
        if (g!.arg === 1 && rest.length > 0) {
          handleGeneric(letter, `-${letter}`, rest);
          break;
        }
        handleGeneric(letter, `-${letter}`, undefined);
        j++;
      }
      continue;
    }
    fail(`Bad argument \`${tok}'`, tok);
  }
  if (invert) fail(`trailing ! not allowed`, '!');
  if (command === null) fail(`no command specified`);
  const cmd = command as CommandLetter;

  if (chain !== undefined && chain.length > MAX_CHAIN_NAME && (cmd === 'N' || cmd === 'E')) {
    fail(`chain name \`${chain}' too long (must be under ${MAX_CHAIN_NAME + 1} chars)`, chain);
  }

  const rules: Rule[] = [];
  if (cmd === 'A' || cmd === 'I' || cmd === 'D' || cmd === 'R' || cmd === 'C') {
    const hasRuleSpec = src || dst || proto || inIface || outIface || fragment || loaded.length || targetName !== null;
    if (cmd === 'D' && rulenum !== undefined && hasRuleSpec) fail(`Bad argument \`${argv.find((a) => a.startsWith('-')) ?? ''}'`);
    if (!(cmd === 'D' && rulenum !== undefined)) {
      if (chain === 'PREROUTING' || chain === 'INPUT') {
        if (outIface) fail(`Can't use -o with ${chain}`, '-o');
      }
      if (chain === 'POSTROUTING' || chain === 'OUTPUT') {
        if (inIface) fail(`Can't use -i with ${chain}`, '-i');
      }
      const env = envFor();
      const matches: MatchSpec[] = [];
      for (const l of loaded) {
        if (l.unknown) continue;
        matches.push({ name: l.ext.name, data: l.ext.parse(l.opts, env) });
      }
      let tspec: TargetSpec | null = null;
      if (targetName !== null) {
        const t = target as Loaded | null;
        tspec = { kind: targetKind, name: targetName, data: t ? t.ext.parse(t.opts, env) : null };
      }
      const srcs = expandAddrs(src, o.family, fail);
      const dsts = expandAddrs(dst, o.family, fail);
      for (const s of srcs) {
        for (const d of dsts) {
          rules.push({
            src: s,
            dst: d,
            inIface,
            outIface,
            proto,
            fragment,
            matches,
            target: tspec,
            counters,
            ...(o.line !== undefined ? { line: o.line } : {}),
          });
        }
      }
    }
  } else if (src || dst || proto || inIface || outIface || loaded.length || targetName !== null) {
    fail(`Illegal option with this command: -${cmd}`);
  }
  void protoText;
  void protoName;
  return {
    command: cmd,
    ...(chain !== undefined ? { chain } : {}),
    ...(rulenum !== undefined ? { rulenum } : {}),
    ...(policy !== undefined ? { policy } : {}),
    ...(newName !== undefined ? { newName } : {}),
    ...(table !== undefined ? { table } : {}),
    ...(family !== undefined ? { family } : {}),
    rules,
  };
}

/** Placeholder module for a match skipped by the 'skip' unknown-match policy. */
const SKIPPED: MatchExt = {
  name: '(skipped)',
  options: [],
  parse: () => null,
  print: () => '',
  compile: () => ({ match: () => true }),
};

/** `a,b,c` → one AddrMatch per address, as iptables expands comma lists. */
function expandAddrs(
  spec: { text: string; invert: boolean } | null,
  family: Family,
  fail: (m: string, t?: string) => never,
): (AddrMatch | null)[] {
  if (spec === null) return [null];
  const out: AddrMatch[] = [];
  for (const part of spec.text.split(',')) {
    const slash = part.indexOf('/');
    const host = slash >= 0 ? part.slice(0, slash) : part;
    const c: Cidr | null = parseCidr(family, part);
    if (c === null) {
      const hostOk = parseCidr(family, host) !== null;
      if (hostOk) fail(`invalid mask \`${part.slice(slash + 1)}' specified`, part);
      fail(`host/network \`${host}' not found`, host);
    }
    out.push({ cidr: c!, invert: spec.invert });
  }
  return out;
}

/** Whether a token could start a rule specification (used by -D's "rulenum or rule" choice). */
export function isCommandLetter(letter: string): boolean {
  return COMMAND_LETTERS.has(letter);
}
