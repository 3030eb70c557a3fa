/**
 * Every scheduler against its kernel source, with sequences worked out by hand from the
 * algorithm. A reminder for all of them: ipvsadm-restore adds servers in file order and
 * the kernel puts each new one at the head of svc->destinations (list_add_rcu in
 * __ip_vs_update_dest, ip_vs_ctl.c), so servers added A, B, C are walked C, B, A.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fc from 'fast-check';
import { Packet } from '../../src/packet/index.ts';
import {
  IP_VS_DEST_F_OVERLOAD, IP_VS_MH_TAB_SIZE, mhLookup, shBuckets, type RealServer, type VirtualService, type WrrMark,
} from '../../src/ipvs/index.ts';
import { engine, seed, svcOf, words } from './helpers.ts';

function service(sched: string, dests: [string, number][], flags = ''): VirtualService {
  const lines = [`-A -t 10.96.0.1:80 -s ${sched}${flags ? ` -b ${flags}` : ''}`];
  for (const [a, w] of dests) lines.push(`-a -t 10.96.0.1:80 -r ${a}:8080 -m -w ${w}`);
  return svcOf(engine(lines.join('\n')).ipvs);
}

function from(src: string, sport = 40000, dst = '10.96.0.1'): Packet {
  const p = new Packet();
  p.family = 4;
  p.proto = 6;
  p.saddr.set(words(src));
  p.daddr.set(words(dst));
  p.sport = sport;
  p.dport = 80;
  return p;
}

const name = (d: RealServer | null) => (d === null ? 'none' : `${d.addr[0]! & 255}`);
const picks = (svc: VirtualService, n: number, p = from('192.168.1.50')) => Array.from({ length: n }, () => name(svc.scheduler.schedule(svc, p)));
const dest = (svc: VirtualService, last: number) => svc.dests.find((d) => (d.addr[0]! & 255) === last)!;

// ---- rr (ip_vs_rr.c) --------------------------------------------------------------------

test('rr: servers added 1, 2, 3 are picked 3, 2, 1, 3, 2, 1 (cursor starts at the list head)', () => {
  const svc = service('rr', [['10.0.0.1', 1], ['10.0.0.2', 1], ['10.0.0.3', 1]]);
  assert.equal(picks(svc, 6), ['3', '2', '1', '3', '2', '1']);
});

test('rr: weight 0 and overloaded servers are skipped; none left gives no server', () => {
  const svc = service('rr', [['10.0.0.1', 1], ['10.0.0.2', 0], ['10.0.0.3', 1]]);
  assert.equal(picks(svc, 4), ['3', '1', '3', '1']);
  dest(svc, 3).flags |= IP_VS_DEST_F_OVERLOAD;
  assert.equal(picks(svc, 2), ['1', '1']);
  dest(svc, 1).weight = 0;
  assert.equal(picks(svc, 1), ['none']);
});

test('rr: deleting the server under the cursor moves the cursor to its predecessor (ip_vs_rr_del_dest)', () => {
  const { ipvs } = engine('-A -t 10.96.0.1:80 -s rr\n-a -t 10.96.0.1:80 -r 10.0.0.1:8080 -m\n-a -t 10.96.0.1:80 -r 10.0.0.2:8080 -m\n-a -t 10.96.0.1:80 -r 10.0.0.3:8080 -m');
  const svc = svcOf(ipvs);
  assert.equal(picks(svc, 2), ['3', '2']); // cursor on 2; list 3, 2, 1
  ipvs.deleteDest(svc, 4, words('10.0.0.2'), 8080); // cursor back to 3
  assert.equal(picks(svc, 3), ['1', '3', '1']);
});

// ---- wrr (ip_vs_wrr.c) -------------------------------------------------------------------

test('wrr: weights 4, 3, 2 added in that order give C B A, then cycles A B A C B A C B A', () => {
  // init with no servers: di = 1, mw = 0, cw = 0. Add A(4): di 4, mw 1, cw 0 -> mw = 1.
  // Add B(3): di 1, mw 4, cw stays 1. Add C(2): same. List C, B, A.
  // cw = 1: C, B, A. Reset cw = mw = 4: A. cw 3: B, A. cw 2: C, B, A. cw 1: C, B, A.
  const svc = service('wrr', [['10.0.0.1', 4], ['10.0.0.2', 3], ['10.0.0.3', 2]]);
  assert.equal(picks(svc, 21), ['3', '2', '1', '1', '2', '1', '3', '2', '1', '3', '2', '1', '1', '2', '1', '3', '2', '1', '3', '2', '1']);
});

test('wrr: gcd steps (weights 6, 4) and a weight change resets the cursor', () => {
  // Add A(6): di 6, mw 1, cw 1. Add B(4): di 2, mw 6 - 1 = 5, cw 1 -> (1/2)*2 + 1 = 1. List B, A.
  // cw 1: B, A. Reset 5: A. cw 3: B, A. cw 1: B, A. Reset 5: A ...
  const { ipvs } = engine('-A -t 10.96.0.1:80 -s wrr\n-a -t 10.96.0.1:80 -r 10.0.0.1:8080 -m -w 6\n-a -t 10.96.0.1:80 -r 10.0.0.2:8080 -m -w 4');
  const svc = svcOf(ipvs);
  assert.equal(picks(svc, 8), ['2', '1', '1', '2', '1', '2', '1', '1']);
  const m = svc.schedData as WrrMark;
  assert.equal([m.di, m.mw], [2, 5]);
  // Now cw = 5 after the last reset. Quiesce A: di = gcd(4) = 4, max weight 4, so
  // mw = 4 - (4 - 1) = 1; cw 5 > mw -> 1; cursor back to the head.
  ipvs.editDest(svc, { family: 4, addr: words('10.0.0.1'), port: 8080, fwd: 0, weight: 0, uThreshold: 0, lThreshold: 0 });
  assert.equal([m.cl, m.di, m.mw, m.cw], [-1, 4, 1, 1]);
  assert.equal(picks(svc, 3), ['2', '2', '2']);
});

test('wrr: all weights 0 gives no server', () => {
  const svc = service('wrr', [['10.0.0.1', 0], ['10.0.0.2', 0]]);
  assert.equal(picks(svc, 2), ['none', 'none']);
});

// ---- lc, wlc, sed, nq (ip_vs_lc.c, ip_vs_wlc.c, ip_vs_sed.c, ip_vs_nq.c) -------------------

function loaded(sched: string): VirtualService {
  // Weights 1, 2, 3 on .1, .2, .3; list order 3, 2, 1.
  const svc = service(sched, [['10.0.0.1', 1], ['10.0.0.2', 2], ['10.0.0.3', 3]]);
  const set = (n: number, a: number, i: number) => {
    dest(svc, n).activeConns = a;
    dest(svc, n).inactConns = i;
  };
  set(1, 1, 0); // overhead 256; sed 2
  set(2, 2, 0); // overhead 512; sed 3
  set(3, 3, 10); // overhead 778; sed 4
  return svc;
}

test('lc: least (active << 8) + inactive, first in list order on a tie', () => {
  const svc = loaded('lc');
  assert.equal(picks(svc, 1), ['1']);
  dest(svc, 1).activeConns = 3; // 768 < 778: still .1? no: .2 has 512
  assert.equal(picks(svc, 1), ['2']);
  dest(svc, 2).activeConns = 3; dest(svc, 2).inactConns = 10; // .3 and .2 tie at 778, .1 768
  assert.equal(picks(svc, 1), ['1']);
  dest(svc, 1).activeConns = 3; dest(svc, 1).inactConns = 10; // all 778: first in list order is .3
  assert.equal(picks(svc, 1), ['3']);
});

test('wlc: least overhead / weight compared by cross products, strictly better replaces', () => {
  // .3: 778/3 = 259.3, .2: 512/2 = 256, .1: 256/1 = 256. List 3, 2, 1:
  // start .3; .2: 778*2 = 1556 > 512*3 = 1536 -> .2; .1: 512*1 = 512 > 256*2 = 512? no -> .2.
  assert.equal(picks(loaded('wlc'), 1), ['2']);
});

test('sed: least (active + 1) / weight', () => {
  // .3: 4/3, .2: 3/2, .1: 2/1. Start .3; .2: 4*2 = 8 > 3*3 = 9? no; .1: 4*1 > 2*3? no -> .3.
  assert.equal(picks(loaded('sed'), 1), ['3']);
});

test('nq: an idle server (no active connections) first, else sed', () => {
  const svc = loaded('nq');
  assert.equal(picks(svc, 1), ['3'], 'nobody idle: like sed');
  dest(svc, 1).activeConns = 0;
  dest(svc, 2).activeConns = 0;
  assert.equal(picks(svc, 1), ['2'], 'the first idle server in list order (list 3, 2, 1)');
});

test('lc/wlc/sed/nq skip overloaded servers and weight 0', () => {
  for (const s of ['lc', 'wlc', 'sed', 'nq']) {
    const svc = loaded(s);
    dest(svc, 1).flags |= IP_VS_DEST_F_OVERLOAD;
    dest(svc, 2).weight = 0;
    assert.equal(picks(svc, 1), ['3'], s);
  }
});

// ---- sh, dh (ip_vs_sh.c, ip_vs_dh.c) ------------------------------------------------------

test('sh: 256 buckets filled round the list, weight-many each; bucket hash_32(addr, 8)', () => {
  // Added .1 (w 2), .2 (w 1): list .2, .1; buckets: .2, .1, .1, .2, .1, .1, ... (i % 3 == 0 -> .2)
  const svc = service('sh', [['10.0.0.1', 2], ['10.0.0.2', 1]]);
  const b = shBuckets(svc);
  assert.equal([0, 1, 2, 3, 4, 5, 255].map((i) => name(b[i]!)), ['2', '1', '1', '2', '1', '1', '2']);
  // 10.0.0.1 -> bucket 0x27 = 39 (39 % 3 == 0 -> .2); 192.168.1.1 -> 0x88 = 136 (-> .1)
  assert.equal(name(svc.scheduler.schedule(svc, from('10.0.0.1'))), '2');
  assert.equal(name(svc.scheduler.schedule(svc, from('192.168.1.1'))), '1');
});

test('sh: sh-port hashes port + address; without sh-fallback an unavailable server gives none', () => {
  const svc = service('sh', [['10.0.0.1', 1], ['10.0.0.2', 1]], 'sh-port');
  // list .2, .1: even buckets .2, odd .1. 10.0.0.1 + port 0x100 = 0x0A000101:
  // 0x0A000101 * 0x61C88647 = 0x27C88647 + 0x100 * 0x61C88647 (0xC8864700) = 0xF04ECD47 -> 0xF0 = 240 -> .2
  assert.equal(name(svc.scheduler.schedule(svc, from('10.0.0.1', 0x100))), '2');
  dest(svc, 2).weight = 0;
  assert.equal(name(svc.scheduler.schedule(svc, from('10.0.0.1', 0x100))), 'none');
  svc.flags |= 0x08; // sh-fallback: probe from the next offsets
  assert.equal(name(svc.scheduler.schedule(svc, from('10.0.0.1', 0x100))), '1');
});

test('dh: one bucket per server, bucket hash_32(destination, 8)', () => {
  const svc = service('dh', [['10.0.0.1', 5], ['10.0.0.2', 1]]);
  // list .2, .1 -> even .2, odd .1; destination 10.0.0.1 -> bucket 39 -> .1 (weights ignored)
  assert.equal(name(svc.scheduler.schedule(svc, from('1.2.3.4', 1, '10.0.0.1'))), '1');
  assert.equal(name(svc.scheduler.schedule(svc, from('1.2.3.4', 1, '192.168.1.1'))), '2');
});

// ---- mh (ip_vs_mh.c) -----------------------------------------------------------------------

test('mh: equal weights share the 4093 positions within one; the first servers in list order get the extra', () => {
  const svc = service('mh', [['10.0.0.1', 1], ['10.0.0.2', 1], ['10.0.0.3', 1]]);
  const lk = mhLookup(svc);
  const count = new Map<string, number>();
  for (const d of lk) count.set(name(d), (count.get(name(d)) ?? 0) + 1);
  // 4093 = 3 * 1364 + 1: populate gives each server one position per round; the last,
  // partial round is the first server in list order (.3).
  assert.equal(Object.fromEntries(count), { '3': 1365, '2': 1364, '1': 1364 });
});

test('mh: weights share positions in proportion (turns = weight / gcd) and weight 0 gets none', () => {
  const svc = service('mh', [['10.0.0.1', 3], ['10.0.0.2', 1], ['10.0.0.3', 0]]);
  const lk = mhLookup(svc);
  const c = (n: string) => lk.filter((d) => name(d) === n).length;
  // Rounds of 1 (.2) + 3 (.1) positions: 4093 = 1023 * 4 + 1 -> .2 gets 1023 + 1 (it starts each round).
  assert.equal([c('1'), c('2'), c('3')], [3069, 1024, 0]);
});

test('mh: a source always maps to the same server; mh-fallback skips an unavailable one', () => {
  const svc = service('mh', [['10.0.0.1', 1], ['10.0.0.2', 1]], 'mh-fallback');
  const a = name(svc.scheduler.schedule(svc, from('172.16.0.9')));
  assert.equal(picks(svc, 3, from('172.16.0.9')), [a, a, a]);
  dest(svc, Number(a)).weight = 0;
  const b = name(svc.scheduler.schedule(svc, from('172.16.0.9')));
  assert.ok(b !== a && b !== 'none', 'fallback found the other server');
  svc.flags &= ~0x08;
  assert.is(name(svc.scheduler.schedule(svc, from('172.16.0.9'))), 'none');
});

// ---- properties ------------------------------------------------------------------------

const ips = (n: number) => Array.from({ length: n }, (_, i) => `10.1.${i >> 8}.${(i & 255) + 1}`);

test('property: rr visits each live server exactly once in every window of n picks (n live servers)', () => {
  const s = seed('rr window');
  fc.assert(fc.property(fc.array(fc.constantFrom(0, 1, 1, 1), { minLength: 1, maxLength: 12 }), fc.nat(20), (ws, warm) => {
    const svc = service('rr', ips(ws.length).map((a, i) => [a, ws[i]!] as [string, number]));
    const live = ws.filter((w) => w > 0).length;
    if (live === 0) return picks(svc, 1)[0] === 'none';
    picks(svc, warm);
    const win = picks(svc, live);
    return new Set(win).size === live;
  }), { seed: s, numRuns: 200 });
});

test('property: wrr over one cycle picks each server weight / gcd times', () => {
  const s = seed('wrr cycle');
  fc.assert(fc.property(fc.array(fc.integer({ min: 1, max: 12 }), { minLength: 1, maxLength: 6 }), (ws) => {
    const svc = service('wrr', ips(ws.length).map((a, i) => [a, ws[i]!] as [string, number]));
    const m = svc.schedData as WrrMark;
    const g = ws.reduce((a, b) => { while (b) [a, b] = [b, a % b]; return a; });
    const S = ws.reduce((a, w) => a + w / g, 0);
    // Find the start of a cycle: the first pick made with cw == mw.
    const seq: string[] = [];
    let start = -1;
    for (let i = 0; i < 3 * S && start < 0; i++) {
      seq.push(name(svc.scheduler.schedule(svc, from('1.1.1.1'))));
      if (m.cw === m.mw) start = i;
    }
    if (start < 0) return false;
    const window = [seq[start]!, ...picks(svc, S - 1)];
    return ips(ws.length).every((a, i) => window.filter((x) => x === a.split('.')[3]).length === ws[i]! / g);
  }), { seed: s, numRuns: 200 });
});

test('property: sh maps a source to the same server while the set is unchanged', () => {
  const s = seed('sh stable');
  fc.assert(fc.property(fc.integer({ min: 1, max: 8 }), fc.array(fc.integer({ min: 0, max: 0xffffffff }), { minLength: 1, maxLength: 30 }), (n, srcs) => {
    const svc = service('sh', ips(n).map((a) => [a, 1] as [string, number]));
    const p = new Packet();
    p.family = 4;
    const first = srcs.map((w) => { p.saddr[0] = w; return name(svc.scheduler.schedule(svc, p)); });
    for (let k = 0; k < 3; k++) {
      srcs.forEach((w, i) => { p.saddr[0] = w; if (name(svc.scheduler.schedule(svc, p)) !== first[i]) throw new Error('moved'); });
    }
    return first.every((x) => x !== 'none');
  }), { seed: s, numRuns: 100 });
});

test("property: mh moves the keys of a removed server and, within Maglev's bound, few others", () => {
  const s = seed('mh removal');
  fc.assert(fc.property(fc.integer({ min: 2, max: 12 }), fc.nat(11), (n, k) => {
    const { ipvs } = engine(['-A -t 10.96.0.1:80 -s mh', ...ips(n).map((a) => `-a -t 10.96.0.1:80 -r ${a}:8080 -m -w 1`)].join('\n'));
    const svc = svcOf(ipvs);
    const before = mhLookup(svc).map(name);
    const gone = ips(n)[k % n]!;
    ipvs.deleteDest(svc, 4, words(gone), 8080);
    const after = mhLookup(svc).map(name);
    const goneName = gone.split('.')[3]!;
    let others = 0;
    for (let i = 0; i < IP_VS_MH_TAB_SIZE; i++) {
      if (after[i] === goneName) return false;
      if (before[i] !== goneName && before[i] !== after[i]) others++;
    }
    // Maglev (NSDI'16 §3.4) is near-minimal: positions of surviving servers rarely move.
    // Bound used here: at most 1/n of the table (the share one server would own).
    return others <= Math.ceil(IP_VS_MH_TAB_SIZE / n);
  }), { seed: s, numRuns: 60 });
});

test.run();
