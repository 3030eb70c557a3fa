#!/usr/bin/env python3
"""Raw packet I/O for nfemu's kernel runner (src/verify/kernel).

Started by the runner as `ip netns exec NODE python3 helper.py PEER_NETNS_PATH PEER_IFACE...`,
so this process lives in the scratch *node* namespace. It opens, once:
  - a NETLINK_NETFILTER socket subscribed to NFNLGRP_NFTRACE (nf_tables trace events of the
    node namespace; decoded by the TypeScript side, this script only forwards the bytes);
  - in the scratch *peer* namespace (entered with setns for the time of the socket() calls):
    one AF_PACKET socket per peer end of the node's veth pairs, to inject frames into the
    node and to capture what the node sends;
  - raw IPPROTO_RAW sockets in the node namespace, for packets a local process sends.
It then answers one JSON command per stdin line with one JSON line on stdout. Every wait is
bounded by the command's own limits. It never touches any namespace but these two.
"""
import ctypes
import json
import os
import select
import socket
import subprocess
import sys
import time

NETLINK_NETFILTER = 12
NFNLGRP_NFTRACE = 9
SOL_NETLINK = 270
NETLINK_ADD_MEMBERSHIP = 1
SO_RCVBUFFORCE = 33
SO_MARK = 36
SO_BINDTODEVICE = 25
ETH_P_ALL = 0x0003
CLONE_NEWNET = 0x40000000
IP_FREEBIND = 15
IPV6_FREEBIND = 78

_libc = ctypes.CDLL(None, use_errno=True)


def setns(fd):
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def err_text(e):
    return "%s: %s" % (type(e).__name__, e)


class Io:
    def __init__(self, peer_ns_path, peer_ifaces):
        self.node_fd = os.open("/proc/self/ns/net", os.O_RDONLY)
        self.nl = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
        try:
            self.nl.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 8 << 20)
        except OSError:
            self.nl.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        self.nl.bind((0, 0))
        self.nl.setsockopt(SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, NFNLGRP_NFTRACE)
        self.nl.setblocking(False)
        self.cap = {}
        peer_fd = os.open(peer_ns_path, os.O_RDONLY)
        try:
            setns(peer_fd)
            for name in peer_ifaces:
                s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
                s.bind((name, ETH_P_ALL))
                s.setblocking(False)
                self.cap[name] = s
        finally:
            setns(self.node_fd)
            os.close(peer_fd)
        self.raw = {}
        self.overrun = False

    def raw_socket(self, family):
        s = self.raw.get(family)
        if s is None:
            af = socket.AF_INET if family == 4 else socket.AF_INET6
            s = socket.socket(af, socket.SOCK_RAW, socket.IPPROTO_RAW)
            self.raw[family] = s
        return s

    def _read_all(self, events, frames):
        """Reads whatever is queued now; returns how many items were read."""
        n = 0
        for _ in range(100000):
            try:
                data = self.nl.recv(1 << 16)
            except BlockingIOError:
                break
            except OSError as e:
                if e.errno == 105:  # ENOBUFS: the kernel dropped trace events
                    self.overrun = True
                    continue
                raise
            events.append(data.hex())
            n += 1
        for name, s in self.cap.items():
            for _ in range(100000):
                try:
                    data, addr = s.recvfrom(1 << 16)
                except BlockingIOError:
                    break
                # addr = (ifname, proto, pkttype, hatype, hwaddr); PACKET_OUTGOING = 4
                frames.append({"iface": name, "pkttype": addr[2], "hex": data.hex()})
                n += 1
        return n

    def drain(self):
        events, frames = [], []
        self._read_all(events, frames)
        self.overrun = False
        return {"ok": True, "dropped": len(events) + len(frames)}

    def inject(self, cmd):
        s = self.cap.get(cmd["iface"])
        if s is None:
            return {"error": "no such peer interface: %s" % cmd["iface"]}
        try:
            s.send(bytes.fromhex(cmd["frame"]))
        except OSError as e:
            return {"error": err_text(e)}
        return {"ok": True}

    def send_raw(self, cmd):
        s = self.raw_socket(cmd["family"])
        try:
            s.setsockopt(socket.SOL_SOCKET, SO_MARK, int(cmd.get("mark") or 0))
            oif = cmd.get("oif") or ""
            s.setsockopt(socket.SOL_SOCKET, SO_BINDTODEVICE, oif.encode())
            s.sendto(bytes.fromhex(cmd["packet"]), (cmd["dst"], 0))
        except OSError as e:
            return {"error": err_text(e)}
        return {"ok": True}

    def send_socket(self, cmd):
        """Sends one datagram from an ordinary UDP socket, or starts a TCP connect (one SYN),
        as the given uid/gid.

        A forked child drops to gid and uid before it creates the socket, so the socket's
        owner (what `-m owner` and `meta skuid` see) is that uid/gid. IP_FREEBIND lets it bind
        any source address. A TCP socket is held open for `hold_ms` (less than the SYN
        retransmission timeout) and then closed, which in SYN_SENT sends nothing.
        """
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            code = 0
            msg = ""
            try:
                os.close(r)
                fam = socket.AF_INET if cmd["family"] == 4 else socket.AF_INET6
                kind = socket.SOCK_DGRAM if cmd["proto"] == "udp" else socket.SOCK_STREAM
                if cmd.get("gid") is not None:
                    os.setgroups([])
                    os.setgid(int(cmd["gid"]))
                if cmd.get("uid") is not None:
                    os.setuid(int(cmd["uid"]))
                s = socket.socket(fam, kind)
                if cmd.get("oif"):
                    s.setsockopt(socket.SOL_SOCKET, SO_BINDTODEVICE, cmd["oif"].encode())
                if fam == socket.AF_INET:
                    s.setsockopt(socket.IPPROTO_IP, IP_FREEBIND, 1)
                else:
                    s.setsockopt(socket.IPPROTO_IPV6, IPV6_FREEBIND, 1)
                s.bind((cmd["src"], int(cmd["sport"])))
                if kind == socket.SOCK_DGRAM:
                    s.sendto(b"", (cmd["dst"], int(cmd["dport"])))
                else:
                    s.setblocking(False)
                    try:
                        s.connect((cmd["dst"], int(cmd["dport"])))
                    except BlockingIOError:
                        pass
                    time.sleep(float(cmd.get("hold_ms", 200)) / 1000.0)
                s.close()
            except BaseException as e:  # noqa: BLE001 - reported to the parent
                code = 1
                msg = err_text(e)
            try:
                os.write(w, msg.encode()[:4000])
            finally:
                os._exit(code)
        os.close(w)
        msg = b""
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline:
            ready, _, _ = select.select([r], [], [], 0.05)
            if ready:
                chunk = os.read(r, 4096)
                if not chunk:
                    break
                msg += chunk
        os.close(r)
        try:
            os.kill(pid, 9)
        except ProcessLookupError:
            pass
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass
        if msg:
            return {"error": msg.decode(errors="replace")}
        return {"ok": True}

    def collect(self, cmd):
        """Reads trace events and frames until nothing arrived for quiet_ms (after at least
        min_ms), or max_ms passed."""
        quiet = float(cmd.get("quiet_ms", 15)) / 1000.0
        min_wait = float(cmd.get("min_ms", 0)) / 1000.0
        max_wait = float(cmd.get("max_ms", 2000)) / 1000.0
        start = time.monotonic()
        last = start
        events, frames = [], []
        socks = [self.nl] + list(self.cap.values())
        while True:
            now = time.monotonic()
            if now - start >= max_wait:
                break
            if now - last >= quiet and now - start >= min_wait:
                break
            until = min(start + max_wait, max(last + quiet, start + min_wait))
            ready, _, _ = select.select(socks, [], [], max(0.001, until - now))
            if ready and self._read_all(events, frames) > 0:
                last = time.monotonic()
        over = self.overrun
        self.overrun = False
        return {"ok": True, "events": events, "frames": frames, "overrun": over,
                "waited_ms": round((time.monotonic() - start) * 1000, 1)}

    def run(self, cmd):
        try:
            p = subprocess.run(cmd["argv"], input=cmd.get("stdin", "").encode(),
                               capture_output=True, timeout=float(cmd.get("timeout_ms", 10000)) / 1000.0)
        except subprocess.TimeoutExpired:
            return {"rc": -1, "stdout": "", "stderr": "timed out: %s" % " ".join(cmd["argv"])}
        except OSError as e:
            return {"rc": -1, "stdout": "", "stderr": err_text(e)}
        return {"rc": p.returncode, "stdout": p.stdout.decode(errors="replace"),
                "stderr": p.stderr.decode(errors="replace")}


def main():
    io = Io(sys.argv[1], sys.argv[2:])
    out = sys.stdout
    out.write(json.dumps({"ready": True, "pid": os.getpid()}) + "\n")
    out.flush()
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            cmd = json.loads(line)
            op = cmd.get("op")
            if op == "quit":
                out.write(json.dumps({"ok": True}) + "\n")
                out.flush()
                break
            elif op == "drain":
                res = io.drain()
            elif op == "inject":
                res = io.inject(cmd)
            elif op == "send_raw":
                res = io.send_raw(cmd)
            elif op == "send_socket":
                res = io.send_socket(cmd)
            elif op == "collect":
                res = io.collect(cmd)
            elif op == "run":
                res = io.run(cmd)
            else:
                res = {"error": "unknown op %r" % op}
        except Exception as e:  # noqa: BLE001 - every failure goes back to the runner
            res = {"error": err_text(e)}
        out.write(json.dumps(res) + "\n")
        out.flush()


if __name__ == "__main__":
    main()
