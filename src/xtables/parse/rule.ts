/**
 * The iptables command line of one rule, as iptables 1.8.9 (nf_tables back end) parses it
 * (iptables/xshared.c do_parse): getopt-style option parsing with the module option tables
 * merged as iptables does (the newest `-m` module's options first, the target's options
 * after `-j`, the protocol match loaded implicitly on the first option nobody knows), the
 * command/option compatibility table, then expansion of address lists into one rule per
 * address pair. Everything here is a parse-time check ("Error occurred at line: N"); what
 * needs the chains (existence, rule numbers) is checked when the command is applied
 * (edit.ts).
 */
import { NfemuError, cidrIsAny, parseCidr, protoNumber, type Cidr, type Family } from '../../core/index.ts';
import { getMatch, getTarget, type MatchExt, type OptionDef, type OptionUse, type ParseEnv, type TargetExt } from '../ext.ts';
import {
  TARGET_EXTENSION, TARGET_GOTO, TARGET_JUMP, TARGET_VERDICT, ZERO_COUNTERS,
  type AddrMatch, type Counters, type IfaceMatch, type MatchSpec, type ProtoMatch, type Rule, type TargetSpec,
} from '../model.ts';

/**
 * Commands iptables takes (one per line in restore input). `D` with a rule number is
 * iptables' CMD_DELETE_NUM, `Z` with one its CMD_ZERO_NUM (rulenum set).
 */
export type CommandLetter = 'A' | 'I' | 'D' | 'R' | 'C' | 'N' | 'X' | 'F' | 'Z' | 'P' | 'E' | 'L' | 'S';

export interface ParsedCommand {
  readonly command: CommandLetter;
  /** The chain the command names (absent for -F/-X/-Z/-L/-S without one). */
  readonly chain?: string;
  /** -I/-R/-D/-Z/-L/-S rule number (1-based), -P policy, -E new name. */
  readonly rulenum?: number;
  readonly policy?: string;
  readonly newName?: string;
  /** -t TABLE (command lines only; restore rejects it). */
  readonly table?: string;
  /** For rule commands: the rules, one per source × destination address. */
  readonly rules: readonly Rule[];
  /** `-4`/`-6` seen. */
  readonly family?: Family;
  /**
   * iptables-restore skips a line that carries the other family's flag (`-6` in
   * iptables-restore, `-4` in ip6tables-restore): nothing is applied.
   */
  readonly skip?: boolean;
}

/** How a caller treats match modules nfemu does not know. */
export type UnknownMatchPolicy = 'error' | 'skip';

export interface RuleParseOptions {
  readonly family: Family;
  /** The table the line belongs to (restore) or the default table (commands). */
  readonly table: string;
  /**
   * Whether a name is known as a chain when the line is parsed: a `-j NAME` naming one is
   * a jump even when a target of that name exists (iptables-restore announces `:NAME`
   * chains before parsing rules). Other names that are neither verdicts nor targets are
   * jumps too; whether the chain exists is checked when the command is applied.
   */
  readonly isChain: (name: string) => boolean;
  readonly file?: string;
  readonly line?: number;
  /** Restore input: -t is refused, lines of the other family are skipped. */
  readonly restore: boolean;
  readonly unknownMatches?: UnknownMatchPolicy;
  /** Warnings (unknown modules skipped by policy). */
  readonly warn?: (message: string) => void;
  /**
   * Restore with --counters and a `[p:b]` prefix: iptables-restore passes them on as
   * `--set-counters p b`, which counts as option -c (illegal with -D, -N, …).
   */
  readonly setCounters?: { readonly packets: string; readonly bytes: string };
}

interface GenericOpt {
  readonly letter: string;
  /** 0 none, 1 required, 2 optional (positional, as -F [chain]) */
  readonly arg: 0 | 1 | 2;
}

/** iptables' original_opts (xshared.c), in its order (getopt_long matches in this order). */
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
  ['version', { letter: 'V', arg: 0 }], ['help', { letter: 'h', arg: 2 }],
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

const VERDICTS = new Set(['ACCEPT', 'DROP', 'RETURN', 'QUEUE']);

/**
 * Names iptables 1.8.9 loads as targets (checked one by one with `iptables-nft -N NAME`,
 * which refuses them: "chain name may not clash with target name"). A `-j NAME` naming one
 * of these that nfemu does not implement is refused as unsupported instead of being taken
 * for a jump to a chain.
 */
const KERNEL_TARGETS_V4: ReadonlySet<string> = new Set([
  'AUDIT', 'CHECKSUM', 'CLASSIFY', 'CLUSTERIP', 'CONNMARK', 'CONNSECMARK', 'CT', 'DNAT', 'DSCP', 'ECN', 'HMARK',
  'IDLETIMER', 'LED', 'LOG', 'MARK', 'MASQUERADE', 'NETMAP', 'NFLOG', 'NFQUEUE', 'NOTRACK', 'RATEEST', 'REDIRECT',
  'REJECT', 'SECMARK', 'SET', 'SNAT', 'SYNPROXY', 'TCPMSS', 'TCPOPTSTRIP', 'TEE', 'TOS', 'TPROXY', 'TRACE', 'TTL', 'ULOG',
  'standard',
]);
const KERNEL_TARGETS_V6: ReadonlySet<string> = new Set([
  'AUDIT', 'CHECKSUM', 'CLASSIFY', 'CONNMARK', 'CONNSECMARK', 'CT', 'DNAT', 'DNPT', 'DSCP', 'HL', 'HMARK',
  'IDLETIMER', 'LED', 'LOG', 'MARK', 'MASQUERADE', 'NETMAP', 'NFLOG', 'NFQUEUE', 'NOTRACK', 'RATEEST', 'REDIRECT',
  'REJECT', 'SECMARK', 'SET', 'SNAT', 'SNPT', 'SYNPROXY', 'TCPMSS', 'TCPOPTSTRIP', 'TEE', 'TOS', 'TPROXY', 'TRACE',
  'standard',
]);

/** Whether iptables would load `name` as a target (a verdict, a registered or a kernel target). */
export function isTargetName(name: string, family: Family): boolean {
  if (VERDICTS.has(name)) return true;
  const ext = getTarget(name);
  if (ext && (ext.family === undefined || ext.family === family)) return true;
  return (family === 6 ? KERNEL_TARGETS_V6 : KERNEL_TARGETS_V4).has(name);
}

/** XT_EXTENSION_MAXNAMELEN - 1 */
export const MAX_CHAIN_NAME = 28;
/** IFNAMSIZ - 1 */
const MAX_IFACE = 15;

/**
 * assert_valid_chain_name (xshared.c): the checks `-N NAME` and `:NAME` lines get. For
 * `:NAME` lines iptables announces the name as a chain first, so only the verdicts clash
 * there (`announced`).
 */
export function chainNameProblem(name: string, family: Family, announced: boolean): string | null {
  if (name.length > MAX_CHAIN_NAME) return `chain name \`${name}' too long (must be under ${MAX_CHAIN_NAME + 1} chars)`;
  if (name[0] === '-' || name[0] === '!') return `chain name not allowed to start with \`${name[0]}'`;
  if (announced ? VERDICTS.has(name) : isTargetName(name, family)) return `chain name may not clash with target name`;
  if (/\s/.test(name)) return `Invalid chain name \`${name}'`;
  return null;
}

/**
 * Generic options in the order generic_opt_check tests them, and which of them each
 * command refuses ("Illegal option `-X' with this command"); -v is allowed everywhere.
 * Checked against iptables-nft-restore 1.8.9 (see test/xtables/parse.test.ts).
 */
const OPT_ORDER = ['n', 's', 'd', 'p', 'j', 'v', 'x', 'i', 'o', '0', 'c', 'f'] as const;
const RULE_CMD_ILLEGAL = 'nx0';
const ILLEGAL: Readonly<Record<string, string>> = {
  A: RULE_CMD_ILLEGAL, I: RULE_CMD_ILLEGAL, R: RULE_CMD_ILLEGAL,
  D: 'nx0c', C: 'nx0c', DNUM: 'nsdpjxio0cf',
  L: 'sdpjiocf', S: 'nsdpjxio0cf',
  F: 'nsdpjxio0cf', Z: 'nsdpjxio0cf', N: 'nsdpjxio0cf', X: 'nsdpjxio0cf', E: 'nsdpjxio0cf',
  P: 'nsdpjxio0f',
};

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

/** A long-option lookup result: a generic option, or a module's. */
interface LongHit {
  readonly mod: Loaded | null;
  readonly def: OptionDef | GenericOpt;
  readonly generic: boolean;
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
  let fragment = null as { invert: boolean } | null;
  let counters: Counters = ZERO_COUNTERS;
  let targetName = null as string | null;
  let targetKind = -1;
  let protoUsed = false;
  const loaded: Loaded[] = [];
  let target = null as Loaded | null;
  let invert = false;
  /** Generic option letters seen (for the command/option table). */
  const seen = new Set<string>();

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

  /**
   * Finds the module whose option this long name is, the way getopt_long does over the
   * merged table: an exact name first, else a unique prefix. Two prefix hits are
   * ambiguous unless they are the same option (same generic letter, or the same module
   * option under another spelling); getopt then reports the option as unknown.
   */
  const resolveLong = (name: string): LongHit | 'ambiguous' | null => {
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
    const hits: LongHit[] = [];
    const keys = new Set<unknown>();
    for (const [full, def] of LONG_GENERIC) {
      if (!full.startsWith(name)) continue;
      hits.push({ mod: null, def, generic: true });
      keys.add(`${def.letter}/${def.arg}`);
    }
    const mods = target ? [target, ...loaded.slice().reverse()] : loaded.slice().reverse();
    for (const l of mods) {
      if (l.completed) continue;
      for (const [full, def] of l.byName) {
        if (!full.startsWith(name)) continue;
        hits.push({ mod: l, def, generic: false });
        keys.add(def);
      }
    }
    if (hits.length === 0) return null;
    if (keys.size > 1) return 'ambiguous';
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
  /** xs_has_arg: the next word, if it does not start with '-' or '!'. */
  const peekPositional = (): string | undefined => {
    const a = argv[i];
    if (a !== undefined && a[0] !== '-' && a[0] !== '!') {
      i++;
      return a;
    }
    return undefined;
  };
  /** parse_rulenumber. */
  const ruleNumber = (n: string): number => {
    if (!/^[0-9]+$/.test(n) || Number(n) < 1 || Number(n) > 0x7fffffff) fail(`Invalid rule number \`${n}'`, n);
    return Number(n);
  };

  const setCommand = (letter: CommandLetter, token: string): void => {
    if (invert) fail(`unexpected '!' flag`, token);
    if (command !== null) fail(`Cannot use -${letter} with -${command}`, token);
    command = letter;
  };

  /** Returns false when the line is to be skipped (other family's flag in restore). */
  const handleGeneric = (letter: string, token: string, inlineArg: string | undefined): boolean => {
    const arg = (req: boolean) => (inlineArg !== undefined ? inlineArg : takeArg(token, req));
    const inv = invert;
    /** set_option: only -s -d -p -i -o -f take `!`. */
    const noInvert = () => {
      if (inv) fail(`cannot have ! before -${letter === 'g' ? 'j' : letter}`, token);
    };
    switch (letter) {
      case 'A': case 'C': case 'D': case 'R': case 'I': case 'N': case 'E': case 'P':
      case 'F': case 'Z': case 'X': case 'L': case 'S': {
        setCommand(letter as CommandLetter, token);
        const opt = LONG_GENERIC.get(token.replace(/^--/, '')) ?? SHORT_GENERIC.get(letter)!;
        if (opt.arg === 1) chain = arg(true);
        else chain = inlineArg ?? peekPositional();
        if (letter === 'I' || letter === 'R' || letter === 'D' || ((letter === 'Z' || letter === 'L' || letter === 'S') && chain !== undefined)) {
          const n = peekPositional();
          if (n !== undefined) rulenum = ruleNumber(n);
          else if (letter === 'R') fail(`-R requires a rule number`, token);
        }
        if (letter === 'N') {
          const problem = chainNameProblem(chain!, o.family, false);
          if (problem) fail(problem, chain);
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
        return true;
      }
      case 's': case 'd': {
        seen.add(letter);
        const text = arg(true);
        const spec = { text, invert: inv };
        if (letter === 's') {
          if (src) fail(`multiple -s flags not allowed`, token);
          src = spec;
        } else {
          if (dst) fail(`multiple -d flags not allowed`, token);
          dst = spec;
        }
        return true;
      }
      case 'p': {
        seen.add('p');
        if (proto) fail(`multiple -p flags not allowed`, token);
        const text = arg(true).toLowerCase();
        const n = protoNumber(text);
        if (n === null) fail(`unknown protocol "${text}" specified`, text);
        if (n === 0 && inv) fail(`rule would never match protocol`, token);
        proto = { proto: n!, invert: inv };
        return true;
      }
      case 'i': case 'o': {
        seen.add(letter);
        const text = arg(true);
        if (text === '') fail(`Empty interface is likely to be undesired`, token);
        if (text.length > MAX_IFACE) fail(`interface name \`${text}' must be shorter than IFNAMSIZ (${MAX_IFACE + 1})`, text);
        const spec = { name: text, invert: inv };
        if (letter === 'i') {
          if (inIface) fail(`multiple -i flags not allowed`, token);
          inIface = spec;
        } else {
          if (outIface) fail(`multiple -o flags not allowed`, token);
          outIface = spec;
        }
        return true;
      }
      case 'f':
        if (o.family === 6) fail(`unknown option "${token}"`, token);
        seen.add('f');
        if (fragment) fail(`multiple -f flags not allowed`, token);
        fragment = { invert: inv };
        return true;
      case 'j': case 'g': {
        noInvert();
        seen.add('j');
        if (targetName !== null) fail(`multiple -j flags not allowed`, token);
        const name = arg(true);
        // xt_parse_target
        if (name === '') fail(`Invalid target name (too short)`, token);
        if (name.length > MAX_CHAIN_NAME) fail(`Invalid target name \`${name}' (${MAX_CHAIN_NAME} chars max)`, name);
        if (/\s/.test(name)) fail(`Invalid target name \`${name}'`, name);
        targetName = name;
        if (letter === 'g') {
          // iptables takes any name after -g for a chain; the chain must exist when applied.
          targetKind = TARGET_GOTO;
          return true;
        }
        if (o.isChain(name)) {
          targetKind = TARGET_JUMP;
          return true;
        }
        if (VERDICTS.has(name)) {
          targetKind = TARGET_VERDICT;
          return true;
        }
        const ext = getTarget(name);
        if (ext && (ext.family === undefined || ext.family === o.family)) {
          targetKind = TARGET_EXTENSION;
          target = { kind: 'target', ext, byName: optionsByName(ext), opts: [], completed: false };
          return true;
        }
        if ((o.family === 6 ? KERNEL_TARGETS_V6 : KERNEL_TARGETS_V4).has(name)) {
          // The kernel has this target; nfemu does not model it (iptables would load it).
          throw new NfemuError('UNSUPPORTED', `Couldn't load target \`${name}':No such file or directory (nfemu does not implement this target)`, { ...where, token: name });
        }
        // Not a target: iptables-nft takes it for a chain (checked when applied).
        targetKind = TARGET_JUMP;
        return true;
      }
      case 'm':
        if (inv) fail(`unexpected ! flag before --match`, token);
        loadMatch(arg(true), token);
        return true;
      case 't':
        noInvert();
        if (o.restore) fail(`The -t option cannot be used in ${o.family === 6 ? 'ip6' : 'ip'}tables-restore.`, token);
        if (table !== undefined) fail(`multiple -t flags not allowed`, token);
        table = arg(true);
        return true;
      case 'c': {
        noInvert();
        if (seen.has('c')) fail(`multiple -c flags not allowed`, token);
        seen.add('c');
        const p = arg(true);
        const comma = p.indexOf(',', 1);
        const b = comma >= 0 ? p.slice(comma + 1) : peekPositional();
        if (b === undefined) fail(`-c requires packet and byte counter`, token);
        counters = parseSetCounters(p, b!, fail);
        return true;
      }
      case '4':
        if (o.family === 4) return true;
        if (o.restore) return false;
        fail(`${token}: this is ip6tables, the rule is for IPv4`, token);
        return true;
      case '6':
        if (o.family === 6) return true;
        if (o.restore) return false;
        fail(`${token}: this is iptables, the rule is for IPv6`, token);
        return true;
      case 'n': case 'x': case '0':
        noInvert();
        seen.add(letter);
        return true;
      case 'v':
        noInvert();
        return true;
      case 'V': return true;
      case 'w': case 'W': if (inlineArg === undefined) peekPositional(); return true;
      case 'M': arg(true); return true;
      case 'h': fail(`help is not available here`, token); return true;
      default:
        fail(`unknown option "${token}"`, token);
        return true;
    }
  };

  if (o.setCounters) {
    seen.add('c');
    counters = parseSetCounters(o.setCounters.packets, o.setCounters.bytes, fail);
  }

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
        // load_proto: the implicit protocol match, once, for an option nobody knows
        // (also after `! -p tcp`: iptables loads it regardless of the inversion).
        const pm = proto && !protoUsed ? protoMatchName(proto.proto, o.family) : null;
        if (pm && getMatch(pm)) {
          protoUsed = true;
          loadMatch(pm, tok);
          r = resolveLong(name);
        }
      }
      if (r === null && loaded.length && loaded[loaded.length - 1]!.unknown !== undefined) {
        // An option of a match skipped by policy: swallow it and its arguments.
        invert = false;
        while (i < argv.length && argv[i]![0] !== '-' && argv[i] !== '!') i++;
        continue;
      }
      if (r === null || r === 'ambiguous') fail(`unknown option "${tok}"`, tok);
      const hit = r as LongHit;
      if (hit.generic) {
        if (!handleGeneric((hit.def as GenericOpt).letter, tok, inlineArg)) return skipped();
        invert = false;
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
    if (tok.startsWith('-') && tok.length > 1) {
      // Short options, possibly bundled (-nvL) or with an attached argument (-AINPUT).
      let j = 1;
      while (j < tok.length) {
        const letter = tok[j]!;
        const g = SHORT_GENERIC.get(letter);
        if (!g) fail(`unknown option "-${letter}"`, tok);
        const rest = tok.slice(j + 1);
        if (g!.arg === 1 && rest.length > 0) {
          if (!handleGeneric(letter, `-${letter}`, rest)) return skipped();
          break;
        }
        if (!handleGeneric(letter, `-${letter}`, undefined)) return skipped();
        j++;
      }
      invert = false;
      continue;
    }
    fail(`Bad argument \`${tok}'`, tok);
  }
  if (invert) fail(`nothing appropriate following !`, '!');
  if (command === null) fail(`no command specified`);
  const cmd = command as CommandLetter;

  if (o.table === 'nat' && (policy === 'DROP' || targetName === 'DROP')) {
    fail(`The "nat" table is not intended for filtering, the use of DROP is therefore inhibited.`, 'DROP');
  }
  // iptables-nft 1.8.9 sets no rule counters in IPv6 rules (-c and restore's [p:b] are
  // read and checked, then dropped; checked with ip6tables-nft-save -c).
  if (o.family === 6) counters = ZERO_COUNTERS;

  // After the options, in iptables' order: the modules' final checks, the addresses, the
  // `!` and -R address checks, the command/option table, the interface/chain check.
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
  const anyInverted = (src !== null && (src as { invert: boolean }).invert) || (dst !== null && (dst as { invert: boolean }).invert);
  if ((srcs.length > 1 || dsts.length > 1) && anyInverted) fail(`! not allowed with multiple source or destination IP addresses`);
  if (cmd === 'R' && srcs.length * dsts.length !== 1) fail(`Replacement rule does not specify a unique address`);
  // generic_opt_check: the first option (in iptables' order) the command does not allow.
  const illegal = ILLEGAL[cmd === 'D' && rulenum !== undefined ? 'DNUM' : cmd] ?? '';
  for (const letter of OPT_ORDER) {
    if (seen.has(letter) && illegal.includes(letter)) fail(`Illegal option \`-${letter}' with this command`, `-${letter}`);
  }
  if (chain !== undefined && chain.length > MAX_CHAIN_NAME) {
    fail(`chain name \`${chain}' too long (must be under ${MAX_CHAIN_NAME + 1} chars)`, chain);
  }

  const rules: Rule[] = [];
  if ((cmd === 'A' || cmd === 'I' || cmd === 'D' || cmd === 'R' || cmd === 'C') && !(cmd === 'D' && rulenum !== undefined)) {
    if (chain === 'PREROUTING' || chain === 'INPUT') {
      if (outIface) fail(`Can't use -o with ${chain}`, '-o');
    }
    if (chain === 'POSTROUTING' || chain === 'OUTPUT') {
      if (inIface) fail(`Can't use -i with ${chain}`, '-i');
    }
    // `-p all` and `-i +` match everything: iptables-nft adds no expression for them.
    const protoM = proto && (proto as ProtoMatch).proto === 0 ? null : proto;
    const inI = inIface && (inIface as IfaceMatch).name === '+' && !(inIface as IfaceMatch).invert ? null : inIface;
    const outI = outIface && (outIface as IfaceMatch).name === '+' && !(outIface as IfaceMatch).invert ? null : outIface;
    for (const s of srcs) {
      for (const d of dsts) {
        rules.push({
          src: s,
          dst: d,
          inIface: inI,
          outIface: outI,
          proto: protoM,
          fragment,
          matches,
          target: tspec,
          counters,
          ...(o.line !== undefined ? { line: o.line } : {}),
        });
      }
    }
  }
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

  function skipped(): ParsedCommand {
    return { command: command ?? 'L', rules: [], skip: true };
  }
}

/** `-c P B` counters, read as sscanf("%llu") reads them (leading digits, rest ignored). */
function parseSetCounters(p: string, b: string, fail: (m: string, t?: string) => never): Counters {
  const pm = /^\s*\+?(\d+)/.exec(p);
  if (!pm) fail(`-c packet counter not numeric`, p);
  const bm = /^\s*\+?(\d+)/.exec(b);
  if (!bm) fail(`-c byte counter not numeric`, b);
  return { packets: Number(pm![1]), bytes: Number(bm![1]) };
}

/** Placeholder module for a match skipped by the 'skip' unknown-match policy. */
const SKIPPED: MatchExt = {
  name: '(skipped)',
  options: [],
  parse: () => null,
  print: () => '',
  compile: () => ({ match: () => true }),
};

/**
 * `a,b,c` → one AddrMatch per address, as iptables expands comma lists. A non-inverted
 * `/0` becomes no match at all (iptables-nft adds no expression for it; an inverted one
 * is refused by the kernel when the rule is added, see validate.ts).
 */
function expandAddrs(
  spec: { text: string; invert: boolean } | null,
  family: Family,
  fail: (m: string, t?: string) => never,
): (AddrMatch | null)[] {
  if (spec === null) return [null];
  const out: (AddrMatch | null)[] = [];
  for (const part of spec.text.split(',')) {
    const slash = part.indexOf('/');
    const host = slash >= 0 ? part.slice(0, slash) : part;
    const c: Cidr | null = parseCidr(family, part);
    if (c === null) {
      const hostOk = parseCidr(family, host) !== null;
      if (hostOk) fail(`invalid mask \`${part.slice(slash + 1)}' specified`, part);
      fail(`host/network \`${host}' not found`, host);
    }
    out.push(cidrIsAny(c!) && !spec.invert ? null : { cidr: c!, invert: spec.invert });
  }
  return out;
}
