/**
 * NOTRACK and CT: options as iptables-nft-save 1.8.9 prints them (checked in a scratch
 * netns), the kernel's checks (xt_CT.c xt_ct_tg_check, xt_ct_set_helper; messages as
 * dmesg shows them) and what the targets do to a packet in raw (xt_ct_target, notrack_tg).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { NF_INET_PRE_ROUTING, XT_CONTINUE, IP_CT_UNTRACKED, IP_CT_INVALID, IP_CT_NEW } from '../../../src/netfilter/index.ts';
import { check, compileTarget, makeCtx, packet, parseError, roundTrip } from './helpers.ts';

const CT_PRINT: ReadonlyArray<readonly [string, string]> = [
  ['', ''],
  ['--notrack', '--notrack'],
  ['--zone 1', '--zone 1'],
  ['--zone 65535', '--zone 65535'],
  ['--zone 0x10', '--zone 16'],
  ['--zone 0', ''],
  ['--zone-orig 0', ''],
  ['--zone-orig 5', '--zone-orig 5'],
  ['--zone-reply 5', '--zone-reply 5'],
  ['--zone-orig 5 --zone-reply 6', '--zone 6'],
  ['--zone mark', '--zone mark'],
  ['--zone-orig mark', '--zone-orig mark'],
  ['--zone 5 --zone-orig 6', '--zone-orig 6'],
  ['--zone-orig 5 --zone 6', '--zone-orig 6'],
  ['--zone-reply mark --zone-orig 6', '--zone mark'],
  ['--ctevents new,related,destroy,reply,assured,protoinfo,helper,mark,natseqinfo,secmark',
    '--ctevents new,related,destroy,reply,assured,protoinfo,helper,mark,natseqinfo,secmark'],
  ['--notrack --ctevents new,new', '--notrack --ctevents new'],
  ['--expevents new', '--expevents new'],
  ['--notrack --timeout x --expevents new --ctevents new --zone 5 --helper ftp',
    '--notrack --helper ftp --timeout x --ctevents new --expevents new --zone 5'],
  ['--notrack --helper 0123456789012345', '--notrack --helper 012345678901234'],
  ['--helper Q.931', '--helper Q.931'],
];

test('CT prints back as iptables-nft-save does', () => {
  for (const [i, want] of CT_PRINT) assert.is(roundTrip('CT', i, { table: 'raw' }), want, i);
});

test('NOTRACK takes no options and prints none', () => {
  assert.is(roundTrip('NOTRACK', ''), '');
});

test('CT rejects what iptables 1.8.9 rejects', () => {
  assert.is(parseError('CT', '--zone 65536'), 'Cannot parse 65536 as a zone ID');
  assert.is(parseError('CT', '--zone -1'), 'Cannot parse -1 as a zone ID');
  assert.is(parseError('CT', '--zone mark --zone 5'), 'CT: option "--zone" can only be used once.');
  assert.is(parseError('CT', '--ctevents foo'), 'Unknown event type "foo"');
  assert.is(parseError('CT', '--notrack --ctevents NEW'), 'Unknown event type "NEW"');
  assert.is(parseError('CT', '--notrack --ctevents new,'), 'Unknown event type ""');
  assert.is(parseError('CT', '--notrack --expevents related'), 'Unknown event type "related"');
});

test('CT and NOTRACK are valid in the raw table only (the kernel names CT for both)', () => {
  assert.is(check('CT', '--zone 1', { table: 'raw' }), null);
  assert.is(check('CT', '--notrack', { table: 'filter' }), 'x_tables: ip_tables: CT target: only valid in raw table, not filter');
  assert.is(check('CT', '--notrack', { table: 'mangle' }), 'x_tables: ip_tables: CT target: only valid in raw table, not mangle');
  assert.is(check('NOTRACK', '', { table: 'raw' }), null);
  assert.is(check('NOTRACK', '', { table: 'filter' }), 'x_tables: ip_tables: CT target: only valid in raw table, not filter');
  assert.is(check('NOTRACK', '', { table: 'filter', family: 6 }), 'x_tables: ip6_tables: CT target: only valid in raw table, not filter');
});

/** The helpers of the corpus, with the protocol their rules give (kernel-save accepted them all). */
const HELPERS: ReadonlyArray<readonly [string, number]> = [
  ['ftp', 6], ['irc', 6], ['sane', 6], ['pptp', 6], ['Q.931', 6],
  ['tftp', 17], ['amanda', 17], ['netbios-ns', 17], ['snmp', 17], ['RAS', 17], ['sip', 17],
];

test('CT --helper: a known helper for the rule protocol is accepted', () => {
  for (const [h, proto] of HELPERS) assert.is(check('CT', `--helper ${h}`, { table: 'raw', proto }), null, h);
});

test('CT --helper needs -p (not inverted) and a helper of that name for the protocol and family', () => {
  assert.is(check('CT', '--helper ftp', { table: 'raw' }), 'xt_CT: You must specify a L4 protocol and not use inversions on it');
  assert.is(check('CT', '--helper ftp', { table: 'raw', proto: 6, protoInvert: true }), 'xt_CT: You must specify a L4 protocol and not use inversions on it');
  assert.is(check('CT', '--helper ftp', { table: 'raw', proto: 17 }), 'xt_CT: No such helper "ftp"');
  assert.is(check('CT', '--helper nonexist', { table: 'raw', proto: 6 }), 'xt_CT: No such helper "nonexist"');
  // nf_conntrack_irc and nf_conntrack_pptp register IPv4 helpers only.
  assert.is(check('CT', '--helper irc', { table: 'raw', proto: 6, family: 6 }), 'xt_CT: No such helper "irc"');
  assert.is(check('CT', '--helper ftp', { table: 'raw', proto: 6, family: 6 }), null);
  // --notrack skips the template (and so the helper lookup).
  assert.is(check('CT', '--notrack --helper ftp', { table: 'raw' }), null);
});

test('CT --timeout names a cttimeout policy; nfemu has none, so the kernel answer is "no such policy"', () => {
  assert.is(check('CT', '--timeout x', { table: 'raw' }), 'xt_CT: No such timeout policy "x"');
});

const udp = () => packet({ proto: 'udp', src: '10.0.0.1', sport: 53, dst: '10.0.0.2', dport: 53, mark: 0x12345 });

test('NOTRACK and CT --notrack make the packet untracked', () => {
  for (const [name, opts] of [['NOTRACK', ''], ['CT', '--notrack']] as const) {
    const p = udp();
    assert.is(p.ctinfo, IP_CT_INVALID);
    assert.is(compileTarget(name, opts, { table: 'raw' }).run(p, makeCtx(NF_INET_PRE_ROUTING, 'raw')), XT_CONTINUE);
    assert.equal([p.ct, p.ctinfo], [null, IP_CT_UNTRACKED], name);
  }
});

test('CT --zone sets the conntrack zone; --zone mark takes the low 16 bits of the mark', () => {
  let p = udp();
  compileTarget('CT', '--zone 2', { table: 'raw' }).run(p, makeCtx(NF_INET_PRE_ROUTING, 'raw'));
  assert.is(p.ctZone, 2);
  p = udp();
  compileTarget('CT', '--zone mark', { table: 'raw' }).run(p, makeCtx(NF_INET_PRE_ROUTING, 'raw'));
  assert.is(p.ctZone, 0x2345);
});

test('a packet that already has conntrack state is left alone (xt_ct_target: skb->_nfct set)', () => {
  let p = udp();
  p.ctinfo = IP_CT_UNTRACKED;
  compileTarget('CT', '--zone 7', { table: 'raw' }).run(p, makeCtx(NF_INET_PRE_ROUTING, 'raw'));
  assert.is(p.ctZone, 0);
  p = udp();
  const conn = { id: 3 };
  p.ct = conn;
  p.ctinfo = IP_CT_NEW;
  compileTarget('NOTRACK', '', { table: 'raw' }).run(p, makeCtx(NF_INET_PRE_ROUTING, 'raw'));
  assert.equal([p.ct, p.ctinfo], [conn, IP_CT_NEW]);
});

test.run();
