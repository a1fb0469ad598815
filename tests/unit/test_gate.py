"""The visitor's gate, piece by piece (comparisons.running.gate, templates, identity, jobs, board bounds); the same
rules are replayed against a live app in tests/security."""
import asyncio
import json
import os
import time

import pytest

from comparisons.ground.errors import UserError
from comparisons.ground.runs import RunRecord, RunStore
from comparisons.ground.templates import check_template, plain, prefix_before, render
from comparisons.running import gate, identity
from comparisons.serving.board import MAX_BOARDS, BoardStore
from comparisons.serving.jobs import HeavyJobs


@pytest.mark.parametrize("template,message", [
    ("{text:>50000000}{label}", r"\{text:>50000000\} is not allowed"),
    ("{text!r}{label}", r"\{text!r\} is not allowed"),
    ("{text.__class__}{label}", r"\{text.__class__\} is not allowed"),
    ("{text[0]}{label}", r"\{text\[0\]\} is not allowed"),
    ("{0}{label}", r"\{0\} is not allowed"),
    ("{text}{label}{secret}", r"unknown placeholder \{secret\}"),
    ("{text} {label", "expected '}'"),
    ("{label}", r"must contain \{text\}"),
    ("x" * 501 + "{text}{label}", "the most a template may have is 500"),
])
def test_a_template_names_only_its_placeholders_plainly(template, message):
    with pytest.raises(UserError, match=message):
        check_template(template, "example_format", ("text", "label"), ("text", "label"), max_chars=500)


def test_templates_render_without_the_format_mini_language():
    template = "Tweet {{raw}}: {text}\nSentiment: {label}"
    check_template(template, "f", ("text", "label"), ("text", "label"))
    rendered = render(template, text="{label} hi {0}", label="positive")
    assert rendered == "Tweet {raw}: {label} hi {0}\nSentiment: positive"
    assert render(prefix_before(template, "label"), text="so {good}") == "Tweet {raw}: so {good}\nSentiment: "


def test_visitor_text_in_markdown_is_plain():
    shown = plain("![pixel](https://evil.example/p.png) <img src=x> **bold**\n# title", 200)
    for marker in ("![", "](", "https://", "<", "**", "\n"):
        assert marker not in shown
    assert plain("x" * 500) == "x" * 80


def test_configs_refuse_non_finite_numbers_long_text_and_containers():
    from fewshot.config import FewshotConfig
    from finetune.config import FinetuneConfig

    for bad in ("nan", "inf", "-inf"):
        with pytest.raises(UserError, match="finite number"):
            FinetuneConfig.from_dict({"epochs": bad})
    with pytest.raises(UserError, match="at most 300"):
        FinetuneConfig.from_dict({"model": "m" * 301})
    with pytest.raises(UserError, match="must be a str, got a dict"):
        FewshotConfig.from_dict({"model": {"path": "/tmp/gradio/abc/passwd"}})  # never echoes the path it carries
    with pytest.raises(UserError, match="must be a int, got a list"):
        FewshotConfig.from_dict({"shots": [1]})


def test_owner_only_fields_models_and_names_are_refused_for_visitors(tmp_path):
    from finetune.adapt_config import AdaptConfig
    from finetune.config import FinetuneConfig

    store = RunStore(tmp_path).for_owner("b:ada")
    with pytest.raises(UserError, match="'corpus' is a command-line setting"):
        gate.check_visitor_values(AdaptConfig, {"corpus": "/etc/passwd"})
    gate.check_visitor_values(AdaptConfig, {"corpus": "", "epochs": 2})  # the default is no file at all
    with pytest.raises(UserError, match="'forgetting_text' is a command-line setting"):
        gate.check_visitor_config(FinetuneConfig(forgetting_text="/dev/zero"), store)
    with pytest.raises(UserError, match="study: 'corpus' is a command-line setting"):
        gate.check_visitor_names(["epochs", "corpus"], [FinetuneConfig, AdaptConfig], "study")
    os.makedirs(tmp_path / "a-folder")
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        for name in ("/etc", "../x", "~/x", "./x", "a-folder", "run:../x"):
            with pytest.raises(UserError):
                gate.check_model_name("model", name, store)
    finally:
        os.chdir(cwd)
    for name in ("auto", "gpt2", "openai-community/gpt2", "bundled:SmolLM2-135M-Instruct"):
        gate.check_model_name("model", name, store)


def test_limits_are_sized_for_the_hardware(monkeypatch):
    monkeypatch.delenv("TPR_MAX_JOB_MINUTES", raising=False)
    assert gate.Limits.current(gpu=False).job_seconds == 30 * 60
    assert gate.Limits.current(gpu=True).job_seconds == 20 * 60
    monkeypatch.setenv("TPR_MAX_JOB_MINUTES", "7")
    assert gate.Limits.current(gpu=True).job_seconds == 7 * 60
    with pytest.raises(UserError, match=r"about 8 min by its own estimate, more than the 7 min .*TPR_MAX_JOB_MINUTES"):
        gate.check_job_seconds(480, gate.Limits.current())
    gate.check_job_seconds(None)  # a job that cannot be sized is checked by its runs


def test_a_visitors_records_are_capped_never_deleted(tmp_path, monkeypatch):
    monkeypatch.setenv("TPR_MAX_RUNS", "2")
    root = RunStore(tmp_path)
    ada = root.for_owner("b:ada")
    for _ in range(2):
        ada.save(RunRecord(method="rag", config={}, data={}))
    root.for_owner("b:bob").save(RunRecord(method="rag", config={}, data={}))
    with pytest.raises(UserError, match="you have 2 runs.*delete some of your runs"):
        gate.check_run_count(ada)
    gate.check_run_count(root.for_owner("b:bob"))
    assert ada.count() == 2 and root.count() == 3


def test_each_visitor_and_address_has_a_share_of_the_heavy_queue():
    jobs = HeavyJobs()
    share = dict(max_per_visitor=2, max_per_address=3)
    first = jobs.admit("s1", "run rag", 5, visitor="ada", address="10.0.0.1", **share)
    assert jobs.admit("s1", "run rag", 5, visitor="ada", address="10.0.0.1", claim=True, **share) == first
    jobs.admit("s1", "run rag", 5, visitor="ada", address="10.0.0.1", claim=True, **share)  # a second, queued
    with pytest.raises(UserError, match="you have 2 jobs waiting or running.*TPR_MAX_QUEUED_JOBS"):
        jobs.admit("s2", "run rag", 5, visitor="ada", address="10.0.0.1", claim=True, **share)
    jobs.admit("s3", "run rag", 5, visitor="bob", address="10.0.0.1", claim=True, **share)
    with pytest.raises(UserError, match="TPR_MAX_ADDRESS_JOBS"):
        jobs.admit("s4", "run rag", 5, visitor="eve", address="10.0.0.1", claim=True, **share)
    jobs.start("s1")
    jobs.finish("s1")
    assert jobs.pending("ada") == 1
    jobs.admit("s2", "run rag", 5, visitor="ada", address="10.0.0.2", claim=True, **share)


def test_rate_windows_and_the_identity_ledger():
    now = [0.0]
    window = identity.Window(window=3600, clock=lambda: now[0])
    assert [window.allow("a", 3) for _ in range(4)] == [True, True, True, False]
    now[0] = 3601
    assert window.allow("a", 3)
    ledger = identity.Ledger(window=3600, clock=lambda: now[0])
    assert all(ledger.admit("10.0.0.1", f"s:{i}", 3) for i in range(3))
    assert ledger.admit("10.0.0.1", "s:0", 3) and not ledger.admit("10.0.0.1", "s:new", 3)
    assert ledger.admit("10.0.0.2", "s:new", 3)
    bounded = identity.Window(max_keys=10)
    for i in range(50):
        bounded.allow(f"k{i}", 1)
    assert len(bounded._events) == 10


def test_the_client_address_is_the_proxys_first_hop_only_when_trusted():
    headers = {"x-forwarded-for": "203.0.113.9, 10.0.0.1"}
    assert identity.client_address(headers, "10.0.0.1", trust_proxy=True) == "203.0.113.9"
    assert identity.client_address(headers, "10.0.0.1", trust_proxy=False) == "10.0.0.1"


def _asgi_get(app, path="/", accept="text/html", cookie=None, client=("10.9.9.9", 1)):
    headers = [(b"accept", accept.encode())] + ([(b"cookie", cookie.encode())] if cookie else [])
    scope = {"type": "http", "method": "GET", "path": path, "headers": headers, "client": client, "scheme": "http"}
    sent = []

    async def receive():
        return {"type": "http.request", "body": b""}

    async def send(message):
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    return {k.decode(): v.decode() for k, v in start["headers"]}


def test_the_server_mints_a_signed_httponly_cookie_on_page_loads_only(monkeypatch):
    monkeypatch.setenv("TPR_NEW_VISITORS_PER_HOUR", "3")
    monkeypatch.setattr(identity, "MINTED", identity.Window())

    async def page(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/html")]})
        await send({"type": "http.response.body", "body": b"ok"})

    app = identity.VisitorCookies(page)
    cookie = _asgi_get(app)["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
    value = cookie.split(";")[0].split("=", 1)[1]
    assert identity.verify(value) is not None
    assert "set-cookie" not in _asgi_get(app, cookie=f"tpr_visitor={value}")  # a valid cookie is kept
    assert "set-cookie" not in _asgi_get(app, path="/gradio_api/queue/join", accept="*/*")
    assert "set-cookie" not in _asgi_get(app, path="/assets/index.js")
    assert "set-cookie" in _asgi_get(app, cookie="tpr_visitor=0f4c6a1e-2b7d-4c1e-9a55-3d2e1f0a9b8c")  # forged: anew
    assert "set-cookie" in _asgi_get(app)
    assert "set-cookie" not in _asgi_get(app)  # the fourth new identity from one address within the hour
    assert "set-cookie" in _asgi_get(app, client=("10.9.9.10", 1))


def test_a_full_board_store_refuses_new_boards_and_never_drops_a_live_one(tmp_path, monkeypatch):
    import comparisons.serving.board

    monkeypatch.setattr(comparisons.serving.board, "MAX_BOARDS", 3)
    store = BoardStore(RunStore(tmp_path))
    live = [store.create(f"b:host{i}", "Host", f"live {i}") for i in range(3)]
    with pytest.raises(UserError, match="holds 3 live boards"):
        store.create("b:mallory", "M", "spam")
    assert all(store.load(b.code).title == b.title for b in live)
    frozen = store.freeze(live[0].code, "b:host0")
    day_ago = time.time() - comparisons.serving.board.FROZEN_EXPIRES_SECONDS - 60
    os.utime(store._path(frozen.code), (day_ago, day_ago))
    fresh = store.create("b:ada", "Ada", "new")  # the old frozen board gives way, the live ones stay
    assert not store._path(frozen.code).exists() and store.load(fresh.code)
    assert [store.load(b.code).code for b in live[1:]] == [b.code for b in live[1:]]
    assert MAX_BOARDS == 1000


def test_a_visitors_board_rate_is_limited(monkeypatch):
    monkeypatch.setenv("TPR_MAX_BOARDS_PER_HOUR", "2")
    monkeypatch.setattr(gate, "BOARDS_BY_VISITOR", None)
    from comparisons.serving.service import Visitor

    ada = Visitor("b:ada", "ada", "s1", address="10.1.1.1")
    gate.check_board_rate(ada)
    gate.check_board_rate(ada)
    with pytest.raises(UserError, match="you created 2 boards in the last hour"):
        gate.check_board_rate(ada)
    for i in range(6):  # other identities from the same address: four times a visitor's share, then no more
        gate.check_board_rate(Visitor(f"s:{i}", "x", f"t{i}", address="10.1.1.1"))
    with pytest.raises(UserError, match="8 boards were created from your network"):
        gate.check_board_rate(Visitor("s:late", "x", "t9", address="10.1.1.1"))


def test_a_visitors_study_passes_the_gate_before_anything_runs(tmp_path, monkeypatch):
    from comparisons.running.study import StudySpec
    from comparisons.serving.service import plan_study

    monkeypatch.setenv("TPR_MAX_STUDY_CELLS", "4")
    store = RunStore(tmp_path).for_owner("b:ada")
    base = dict(axis="train_size=8,16", seeds=1, eval_size="8", data="sample")
    with pytest.raises(UserError, match="'corpus' is a command-line setting"):
        plan_study(StudySpec(methods=["baseline"], settings={"corpus": "/etc/passwd"}, **base), store=store)
    with pytest.raises(UserError, match="'forgetting_text' is a command-line setting"):
        plan_study(StudySpec(methods=["baseline"], settings={"forgetting-text": "/dev/zero"}, **base), store=store)
    with pytest.raises(UserError, match="6 cells, more than the 4"):
        plan_study(StudySpec(methods=["baseline", "rag:knn", "rag:linear"], **base), store=store)
    with pytest.raises(UserError, match="makes a language model, not a classifier"):
        plan_study(StudySpec(methods=["adapt"], **base), store=store)
    spec, _, cells, _ = plan_study(StudySpec(methods=["baseline"], **base), store=store)
    assert len(cells) == 2 and json.dumps(spec.to_dict())
    _, _, cells, _ = plan_study(StudySpec(methods=["baseline", "rag:knn", "rag:linear"], **base),
                                store=RunStore(tmp_path))  # the machine owner's (the CLI's) store has no such caps
    assert len(cells) == 6
