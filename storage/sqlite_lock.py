"""A queue for SQLite's one writer, so waiting transactions take turns instead of sleeping.

SQLite lets one transaction write at a time. Left to itself, a transaction that finds the file
locked sleeps in SQLite's busy handler (1, 2, 5, 10 … 100 ms) and tries again: under a burst,
with several web threads in several gunicorn workers, most of a request's time went to those
naps (p99 near 100 ms). Here every transaction first takes this queue:

- within a process, a `threading.Lock` (the next thread runs the moment the last one is done);
- across processes, `flock` on `<database>.lock` beside the file (a dead process's lock goes
  with it), polled at sub-millisecond steps by the one thread of each process that holds the
  thread lock.

SQLite's own locking still guards the data; this only orders the waiting. Waiting longer than
`timeout` raises `sqlite3.OperationalError("database is locked")`, as SQLite would.
"""
from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
import time

_queues: dict[tuple[int, str], "WriteQueue"] = {}
_queues_lock = threading.Lock()


class WriteQueue:
    def __init__(self, path: str):
        self.path = path + ".lock"
        self.thread_lock = threading.Lock()
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)

    def acquire(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        if not self.thread_lock.acquire(timeout=timeout):
            raise sqlite3.OperationalError("database is locked")
        pause = 0.0002
        while True:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    self.thread_lock.release()
                    raise sqlite3.OperationalError("database is locked") from None
                time.sleep(pause)
                pause = min(pause * 2, 0.002)

    def release(self) -> None:
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        self.thread_lock.release()


def queue_for(path: str) -> WriteQueue:
    """The queue of one database file in this process (a new one after a fork)."""
    key = (os.getpid(), os.path.abspath(path))
    with _queues_lock:
        q = _queues.get(key)
        if q is None:
            q = _queues[key] = WriteQueue(key[1])
        return q


class QueuedConnection(sqlite3.Connection):
    """A pysqlite connection that holds its database's `WriteQueue` from BEGIN to the end."""

    queue: WriteQueue | None = None
    timeout: float = 30.0
    _holding = False

    def begin_immediate(self) -> None:
        if self.queue is not None and not self._holding:
            self.queue.acquire(self.timeout)
            self._holding = True
        try:
            self.execute("BEGIN IMMEDIATE")
        except BaseException:
            self._let_go()
            raise

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self._let_go()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self._let_go()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._let_go()

    def _let_go(self) -> None:
        if self._holding:
            self._holding = False
            self.queue.release()
