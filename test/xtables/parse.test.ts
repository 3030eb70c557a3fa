/**
 * The generic iptables-restore / iptables parser against what iptables 1.8.9 (nf_tables
 * back end, Linux 6.18) does. Every expected value below was observed with
 * `iptables-nft-restore` / `iptables-nft-save` (and `iptables-nft` for command lines) in a
 * scratch network namespace; each table names the behaviour it pins down.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { NfemuError, type Family } from '../../src/core/index.ts';
import {
  RestoreError, applyCommand, emptyRuleset, getMatch, printSave, restore, tableOf, tokenizeRuleLine,
  type RestoreOptions, type Ruleset,
} from '../../src/xtables/index.ts';

// ---------------------------------------------------------------------------- helpers

/** Rule lines (`-A …`, with counters when asked) of what iptables-nft-save prints. */
function rules(rs: Ruleset, counters = false): string[] {
  return printSave(rs, { counters }).split('\n').filter((l) => /^(\[\d+:\d+\] )?-A /.test(l));
}

function load(text: string, opts: RestoreOptions = {}, base?: Ruleset): Ruleset {
  return restore(text, { file: 'in', ...opts }, base);
}

/** The error a restore fails with (fails the test when it loads). */
function failure(text: string, opts: RestoreOptions = {}, base?: Ruleset): NfemuError {
  try {
    load(text, opts, base);
  } catch (e) {
    if (e instanceof NfemuError) return e;
    throw e;
  }
  assert.unreachable(`loaded, but iptables-nft-restore rejects:\n${text}`);
  throw new Error('unreachable');
}

/** Lines of a restore input: `*filter`, the body, `COMMIT` (the body starts at line 2). */
function filter(...body: string[]): string {
  return ['*filter', ...body, 'COMMIT', ''].join('\n');
}

interface RejectCase {
  readonly name: string;
  readonly input: string;
  /** The line iptables-nft-restore names. */
  readonly line: number;
  /** The kernel tool's message (nfemu's message starts with it or contains it). */
  readonly message: string;
  readonly opts?: RestoreOptions;
}

interface AcceptCase {
  readonly name: string;
  readonly input: string;
  /** The `-A` lines iptables-nft-save prints back. */
  readonly save: readonly string[];
  readonly opts?: RestoreOptions;
  /** Match modules the case needs (skipped with a printed reason when one is not registered). */
  readonly needs?: readonly string[];
}

function missing(needs: readonly string[] | undefined): string | null {
  const m = (needs ?? []).filter((n) => !getMatch(n));
  return m.length ? m.join(', ') : null;
}

function rejectTable(title: string, cases: readonly RejectCase[]): void {
  for (const c of cases) {
    test(`${title}: ${c.name}`, () => {
      const e = failure(c.input, c.opts);
      assert.is(e.line, c.line, `line of "${e.message}"`);
      assert.ok(e.message.includes(c.message), `message: expected "${c.message}", got "${e.message}"`);
    });
  }
}

function acceptTable(title: string, cases: readonly AcceptCase[]): void {
  for (const c of cases) {
    test(`${title}: ${c.name}`, () => {
      const gone = missing(c.needs);
      if (gone) {
        console.log(`  skipped "${c.name}": match module(s) ${gone} not registered`);
        return;
      }
      assert.equal(rules(load(c.input, c.opts), c.opts?.counters), c.save);
    });
  }
}

// ---------------------------------------------------------------------------- quoting

const TOKENS: readonly { readonly line: string; readonly argv: readonly string[] | null }[] = [
  { line: '-A INPUT -j ACCEPT', argv: ['-A', 'INPUT', '-j', 'ACCEPT'] },
  { line: '-A\tINPUT  \t -j ACCEPT ', argv: ['-A', 'INPUT', '-j', 'ACCEPT'] },
  { line: '--comment "a b" x', argv: ['--comment', 'a b', 'x'] },
  { line: '--comment "a\\"b"', argv: ['--comment', 'a"b'] },
  { line: '--comment "a\\\\b"', argv: ['--comment', 'a\\b'] },
  { line: '--comment a\\b', argv: ['--comment', 'a\\b'] }, // outside quotes a backslash is literal
  { line: '--comment x"y z"w', argv: ['--comment', 'xy z', 'w'] }, // a closing quote ends the argument
  { line: '--comment "" -j ACCEPT', argv: ['--comment', '', '-j', 'ACCEPT'] },
  { line: '--comment "open -j ACCEPT', argv: null },
];

test('tokenizer: add_param_to_argv word splitting, quotes and escapes', () => {
  for (const t of TOKENS) assert.equal(tokenizeRuleLine(t.line), t.argv, t.line);
  // iptables-restore keeps an unterminated quoted argument, newline included.
  assert.equal(tokenizeRuleLine('--comment "open -j ACCEPT', { unterminated: '\n' }), ['--comment', 'open -j ACCEPT\n']);
});

acceptTable('quoting (comment module)', [
  {
    name: 'quotes, escaped quote, backslashes, quote inside a word, single quote, tab, empty',
    needs: ['comment'],
    input: filter(
      '-A INPUT -m comment --comment "a b" -j ACCEPT',
      '-A INPUT -m comment --comment "a\\"b" -j ACCEPT',
      '-A INPUT -m comment --comment a\\b -j ACCEPT',
      '-A INPUT -m comment --comment "a\\\\b" -j ACCEPT',
      '-A INPUT -m comment --comment x"y z" -j ACCEPT',
      '-A INPUT -m comment --comment "it\'s" -j ACCEPT',
      '-A INPUT -m comment --comment "tab\tin" -j ACCEPT',
      '-A INPUT -m comment --comment "" -j ACCEPT',
    ),
    save: [
      '-A INPUT -m comment --comment "a b" -j ACCEPT',
      '-A INPUT -m comment --comment "a\\"b" -j ACCEPT',
      '-A INPUT -m comment --comment "a\\\\b" -j ACCEPT',
      '-A INPUT -m comment --comment "a\\\\b" -j ACCEPT',
      '-A INPUT -m comment --comment "xy z" -j ACCEPT',
      '-A INPUT -m comment --comment "it\\\'s" -j ACCEPT',
      '-A INPUT -m comment --comment "tab\tin" -j ACCEPT',
      '-A INPUT -m comment --comment "" -j ACCEPT',
    ],
  },
]);

test('quoting (comment module): an unterminated quote swallows the rest of the line and its newline', () => {
  if (missing(['comment'])) return void console.log('  skipped: match module comment not registered');
  const save = printSave(load(filter('-A INPUT -m comment --comment "unterminated -j ACCEPT')));
  assert.ok(save.includes('\n-A INPUT -m comment --comment "unterminated -j ACCEPT\n"\nCOMMIT\n'), save);
});

rejectTable('quoting', [
  { name: 'text after a closing quote is a new argument', input: filter('-A INPUT -m comment --comment x"y z"w -j ACCEPT'), line: 2, message: "Bad argument `w'" },
]);

// ---------------------------------------------------------------------------- negation

acceptTable('! placement', [
  { name: '! -s', input: filter('-A INPUT ! -s 1.2.3.4 -j ACCEPT'), save: ['-A INPUT ! -s 1.2.3.4/32 -j ACCEPT'] },
  { name: '! -p tcp', input: filter('-A INPUT ! -p tcp -j ACCEPT'), save: ['-A INPUT ! -p tcp -j ACCEPT'] },
  { name: '! -i with a wildcard', input: filter('-A FORWARD ! -i + -j ACCEPT', '-A FORWARD -i eth+ -o ! -j ACCEPT'), save: ['-A FORWARD ! -i + -j ACCEPT', '-A FORWARD -i eth+ -o ! -j ACCEPT'] },
  { name: '! before a module option', needs: ['tcp'], input: filter('-A INPUT -p tcp ! --dport 80 -j ACCEPT'), save: ['-A INPUT -p tcp -m tcp ! --dport 80 -j ACCEPT'] },
  { name: '! -p tcp still loads the tcp match', needs: ['tcp'], input: filter('-A INPUT ! -p tcp --dport 80 -j ACCEPT'), save: ['-A INPUT ! -p tcp -m tcp --dport 80 -j ACCEPT'] },
]);

rejectTable('! placement', [
  { name: 'the old `-s ! x` form (1.8.9 takes ! as the address)', input: filter('-A INPUT -s ! 1.2.3.4 -j ACCEPT'), line: 2, message: "Bad argument `1.2.3.4'" },
  { name: '! !', input: filter('-A INPUT ! ! -s 1.2.3.4 -j ACCEPT'), line: 2, message: 'multiple consecutive ! not allowed' },
  { name: 'trailing !', input: filter('-A INPUT -s 1.2.3.4 !'), line: 2, message: 'nothing appropriate following !' },
  { name: '! before a command', input: filter('! -A INPUT'), line: 2, message: "unexpected '!' flag" },
  { name: '! -j', input: filter('-A INPUT ! -j ACCEPT'), line: 2, message: 'cannot have ! before -j' },
  { name: '! --jump', input: filter('-A INPUT ! --jump ACCEPT'), line: 2, message: 'cannot have ! before -j' },
  { name: '! -g', input: filter('-A INPUT ! -g X'), line: 2, message: 'cannot have ! before -j' },
  { name: '! -n', input: filter('-A INPUT ! -n'), line: 2, message: 'cannot have ! before -n' },
  { name: '! -c', input: filter('-A INPUT ! -c 1 2'), line: 2, message: 'cannot have ! before -c' },
  { name: '! -m', input: filter('-A INPUT ! -m mark --mark 1'), line: 2, message: 'unexpected ! flag before --match' },
  { name: '! -p all', input: filter('-A FORWARD ! -p all -j ACCEPT'), line: 2, message: 'rule would never match protocol' },
]);

// ---------------------------------------------------------------------------- header fields

acceptTable('protocol', [
  { name: '-p tcp --dport loads -m tcp', needs: ['tcp'], input: filter('-A INPUT -p tcp --dport 80 -j ACCEPT'), save: ['-A INPUT -p tcp -m tcp --dport 80 -j ACCEPT'] },
  { name: 'protocol names are case-insensitive', needs: ['tcp'], input: filter('-A INPUT -p TCP --sport 1 -j ACCEPT'), save: ['-A INPUT -p tcp -m tcp --sport 1 -j ACCEPT'] },
  {
    name: 'numbers, all, 0 and names',
    input: filter('-A INPUT -p 6 -j ACCEPT', '-A INPUT -p all -j ACCEPT', '-A INPUT -p 0 -j ACCEPT', '-A FORWARD -p 200 -j ACCEPT', '-A FORWARD ! -p gre -j ACCEPT', '-A FORWARD -p 255 -j ACCEPT'),
    save: ['-A INPUT -p tcp -j ACCEPT', '-A INPUT -j ACCEPT', '-A INPUT -j ACCEPT', '-A FORWARD -p 200 -j ACCEPT', '-A FORWARD ! -p gre -j ACCEPT', '-A FORWARD -p 255 -j ACCEPT'],
  },
  {
    name: 'IPv6 protocol names',
    opts: { family: 6 },
    input: filter('-A FORWARD -p ipv6-icmp -j ACCEPT', '-A FORWARD -p icmpv6 -j ACCEPT'),
    save: ['-A FORWARD -p ipv6-icmp -j ACCEPT', '-A FORWARD -p ipv6-icmp -j ACCEPT'],
  },
]);

acceptTable('addresses and interfaces', [
  {
    name: '-s a,b -d c,d: one rule per pair, source-major',
    input: filter('-A INPUT -s 1.2.3.4,5.6.7.0/24 -d 9.9.9.9,8.8.8.8 -j ACCEPT'),
    save: ['-A INPUT -s 1.2.3.4/32 -d 9.9.9.9/32 -j ACCEPT', '-A INPUT -s 1.2.3.4/32 -d 8.8.8.8/32 -j ACCEPT', '-A INPUT -s 5.6.7.0/24 -d 9.9.9.9/32 -j ACCEPT', '-A INPUT -s 5.6.7.0/24 -d 8.8.8.8/32 -j ACCEPT'],
  },
  {
    name: 'masks: dotted, non-contiguous, /0 (printed as nothing), host bits cleared',
    input: filter('-A INPUT -s 1.2.3.4/255.255.255.0 -j ACCEPT', '-A INPUT -s 1.2.3.4/255.0.255.0 -j ACCEPT', '-A INPUT -s 0.0.0.0/0 -j ACCEPT', '-A INPUT -s 1.2.3.4/0 -d 10.0.0.1/8 -j ACCEPT'),
    save: ['-A INPUT -s 1.2.3.0/24 -j ACCEPT', '-A INPUT -s 1.0.3.0/255.0.255.0 -j ACCEPT', '-A INPUT -j ACCEPT', '-A INPUT -d 10.0.0.0/8 -j ACCEPT'],
  },
  { name: '-i + matches every interface and is not printed', input: filter('-A FORWARD -i + -j ACCEPT'), save: ['-A FORWARD -j ACCEPT'] },
  {
    name: 'long option names and unique abbreviations',
    needs: ['tcp'],
    input: filter('-A FORWARD --sou 1.2.3.4 --dst 5.6.7.8 --in-int eth0 --out eth1 --prot tcp --dp 80 --jum ACCEPT'),
    save: ['-A FORWARD -s 1.2.3.4/32 -d 5.6.7.8/32 -i eth0 -o eth1 -p tcp -m tcp --dport 80 -j ACCEPT'],
  },
  { name: 'an abbreviated module option', needs: ['tcp'], input: filter('-A INPUT -p tcp --destination-p 80 -j ACCEPT'), save: ['-A INPUT -p tcp -m tcp --dport 80 -j ACCEPT'] },
]);

rejectTable('addresses, interfaces and options', [
  { name: 'ambiguous abbreviation --in (insert, in-interface)', input: filter('-A INPUT --in eth0 -j ACCEPT'), line: 2, message: 'unknown option "--in"' },
  { name: 'ambiguous abbreviation --d', input: filter('-A INPUT -p tcp --d 80 -j ACCEPT'), line: 2, message: 'unknown option "--d"' },
  { name: 'ambiguous across generic and tcp options (--dest)', input: filter('-A INPUT --pro tcp --sp 80 --dest 1.1.1.1 -j ACCEPT'), line: 2, message: 'unknown option "--dest"' },
  { name: 'ambiguous --so (source, source-port)', input: filter('-A FORWARD -p udp --destination-p 53 --so 1.1.1.1 -j ACCEPT'), line: 2, message: 'unknown option "--so"' },
  { name: 'mask too long', input: filter('-A INPUT -s 1.1.1.1/33'), line: 2, message: "invalid mask `33' specified" },
  { name: 'bad address', input: filter('-A INPUT -s 1.1.1.256'), line: 2, message: "host/network `1.1.1.256' not found" },
  { name: 'host names are not resolved', input: filter('-A INPUT -s pxe.example.org -j ACCEPT'), line: 2, message: "host/network `pxe.example.org' not found" },
  { name: 'empty interface', input: filter('-A FORWARD -i "" -j ACCEPT'), line: 2, message: 'Empty interface is likely to be undesired' },
  { name: '-o in INPUT', input: filter('-A INPUT -o eth0 -j ACCEPT'), line: 2, message: "Can't use -o with INPUT" },
  { name: '-o in PREROUTING', input: '*nat\n-A PREROUTING -o eth0 -j ACCEPT\nCOMMIT\n', line: 2, message: "Can't use -o with PREROUTING" },
  { name: '-i in OUTPUT', input: filter('-A OUTPUT -i eth0 -j ACCEPT'), line: 2, message: "Can't use -i with OUTPUT" },
  { name: '-i in POSTROUTING', input: '*nat\n-A POSTROUTING -i eth0 -j ACCEPT\nCOMMIT\n', line: 2, message: "Can't use -i with POSTROUTING" },
  { name: 'two -i', input: filter('-A FORWARD -i eth0 -i eth1 -j ACCEPT'), line: 2, message: 'multiple -i flags not allowed' },
  { name: 'two -s', input: filter('-A INPUT -s 1.1.1.1 -s 2.2.2.2'), line: 2, message: 'multiple -s flags not allowed' },
  { name: 'two -p', input: filter('-A INPUT -p tcp -p udp'), line: 2, message: 'multiple -p flags not allowed' },
  { name: 'two -j', input: filter('-A INPUT -j ACCEPT -j DROP'), line: 2, message: 'multiple -j flags not allowed' },
  { name: 'unknown protocol', input: filter('-A INPUT -p foo'), line: 2, message: 'unknown protocol "foo" specified' },
  { name: 'missing -j argument', input: filter('-A INPUT -j'), line: 2, message: 'option "-j" requires an argument' },
  { name: 'missing -A argument', input: filter('-A'), line: 2, message: 'option "-A" requires an argument' },
  { name: 'two commands', input: filter('-A INPUT -D INPUT'), line: 2, message: 'Cannot use -D with -A' },
  { name: 'a line of blanks', input: filter(' '), line: 2, message: 'no command specified' },
  { name: '-t in restore input', input: filter('-t filter -A INPUT -j ACCEPT'), line: 2, message: 'The -t option cannot be used in' },
  { name: '! with an address list', input: filter('-A INPUT ! -s 1.1.1.1 -d 2.2.2.2,3.3.3.3'), line: 2, message: '! not allowed with multiple source or destination IP addresses' },
  { name: '! with an address list comes before the -R address check', input: filter('-A INPUT -j ACCEPT', '-R INPUT 1 ! -s 1.1.1.1,2.2.2.2'), line: 3, message: '! not allowed with multiple source or destination IP addresses' },
  { name: 'a bad address comes before -o in INPUT', input: filter('-A INPUT -o eth0 -s 1.1.1.256'), line: 2, message: "host/network `1.1.1.256' not found" },
  { name: 'a bad address comes before an illegal option', input: filter('-F INPUT -s 1.1.1.256'), line: 2, message: "host/network `1.1.1.256' not found" },
  { name: 'an illegal option comes before -o in INPUT', input: filter('-A INPUT -o eth0 -n'), line: 2, message: "Illegal option `-n' with this command" },
  { name: '-R address check comes before the illegal option', input: filter('-R INPUT 1 -n -s 1.1.1.1,2.2.2.2'), line: 2, message: 'Replacement rule does not specify a unique address' },
  { name: '! -s 0.0.0.0/0 is refused by the kernel (at the rule)', input: filter('-A INPUT -j ACCEPT', '-A INPUT ! -s 0.0.0.0/0 -j ACCEPT', '-A INPUT -j DROP'), line: 3, message: 'RULE_APPEND failed (Invalid argument): rule in chain INPUT' },
]);

// ---------------------------------------------------------------------------- counters

acceptTable('counters', [
  {
    name: 'with --counters: [p:b] before a rule, with or without a blank; chain policy counters',
    opts: { counters: true },
    input: filter(':INPUT DROP [1:2]', '[5:6]-A INPUT -j ACCEPT', '[7:8]   -A INPUT -j DROP', '-A INPUT -j RETURN'),
    save: ['[5:6] -A INPUT -j ACCEPT', '[7:8] -A INPUT -j DROP', '[0:0] -A INPUT -j RETURN'],
  },
  { name: 'without --counters they are read and dropped', input: filter(':INPUT DROP [1:2]', '[5:6]-A INPUT -j ACCEPT'), save: ['-A INPUT -j ACCEPT'] },
  { name: 'without --counters, counter text is not checked', input: filter('[a:b] -A INPUT -j ACCEPT', ':FORWARD DROP junk'), save: ['-A INPUT -j ACCEPT'] },
]);

test('counters: policy counters with --counters, and -c P B on a rule', () => {
  const rs = load(filter(':INPUT DROP [1:2]', ':OUTPUT ACCEPT [3:4]junk', '-A INPUT -c 9 10 -j ACCEPT', '-A INPUT -c 11,12 -j ACCEPT'), { counters: true });
  const save = printSave(rs, { counters: true });
  assert.ok(save.includes(':INPUT DROP [1:2]\n'), save);
  assert.ok(save.includes(':OUTPUT ACCEPT [3:4]\n'), save);
  assert.equal(rules(rs, true), ['[9:10] -A INPUT -j ACCEPT', '[11:12] -A INPUT -j ACCEPT']);
  // Without --counters the chain counters are zero.
  assert.ok(printSave(load(filter(':INPUT DROP [1:2]'))).includes(':INPUT DROP [0:0]\n'));
});

rejectTable('counters', [
  { name: 'no closing bracket', input: filter('[1:2 -A INPUT -j ACCEPT'), line: 2, message: 'Bad line 2: need ]' },
  { name: 'no colon', input: filter('[1] -A INPUT -j ACCEPT'), line: 2, message: 'Bad line 2: need ]' },
  { name: 'not numeric (with --counters)', opts: { counters: true }, input: filter('[a:b] -A INPUT -j ACCEPT'), line: 2, message: '-c packet counter not numeric' },
  { name: 'counters make -D illegal (with --counters)', opts: { counters: true }, input: filter('-A INPUT -j ACCEPT', '[1:2] -D INPUT -j ACCEPT'), line: 3, message: "Illegal option `-c' with this command" },
  { name: 'missing policy counters (with --counters)', opts: { counters: true }, input: filter(':INPUT DROP [1:2]', ':FORWARD DROP'), line: 3, message: "invalid policy counters for chain 'FORWARD'" },
  { name: '-c needs two numbers', input: filter('-A INPUT -c 1 -j ACCEPT'), line: 2, message: '-c requires packet and byte counter' },
]);

// ---------------------------------------------------------------------------- commands

acceptTable('commands', [
  { name: '-I at positions', input: filter('-I INPUT 1 -j ACCEPT', '-I INPUT 2 -j DROP', '-I INPUT -j RETURN'), save: ['-A INPUT -j RETURN', '-A INPUT -j ACCEPT', '-A INPUT -j DROP'] },
  // A successful -R makes iptables-nft-restore 1.8.9 crash (segfault); `iptables -R` shows the result.
  { name: '-R replaces', input: filter('-A INPUT -j ACCEPT', '-A INPUT -j DROP', '-R INPUT 2 -s 1.1.1.1 -j RETURN'), save: ['-A INPUT -j ACCEPT', '-A INPUT -s 1.1.1.1/32 -j RETURN'] },
  { name: '-D by number', input: filter('-A INPUT -j ACCEPT', '-A INPUT -j DROP', '-D INPUT 1'), save: ['-A INPUT -j DROP'] },
  { name: '-D by rule deletes the first match only', input: filter('-A INPUT -s 1.1.1.1 -j ACCEPT', '-A INPUT -s 2.2.2.2 -j ACCEPT', '-A INPUT -s 1.1.1.1 -j ACCEPT', '-D INPUT -s 1.1.1.1/32 -j ACCEPT'), save: ['-A INPUT -s 2.2.2.2/32 -j ACCEPT', '-A INPUT -s 1.1.1.1/32 -j ACCEPT'] },
  { name: '-D with an address list deletes each', input: filter('-A INPUT -s 1.1.1.1 -j ACCEPT', '-A INPUT -s 2.2.2.2 -j ACCEPT', '-D INPUT -s 1.1.1.1,2.2.2.2 -j ACCEPT'), save: [] },
  { name: '-D NUM ignores -m', needs: ['mark'], input: filter('-A INPUT -j ACCEPT', '-D INPUT 1 -m mark --mark 1'), save: [] },
  { name: '-N then :X - [0:0] is fine', input: filter('-N X', ':X - [0:0]', '-A X -j ACCEPT'), save: ['-A X -j ACCEPT'] },
  { name: ':X DROP on a user chain ignores the policy', input: filter(':X DROP [0:0]', '-A X -j ACCEPT'), save: ['-A X -j ACCEPT'] },
  { name: '-F X, -X Y, then -A X', input: filter('-N X', '-N Y', '-A X -j Y', '-F X', '-X Y', '-A X -j ACCEPT'), save: ['-A X -j ACCEPT'] },
  { name: '-X (all user chains) when none is busy', input: filter('-N X', '-N Y', '-A INPUT -j ACCEPT', '-X'), save: ['-A INPUT -j ACCEPT'] },
  { name: '-v and -4 are allowed', input: filter('-A INPUT -v -j ACCEPT', '-A INPUT -4 -j DROP'), save: ['-A INPUT -j ACCEPT', '-A INPUT -j DROP'] },
  { name: 'a -6 line is skipped by iptables-restore (even with errors after it)', input: filter('-A INPUT -6 -j DROP', '-A INPUT -6 --bogus', '-A INPUT -j ACCEPT'), save: ['-A INPUT -j ACCEPT'] },
  { name: '-L and -S change nothing', input: filter('-A INPUT -j ACCEPT', '-L', '-S INPUT'), save: ['-A INPUT -j ACCEPT'] },
  { name: 'a chain announced by :NAME wins over a target of that name', input: filter(':LOG - [0:0]', '-A INPUT -j LOG'), save: ['-A INPUT -j LOG'] },
]);

test('commands: -P and :CHAIN policies, `-` keeps the policy', () => {
  const rs = load(filter(':INPUT DROP [0:0]', '-P FORWARD DROP'));
  const save = printSave(rs);
  assert.ok(save.includes(':INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n'), save);
  const kept = load(filter(':INPUT - [0:0]', ':FORWARD - [0:0]'), { noflush: true }, rs);
  assert.ok(printSave(kept).includes(':INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n'), printSave(kept));
});

test('commands: -E renames a chain of the table and the jumps to it', () => {
  const base = load(filter('-N X', '-A INPUT -j X', '-A X -j ACCEPT'));
  const rs = load(filter('-E X Y'), { noflush: true }, base);
  assert.equal(rules(rs), ['-A INPUT -j Y', '-A Y -j ACCEPT']);
  assert.ok(printSave(rs).includes(':Y - [0:0]\n'));
});

rejectTable('commands', [
  { name: '-N of an existing chain', input: filter('-N X', '-N X'), line: 3, message: 'Chain already exists' },
  { name: '-N of a declared chain', input: filter(':X - [0:0]', '-N X'), line: 3, message: 'Chain already exists' },
  { name: '-N of a built-in chain', input: filter('-N INPUT'), line: 2, message: 'Chain already exists' },
  { name: '-N with a target name', input: filter('-N LOG'), line: 2, message: 'chain name may not clash with target name' },
  { name: '-N ACCEPT', input: filter('-N ACCEPT'), line: 2, message: 'chain name may not clash with target name' },
  { name: ':ACCEPT', input: filter(':ACCEPT - [0:0]'), line: 2, message: 'chain name may not clash with target name' },
  { name: ':-X', input: filter(':-X - [0:0]'), line: 2, message: "chain name not allowed to start with `-'" },
  { name: '-N !x', input: filter('-N !x'), line: 2, message: "chain name not allowed to start with `!'" },
  { name: '-N "a b"', input: filter('-N "a b"'), line: 2, message: "Invalid chain name `a b'" },
  { name: '-N with 29 characters', input: filter('-N ABCDEFGHIJKLMNOPQRSTUVWXYZ123'), line: 2, message: "chain name `ABCDEFGHIJKLMNOPQRSTUVWXYZ123' too long (must be under 29 chars)" },
  { name: ':NAME with 29 characters', input: filter(':ABCDEFGHIJKLMNOPQRSTUVWXYZ123 - [0:0]'), line: 2, message: "chain name `ABCDEFGHIJKLMNOPQRSTUVWXYZ123' too long (must be under 29 chars)" },
  { name: 'any command names a chain of at most 28 characters', input: filter('-A ABCDEFGHIJKLMNOPQRSTUVWXYZ123 -j ACCEPT'), line: 2, message: "chain name `ABCDEFGHIJKLMNOPQRSTUVWXYZ123' too long (must be under 29 chars)" },
  { name: '-X of a 29-character name', input: filter('-X ABCDEFGHIJKLMNOPQRSTUVWXYZ123'), line: 2, message: "chain name `ABCDEFGHIJKLMNOPQRSTUVWXYZ123' too long (must be under 29 chars)" },
  { name: 'an illegal option comes before the chain name length', input: filter('-A ABCDEFGHIJKLMNOPQRSTUVWXYZ123 -n'), line: 2, message: "Illegal option `-n' with this command" },
  { name: '-j with 29 characters', input: filter('-A INPUT -j ABCDEFGHIJKLMNOPQRSTUVWXYZ123'), line: 2, message: "Invalid target name `ABCDEFGHIJKLMNOPQRSTUVWXYZ123' (28 chars max)" },
  { name: '-j with a blank (an unterminated quote)', input: filter('-A INPUT -j "A B'), line: 2, message: "Invalid target name `A B\n'" },
  { name: '-j ""', input: filter('-A INPUT -j ""'), line: 2, message: 'Invalid target name (too short)' },
  { name: '-X of a built-in chain', input: filter('-X INPUT'), line: 2, message: 'No chain/target/match by that name' },
  { name: '-X of a missing chain', input: filter('-X NOPE'), line: 2, message: 'No chain/target/match by that name' },
  { name: '-X of a referenced chain', input: filter('-N X', '-A INPUT -j X', '-X X'), line: 4, message: 'CHAIN_DEL failed (Device or resource busy): chain X' },
  { name: '-X of a chain with rules', input: filter('-N X', '-A X -j ACCEPT', '-X X'), line: 4, message: 'CHAIN_DEL failed (Device or resource busy): chain X' },
  { name: '-X (all) with a busy chain', input: filter('-N X', '-A X -j ACCEPT', '-X'), line: 4, message: 'CHAIN_DEL failed (Device or resource busy): chain X' },
  { name: '-A to a missing chain', input: filter('-A NOPE -j ACCEPT'), line: 2, message: 'No chain/target/match by that name' },
  { name: '-I to a missing chain', input: filter('-I NOPE -j ACCEPT'), line: 2, message: 'No chain/target/match by that name' },
  { name: '-F of a missing chain', input: filter('-F NOPE'), line: 2, message: 'No chain/target/match by that name' },
  { name: '-Z of a chain of a table that does not exist yet', input: filter('-Z INPUT'), line: 2, message: 'No chain/target/match by that name' },
  { name: '-I past the end', input: filter('-I INPUT 2 -j ACCEPT'), line: 2, message: 'Index of insertion too big' },
  { name: '-I past the end of a longer chain', input: filter('-I INPUT 1 -j ACCEPT', '-I INPUT 2 -j DROP', '-I INPUT 4 -j DROP'), line: 4, message: 'Index of insertion too big' },
  { name: '-I 0', input: filter('-I INPUT 0 -j ACCEPT'), line: 2, message: "Invalid rule number `0'" },
  { name: '-I x', input: filter('-I INPUT x -j ACCEPT'), line: 2, message: "Invalid rule number `x'" },
  { name: '-R in an empty chain', input: filter('-R INPUT 1 -j ACCEPT'), line: 2, message: 'No chain/target/match by that name' },
  { name: '-R past the end', input: filter('-A INPUT -j ACCEPT', '-R INPUT 1 -j DROP', '-R INPUT 2 -j DROP'), line: 4, message: 'Index of replacement too big' },
  { name: '-R without a number', input: filter('-A INPUT -j ACCEPT', '-R INPUT -j DROP'), line: 3, message: '-R requires a rule number' },
  { name: '-R with two addresses', input: filter('-A INPUT -j ACCEPT', '-R INPUT 1 -s 1.1.1.1,2.2.2.2 -j DROP'), line: 3, message: 'Replacement rule does not specify a unique address' },
  { name: '-D NUM in an empty chain', input: filter('-D INPUT 1'), line: 2, message: 'No chain/target/match by that name' },
  { name: '-D NUM past the end', input: filter('-A INPUT -j ACCEPT', '-D INPUT 2'), line: 3, message: 'Index of deletion too big' },
  { name: '-D of a rule that is not there', input: filter('-A INPUT -j ACCEPT', '-D INPUT -j DROP'), line: 3, message: 'Bad rule (does a matching rule exist in that chain?)' },
  { name: '-D of a rule in an empty chain', input: filter('-D INPUT -j DROP'), line: 2, message: 'Bad rule (does a matching rule exist in that chain?)' },
  { name: '-C of a rule that is not there', input: filter('-C INPUT -j ACCEPT'), line: 2, message: 'Bad rule (does a matching rule exist in that chain?)' },
  { name: '-D 0', input: filter('-A INPUT -j ACCEPT', '-D INPUT 0'), line: 3, message: "Invalid rule number `0'" },
  { name: '-D x', input: filter('-A INPUT -j ACCEPT', '-D INPUT x'), line: 3, message: "Invalid rule number `x'" },
  { name: '-D NUM with -j', input: filter('-A INPUT -j ACCEPT', '-D INPUT 1 -j ACCEPT'), line: 3, message: "Illegal option `-j' with this command" },
  { name: '-D NUM with -i and -s names -s first', input: filter('-A INPUT -j ACCEPT', '-D INPUT 1 -i eth0 -s 1.1.1.1'), line: 3, message: "Illegal option `-s' with this command" },
  { name: '-F with -s', input: filter('-F INPUT -s 1.1.1.1'), line: 2, message: "Illegal option `-s' with this command" },
  { name: '-N with -p', input: filter('-N X -p tcp -j ACCEPT'), line: 2, message: "Illegal option `-p' with this command" },
  { name: '-A with -n', input: filter('-A INPUT -n -j ACCEPT'), line: 2, message: "Illegal option `-n' with this command" },
  { name: '-A with -x', input: filter('-A INPUT -x -j ACCEPT'), line: 2, message: "Illegal option `-x' with this command" },
  { name: '-A with --line-numbers', input: filter('-A INPUT -f --line-numbers'), line: 2, message: "Illegal option `-0' with this command" },
  { name: '-Z CHAIN NUM', input: filter('-A INPUT -j ACCEPT', '-Z INPUT 1'), line: 3, message: 'line failed' },
  { name: '-P with RETURN', input: filter('-P INPUT RETURN'), line: 2, message: 'Bad policy name' },
  { name: ':INPUT RETURN', input: filter(':INPUT RETURN [0:0]'), line: 2, message: 'Bad policy name' },
  { name: '-P in lower case', input: filter('-P INPUT accept'), line: 2, message: 'Bad policy name' },
  { name: '-P on a user chain', input: filter('-N X', '-P X DROP'), line: 3, message: 'Bad built-in chain name' },
  { name: '-P on a missing chain', input: filter('-P NOPE DROP'), line: 2, message: 'Bad built-in chain name' },
  { name: '-P without a policy', input: filter('-P INPUT'), line: 2, message: '-P requires a chain and a policy' },
  { name: '-E of a missing chain', input: filter('-E NOPE Y'), line: 2, message: 'No chain/target/match by that name' },
  { name: '-E onto an existing name', input: filter('-N X', '-N Y', '-E X Y'), line: 4, message: 'File exists' },
  { name: '-E of a chain created in the same transaction (kernel)', input: filter('-N X', '-A INPUT -j X', '-E X Y'), line: 4, message: 'CHAIN_RENAME failed (No such file or directory): chain Y' },
  { name: '-E without a new name', input: filter('-N X', '-E X -foo'), line: 3, message: '-E requires old-chain-name and new-chain-name' },
]);

// ---------------------------------------------------------------------------- restore structure

test('restore: a table exists only once a command creates its chains', () => {
  assert.is(printSave(load(filter())), '', '*filter + COMMIT creates nothing');
  assert.is(printSave(load(filter('-F'))), '', '-F alone creates nothing');
  assert.is(printSave(load(filter('-X', '-Z'))), '', '-X and -Z alone create nothing');
  assert.is(printSave(load(filter('-F INPUT'))), '*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n');
  assert.is(printSave(load('*raw\n-P OUTPUT DROP\nCOMMIT\n')), '*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT DROP [0:0]\nCOMMIT\n');
  assert.is(
    printSave(load('*nat\n:FOO - [0:0]\nCOMMIT\n')),
    '*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n:FOO - [0:0]\nCOMMIT\n',
  );
  // Without --noflush an empty block removes the table; --noflush keeps it.
  const base = load(filter(':INPUT DROP [0:0]', '-N X', '-A INPUT -j X') + '*nat\n-A POSTROUTING -s 1.2.3.4 -j ACCEPT\nCOMMIT\n');
  assert.is(printSave(load(filter(), {}, base)), '*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n-A POSTROUTING -s 1.2.3.4/32 -j ACCEPT\nCOMMIT\n');
  assert.equal(rules(load(filter('-F'), { noflush: true }, base)), ['-A POSTROUTING -s 1.2.3.4/32 -j ACCEPT']);
  assert.ok(printSave(load(filter('-F'), { noflush: true }, base)).includes(':INPUT DROP [0:0]\n'));
});

test('restore: a built-in chain exists once a command names it (nft list ruleset); save prints every one', () => {
  const names = (rs: Ruleset, t = 'filter') => tableOf(rs, t)?.chains.map((c) => c.name);
  const fwd = load(filter('-A FORWARD -j ACCEPT'));
  assert.equal(names(fwd), ['FORWARD']);
  assert.is(printSave(fwd), '*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A FORWARD -j ACCEPT\nCOMMIT\n');
  assert.equal(names(load(filter(':INPUT ACCEPT [0:0]', ':FORWARD ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]', '-A FORWARD -j ACCEPT'))), ['INPUT', 'FORWARD', 'OUTPUT']);
  assert.equal(names(load(filter('-N X'))), ['X']);
  assert.equal(names(load(filter('-F INPUT'))), ['INPUT']);
  assert.equal(names(load(filter('-P INPUT DROP'))), ['INPUT']);
  assert.equal(names(load('*nat\n:X - [0:0]\n-A X -j ACCEPT\nCOMMIT\n'), 'nat'), ['X']);
  assert.equal(names(load(filter('-A OUTPUT -j ACCEPT', '-P INPUT DROP'))), ['INPUT', 'OUTPUT'], 'built-in chains stay in hook order');
});

test('restore: -X and -Z on built-in chains this transaction created (iptables-nft 1.8.9)', () => {
  const policies = (rs: Ruleset) => printSave(rs).split('\n').filter((l) => /^:(INPUT|FORWARD|OUTPUT) /.test(l));
  // -X deletes the empty built-in chains created in the same transaction: their policy goes.
  const x = load(filter(':INPUT DROP [0:0]', '-X'));
  assert.equal(tableOf(x, 'filter')?.chains, [], 'the table stays, without chains');
  assert.equal(policies(x), [':INPUT ACCEPT [0:0]', ':FORWARD ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]']);
  assert.equal(policies(load(filter(':INPUT DROP [0:0]', ':FORWARD DROP [0:0]', '-A FORWARD -j ACCEPT', '-X'))), [':INPUT ACCEPT [0:0]', ':FORWARD DROP [0:0]', ':OUTPUT ACCEPT [0:0]']);
  assert.equal(policies(load(filter(':INPUT DROP [0:0]', '-X', '-A INPUT -j ACCEPT'))), [':INPUT ACCEPT [0:0]', ':FORWARD ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]']);
  // -Z gives a built-in chain back the policy it had before the transaction.
  assert.equal(policies(load(filter('-P INPUT DROP', '-A INPUT -j ACCEPT', '-Z'))), [':INPUT ACCEPT [0:0]', ':FORWARD ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]']);
  assert.equal(policies(load(filter('-P INPUT DROP', '-P FORWARD DROP', '-Z FORWARD'))), [':INPUT DROP [0:0]', ':FORWARD ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]']);
  assert.equal(policies(load(filter('-P INPUT DROP', '-Z', '-P INPUT DROP'))), [':INPUT DROP [0:0]', ':FORWARD ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]']);
  // Chains that existed before the transaction (--noflush) keep theirs.
  const base = load(filter('-P INPUT DROP', '-A FORWARD -j ACCEPT'));
  assert.equal(policies(load(filter('-P INPUT ACCEPT', '-P OUTPUT DROP', '-Z'), { noflush: true }, base)), [':INPUT DROP [0:0]', ':FORWARD ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]']);
  assert.equal(policies(load(filter('-P INPUT ACCEPT', '-P OUTPUT DROP', '-X'), { noflush: true }, base)), [':INPUT ACCEPT [0:0]', ':FORWARD ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]']);
  assert.equal(policies(load(filter('-X'), { noflush: true }, base)), [':INPUT DROP [0:0]', ':FORWARD ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]']);
});

test('restore: tables print in iptables-nft order, comments and blank lines are skipped, a last line may lack its newline', () => {
  const rs = load('# c\n\n*nat\n-A POSTROUTING -j ACCEPT\nCOMMIT\n*mangle\n-A INPUT -j ACCEPT\nCOMMIT\n*filter\n-A INPUT -j ACCEPT\nCOMMIT');
  assert.equal(printSave(rs).split('\n').filter((l) => l[0] === '*'), ['*mangle', '*filter', '*nat']);
});

rejectTable('restore structure', [
  { name: 'unknown table', input: '*bogus\nCOMMIT\n', line: 1, message: "line 1 table name 'bogus' invalid" },
  { name: 'no table name', input: '*\nCOMMIT\n', line: 1, message: 'line 1 table name invalid' },
  { name: 'CRLF line ends', input: '*filter\r\n-A INPUT -j ACCEPT\r\nCOMMIT\r\n', line: 1, message: "line 1 table name 'filter\r' invalid" },
  { name: 'COMMIT outside a table', input: 'COMMIT\n', line: 1, message: 'line 1 failed' },
  { name: 'a chain line outside a table', input: ':INPUT ACCEPT\n', line: 1, message: 'line 1 failed' },
  { name: 'a line of blanks outside a table', input: filter('-A INPUT -j ACCEPT') + ' \n', line: 4, message: 'line 4 failed' },
  { name: 'a table line inside a table', input: filter('-A INPUT -j ACCEPT', '*nat'), line: 3, message: "Bad argument `*nat'" },
  { name: 'COMMIT with a trailing blank', input: '*filter\n-A INPUT -j ACCEPT\nCOMMIT \n', line: 3, message: "Bad argument `COMMIT'" },
  { name: 'no COMMIT', input: '*filter\n-A INPUT -j ACCEPT\n', line: 3, message: 'COMMIT expected at line 3' },
  { name: 'no chain name', input: filter(':'), line: 2, message: 'line 2 chain name invalid' },
  { name: 'no policy', input: filter(':INPUT'), line: 2, message: 'line 2 policy invalid' },
  { name: 'an unknown match names it', input: filter('-A INPUT -m foo'), line: 2, message: "Couldn't load match `foo':No such file or directory" },
  { name: 'an unknown option names it', input: filter('-A INPUT -j LOG --bogus'), line: 2, message: 'unknown option "--bogus"' },
  { name: 'an unknown target is a jump to a chain, missing at COMMIT', input: filter('-A INPUT -j foo', '-A INPUT -j ACCEPT'), line: 4, message: "Chain 'foo' does not exist" },
  { name: '-g to a missing chain', input: filter('-A INPUT -g NOPE'), line: 3, message: "Chain 'NOPE' does not exist" },
  { name: '-g ACCEPT is a goto to a chain', input: filter('-A INPUT -g ACCEPT'), line: 3, message: "Chain 'ACCEPT' does not exist" },
  { name: 'a chain declared after the jump is too late', input: filter('-A INPUT -j B', ':B - [0:0]'), line: 4, message: "Chain 'B' does not exist" },
  { name: 'a chain created after the jump is too late', input: filter('-A INPUT -j B', '-N B'), line: 4, message: "Chain 'B' does not exist" },
  { name: 'a later parse error wins over an earlier missing chain', input: filter('-A INPUT -j B', '-A INPUT --bogus'), line: 3, message: 'unknown option "--bogus"' },
  { name: 'commands run at COMMIT in order: the missing chain first', input: filter('-A INPUT -j B', '-X NOPE'), line: 4, message: "Chain 'B' does not exist" },
  { name: 'a target option before -j is unknown', input: filter(':DNAT - [0:0]', '-A INPUT -j DNAT --to-destination 1.2.3.4'), line: 3, message: 'unknown option "--to-destination"' },
]);

// ---------------------------------------------------------------------------- --noflush and COMMIT

test('--noflush: declared user chains are flushed, built-in chains keep their rules, the rest is kept', () => {
  const base = load(filter(':INPUT DROP [0:0]', '-N X', '-N Y', '-A INPUT -j X', '-A X -j ACCEPT', '-A Y -j ACCEPT', '-A OUTPUT -j ACCEPT'));
  const rs = load(filter(':INPUT ACCEPT [5:6]', ':X - [0:0]', '-A X -j DROP'), { noflush: true }, base);
  assert.equal(rules(rs), ['-A INPUT -j X', '-A OUTPUT -j ACCEPT', '-A X -j DROP', '-A Y -j ACCEPT']);
  assert.ok(printSave(rs).includes(':INPUT ACCEPT [0:0]\n'), 'policy set, counters not taken without --counters');
  // Without --noflush the block replaces the table.
  assert.equal(rules(load(filter(':X - [0:0]', '-A X -j DROP'), {}, base)), ['-A X -j DROP']);
  // A declared chain that does not exist yet is created.
  assert.equal(rules(load(filter(':Z - [0:0]', '-A Z -j RETURN'), { noflush: true }, base)).slice(-1), ['-A Z -j RETURN']);
});

test('COMMIT is atomic per table: a failing second table leaves the first committed and nothing of the second', () => {
  const input = filter(':INPUT ACCEPT [0:0]', '-A INPUT -s 1.2.3.4 -j ACCEPT') + '*nat\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -s 1.2.3.5 -j ACCEPT\n-A PREROUTING -j NOPE\nCOMMIT\n';
  let err: unknown;
  try {
    load(input);
  } catch (e) {
    err = e;
  }
  assert.instance(err, RestoreError);
  const r = err as RestoreError;
  assert.is(r.line, 9, 'iptables-nft-restore names the COMMIT line');
  assert.ok(r.message.includes("Chain 'NOPE' does not exist"), r.message);
  assert.is(printSave(r.committed), '*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A INPUT -s 1.2.3.4/32 -j ACCEPT\nCOMMIT\n');
  // On top of an existing ruleset the failed block leaves the old table as it was.
  const base = load('*nat\n-A POSTROUTING -j ACCEPT\nCOMMIT\n');
  try {
    load(input, {}, base);
  } catch (e) {
    err = e;
  }
  assert.equal(rules((err as RestoreError).committed), ['-A INPUT -s 1.2.3.4/32 -j ACCEPT', '-A POSTROUTING -j ACCEPT']);
});

// ---------------------------------------------------------------------------- jumps

/** A chain C1 → C2 → … → Cn below INPUT (line 1 `*filter`, n declarations, then the rules). */
function nested(n: number, goto = false): string {
  const lines = ['*filter'];
  for (let i = 1; i <= n; i++) lines.push(`:C${i} - [0:0]`);
  lines.push(`-A INPUT ${goto ? '-g' : '-j'} C1`);
  for (let i = 1; i < n; i++) lines.push(`-A C${i} -j C${i + 1}`);
  lines.push(`-A C${n} -j ACCEPT`, 'COMMIT', '');
  return lines.join('\n');
}

acceptTable('jumps', [
  { name: 'a loop no base chain reaches is accepted (nf_tables validates from base chains)', input: filter(':A - [0:0]', ':B - [0:0]', '-A A -j B', '-A B -g A'), save: ['-A A -j B', '-A B -g A'] },
  { name: 'a chain jumping to itself, unreachable, is accepted', input: filter(':A - [0:0]', '-A A -j A'), save: ['-A A -j A'] },
]);

test('jumps: 15 nested user chains load, 16 do not (NFT_JUMP_STACK_SIZE), gotos count too', () => {
  assert.ok(load(nested(15)));
  const e16 = failure(nested(16));
  assert.is(e16.line, 33, 'the rule that enters level 16: -A C15 -j C16');
  assert.ok(e16.message.startsWith('RULE_APPEND failed (Too many links): rule in chain C15'), e16.message);
  const g = failure(nested(16, true));
  assert.is(g.line, 33);
});

rejectTable('jumps', [
  { name: 'a loop reachable from INPUT: blamed on the rule that links it in', input: filter(':A - [0:0]', ':B - [0:0]', '-A A -j B', '-A B -j A', '-A INPUT -j A'), line: 6, message: 'RULE_APPEND failed (Too many links): rule in chain INPUT' },
  { name: 'a loop closed after it is reachable: blamed on the closing rule', input: filter(':A - [0:0]', ':B - [0:0]', '-A INPUT -j A', '-A A -j B', '-A B -j A'), line: 6, message: 'RULE_APPEND failed (Too many links): rule in chain B' },
  { name: 'a jump to a built-in chain', input: filter('-A INPUT -j INPUT'), line: 2, message: 'RULE_APPEND failed (Operation not supported): rule in chain INPUT' },
  { name: 'a jump to a built-in chain that does not exist (kernel)', input: filter('-A INPUT -j FORWARD'), line: 2, message: 'RULE_APPEND failed (No such file or directory): rule in chain INPUT' },
  { name: '-I of a jump to a built-in chain', input: filter('-I INPUT -j INPUT'), line: 2, message: 'RULE_INSERT failed (Operation not supported): rule in chain INPUT' },
]);

// ---------------------------------------------------------------------------- unknown-match policy

test('unknown-match policy skip: the rule loads without the module, its options swallowed, a warning names it', () => {
  const warnings: string[] = [];
  const rs = load(filter('-A INPUT -m frobnicate --frob-level 3 ! --frob x -s 1.1.1.1 -j ACCEPT'), { unknownMatches: 'skip', warn: (m) => warnings.push(m) });
  assert.equal(rules(rs), ['-A INPUT -s 1.1.1.1/32 -j ACCEPT']);
  assert.is(warnings.length, 1);
  assert.ok(warnings[0]!.includes('frobnicate'), warnings[0]);
  const e = failure(filter('-A INPUT -m frobnicate --frob-level 3 -j ACCEPT'));
  assert.is(e.line, 2);
  assert.ok(e.message.includes("Couldn't load match `frobnicate'"), e.message);
});

// ---------------------------------------------------------------------------- command lines

test('iptables command lines: the same checks and wording (iptables-nft 1.8.9)', () => {
  const cmd = (rs: Ruleset, line: string): NfemuError => {
    try {
      applyCommand(rs, line, { file: 'cmds', line: 7 });
    } catch (e) {
      if (e instanceof NfemuError) return e;
      throw e;
    }
    assert.unreachable(`accepted: ${line}`);
    throw new Error('unreachable');
  };
  const empty = emptyRuleset(4 as Family);
  const x = applyCommand(empty, 'iptables -N X');
  assert.ok(cmd(x, 'iptables -N X').message.startsWith('Chain already exists'));
  assert.is(cmd(x, 'iptables -N X').line, 7);
  assert.ok(cmd(x, 'iptables -A INPUT -j NOPE').message.startsWith("Chain 'NOPE' does not exist"));
  assert.ok(cmd(x, 'iptables -A INPUT -j INPUT').message.startsWith('RULE_APPEND failed (Operation not supported): rule in chain INPUT'));
  assert.ok(cmd(x, 'iptables -X NOPE').message.startsWith('No chain/target/match by that name'));
  assert.ok(cmd(x, 'iptables -P INPUT RETURN').message.startsWith('Bad policy name'));
  // -F on a table that does not exist creates nothing; -F CHAIN creates the table.
  assert.is(printSave(applyCommand(empty, 'iptables -F')), '');
  assert.is(printSave(applyCommand(empty, 'iptables -t nat -F PREROUTING')), '*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\nCOMMIT\n');
  assert.equal(rules(applyCommand(empty, 'iptables -t nat -A POSTROUTING -j ACCEPT')), ['-A POSTROUTING -j ACCEPT']);
});

test.run();
