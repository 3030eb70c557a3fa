/**
 * Round trips through the generic restore parser and iptables-save printer: rules using
 * these modules come back as iptables-nft-save 1.8.9 printed them after restoring the same
 * text (captured in a scratch network namespace).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { printSave, restore } from '../../../src/xtables/index.ts';

const IN4 = `*filter
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -m state --state est,new -m mark ! --mark 1337/0xffff -j ACCEPT
-A INPUT -m conntrack ! --ctstate NEW --ctorigsrc 10.1.2.3/8 --ctorigsrcport :5 --ctdir REPLY -j DROP
-A INPUT -m recent --set
-A INPUT -m recent --rcheck --seconds 60 --hitcount 3 --name x --rdest --mask 255.255.0.0
-A INPUT -m addrtype --dst-type LOC,BROAD
-A INPUT -m statistic --mode random --probability 0.333333333 -j DROP
-A INPUT -m statistic --mode nth --every 3 --packet 1
-A OUTPUT -m owner ! --uid-owner 0-10 --gid-owner 5 --suppl-groups ! --socket-exists
-A INPUT -m connlimit ! --connlimit-upto 3 --connlimit-mask 255.255.255.0
-A INPUT -m helper --helper ftp
-A INPUT -m string --hex-string "|00 01|ab" --algo kmp --to 100
-A INPUT -m u32 ! --u32 "6&0xFF=1:0x11 && 0=5"
COMMIT
`;

const OUT4 = `-A INPUT -m state --state NEW,ESTABLISHED -m mark ! --mark 0x539/0xffff -j ACCEPT
-A INPUT -m conntrack ! --ctstate NEW --ctorigsrc 10.1.2.3/8 --ctorigsrcport 0:5 --ctdir REPLY -j DROP
-A INPUT -m recent --set --name DEFAULT --mask 255.255.255.255 --rsource
-A INPUT -m recent --rcheck --seconds 60 --hitcount 3 --name x --mask 255.255.0.0 --rdest
-A INPUT -m addrtype --dst-type LOCAL,BROADCAST
-A INPUT -m statistic --mode random --probability 0.33333333302 -j DROP
-A INPUT -m statistic --mode nth --every 3 --packet 1
-A INPUT -m connlimit --connlimit-above 3 --connlimit-mask 24 --connlimit-saddr
-A INPUT -m helper --helper ftp
-A INPUT -m string --hex-string "|00016162|" --algo kmp --to 100
-A INPUT -m u32 ! --u32 "0x6&0xff=0x1:0x11&&0x0=0x5"
-A OUTPUT -m owner ! --socket-exists ! --uid-owner 0-10 --gid-owner 5 --suppl-groups`;

const IN6 = `*filter
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -m conntrack --ctorigdst fe80::1/64 ! --ctstate INVALID -m recent --set --mask ffff:ffff:: -m addrtype --src-type LOCAL -m state --state RELATED,ESTABLISHED
-A OUTPUT -m owner --uid-owner 1000 -m mark --mark 0x1/0x1 -m connmark ! --mark 2
COMMIT
`;

const OUT6 = `-A INPUT -m conntrack ! --ctstate INVALID --ctorigdst fe80::1/64 -m recent --set --name DEFAULT --mask ffff:ffff:: --rsource -m addrtype --src-type LOCAL -m state --state RELATED,ESTABLISHED
-A OUTPUT -m owner --uid-owner 1000 -m mark --mark 0x1/0x1 -m connmark ! --mark 0x2`;

const rules = (save: string) => save.split('\n').filter((l) => l.startsWith('-A ')).join('\n');

test('IPv4 rules print back as iptables-nft-save printed them', () => {
  assert.fixture(rules(printSave(restore(IN4, { family: 4 }))), OUT4);
});

test('IPv6 rules print back as ip6tables-nft-save printed them', () => {
  assert.fixture(rules(printSave(restore(IN6, { family: 6 }))), OUT6);
});

test('owner in INPUT is refused when the table loads (the kernel\'s hook check)', () => {
  assert.throws(() => restore('*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -m owner --uid-owner 0\nCOMMIT\n', { family: 4 }), /owner match: used from hooks INPUT/);
});

test.run();
