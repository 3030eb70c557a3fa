/**
 * The target modules (one file each; each registers itself on import) and what other
 * folders may use of them. Standard verdicts, jumps and gotos are the evaluator's.
 * The engine dispatches targets by name through the registry (../ext.ts); the exports here
 * are for tests, generators and the evaluator's trace lines.
 */
export { rejectTarget, type RejectData } from './REJECT.ts';
export { dnatTarget } from './DNAT.ts';
export { snatTarget } from './SNAT.ts';
export { masqueradeTarget } from './MASQUERADE.ts';
export { redirectTarget } from './REDIRECT.ts';
export { netmapTarget } from './NETMAP.ts';
export { markTarget, type MarkData } from './MARK.ts';
export { connmarkTarget, type ConnmarkData } from './CONNMARK.ts';
export { logTarget, type LogData } from './LOG.ts';
export { nflogTarget, type NflogData } from './NFLOG.ts';
export { traceTarget } from './TRACE.ts';
export { notrackTarget } from './NOTRACK.ts';
export { ctTarget, type CtData } from './CT.ts';
export { tproxyTarget, type TproxyData } from './TPROXY.ts';
export { checksumTarget } from './CHECKSUM.ts';
export { tcpmssTarget, type TcpmssData } from './TCPMSS.ts';
export { setTarget, type SetData } from './SET.ts';
export { classifyTarget } from './CLASSIFY.ts';
export { dscpTarget } from './DSCP.ts';
export { tosTarget } from './TOS.ts';
export { ttlTarget } from './TTL.ts';
export { hlTarget } from './HL.ts';
export { secmarkTarget } from './SECMARK.ts';
export { connsecmarkTarget } from './CONNSECMARK.ts';
export { auditTarget } from './AUDIT.ts';
export { nfqueueTarget, type NfqueueData } from './NFQUEUE.ts';
export { type NatData } from './natrange.ts';
export { logPacketLine } from './logline.ts';
