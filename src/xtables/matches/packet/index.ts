/**
 * Packet-header match modules (-m tcp, udp, icmp, multiport, limit, time, …). Importing this
 * folder registers them all with the extension registry (ext.ts). Where they sit: the rule
 * evaluator calls a compiled match after the rule's address/interface/protocol columns
 * have matched.
 */
import './tcp.ts';
import './udp.ts';
import './sctp.ts';
import './icmp.ts';
import './icmp6.ts';
import './multiport.ts';
import './comment.ts';
import './iprange.ts';
import './length.ts';
import './pkttype.ts';
import './ttl.ts';
import './hl.ts';
import './mac.ts';
import './tos.ts';
import './dscp.ts';
import './ecn.ts';
import './frag.ts';
import './rt.ts';
import './hbh.ts';
import './dst.ts';
import './ah.ts';
import './esp.ts';
import './mh.ts';
import './limit.ts';
import './hashlimit.ts';
import './time.ts';
import './policy.ts';
import './rpfilter.ts';
import './physdev.ts';
import './devgroup.ts';
import './cpu.ts';
import './quota.ts';

export { tcpVanishes, tcpUsesXtMatch, type VanishingMatchExt } from './tcp.ts';
