/**
 * `-m dst` (IPv6 Destination Options header; libip6t_dst.c, ip6t_hbh.c): --dst-len and
 * --dst-opts TYPE[:LEN],…, the same shape as `-m hbh`. nfemu packets carry no extension
 * headers, so the kernel's match returns false (negated or not) — see exthdr.ts.
 */
import { registerMatch } from '../../ext.ts';
import { makeOptsModule } from './hbh.ts';

export const dstMatch = makeOptsModule('dst');

registerMatch(dstMatch);
