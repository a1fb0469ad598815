"""The heavy queue as visitors see it: each heavy job is announced (with its estimate) when its button is pressed,
marked started when the queue reaches it and finished when it ends, so that a visitor is told how many jobs are
ahead and how long they should take by their own estimates. Gradio's queue does the ordering (one heavy job at a
time); this only counts. Bounded: jobs a visitor abandoned while queued (a closed page) expire."""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass

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

    def announce(self, session: str, what: str, seconds: float | None) -> int:
        """A visitor pressed Start; their earlier job that never started (a double click) is replaced."""
        with self._lock:
            self._expire()
            for job in [j for j in self._jobs.values() if j.session == session and j.started is None]:
                del self._jobs[job.id]
            job = Job(next(self._ids), session, what, seconds, self._clock())
            self._jobs[job.id] = job
            while len(self._jobs) > MAX_JOBS:
                del self._jobs[min(self._jobs)]
            return job.id

    def start(self, session: str) -> None:
        """The queue reached this session's announced job."""
        with self._lock:
            waiting = [j for j in self._jobs.values() if j.session == session and j.started is None]
            if waiting:
                waiting[0].started = self._clock()

    def finish(self, session: str) -> None:
        with self._lock:
            for job in [j for j in self._jobs.values() if j.session == session and j.started is not None]:
                del self._jobs[job.id]

    def ahead(self, job_id: int) -> tuple[int, float | None, bool]:
        """(jobs ahead of this one, their remaining seconds by their estimates, whether some had no estimate)."""
        with self._lock:
            self._expire()
            now = self._clock()
            before = [j for j in self._jobs.values() if j.id < job_id]
            known = [j.remaining(now) for j in before]
            total = sum(r for r in known if r is not None) if before else 0.0
            return len(before), total, any(r is None for r in known)

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
