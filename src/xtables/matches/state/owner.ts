/**
 * `-m owner`: the local socket a packet was sent from (xt_owner.c owner_mt), so OUTPUT and
 * POSTROUTING only. nfemu knows the sending socket's fsuid and fsgid (pkt.uid / pkt.gid,
 * -1 without a local socket) and no supplementary groups.
 *
 * A packet without a socket matches exactly when every option given is inverted
 * (`(match ^ invert) == 0`): `! --uid-owner 0` matches it, `--uid-owner 0` does not, and
 * `--suppl-groups` (never inverted) makes such a rule fail.
 */
import type { Family } from '../../../core/index.ts';
import type { Packet } from '../../../packet/index.ts';
import { NF_INET_LOCAL_OUT, NF_INET_POST_ROUTING } from '../../../netfilter/index.ts';
import { registerMatch, type MatchExt, type Matcher, type OptionUse, type ParseEnv } from '../../ext.ts';
import { checkHooks, checkOnce, strtoul } from './common.ts';

export const XT_OWNER_UID = 1 << 0;
export const XT_OWNER_GID = 1 << 1;
export const XT_OWNER_SOCKET = 1 << 2;
export const XT_OWNER_SUPPL_GROUPS = 1 << 3;

export interface OwnerData {
  readonly match: number;
  readonly invert: number;
  readonly uidMin: number;
  readonly uidMax: number;
  readonly gidMin: number;
  readonly gidMax: number;
}

/** Hooks the owner match is registered for. */
export const OWNER_HOOKS = (1 << NF_INET_LOCAL_OUT) | (1 << NF_INET_POST_ROUTING);

/**
 * owner_parse_range: `a`, `a-b` or `a:b`, each a C number up to 2^32-2 (-1 is reserved).
 * A user or group name cannot be resolved: nfemu has no user database of the emulated host.
 */
function parseRange(o: OptionUse, what: 'user' | 'group', env: ParseEnv): [number, number] {
  const s = o.args[0]!;
  const bad = (): never => env.fail(`owner: Bad value for "--${o.name}" option: "${s}"`, s);
  const a = strtoul(s);
  if (a === null) {
    env.fail(`owner: cannot resolve ${what} name \`${s}' (nfemu knows no user database; use the numeric id)`, s);
  }
  if (a!.value > 0xfffffffe) bad();
  let to = a!.value;
  let end = a!.end;
  if (s[end] === '-' || s[end] === ':') {
    const b = strtoul(s, end + 1);
    if (b === null || b.value > 0xfffffffe) bad();
    to = b!.value;
    end = b!.end;
  }
  if (end !== s.length) bad();
  return [a!.value, to];
}

function parseOwner(opts: readonly OptionUse[], env: ParseEnv): OwnerData {
  checkOnce('owner', opts, env);
  let match = 0;
  let invert = 0;
  let uidMin = 0;
  let uidMax = 0;
  let gidMin = 0;
  let gidMax = 0;
  for (const o of opts) {
    switch (o.name) {
      case 'uid-owner':
        [uidMin, uidMax] = parseRange(o, 'user', env);
        match |= XT_OWNER_UID;
        if (o.invert) invert |= XT_OWNER_UID;
        break;
      case 'gid-owner':
        [gidMin, gidMax] = parseRange(o, 'group', env);
        match |= XT_OWNER_GID;
        if (o.invert) invert |= XT_OWNER_GID;
        break;
      case 'socket-exists':
        match |= XT_OWNER_SOCKET;
        if (o.invert) invert |= XT_OWNER_SOCKET;
        break;
      case 'suppl-groups':
        if (!(match & XT_OWNER_GID)) env.fail(`owner: Bad value for "--suppl-groups" option: "you need to use --gid-owner first"`, o.token);
        match |= XT_OWNER_SUPPL_GROUPS;
        break;
    }
  }
  if (match === 0) env.fail('owner: At least one of --uid-owner, --gid-owner or --socket-exists is required');
  return { match, invert, uidMin, uidMax, gidMin, gidMax };
}

function printOwner(d: OwnerData, _family: Family): string {
  const out: string[] = [];
  const inv = (bit: number) => (d.invert & bit ? '! ' : '');
  const range = (a: number, b: number) => (a === b ? `${a}` : `${a}-${b}`);
  if (d.match & XT_OWNER_SOCKET) out.push(`${inv(XT_OWNER_SOCKET)}--socket-exists`);
  if (d.match & XT_OWNER_UID) out.push(`${inv(XT_OWNER_UID)}--uid-owner ${range(d.uidMin, d.uidMax)}`);
  if (d.match & XT_OWNER_GID) out.push(`${inv(XT_OWNER_GID)}--gid-owner ${range(d.gidMin, d.gidMax)}`);
  if (d.match & XT_OWNER_SUPPL_GROUPS) out.push('--suppl-groups');
  return out.join(' ');
}

class OwnerMatcher implements Matcher {
  constructor(private readonly d: OwnerData) {}

  /** Hot path (owner_mt). */
  match(pkt: Packet): boolean {
    const d = this.d;
    if (pkt.uid === -1) return (d.match ^ d.invert) === 0;
    if (d.match & d.invert & XT_OWNER_SOCKET) return false;
    if (d.match & XT_OWNER_UID) {
      const inRange = pkt.uid >= d.uidMin && pkt.uid <= d.uidMax;
      if (inRange === ((d.invert & XT_OWNER_UID) !== 0)) return false;
    }
    if (d.match & XT_OWNER_GID) {
      // Only the fsgid: nfemu models no supplementary groups for --suppl-groups to search.
      const inRange = pkt.gid >= d.gidMin && pkt.gid <= d.gidMax;
      if (inRange === ((d.invert & XT_OWNER_GID) !== 0)) return false;
    }
    return true;
  }
}

export const ownerMatch: MatchExt<OwnerData> = {
  name: 'owner',
  options: [
    { name: 'uid-owner', args: 1, invertible: true },
    { name: 'gid-owner', args: 1, invertible: true },
    { name: 'socket-exists', args: 0, invertible: true },
    { name: 'suppl-groups', args: 0 },
  ],
  parse: parseOwner,
  print: printOwner,
  check(d, env) {
    const h = checkHooks('owner', 'match', env.hooks, OWNER_HOOKS);
    if (h) return h;
    // owner_check: ranges must be ordered.
    if (d.match & XT_OWNER_UID && d.uidMax < d.uidMin) return 'owner: uid range is reversed (Invalid argument)';
    if (d.match & XT_OWNER_GID && d.gidMax < d.gidMin) return 'owner: gid range is reversed (Invalid argument)';
    return null;
  },
  compile: (d) => new OwnerMatcher(d),
};

registerMatch(ownerMatch);
