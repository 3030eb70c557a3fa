/**
 * State and host match modules: marks, conntrack state, address types, sampling, recent
 * lists, socket owners, IP sets, accounting, connection limits, helpers and sockets. Each
 * file registers its module on import (STYLE.md "plugins"); this file imports them all.
 */
import './mark.ts';
import './connmark.ts';
import './conntrack.ts';
import './addrtype.ts';
import './statistic.ts';
import './recent.ts';
import './owner.ts';
import './set.ts';
import './nfacct.ts';
import './connlimit.ts';
import './helper.ts';
import './socket.ts';
import './cgroup.ts';
import './string.ts';
import './u32.ts';
