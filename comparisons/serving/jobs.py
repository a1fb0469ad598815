"""The heavy queue as visitors see it, and each visitor's share of it. Every heavy job is admitted before Gradio
queues it (the app's Start buttons announce it first, in the light queue; every heavy event, the public API's too,
has an admission check when it is queued): the visitor may have at most TPR_MAX_QUEUED_JOBS jobs waiting or
running, a client address TPR_MAX_ADDRESS_JOBS. A job is marked started when the queue reaches it and finished when
it ends, so that a visitor is also told how many jobs are ahead and how long they should take by their own
estimates. Gradio's queue does the ordering (one heavy job at a time); this only counts. Bounded: jobs a visitor
abandoned while queued (a closed page) expire."""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass

from comparisons.ground.errors import UserError

MAX_JOBS = 512
WAITING_EXPIRES = 2 * 3600  # a job announced this long ago and never started was abandoned
RUNNING_GRACE = 600  # a started job past its estimate by this much (x3) is assumed gone


@dataclass
class Job:
    id: int
    session: str
    what: str
    seconds: float | None  # the job's own estimate, when it has one
    announced: float
    started: float | None = None
    visitor: str = ""  # the owner id (comparisons.serving.service.Visitor.id)
    address: str = ""
    claimed: bool = False  # the heavy event's admission found this announced job: it is in Gradio's queue

    def remaining(self, now: float) -> float | None:
        if self.seconds is None:
            return None
        return max(0.0, self.seconds - (now - self.started)) if self.started is not None else self.seconds


class HeavyJobs:
    def __init__(self, clock=time.monotonic):
        self._jobs: dict[int, Job] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._clock = clock

    def admit(self, session: str, what: str, seconds: float | None, *, visitor: str = "", address: str = "",
              max_per_visitor: int = 0, max_per_address: int = 0, claim: bool = False) -> int:
        """Count a heavy job in, or refuse it (UserError) when the visitor or their address already has its share
        waiting or running. `claim`: the heavy event of a Start button, whose announcement (same session, not yet
        claimed) is the same job; a second, unannounced job is counted like any other."""
        with self._lock:
            self._expire()
            if claim:
                announced = [j for j in self._jobs.values() if j.session == session and j.started is None
                             and not j.claimed]
                if announced:
                    announced[0].claimed = True
                    return announced[0].id
            else:  # a second click before the first was queued replaces it
                for job in [j for j in self._jobs.values() if j.session == session and j.started is None
                            and not j.claimed]:
                    del self._jobs[job.id]
            mine = [j for j in self._jobs.values() if visitor and j.visitor == visitor]
            if max_per_visitor and len(mine) >= max_per_visitor:
                raise UserError(f"you have {len(mine)} jobs waiting or running, the most one visitor may have here "
                                "(TPR_MAX_QUEUED_JOBS): wait for one to finish, or stop it.")
            near = [j for j in self._jobs.values() if address and j.address == address]
            if max_per_address and len(near) >= max_per_address:
                raise UserError(f"{len(near)} jobs from your network are waiting or running, the most one address may "
                                "have here (TPR_MAX_ADDRESS_JOBS): wait for some to finish.")
            job = Job(next(self._ids), session, what, seconds, self._clock(), visitor=visitor, address=address,
                      claimed=claim)
            self._jobs[job.id] = job
            while len(self._jobs) > MAX_JOBS:
                del self._jobs[min(self._jobs)]
            return job.id

    def announce(self, session: str, what: str, seconds: float | None) -> int:
        """A visitor pressed Start (no share checked: the tests of the wait and older callers)."""
        return self.admit(session, what, seconds)

    def start(self, session: str) -> None:
        """The queue reached this session's oldest waiting job."""
        with self._lock:
            waiting = sorted((j for j in self._jobs.values() if j.session == session and j.started is None),
                             key=lambda j: (not j.claimed, j.id))
            if waiting:
                waiting[0].started = self._clock()

    def finish(self, session: str) -> None:
        """This session's running job ended (at most one heavy job of a session runs at a time)."""
        with self._lock:
            running = sorted((j for j in self._jobs.values() if j.session == session and j.started is not None),
                             key=lambda j: j.started)
            if running:
                del self._jobs[running[0].id]

    def ahead(self, job_id: int) -> tuple[int, float | None, bool]:
        """(jobs ahead of this one, their remaining seconds by their estimates, whether some had no estimate)."""
        with self._lock:
            self._expire()
            now = self._clock()
            before = [j for j in self._jobs.values() if j.id < job_id]
            known = [j.remaining(now) for j in before]
            total = sum(r for r in known if r is not None) if before else 0.0
            return len(before), total, any(r is None for r in known)

    def pending(self, visitor: str) -> int:
        with self._lock:
            self._expire()
            return sum(1 for j in self._jobs.values() if j.visitor == visitor)

    def _expire(self) -> None:
        now = self._clock()
        for job in list(self._jobs.values()):
            if job.started is None and now - job.announced > WAITING_EXPIRES:
                del self._jobs[job.id]
            elif job.started is not None and now - job.started > 3 * (job.seconds or 0) + RUNNING_GRACE:
                del self._jobs[job.id]


def wait_text(n_ahead: int, seconds: float | None, unknown: bool) -> str:
    if n_ahead == 0:
        return "Starting…"
    jobs = "1 job" if n_ahead == 1 else f"{n_ahead} jobs"
    if not seconds and unknown:
        return f"Queued behind {jobs} (one heavy job runs at a time); their length is not known."
    when = f"{seconds / 60:.0f} min" if seconds >= 90 else f"{seconds:.0f} s"
    return f"Queued behind {jobs} (one heavy job runs at a time): about {'at least ' if unknown else ''}{when} " \
           "by their estimates."


HEAVY_JOBS = HeavyJobs()
