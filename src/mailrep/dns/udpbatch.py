"""Batched UDP I/O on Linux: recvmmsg(2)/sendmmsg(2) through ctypes, up to 64 datagrams a call.

Python pays two system calls per query with recvfrom/sendto; a batch pays two per burst. The
buffers are allocated once; the loop reads lengths and writes reply lengths through integer
memoryviews over the C structures, so a query costs a few Python operations besides answering.

    loop = BatchLoop(sock)            # raises OSError where recvmmsg is unavailable
    loop.run(responder, miss, stopping)   # see BatchLoop.run

x86-64 and aarch64 layouts (LP64): struct msghdr is 56 bytes, struct mmsghdr 64.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import socket
import sys
from collections.abc import Callable
from typing import Any

BATCH = 64
SLOT = 4096  # bytes per datagram buffer (a longer UDP query is cut and answered FORMERR)
NAME = 128  # sizeof(struct sockaddr_storage)
MSG_WAITFORONE = 0x10000


class _Iovec(ctypes.Structure):
    _fields_ = [("iov_base", ctypes.c_void_p), ("iov_len", ctypes.c_size_t)]


class _Msghdr(ctypes.Structure):
    _fields_ = [
        ("msg_name", ctypes.c_void_p),
        ("msg_namelen", ctypes.c_uint32),
        ("msg_iov", ctypes.c_void_p),
        ("msg_iovlen", ctypes.c_size_t),
        ("msg_control", ctypes.c_void_p),
        ("msg_controllen", ctypes.c_size_t),
        ("msg_flags", ctypes.c_int),
    ]


class _Mmsghdr(ctypes.Structure):
    _fields_ = [("msg_hdr", _Msghdr), ("msg_len", ctypes.c_uint32)]


_MM_WORDS32 = ctypes.sizeof(_Mmsghdr) // 4  # 16 x uint32 per mmsghdr
_MM_WORDS64 = ctypes.sizeof(_Mmsghdr) // 8
_NAMELEN32 = _Msghdr.msg_namelen.offset // 4
_MSGLEN32 = _Mmsghdr.msg_len.offset // 4
_NAME64 = _Msghdr.msg_name.offset // 8
_IOVLEN64 = _Iovec.iov_len.offset // 8


def _libc() -> ctypes.CDLL:
    if not sys.platform.startswith("linux") or ctypes.sizeof(ctypes.c_void_p) != 8:
        raise OSError(errno.ENOSYS, "recvmmsg batching needs 64-bit Linux")
    if ctypes.sizeof(_Msghdr) != 56 or ctypes.sizeof(_Mmsghdr) != 64:
        raise OSError(errno.ENOSYS, "unexpected struct msghdr layout")
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    for fn in (libc.recvmmsg, libc.sendmmsg):
        fn.restype = ctypes.c_int
    libc.recvmmsg.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_uint, ctypes.c_int, ctypes.c_void_p]
    libc.sendmmsg.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_uint, ctypes.c_int]
    return libc


class BatchLoop:
    def __init__(self, sock: socket.socket, batch: int = BATCH) -> None:
        self.libc = _libc()
        self.sock = sock
        self.batch = batch
        self.rbuf = bytearray(batch * SLOT)
        self.sbuf = bytearray(batch * SLOT)
        self.names = bytearray(batch * NAME)
        self._rc = (ctypes.c_char * len(self.rbuf)).from_buffer(self.rbuf)
        self._sc = (ctypes.c_char * len(self.sbuf)).from_buffer(self.sbuf)
        self._nc = (ctypes.c_char * len(self.names)).from_buffer(self.names)
        self.riov = (_Iovec * batch)()
        self.siov = (_Iovec * batch)()
        self.rmsg = (_Mmsghdr * batch)()
        self.smsg = (_Mmsghdr * batch)()
        rbase, sbase = ctypes.addressof(self._rc), ctypes.addressof(self._sc)
        self.name_addr = [ctypes.addressof(self._nc) + i * NAME for i in range(batch)]
        for i in range(batch):
            self.riov[i].iov_base, self.riov[i].iov_len = rbase + i * SLOT, SLOT
            self.siov[i].iov_base, self.siov[i].iov_len = sbase + i * SLOT, 0
            for msgs, iov in ((self.rmsg, self.riov), (self.smsg, self.siov)):
                h = msgs[i].msg_hdr
                h.msg_name, h.msg_namelen = self.name_addr[i], NAME
                h.msg_iov, h.msg_iovlen = ctypes.addressof(iov[i]), 1
        self.r32 = memoryview(self.rmsg).cast("B").cast("I")
        self.s32 = memoryview(self.smsg).cast("B").cast("I")
        self.s64 = memoryview(self.smsg).cast("B").cast("Q")
        self.siov64 = memoryview(self.siov).cast("B").cast("Q")
        self.rview = memoryview(self.rbuf)

    def run(self, responder: Callable[[], Any], failed: Callable[[bytes], bytes | None],
            stopping: Callable[[], bool]) -> None:
        """Serve until stopping(): each burst is answered from `responder()` (read once per burst,
        so a swap takes effect at the next burst); cache hits are copied straight into the send
        buffer, misses go through responder.udp_miss(query); if that raises, failed(query)
        gives the reply (SERVFAIL).

        guard.GuardedBatchLoop.run_guarded is a deliberate copy of this loop (see there)."""
        fd = self.sock.fileno()
        recvmmsg, sendmmsg = self.libc.recvmmsg, self.libc.sendmmsg
        rptr, sptr = ctypes.addressof(self.rmsg), ctypes.addressof(self.smsg)
        r32, s32, s64, siov64 = self.r32, self.s32, self.s64, self.siov64
        rview, sbuf, name_addr, batch = self.rview, self.sbuf, self.name_addr, self.batch
        mmsize = ctypes.sizeof(_Mmsghdr)
        # every peer of one socket has the same address size, so the send side keeps it fixed
        # and the receive side's (rewritten by the kernel to that size) stays large enough
        namelen = 16 if self.sock.family == socket.AF_INET else 28
        offs = [i * SLOT for i in range(batch)]
        len_at = [i * _MM_WORDS32 + _MSGLEN32 for i in range(batch)]
        iovlen_at = [i * 2 + _IOVLEN64 for i in range(batch)]
        name_at = [i * _MM_WORDS64 + _NAME64 for i in range(batch)]
        for i in range(batch):
            r32[i * _MM_WORDS32 + _NAMELEN32] = NAME
            s32[i * _MM_WORDS32 + _NAMELEN32] = namelen
        dirty = False  # a send slot points at another slot's peer address (after a silence)
        while not stopping():
            k = recvmmsg(fd, rptr, batch, MSG_WAITFORONE, None)
            if k <= 0:
                err = ctypes.get_errno()
                if k < 0 and err not in (errno.EINTR, errno.EAGAIN, errno.ENOMEM, errno.ECONNREFUSED):
                    if stopping():
                        return
                    raise OSError(err, os.strerror(err))
                continue
            if dirty:
                for j in range(batch):
                    s64[name_at[j]] = name_addr[j]
                dirty = False
            resp = responder()
            cget, miss = resp.cache.get, resp.udp_miss
            out = 0
            for i in range(k):
                n = r32[len_at[i]]
                if n < 12:
                    continue  # no header: silence
                off = offs[i]
                so = offs[out]
                tail = cget(bytes(rview[off + 2 : off + n]))
                if tail is None:
                    query = bytes(rview[off : off + n])
                    try:
                        reply = miss(query)
                    except Exception:
                        reply = failed(query)
                    if reply is None or len(reply) > SLOT:
                        continue
                    m = len(reply)
                    sbuf[so : so + m] = reply
                elif tail:  # cached UDP replies are at most 1232 octets
                    m = len(tail) + 2
                    sbuf[so : so + 2] = rview[off : off + 2]
                    sbuf[so + 2 : so + m] = tail
                else:
                    continue  # remembered silence
                siov64[iovlen_at[out]] = m
                if out != i:
                    s64[name_at[out]] = name_addr[i]
                    dirty = True
                out += 1
            send_all(sendmmsg, fd, sptr, mmsize, out)


def send_all(sendmmsg: Any, fd: int, sptr: int, mmsize: int, out: int) -> None:
    """sendmmsg the `out` replies at `sptr`. A signal before anything was sent (EINTR: SIGHUP for
    a reload lands on this thread) sends again, or that reply would be lost; any other error
    belongs to the first unsent message: drop it (as sendto would) and go on."""
    sent = interrupted = 0
    while sent < out:
        got = sendmmsg(fd, sptr + sent * mmsize, out - sent, 0)
        if got < 0 and ctypes.get_errno() == errno.EINTR and interrupted < 100:
            interrupted += 1
            continue
        sent += got if got > 0 else 1
