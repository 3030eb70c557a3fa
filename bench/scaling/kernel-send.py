#!/usr/bin/env python3
"""Times bursts of TCP SYNs sent through a veth into the node namespace (scaling harness).

Run inside the peer namespace. Every packet is the first of its own connection (a new
source port each time), so on the node it walks nat PREROUTING -> KUBE-SERVICES to its
ClusterIP's rule, the service chain and a DNAT; the node then drops it at the routing
decision (blackhole route for the pod range), before anything is confirmed, so conntrack
does not fill up. On a veth the receiving side's softirq runs inside the sender's
sendto() (the backlog is processed when bottom halves are re-enabled), so the time of a
burst of sendto() calls includes the node's netfilter work.

Packets are built before the clock starts; bursts to the different targets are
interleaved (A B A B ...) so a change in machine load hits both alike.

usage: kernel-send.py SRC TARGET[,TARGET...] COUNT REPS
prints: {"targets": [...], "ns": [[burst ns, ...] per target], "count": COUNT}
"""
import json
import socket
import struct
import sys
import time


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def syn(src: str, dst: str, sport: int, dport: int) -> bytes:
    s = socket.inet_aton(src)
    d = socket.inet_aton(dst)
    tcp = struct.pack("!HHIIBBHHH", sport, dport, 1000, 0, 5 << 4, 0x02, 64240, 0, 0)
    pseudo = s + d + struct.pack("!BBH", 0, socket.IPPROTO_TCP, len(tcp))
    tcp = tcp[:16] + struct.pack("!H", checksum(pseudo + tcp)) + tcp[18:]
    # IP header: the kernel fills in the total length and the header checksum (IP_HDRINCL).
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 0, 0x4000, 64, socket.IPPROTO_TCP, 0, s, d)
    return ip + tcp


def main() -> None:
    src, targets_arg, count_arg, reps_arg = sys.argv[1:5]
    targets = [t.split(":") for t in targets_arg.split(",")]
    count, reps = int(count_arg), int(reps_arg)
    if count * reps * len(targets) > 60000:
        raise SystemExit("kernel-send: at most 60000 packets (one source port each)")
    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    sport = 1024
    bursts = []
    for _ in range(reps):
        for ip, port in targets:
            pkts = []
            for _ in range(count):
                pkts.append(syn(src, ip, sport, int(port)))
                sport += 1
            bursts.append((ip, pkts))
    ns = [[] for _ in targets]
    # One untimed burst first: ARP resolution and cold caches.
    warm = [syn(src, targets[0][0], 64000 + i, int(targets[0][1])) for i in range(min(count, 200))]
    for p in warm:
        sock.sendto(p, (targets[0][0], 0))
    for k, (ip, pkts) in enumerate(bursts):
        send = sock.sendto
        dest = (ip, 0)
        t0 = time.perf_counter_ns()
        for p in pkts:
            send(p, dest)
        t1 = time.perf_counter_ns()
        ns[k % len(targets)].append(t1 - t0)
    print(json.dumps({"targets": [f"{ip}:{port}" for ip, port in targets], "ns": ns, "count": count}))


if __name__ == "__main__":
    main()
