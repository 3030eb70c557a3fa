/**
 * -m conntrack (revision 3) and -m state: parse/print as iptables-nft 1.8.9 saves them,
 * rejections, and xt_conntrack.c / xt_state.c behaviour.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  IP_CT_ESTABLISHED, IP_CT_ESTABLISHED_REPLY, IP_CT_INVALID, IP_CT_NEW, IP_CT_RELATED, IP_CT_RELATED_REPLY, IP_CT_UNTRACKED,
  IPS_ASSURED, IPS_CONFIRMED, IPS_DST_NAT, IPS_SEEN_REPLY, IPS_SRC_NAT,
} from '../../../src/netfilter/index.ts';
import { getMatch } from '../../../src/xtables/ext.ts';
import type { Conn } from '../../../src/conntrack/index.ts';
import { conn, makeCtx, matcher, packet, parseError, roundTrip, States } from './helpers.ts';

const conntrack = getMatch('conntrack')!;
const state = getMatch('state')!;

// Written -> saved, from iptables-nft-restore + iptables-nft-save 1.8.9 in a scratch netns.
const CT_PRINTS: ReadonlyArray<readonly [string, string]> = [
  ['--ctstate NEW --ctproto 17 --ctorigsrcport 68 --ctorigdstport 67', '--ctstate NEW --ctproto 17 --ctorigsrcport 68 --ctorigdstport 67'],
  ['! --ctstate RELATED,ESTABLISHED,DNAT', '! --ctstate RELATED,ESTABLISHED,DNAT'],
  ['--ctstate INVALID,NEW,UNTRACKED', '--ctstate INVALID,NEW,UNTRACKED'],
  ['--ctstate SNAT,DNAT,INVALID', '--ctstate INVALID,SNAT,DNAT'], // fixed print order
  ['--ctproto udplite --ctstate i', '--ctstate INVALID --ctproto 136'], // options in fixed order, prefixes accepted
  [
    '! --ctstate NEW ! --ctproto tcp --ctorigsrc 10.1.2.3/8 ! --ctorigdst 1.2.3.4/255.0.255.0 --ctreplsrc 5.5.5.5 --ctrepldst 6.6.6.6/32 --ctorigsrcport 10:20 ! --ctorigdstport 22 --ctreplsrcport 1:1 --ctrepldstport 0 ! --ctstatus NONE --ctexpire 10:20 --ctdir REPLY',
    '! --ctstate NEW ! --ctproto 6 --ctorigsrc 10.1.2.3/8 ! --ctorigdst 1.2.3.4 --ctreplsrc 5.5.5.5 --ctrepldst 6.6.6.6 --ctorigsrcport 10:20 ! --ctorigdstport 22 --ctreplsrcport 1 --ctrepldstport 0 ! --ctstatus NONE --ctexpire 10:20 --ctdir REPLY',
  ],
  ['--ctdir ORIGINAL --ctstatus assured,seen_reply,confirmed,expected ! --ctexpire 5', '--ctstatus EXPECTED,SEEN_REPLY,ASSURED,CONFIRMED ! --ctexpire 5 --ctdir ORIGINAL'],
  ['--ctstatus NONE,ASSURED', '--ctstatus ASSURED'],
  ['--ctorigsrc 0.0.0.0/0 --ctproto 0', '--ctproto 0 --ctorigsrc 0.0.0.0/0'],
  ['! --ctproto all', '! --ctproto 0'], // iptables tests XT_INV_PROTO before recording the !
  ['--ctorigdst 1.2.3.4/255.255.0.0', '--ctorigdst 1.2.3.4/16'], // address kept unmasked
  ['--ctorigdst 1.2.3.4/0', '--ctorigdst 1.2.3.4/0'],
  ['--ctorigdst 1.2.3.4/33', '--ctorigdst 1.2.3.4'], // read as mask 0.0.0.33: not contiguous, all bits kept
  ['--ctorigsrcport 5:3', '--ctorigsrcport 5:3'],
  ['--ctorigsrcport 70000', '--ctorigsrcport 4464'],
  ['--ctorigsrcport ssh', '--ctorigsrcport 22'],
  ['--ctorigsrcport :5', '--ctorigsrcport 0:5'],
  ['--ctorigsrcport 5:', '--ctorigsrcport 5:65535'],
  ['--ctexpire 5:3', '--ctexpire 5:3'],
  ['--ctexpire 4294967295', '--ctexpire 4294967295'],
];

test('conntrack: printed as iptables-nft-save prints it', () => {
  for (const [w, s] of CT_PRINTS) assert.is(roundTrip(conntrack, w), s, w);
  assert.is(roundTrip(conntrack, '--ctorigdst fe80::1/64 --ctreplsrc ::1 --ctrepldst ::/0', 6), '--ctorigdst fe80::1/64 --ctreplsrc ::1 --ctrepldst ::/0');
});

const CT_REJECTS: ReadonlyArray<readonly [string, string]> = [
  ['--ctstate FOO', 'Bad ctstate "FOO"'],
  ['--ctstate NEW,', 'Bad ctstate ""'],
  ['--ctstatus FOO', 'Bad ctstatus "FOO"'],
  ['--ctdir FOO', 'conntrack: Bad value for "--ctdir" option: "FOO"'],
  ['--ctorigsrcport 1:2:3', 'conntrack: Too many components for option "--ctorigsrcport" (max: 2)'],
  ['--ctproto foo', 'unknown protocol "foo" specified'],
  ['', 'conntrack: At least one option is required'],
  ['--ctexpire 5 --ctexpire 6', 'conntrack: option "--ctexpire" can only be used once.'],
  ['--ctorigdst 1.2.3.4/16 --ctorigdst 1.1.1.1', 'conntrack: option "--ctorigdst" can only be used once.'],
  ['--ctorigdst 1.2.3.4/abc', 'conntrack: bad value for option "--ctorigdst", neither a valid network mask nor valid CIDR (0-32).'],
  ['! --ctdir REPLY', 'conntrack: option "--ctdir" cannot be inverted.'],
];

test('conntrack: rejected with iptables wording', () => {
  for (const [w, msg] of CT_REJECTS) assert.is(parseError(conntrack, w), msg, w);
});

test('state: printed as saved, rejections', () => {
  assert.is(roundTrip(state, '--state new,est'), '--state NEW,ESTABLISHED');
  assert.is(roundTrip(state, '! --state NEW'), '! --state NEW');
  assert.is(roundTrip(state, '--state ESTABLISHED,NEW,RELATED,UNTRACKED'), '--state NEW,RELATED,ESTABLISHED,UNTRACKED');
  assert.is(roundTrip(state, '--state RELATED,ESTABLISHED'), '--state RELATED,ESTABLISHED');
  assert.is(parseError(state, '--state FOO'), 'Bad state "FOO"');
  assert.is(parseError(state, '--state SNAT'), 'Bad state "SNAT"'); // only conntrack knows the NAT pseudo-states
  assert.is(parseError(state, ''), 'state: option "--state" must be specified');
});

function pkt(ct: Conn | null, ctinfo: number) {
  const p = packet('10.0.0.1', '10.0.0.2');
  p.ct = ct;
  p.ctinfo = ctinfo;
  return p;
}

const plain = () => conn(['10.0.0.1', 40000, '10.0.0.2', 80], { status: IPS_CONFIRMED });

test('state bits: ctinfo of either direction; no entry is INVALID; untracked is UNTRACKED', () => {
  const ctx = makeCtx(new States());
  const rows: ReadonlyArray<readonly [string, Conn | null, number, string]> = [
    ['NEW', plain(), IP_CT_NEW, 'NEW'],
    ['ESTABLISHED', plain(), IP_CT_ESTABLISHED, 'ESTABLISHED'],
    ['ESTABLISHED reply', plain(), IP_CT_ESTABLISHED_REPLY, 'ESTABLISHED'],
    ['RELATED', plain(), IP_CT_RELATED, 'RELATED'],
    ['RELATED reply', plain(), IP_CT_RELATED_REPLY, 'RELATED'],
    ['no entry', null, IP_CT_INVALID, 'INVALID'],
    ['untracked', null, IP_CT_UNTRACKED, 'UNTRACKED'],
  ];
  const all = ['INVALID', 'NEW', 'ESTABLISHED', 'RELATED', 'UNTRACKED'];
  for (const [what, ct, info, want] of rows) {
    for (const s of all) {
      const p = pkt(ct, info);
      assert.is(matcher(state, `--state ${s}`).match(p, ctx), s === want, `state ${s} for ${what}`);
      assert.is(matcher(state, `! --state ${s}`).match(p, ctx), s !== want, `! state ${s} for ${what}`);
      assert.is(matcher(conntrack, `--ctstate ${s}`).match(p, ctx), s === want, `ctstate ${s} for ${what}`);
    }
  }
});

test('SNAT/DNAT pseudo-states come from the IPS_SRC_NAT / IPS_DST_NAT status bits', () => {
  const ctx = makeCtx(new States());
  const dnat = conn(['10.0.0.1', 40000, '10.96.0.10', 80], { reply: ['10.244.1.5', 8080, '10.0.0.1', 40000], status: IPS_DST_NAT | IPS_CONFIRMED });
  const snat = conn(['10.0.0.1', 40000, '1.1.1.1', 80], { reply: ['1.1.1.1', 80, '192.168.1.10', 40000], status: IPS_SRC_NAT | IPS_CONFIRMED });
  assert.ok(matcher(conntrack, '--ctstate DNAT').match(pkt(dnat, IP_CT_NEW), ctx));
  assert.not.ok(matcher(conntrack, '--ctstate SNAT').match(pkt(dnat, IP_CT_NEW), ctx));
  assert.ok(matcher(conntrack, '--ctstate SNAT').match(pkt(snat, IP_CT_ESTABLISHED_REPLY), ctx));
  // `! --ctstate RELATED,ESTABLISHED,DNAT` (corpus): a NEW packet of a DNATed connection is excluded.
  const m = matcher(conntrack, '! --ctstate RELATED,ESTABLISHED,DNAT');
  assert.not.ok(m.match(pkt(dnat, IP_CT_NEW), ctx));
  assert.ok(m.match(pkt(plain(), IP_CT_NEW), ctx));
  assert.not.ok(matcher(conntrack, '--ctstate DNAT').match(pkt(null, IP_CT_INVALID), ctx), 'no entry has no NAT bits');
});

test('a packet without an entry: only --ctstate is tested; without --ctstate nothing matches', () => {
  const ctx = makeCtx(new States());
  const none = pkt(null, IP_CT_INVALID);
  assert.ok(matcher(conntrack, '--ctstate INVALID --ctproto 6 --ctorigdst 9.9.9.9').match(none, ctx), 'other options skipped');
  assert.not.ok(matcher(conntrack, '--ctproto 6').match(none, ctx));
  assert.not.ok(matcher(conntrack, '! --ctproto 6').match(none, ctx), 'inverted options need an entry too');
  assert.not.ok(matcher(conntrack, '--ctdir ORIGINAL').match(none, ctx));
  assert.not.ok(matcher(conntrack, '! --ctstatus NONE').match(none, ctx));
  const untracked = pkt(null, IP_CT_UNTRACKED);
  assert.ok(matcher(conntrack, '--ctstate UNTRACKED --ctorigsrc 1.1.1.1').match(untracked, ctx));
  assert.not.ok(matcher(conntrack, '--ctstate NEW,INVALID').match(untracked, ctx));
});

test('--ctdir: ORIGINAL for original-direction ctinfo, REPLY for reply-direction ctinfo', () => {
  const ctx = makeCtx(new States());
  const orig = matcher(conntrack, '--ctdir ORIGINAL');
  const reply = matcher(conntrack, '--ctdir REPLY');
  for (const [info, isReply] of [[IP_CT_NEW, false], [IP_CT_ESTABLISHED, false], [IP_CT_RELATED, false], [IP_CT_ESTABLISHED_REPLY, true], [IP_CT_RELATED_REPLY, true]] as const) {
    assert.is(orig.match(pkt(plain(), info), ctx), !isReply, `ORIGINAL ctinfo ${info}`);
    assert.is(reply.match(pkt(plain(), info), ctx), isReply, `REPLY ctinfo ${info}`);
  }
});

test('tuple tests read the entry, not the packet: addresses under masks, port ranges, protocol', () => {
  const ctx = makeCtx(new States());
  // A DNATed flow: original 10.0.0.1:40000 -> 10.96.0.10:80, reply 10.244.1.5:8080 -> 10.0.0.1:40000.
  const c = conn(['10.0.0.1', 40000, '10.96.0.10', 80], { reply: ['10.244.1.5', 8080, '10.0.0.1', 40000], status: IPS_DST_NAT | IPS_CONFIRMED });
  const p = pkt(c, IP_CT_ESTABLISHED);
  p.daddr[0] = 0x0af40105; // the packet already carries the translated destination
  const rows: ReadonlyArray<readonly [string, boolean]> = [
    ['--ctorigdst 10.96.0.10', true],
    ['--ctorigdst 10.244.1.5', false],
    ['--ctreplsrc 10.244.0.0/16', true],
    ['! --ctreplsrc 10.244.0.0/16', false],
    ['--ctorigsrc 10.1.2.3/8', true], // address kept unmasked, compared under the mask
    ['--ctrepldst 10.0.0.1 --ctorigsrc 10.0.0.1', true],
    ['--ctorigdstport 80', true],
    ['--ctorigdstport 8080', false],
    ['--ctreplsrcport 8000:9000', true],
    ['! --ctreplsrcport 8000:9000', false],
    ['--ctorigsrcport 5:3', false], // empty range never matches
    ['--ctproto tcp', true],
    ['--ctproto udp', false],
    ['! --ctproto udp', true],
    ['--ctproto all', false], // protocol number 0 compared literally
  ];
  for (const [opts, want] of rows) assert.is(matcher(conntrack, opts).match(p, ctx), want, opts);
});

test('--ctstatus: any listed bit; NONE (no bits) never matches, ! NONE always does', () => {
  const ctx = makeCtx(new States());
  const c = conn(['10.0.0.1', 40000, '10.0.0.2', 80], { status: IPS_CONFIRMED | IPS_SEEN_REPLY });
  const p = pkt(c, IP_CT_ESTABLISHED);
  assert.ok(matcher(conntrack, '--ctstatus SEEN_REPLY').match(p, ctx));
  assert.ok(matcher(conntrack, '--ctstatus ASSURED,CONFIRMED').match(p, ctx));
  assert.not.ok(matcher(conntrack, '--ctstatus ASSURED').match(p, ctx));
  assert.ok(matcher(conntrack, '! --ctstatus ASSURED').match(p, ctx));
  assert.not.ok(matcher(conntrack, '--ctstatus NONE').match(p, ctx));
  assert.ok(matcher(conntrack, '! --ctstatus NONE').match(p, ctx));
  c.status |= IPS_ASSURED;
  assert.ok(matcher(conntrack, '--ctstatus ASSURED').match(p, ctx));
});

test('--ctexpire: whole seconds left (nf_ct_expires / HZ), 0 once expired', () => {
  const ctx = makeCtx(new States());
  ctx.nowMs = 1_000_000;
  const c = conn(['10.0.0.1', 40000, '10.0.0.2', 80], { status: IPS_CONFIRMED, timeoutAt: 1_000_000 + 119_999 });
  const p = pkt(c, IP_CT_ESTABLISHED);
  assert.ok(matcher(conntrack, '--ctexpire 119').match(p, ctx), '119.999 s left is 119');
  assert.not.ok(matcher(conntrack, '--ctexpire 120').match(p, ctx));
  assert.ok(matcher(conntrack, '--ctexpire 100:200').match(p, ctx));
  assert.ok(matcher(conntrack, '! --ctexpire 0:100').match(p, ctx));
  c.timeoutAt = ctx.nowMs - 5000;
  assert.ok(matcher(conntrack, '--ctexpire 0').match(p, ctx));
});

test.run();
