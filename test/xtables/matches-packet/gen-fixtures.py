#!/usr/bin/env python3
"""
Regenerates fixtures.json: what the real iptables-nft 1.8.9 (nf_tables back end) prints back,
or the error it reports, for each match use listed in cases.txt and for every use of these
modules in the real-ruleset corpus (/work/shared/corpus/real).

Run as root; it works only inside its own scratch network namespace (created and deleted here):
    python3 test/xtables/matches-packet/gen-fixtures.py
Each case is restored on its own (`iptables-nft-restore`), then read back with
`iptables-nft-save`. Nothing outside the namespace is touched.
"""
import json, os, re, shlex, subprocess, sys, tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
NS = 'nfemu-chk-packet-fix'
MODULES = ['tcp', 'udp', 'sctp', 'icmp', 'icmp6', 'icmpv6', 'multiport', 'comment', 'iprange', 'length', 'pkttype',
           'ttl', 'hl', 'mac', 'tos', 'dscp', 'ecn', 'frag', 'rt', 'hbh', 'dst', 'ah', 'esp', 'mh', 'limit',
           'hashlimit', 'time', 'policy', 'rpfilter', 'physdev', 'devgroup', 'cpu', 'quota']
CHAINS = {'filter': ['INPUT', 'FORWARD', 'OUTPUT'], 'raw': ['PREROUTING', 'OUTPUT'],
          'mangle': ['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING'],
          'nat': ['PREROUTING', 'INPUT', 'OUTPUT', 'POSTROUTING']}
GENERIC = {'-s', '--source', '-d', '--destination', '-i', '--in-interface', '-o', '--out-interface', '-p',
           '--protocol', '-m', '--match', '-j', '--jump', '-g', '--goto', '-f', '--fragment', '-c', '-A', '-I'}


def sh(*args, inp=None):
    return subprocess.run(args, input=inp, capture_output=True, text=True)


def restore_line(tokens):
    out = []
    for t in tokens:
        if t == '' or re.search(r'[\s"\'\\]', t):
            out.append('"' + t.replace('\\', '\\\\').replace('"', '\\"') + '"')
        else:
            out.append(t)
    return ' '.join(out)


def run_case(fam, table, chain, pre, module, args):
    rest = restore_line(pre + ['-m', module] + args)
    lines = ['*' + table] + [f':{c} ACCEPT [0:0]' for c in CHAINS[table]]
    if chain == 'T':
        lines.append(':T - [0:0]')
    lines += [f'-A {chain} {rest}', 'COMMIT', '']
    r = sh('ip', 'netns', 'exec', NS, 'ip6tables-nft-restore' if fam == 6 else 'iptables-nft-restore', inp='\n'.join(lines))
    if r.returncode != 0:
        msg = r.stderr.strip().splitlines()
        if any('RULE_APPEND failed' in m or 'RULE_INSERT failed' in m for m in msg):
            return {'kernel': True}
        first = msg[0] if msg else ''
        first = re.sub(r'^i?p?6?tables-nft-restore v1\.8\.9 \(nf_tables\): ', '', first)
        return {'err': first}
    s = sh('ip', 'netns', 'exec', NS, 'ip6tables-nft-save' if fam == 6 else 'iptables-nft-save', '-t', table)
    for line in s.stdout.splitlines():
        if line.startswith(f'-A {chain} '):
            m = re.search(r'(?:^| )-m ' + re.escape(module if module not in ('icmpv6',) else 'icmp6') + r'( |$)', line)
            if m is None:
                return {'out': None, 'line': line}
            return {'out': line[m.end():], 'line': line}
    return {'out': None, 'line': ''}


def parse_cases(path):
    cases = []
    for raw in open(path):
        raw = raw.rstrip('\n')
        if not raw.strip() or raw.lstrip().startswith('#'):
            continue
        # fam table chain | pre | module | args
        head, pre, module, args = [x.strip() for x in raw.split('|', 3)]
        fam, table, chain = head.split()
        cases.append({'fam': int(fam), 'table': table, 'chain': chain, 'pre': shlex.split(pre), 'module': module,
                      'args': shlex.split(args), 'src': 'cases.txt'})
    return cases


try:
    FAMILIES = {k: v['family'] for k, v in json.load(open('/work/shared/corpus/kernel-save/index.json')).items()}
except OSError:
    FAMILIES = {}
GENERIC_ERRORS = ('Bad argument', 'unknown option', 'requires an argument', "Couldn't load match")


def corpus_cases():
    seen = set()
    out = []
    for root in ('/work/shared/corpus/real', '/work/shared/corpus/kernel-save'):
        out += corpus_dir(root, seen)
    return out


def corpus_dir(root, seen):
    out = []
    for dp, _, files in os.walk(root):
        for f in sorted(files):
            p = os.path.join(dp, f)
            rel = os.path.relpath(p, root)
            fam = FAMILIES.get(rel[:-5] if rel.endswith('.save') else rel) or (6 if ('ip6' in f or '.v6' in f) else 4)
            for line in open(p, errors='replace'):
                line = line.replace('\r', '').strip()
                if not (line.startswith('-A') or line.startswith('-I') or line.startswith('[')):
                    continue
                try:
                    toks = shlex.split(line)
                except ValueError:
                    continue
                pre = []
                for i, t in enumerate(toks):
                    if t in ('-p', '--protocol') and i + 1 < len(toks):
                        pre = (['!'] if i > 0 and toks[i - 1] == '!' else []) + ['-p', toks[i + 1]]
                i = 0
                while i < len(toks):
                    if toks[i] in ('-m', '--match') and i + 1 < len(toks) and toks[i + 1] in MODULES:
                        mod = toks[i + 1]
                        j = i + 2
                        args = []
                        while j < len(toks):
                            t = toks[j]
                            if t in GENERIC or (t == '!' and j + 1 < len(toks) and toks[j + 1] in GENERIC):
                                break
                            args.append(t)
                            j += 1
                        key = (fam, tuple(pre), mod, tuple(args))
                        if key not in seen:
                            seen.add(key)
                            chain = 'INPUT' if mod == 'mac' else 'T'
                            table = 'raw' if mod == 'rpfilter' else 'filter'
                            if mod == 'rpfilter':
                                chain = 'PREROUTING'
                            out.append({'fam': fam, 'table': table, 'chain': chain, 'pre': pre, 'module': mod,
                                        'args': args, 'src': os.path.basename(root) + '/' + os.path.relpath(p, root)})
                        i = j
                    else:
                        i += 1
    return out


def main():
    sh('ip', 'netns', 'del', NS)
    r = sh('ip', 'netns', 'add', NS)
    if r.returncode != 0:
        sys.exit('cannot create netns: ' + r.stderr)
    try:
        cases = parse_cases(os.path.join(HERE, 'cases.txt')) + corpus_cases()
        kept = []
        for c in cases:
            c['result'] = run_case(c['fam'], c['table'], c['chain'], c['pre'], c['module'], c['args'])
            c['result'].pop('line', None)
            err = c['result'].get('err', '')
            if c['src'] != 'cases.txt' and err.startswith(GENERIC_ERRORS):
                continue  # an error of the generic rule parser, not of the module
            kept.append(c)
        cases = kept
        with open(os.path.join(HERE, 'fixtures.json'), 'w') as fh:
            json.dump({'generator': 'iptables-nft-restore/save v1.8.9 (nf_tables), Linux ' + os.uname().release,
                       'cases': cases}, fh, indent=0, separators=(',', ':'))
        print(f'{len(cases)} cases')
    finally:
        sh('ip', 'netns', 'del', NS)


main()
