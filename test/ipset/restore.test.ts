/**
 * `ipset restore` semantics: error wording and line numbers, atomicity, -exist, flush,
 * destroy, rename, swap.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { NfemuError } from '../../src/core/index.ts';
import { dirs, mustGet, pkt, registry } from './helpers.ts';

function errorOf(fn: () => void): NfemuError {
  try {
    fn();
  } catch (e) {
    if (e instanceof NfemuError) return e;
    throw e;
  }
  throw new Error('expected an NfemuError');
}

const BASE = 'create a hash:ip\nadd a 10.0.0.1\ncreate b hash:net\nadd b 10.0.0.0/8\n';

test('errors carry the tool wording, file and line', () => {
  const { reg } = registry(BASE);
  const cases: Array<[string, number, string, string]> = [
    ['add a 10.0.0.2\nadd a 10.0.0.1\n', 2, "Element cannot be added to the set: it's already added", 'VALIDATE'],
    ['\n# comment\nadd nosuch 10.0.0.1\n', 3, 'The set with the given name does not exist', 'VALIDATE'],
    ['create a hash:ip\n', 1, 'Set cannot be created: set with the same name already exists', 'VALIDATE'],
    ['del a 10.9.9.9\n', 1, "Element cannot be deleted from the set: it's not added", 'VALIDATE'],
    ['add a 10.0.0.5 timeout 5\n', 1, 'Timeout cannot be used: set was created without timeout support', 'VALIDATE'],
    ['add a 10.0.0.5 comment "x"\n', 1, 'Comment cannot be used: set was created without comment support', 'VALIDATE'],
    ['add a 10.0.0.5 packets 1\n', 1, 'Packet/byte counters cannot be used: set was created without counter support', 'VALIDATE'],
    ['add a 0.0.0.0\n', 1, 'Null-valued element, cannot be stored in a hash type of set', 'VALIDATE'],
    ['add b 10.0.0.0/0\n', 1, 'The value of the CIDR parameter of the IP address is invalid', 'VALIDATE'],
    ['add a 2001:db8::1\n', 1, 'Syntax error: cannot parse 2001:db8::1: resolving to IPv4 address failed', 'PARSE'],
    ['swap a nosuch\n', 1, 'Sets cannot be swapped: the second set does not exist', 'VALIDATE'],
    ['swap a b\n', 1, 'The sets cannot be swapped: their type does not match', 'VALIDATE'],
    ['rename a b\n', 1, 'Set cannot be renamed: a set with the new name already exists', 'VALIDATE'],
    ['create c hash:ip\nadd c 1.2.3.4\nadd c 1.2.3.5 nomatch\n', 3, 'Syntax error: Unknown argument nomatch', 'PARSE'],
  ];
  for (const [text, line, message, code] of cases) {
    const e = errorOf(() => reg.restore(text, 'f.ipset'));
    assert.is(e.message, message, text);
    assert.is(e.line, line, text);
    assert.is(e.file, 'f.ipset', text);
    assert.is(e.code, code, text);
  }
});

test('maxelem: the set is full (mtype_add set_full)', () => {
  const { reg } = registry('create s hash:ip maxelem 2\nadd s 1.1.1.1\nadd s 1.1.1.2\n');
  const e = errorOf(() => reg.restore('add s 1.1.1.3\n'));
  assert.is(e.message, 'Hash is full, cannot add more elements');
  // Re-adding an element already there is checked before the limit.
  reg.restore('add s 1.1.1.1 -exist\n');
  // An expired entry frees its place: the add runs the garbage collector first.
  const t = registry('create s hash:ip maxelem 1 timeout 5\nadd s 1.1.1.1\n');
  t.clock.advanceSeconds(6);
  t.reg.restore('add s 1.1.1.2\n');
  assert.equal(t.reg.names(), ['s']);
  assert.is(mustGet(t.reg, 's').size, 1);
});

test('restore is atomic: a failing line leaves the registry unchanged', () => {
  const { reg, clock } = registry(BASE);
  const before = reg.save();
  const a = mustGet(reg, 'a');
  const bad = [
    'add a 10.0.0.7', 'flush b', 'create c hash:ip', 'add c 1.1.1.1', 'rename a z', 'destroy c',
    'create d list:set', 'add d b', 'add a 10.0.0.1', // already added: fails here
  ].join('\n');
  const e = errorOf(() => reg.restore(bad));
  assert.is(e.line, 9);
  assert.is(reg.save(), before);
  assert.equal(reg.names(), ['a', 'b']);
  assert.is(mustGet(reg, 'a'), a, 'handles survive a failed restore');
  assert.not.ok(a.test(pkt({ proto: 'udp', src: '10.0.0.7', dst: '1.1.1.1' }), dirs('src'), clock.nowMs()));
  assert.ok(mustGet(reg, 'b').test(pkt({ proto: 'udp', src: '10.3.0.7', dst: '1.1.1.1' }), dirs('src'), clock.nowMs()));
});

test('-exist: re-create with the same parameters, re-add, delete missing', () => {
  const { reg } = registry(BASE);
  reg.restore('create a hash:ip -exist\nadd a 10.0.0.1 -exist\ndel a 9.9.9.9 -exist\n');
  assert.is(errorOf(() => reg.restore('create a hash:ip maxelem 5 -exist\n')).message,
    'Set cannot be created: set with the same name already exists');
  assert.is(mustGet(reg, 'a').size, 1);
});

test('swap exchanges contents under the names the packet path holds; rename keeps the handle', () => {
  const { reg, clock } = registry('create live hash:ip\nadd live 1.1.1.1\ncreate tmp hash:ip\nadd tmp 2.2.2.2\n');
  const live = mustGet(reg, 'live');
  const p2 = pkt({ proto: 'udp', src: '2.2.2.2', dst: '9.9.9.9' });
  assert.not.ok(live.test(p2, dirs('src'), clock.nowMs()));
  reg.restore('swap tmp live\ndestroy tmp\n');
  assert.ok(live.test(p2, dirs('src'), clock.nowMs()), 'kube-router style create tmp / swap / destroy');
  assert.equal(reg.names(), ['live']);
  reg.restore('rename live other\n');
  assert.is(reg.get('other'), live);
  assert.is(live.name, 'other');
  reg.restore('destroy other\n');
  assert.not.ok(live.test(p2, dirs('src'), clock.nowMs()), 'a destroyed set matches nothing');
});

test('save keeps the kernel index order: a new set takes the first free slot', () => {
  const { reg } = registry('create a hash:ip\ncreate b hash:ip\ncreate c hash:ip\ndestroy b\ncreate d hash:ip\n');
  assert.equal(reg.names(), ['a', 'd', 'c']);
});

test('flush empties one set or all', () => {
  const { reg } = registry(BASE);
  reg.restore('flush a\n');
  assert.is(mustGet(reg, 'a').size, 0);
  assert.is(mustGet(reg, 'b').size, 1);
  reg.restore('flush\n');
  assert.is(mustGet(reg, 'b').size, 0);
});

test('clone is independent', () => {
  const { reg } = registry('create a hash:ip\nadd a 1.1.1.1\ncreate l list:set\nadd l a\n');
  const c = reg.clone();
  c.restore('add a 2.2.2.2\n');
  assert.is(mustGet(reg, 'a').size, 1);
  assert.is(mustGet(c, 'a').size, 2);
  assert.is(c.save().split('\n').filter((l) => l === 'add l a').length, 1);
});

test.run();
