/**
 * HL (IPv6; xt_HL.c hl_tg6, libip6t_HL.c): `--hl-set`, `--hl-dec`, `--hl-inc` on the hop
 * limit, exactly as TTL does for IPv4. Mangle table.
 */
import { registerTarget } from '../ext.ts';
import { makeTtlTarget } from './TTL.ts';

export const hlTarget = makeTtlTarget('HL', 6);

registerTarget(hlTarget);
