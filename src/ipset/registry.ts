/**
 * All IP sets of one network namespace (the kernel's ip_set_net), loaded with
 * `ipset restore` text and printed as `ipset save` prints it.
 *
 * Sets sit in numbered slots like the kernel's set index: `save` lists them in slot order, a
 * new set takes the first free slot, `swap` exchanges the contents of two slots (names stay
 * with the slots) and `rename` renames in place. The packet path holds `IpSet` handles that
 * are the slots themselves, so after a `swap` or a restore a handle sees what the kernel
 * would see under that index. A destroyed set's handle stops matching.
 *
 * `restore` is atomic (unlike the ipset tool, which stops at the first bad line): each set
 * is copied before its first change, and on any error every change is undone.
 */
import { NfemuError, type Clock } from '../core/index.ts';
import type { Packet } from '../packet/index.ts';
import { BitmapSet } from './bitmap-set.ts';
import { HashSet } from './hash-set.ts';
import { ADT_ADD, ADT_DEL, ADT_TEST, type SetImpl, type SetRef } from './impl.ts';
import { ListSet } from './list-set.ts';
import {
  CMD_ADD, CMD_CREATE, CMD_DEL, CMD_DESTROY, CMD_FLUSH, CMD_RENAME, CMD_SWAP, CMD_TEST,
  checkSetName, commandOf, parseAdtOptions, parseCreateOptions, splitWords,
} from './parse.ts';
import {
  MSG, TYPE_BITMAP_IP, TYPE_BITMAP_PORT, TYPE_LIST_SET, isHashType, kernelError, syntaxError, typeByName,
  type IpSet,
} from './types.ts';

/** A registry slot: the stable handle the packet path holds for one set name. */
class SetHandle implements IpSet, SetRef {
  constructor(
    public name: string,
    public impl: SetImpl | null,
    private readonly clock: Clock,
  ) {}

  get typeName(): string {
    return this.impl?.typeName ?? '';
  }
  get family(): 4 | 6 | 0 {
    return this.impl?.family ?? 0;
  }
  get dimensions(): number {
    return this.impl?.dimensions ?? 0;
  }
  get size(): number {
    return this.impl?.count(this.clock.nowMs()) ?? 0;
  }

  test(pkt: Packet, dirs: Uint8Array, nowMs: number): boolean {
    const impl = this.impl;
    if (impl === null || dirs.length < impl.dimensions) return false;
    if (impl.family !== 0 && impl.family !== pkt.family) return false;
    return impl.test(pkt, dirs, nowMs);
  }

  add(pkt: Packet, dirs: Uint8Array, nowMs: number, timeoutSec?: number, exist?: boolean): void {
    const impl = this.impl;
    if (impl === null || dirs.length < impl.dimensions) return;
    if (impl.family !== 0 && impl.family !== pkt.family) return;
    impl.kadd(pkt, dirs, nowMs, timeoutSec ?? -1, exist ?? false);
  }

  del(pkt: Packet, dirs: Uint8Array, nowMs: number): void {
    const impl = this.impl;
    if (impl === null || dirs.length < impl.dimensions) return;
    if (impl.family !== 0 && impl.family !== pkt.family) return;
    impl.kdel(pkt, dirs, nowMs);
  }
}

/** What a restore changed, to undo it on error. */
interface Txn {
  slots: (SetHandle | null)[];
  names: Map<SetHandle, string>;
  impls: Map<SetHandle, SetImpl | null>;
}

export class IpsetRegistry {
  private slots: (SetHandle | null)[] = [];
  private byName = new Map<string, SetHandle>();
  private txn: Txn | null = null;

  constructor(private readonly clock: Clock) {}

  /**
   * Applies `ipset restore` / `ipset save` text: create, add, del, test, flush, destroy,
   * swap, rename (and their one-letter and dash aliases), with `-exist`/`-!` on a line.
   * Atomic: on any error nothing changes and an NfemuError('PARSE'|'VALIDATE') carrying
   * file, line and token is thrown, worded as the ipset tool words it.
   */
  restore(text: string, file?: string): void {
    const txn: Txn = { slots: this.slots.slice(), names: new Map(), impls: new Map() };
    for (const h of this.slots) if (h) txn.names.set(h, h.name);
    this.txn = txn;
    const lines = text.split('\n');
    let lineNo = 0;
    try {
      for (let i = 0; i < lines.length; i++) {
        lineNo = i + 1;
        const line = lines[i]!;
        const trimmed = line.trim();
        if (trimmed === '' || trimmed.startsWith('#')) continue;
        this.applyLine(trimmed);
      }
    } catch (e) {
      this.rollback(txn);
      if (e instanceof NfemuError) {
        throw new NfemuError(e.code, e.message, { file: e.file ?? file, line: e.line ?? lineNo, token: e.token });
      }
      throw e;
    } finally {
      this.txn = null;
    }
  }

  private rollback(txn: Txn): void {
    for (const [h, impl] of txn.impls) h.impl = impl;
    for (const [h, name] of txn.names) h.name = name;
    this.slots = txn.slots;
    this.byName = new Map();
    for (const h of this.slots) if (h) this.byName.set(h.name, h);
  }

  /** Copy-on-write: keeps the set's pre-restore state for rollback before changing it. */
  private touch(h: SetHandle): SetImpl {
    const txn = this.txn;
    if (txn && !txn.impls.has(h)) {
      txn.impls.set(h, h.impl);
      if (h.impl) h.impl = h.impl.clone((r) => r);
    }
    return h.impl!;
  }

  private lookup(name: string): SetHandle {
    const h = this.byName.get(name);
    if (!h) throw kernelError(MSG.noSet, name);
    return h;
  }

  private applyLine(line: string): void {
    const all = splitWords(line);
    let exist = false;
    const words: string[] = [];
    for (const w of all) {
      if (w === '-exist' || w === '-!' || w === '--exist') exist = true;
      else if (w === '-q' || w === '-quiet' || w === '--quiet') continue;
      else words.push(w);
    }
    const cmdWord = words[0]!;
    const cmd = commandOf(cmdWord);
    if (cmd < 0) throw syntaxError(`Unknown command ${cmdWord}`, cmdWord);
    const nowMs = this.clock.nowMs();
    switch (cmd) {
      case CMD_CREATE:
        return this.create(words, exist);
      case CMD_ADD:
      case CMD_DEL:
      case CMD_TEST: {
        const h = this.lookup(checkSetName(words[1]));
        const elem = words[2];
        if (elem === undefined) throw syntaxError('Missing mandatory argument: element', words[1]);
        const impl = cmd === CMD_TEST ? h.impl! : this.touch(h);
        const ext = parseAdtOptions(words.slice(3), impl.acceptsNomatch && cmd === CMD_ADD, impl.type === TYPE_LIST_SET);
        const adt = cmd === CMD_ADD ? ADT_ADD : cmd === CMD_DEL ? ADT_DEL : ADT_TEST;
        const ok = impl.uadt(adt, elem, ext, exist, nowMs);
        if (cmd === CMD_TEST && !ok) throw kernelError(`${elem} is NOT in set ${h.name}.`, elem);
        return;
      }
      case CMD_FLUSH: {
        const targets = words[1] === undefined ? this.live() : [this.lookup(checkSetName(words[1]))];
        for (const h of targets) this.touch(h).flush();
        return;
      }
      case CMD_DESTROY: {
        const targets = words[1] === undefined ? this.live() : [this.lookup(checkSetName(words[1]))];
        for (const h of targets) {
          if (this.referenced(h, targets)) throw kernelError(MSG.busy, h.name);
        }
        for (const h of targets) this.destroy(h);
        return;
      }
      case CMD_RENAME: {
        const h = this.lookup(checkSetName(words[1]));
        const to = checkSetName(words[2]);
        if (this.byName.has(to)) throw kernelError(MSG.renameExists, to);
        if (this.referenced(h, [])) throw kernelError(MSG.renameReferenced, h.name);
        this.byName.delete(h.name);
        h.name = to;
        this.byName.set(to, h);
        return;
      }
      case CMD_SWAP: {
        const a = this.lookup(checkSetName(words[1]));
        const bName = checkSetName(words[2]);
        const b = this.byName.get(bName);
        if (!b) throw kernelError(MSG.swapNoSecond, bName);
        const ia = a.impl!;
        const ib = b.impl!;
        if (ia.features !== ib.features || ia.family !== ib.family) throw kernelError(MSG.swapMismatch);
        this.touch(a);
        this.touch(b);
        const tmp = a.impl;
        a.impl = b.impl;
        b.impl = tmp;
        return;
      }
    }
  }

  private create(words: readonly string[], exist: boolean): void {
    const name = checkSetName(words[1]);
    const typeName = words[2];
    if (typeName === undefined) throw syntaxError('Missing settype');
    const type = typeByName(typeName);
    if (type < 0 && KERNEL_SET_TYPES.has(typeName)) {
      throw new NfemuError('UNSUPPORTED', `set type ${typeName} is not modelled by nfemu (the kernel has it)`, { token: typeName });
    }
    if (type < 0) throw syntaxError(`Unknown settype ${typeName}`, typeName);
    const opts = parseCreateOptions(type, words.slice(3));
    let impl: SetImpl;
    if (isHashType(type)) impl = HashSet.create(type, name, opts);
    else if (type === TYPE_BITMAP_IP || type === TYPE_BITMAP_PORT) impl = BitmapSet.create(type, opts);
    else {
      const list = ListSet.create(opts);
      list.resolve = (n) => this.byName.get(n) ?? null;
      impl = list;
    }
    const clash = this.byName.get(name);
    if (clash) {
      if (exist && clash.impl !== null && clash.impl.sameSet(impl)) return;
      throw kernelError(MSG.setExists, name);
    }
    const h = new SetHandle(name, impl, this.clock);
    let slot = this.slots.indexOf(null);
    if (slot < 0) slot = this.slots.length;
    this.slots[slot] = h;
    this.byName.set(name, h);
    if (this.txn) this.txn.impls.set(h, null);
  }

  private destroy(h: SetHandle): void {
    this.touch(h);
    h.impl = null;
    this.slots[this.slots.indexOf(h)] = null;
    this.byName.delete(h.name);
  }

  /** Whether a list:set (other than those in `except`) holds `h`. */
  private referenced(h: SetHandle, except: readonly SetHandle[]): boolean {
    for (const s of this.slots) {
      if (!s || except.includes(s) || !(s.impl instanceof ListSet)) continue;
      if (s.impl.references(h)) return true;
    }
    return false;
  }

  private live(): SetHandle[] {
    return this.slots.filter((h): h is SetHandle => h !== null);
  }

  /** `ipset save` output for all sets (create line, then its add lines), in slot order. */
  save(): string {
    const nowMs = this.clock.nowMs();
    const out: string[] = [];
    for (const h of this.slots) {
      if (!h || !h.impl) continue;
      out.push(`create ${h.name} ${h.impl.typeName}${h.impl.createOptions()}`);
      h.impl.saveMembers(h.name, nowMs, out);
    }
    return out.length === 0 ? '' : out.join('\n') + '\n';
  }

  /** The set named `name`, as a handle the packet path may keep; null when there is none. */
  get(name: string): IpSet | null {
    return this.byName.get(name) ?? null;
  }

  /** Set names in `ipset save` order. */
  names(): string[] {
    return this.live().map((h) => h.name);
  }

  /** An independent deep copy (same clock); handles of the copy are new objects. */
  clone(): IpsetRegistry {
    const c = new IpsetRegistry(this.clock);
    const map = new Map<SetHandle, SetHandle>();
    for (const h of this.slots) if (h) map.set(h, new SetHandle(h.name, null, this.clock));
    const remap = (r: SetRef): SetRef => map.get(r as SetHandle) ?? r;
    c.slots = this.slots.map((h) => (h ? map.get(h)! : null));
    for (const h of this.slots) {
      if (!h) continue;
      const nh = map.get(h)!;
      nh.impl = h.impl ? h.impl.clone(remap) : null;
      if (nh.impl instanceof ListSet) nh.impl.resolve = (n) => c.byName.get(n) ?? null;
      c.byName.set(nh.name, nh);
    }
    return c;
  }
}

/** Set types the kernel (6.x) has that nfemu does not model: refused by name, not as unknown. */
const KERNEL_SET_TYPES = new Set(['hash:net,iface', 'hash:net,net', 'hash:net,port,net', 'hash:ip,mark', 'hash:mac', 'bitmap:ip,mac']);
