/**
 * nfemu ipset: the kernel's IP sets for one network namespace (net/netfilter/ipset), as the
 * `set` match and the SET target use them, loaded from and printed as `ipset restore` /
 * `ipset save` text (ipset 7.x).
 *
 * Where it sits: below xtables' `-m set` and `-j SET` (they look sets up by name once, at
 * rule load, and call `IpSet.test/add/del` per packet) and beside the iptables model;
 * imports core and packet only.
 *
 * Types: hash:ip (with netmask), hash:ip,port, hash:ip,port,ip, hash:ip,port,net, hash:net,
 * hash:net,port, bitmap:ip, bitmap:port, list:set; extensions timeout, counters, comment,
 * skbinfo; nomatch for the net types.
 *
 * Hot path: lookups build the element's numeric key in a per-set scratch array and probe a
 * hash table laid out like the kernel's (jhash2 over the element words, arrays of slots per
 * bucket), so a packet test neither allocates nor builds strings.
 */
export { IpsetRegistry } from './registry.ts';
export type { IpSet } from './types.ts';
export { TYPE_NAMES } from './types.ts';
