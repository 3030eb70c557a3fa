/**
 * The IPVS operations kube-proxy's IPVS mode makes in one sync: what syncProxyRules does to
 * the kernel beyond its fixed `iptables-restore` payload — AddVirtualServer /
 * DeleteVirtualServer, AddRealServer / DeleteRealServer (netlink), address (un)binds on
 * kube-ipvs0, and ipset entry adds / deletes — as the difference between two syncs of
 * src/kube's IPVS generator (syncIpvsRules). Unchanged objects cost nothing: syncService
 * and syncEndpoint compare with what the kernel already has first.
 */
import type { IpvsSync } from '../../src/kube/index.ts';

/** A sync's IPVS, address and set contents, read back from its texts. */
export interface IpvsContents {
  /** Virtual server (`-t 10.96.0.1:80`) → its real servers (`10.128.0.1:8080`). */
  readonly servers: ReadonlyMap<string, ReadonlySet<string>>;
  /** Addresses bound to kube-ipvs0. */
  readonly vips: ReadonlySet<string>;
  /** Set name → entries. */
  readonly sets: ReadonlyMap<string, ReadonlySet<string>>;
}

/** The operations counted by kind. */
export interface IpvsOps {
  readonly virtualServersAdded: number;
  readonly virtualServersDeleted: number;
  readonly realServersAdded: number;
  readonly realServersDeleted: number;
  readonly addressesBound: number;
  readonly addressesUnbound: number;
  readonly ipsetEntriesAdded: number;
  readonly ipsetEntriesDeleted: number;
  /** All of the above. */
  readonly total: number;
}

const cache = new WeakMap<IpvsSync, IpvsContents>();

/** Reads a sync's `ipvsadm-save -n` text (-A / -a lines), its VIPs and its `ipset restore` text (create / add lines). */
export function ipvsContents(sync: IpvsSync): IpvsContents {
  const hit = cache.get(sync);
  if (hit) return hit;
  const servers = new Map<string, Set<string>>();
  for (const line of sync.ipvs.split('\n')) {
    const w = line.trim().split(/\s+/);
    if (w[0] === '-A') servers.set(`${w[1]} ${w[2]}`, servers.get(`${w[1]} ${w[2]}`) ?? new Set());
    else if (w[0] === '-a') {
      const vs = `${w[1]} ${w[2]}`;
      const r = w.indexOf('-r');
      let s = servers.get(vs);
      if (!s) servers.set(vs, (s = new Set()));
      if (r > 0) s.add(w[r + 1]!);
    }
  }
  const sets = new Map<string, Set<string>>();
  for (const line of sync.ipsets.split('\n')) {
    const w = line.trim().split(/\s+/);
    if (w[0] === 'create') sets.set(w[1]!, sets.get(w[1]!) ?? new Set());
    else if (w[0] === 'add') {
      let s = sets.get(w[1]!);
      if (!s) sets.set(w[1]!, (s = new Set()));
      s.add(w[2]!);
    }
  }
  const c: IpvsContents = { servers, vips: new Set(sync.vips), sets };
  cache.set(sync, c);
  return c;
}

function diff(before: ReadonlySet<string> | undefined, after: ReadonlySet<string> | undefined): { added: number; deleted: number } {
  let added = 0;
  let deleted = 0;
  for (const x of after ?? []) if (!before?.has(x)) added++;
  for (const x of before ?? []) if (!after?.has(x)) deleted++;
  return { added, deleted };
}

/** The operations that take a node from `prev` (null: a fresh node) to `next`. */
export function ipvsOps(prev: IpvsSync | null, next: IpvsSync): IpvsOps {
  const a = prev ? ipvsContents(prev) : null;
  const b = ipvsContents(next);
  let vsAdd = 0, vsDel = 0, rsAdd = 0, rsDel = 0;
  for (const [vs, rs] of b.servers) {
    const old = a?.servers.get(vs);
    if (!old) vsAdd++;
    const d = diff(old, rs);
    rsAdd += d.added;
    rsDel += d.deleted;
  }
  for (const [vs, rs] of a?.servers ?? []) {
    if (!b.servers.has(vs)) {
      vsDel++;
      rsDel += rs.size;
    }
  }
  const addr = diff(a?.vips, b.vips);
  let setAdd = 0, setDel = 0;
  const names = new Set([...b.sets.keys(), ...(a?.sets.keys() ?? [])]);
  for (const n of names) {
    const d = diff(a?.sets.get(n), b.sets.get(n));
    setAdd += d.added;
    setDel += d.deleted;
  }
  return {
    virtualServersAdded: vsAdd, virtualServersDeleted: vsDel, realServersAdded: rsAdd, realServersDeleted: rsDel,
    addressesBound: addr.added, addressesUnbound: addr.deleted, ipsetEntriesAdded: setAdd, ipsetEntriesDeleted: setDel,
    total: vsAdd + vsDel + rsAdd + rsDel + addr.added + addr.deleted + setAdd + setDel,
  };
}

/**
 * The same difference as commands: `ipvsadm` lines (-d / -a, masquerading, weight 1) and
 * `ipset restore` lines (del / add), to apply one sync's changes to a programmed node.
 */
export function ipvsChangeCommands(prev: IpvsSync, next: IpvsSync): { ipvsadm: string[]; ipset: string[] } {
  const a = ipvsContents(prev);
  const b = ipvsContents(next);
  const ipvsadm: string[] = [];
  for (const [vs, rs] of b.servers) {
    const old = a.servers.get(vs);
    if (!old) throw new Error(`ipvs-ops: new virtual server ${vs}: only real-server changes are applied incrementally`);
    // -m on -d too: ipvsadm takes a direct-routing server's port from the service.
    for (const r of old) if (!rs.has(r)) ipvsadm.push(`-d ${vs} -r ${r} -m`);
    for (const r of rs) if (!old.has(r)) ipvsadm.push(`-a ${vs} -r ${r} -m -w 1`);
  }
  const ipset: string[] = [];
  for (const [n, entries] of b.sets) {
    const old = a.sets.get(n) ?? new Set<string>();
    for (const e of old) if (!entries.has(e)) ipset.push(`del ${n} ${e}`);
    for (const e of entries) if (!old.has(e)) ipset.push(`add ${n} ${e}`);
  }
  return { ipvsadm, ipset };
}
