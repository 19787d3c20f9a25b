"""A part of an action's computing run in a second process beside the rest.

The actions are CPU-bound Python after their reads: validate's checks of 900,000 records ran
one after the other on one core while the other stood idle.  On Linux the second process is
a fork: it starts with the records as they are (nothing is copied or pickled on the way in;
the collector is paused and what was read set aside, so few pages are touched); only the
part's result comes back, pickled through a pipe.

Where the second process cannot be had or gives no result — no fork on this system, the fork
refused, the process killed or out of memory, a part that raised or a result that does not
pickle — the part is computed in this process when its result is asked for: the result is
the same, only later.
"""
from __future__ import annotations

import os
import pickle
import select
import signal
import sys
import time
from typing import Any, Callable

CAN_FORK = sys.platform.startswith("linux") and hasattr(os, "fork")
# how long result() waits for the other process once asked: PATIENCE seconds, or four times as
# long as the part took to be asked for (what the caller computed meanwhile), whichever is more;
# then the process is stopped and its part computed here (a process that hangs never hangs the action)
PATIENCE = 30.0


class Done:
    """A part computed at once, in this process."""
    __slots__ = ("value",)

    def __init__(self, value: Any):
        self.value = value

    def result(self) -> Any:
        return self.value

    def cancel(self) -> None:
        pass


class Forked:
    """A part being computed in a forked process; result() waits for it."""

    def __init__(self, fn: Callable[[], Any], pid: int, fd: int):
        self.fn, self.pid, self.fd = fn, pid, fd
        self.started = time.monotonic()

    def result(self) -> Any:
        if self.pid is None:
            raise RuntimeError("result() of a part already taken or cancelled")
        fn = self.fn  # (a process that hangs is stopped on the way: cancel() lets go of self.fn)
        try:
            data = self._receive()
        except BaseException:  # interrupted (Ctrl-C): the process goes with the action
            self.cancel()
            raise
        self.fn = None  # let go of what fn holds (the action's records: a snapshot that keeps
        if data is not None:  # its begun parts would otherwise be a cycle kept to the end)
            try:
                return pickle.loads(data)
            except Exception:  # a damaged or partial result: computed here
                pass
        return fn()

    def _receive(self) -> bytes | None:
        """The pickled result, or None: the process ended without one, or took too long."""
        now = time.monotonic()
        deadline = now + max(PATIENCE, 4 * (now - self.started))
        chunks = []
        poll = select.poll()  # (not select(): a descriptor above 1023 is fine)
        poll.register(self.fd, select.POLLIN)
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0 or not poll.poll(left * 1000):
                    self.cancel()  # it hangs: stopped
                    return None
                got = os.read(self.fd, 1 << 20)
                if not got:
                    break
                chunks.append(got)
        except OSError:
            chunks = []
        status = self._reap()
        return b"".join(chunks) if status == 0 and chunks else None

    def cancel(self) -> None:
        """Stop the process (the caller met an error and will not ask for the result)."""
        self.fn = None
        if self.pid is None:
            return
        try:
            os.kill(self.pid, signal.SIGKILL)
        except OSError:
            pass
        self._reap()

    def _reap(self) -> int:
        pid, self.pid = self.pid, None
        try:
            os.close(self.fd)
        except OSError:
            pass
        try:
            _, status = os.waitpid(pid, 0)
        except ChildProcessError:
            return -1
        return os.waitstatus_to_exitcode(status)


def forked(fn: Callable[[], Any]) -> Done | Forked:
    """fn started in a forked process beside what the caller does next; in this process at
    once where no fork can be had."""
    if not CAN_FORK:
        return Done(fn())
    r, w = os.pipe()
    try:
        pid = os.fork()
    except OSError:  # no memory or processes left for it
        os.close(r)
        os.close(w)
        return Done(fn())
    if pid == 0:  # the second process: compute, hand the result over, leave without cleaning up
        code = 1  # (the files, threads and helper processes are this process's, not its)
        try:
            os.close(r)
            _let_go_of_outputs()
            view = memoryview(pickle.dumps(fn(), pickle.HIGHEST_PROTOCOL))
            while view:
                view = view[os.write(w, view):]
            code = 0
        except BaseException:
            pass
        finally:
            os._exit(code)
    os.close(w)
    return Forked(fn, pid, r)


def _let_go_of_outputs() -> None:
    """The second process writes nothing to this process's standard output and error, and does not
    keep them open: whoever reads them to their end (the import's sandbox child's parent, a script
    running a command) is not kept waiting by a part still computing after this process ended (a
    time limit killed it)."""
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 1)
        os.dup2(null, 2)
        os.close(null)
    except OSError:
        pass
