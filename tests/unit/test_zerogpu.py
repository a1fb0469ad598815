"""What a ZeroGPU Space needs, checked without one: every value that crosses into the GPU worker's forked
process pickles, Stop reaches that process, each visitor stops only their own job, and a call asks for a
duration sized to the job (never the 600 s a free visitor's quota refuses)."""

import multiprocessing
import pickle
import threading
import time

from comparisons.ground.data import load_data, subset
from comparisons.ground.runs import RunStore
from comparisons.serving import service as svc
from rag.embed import register_embedder
from tests.stand_in import HashEmbedder
from ui import workers

register_embedder("test-hash", HashEmbedder)
DATA_FIELDS = dict(source=svc.SOURCE_SAMPLE, upload=None, text_column="", label_column="", train_size="40",
                   eval_size="12", seed=3, drop_leaked=False)


def _wait_for_stop(flag, seen):
    for _ in range(200):
        if flag.is_set():
            seen.value = 1
            return
        time.sleep(0.05)


def test_stop_reaches_a_forked_worker_and_only_its_own_session():
    mine, theirs = svc.session("visitor-a").stop, svc.session("visitor-b").stop
    mine.clear(), theirs.clear()
    seen = multiprocessing.get_context("fork").Value("i", 0)
    child = multiprocessing.get_context("fork").Process(target=_wait_for_stop, args=(pickle.loads(pickle.dumps(mine)),
                                                                                     seen))
    child.start()
    time.sleep(0.3)
    svc.request_stop("visitor-a")
    child.join(15)
    assert seen.value == 1  # the child saw the main process's Stop
    assert mine.is_set() and not theirs.is_set()
    mine.clear()


def test_everything_that_crosses_the_worker_boundary_pickles(tmp_path, monkeypatch):
    monkeypatch.setenv("TPR_RUNS_DIR", str(tmp_path))
    settings = {"embedder": "test-hash", "k": 3, "seed": 3}
    from comparisons.running.identity import mint

    visitor = svc.Visitor.of("visitor-c", cookie=mint()[0])
    args = ("run", "rag", settings, DATA_FIELDS, visitor)
    assert pickle.loads(pickle.dumps(args)) == args
    assert pickle.loads(pickle.dumps(workers.run_job)) is workers.run_job  # module-level: pickled by reference
    updates = list(workers.run_job(*args))
    for u in updates:
        back = pickle.loads(pickle.dumps(u))
        assert back.status == u.status and back.markdown == u.markdown
    assert updates[-1].record.status == "completed" and updates[-1].record.owner == visitor.id
    out = workers.try_it("so happy today", DATA_FIELDS, visitor)
    assert pickle.loads(pickle.dumps(out))["table"].equals(out["table"])


def test_a_call_asks_for_a_duration_sized_to_the_job_within_the_visitors_tier(tiny_gpt2):
    anonymous, pro = svc.Visitor("s:a", "a", "k"), svc.Visitor("hf:p", "p", "k", logged_in=True, tier="PRO")
    short = workers.zerogpu_duration("run", "rag", {"embedder": "auto"}, DATA_FIELDS, anonymous)
    tune = workers.zerogpu_duration("run", "finetune", {"model": tiny_gpt2, "epochs": 1}, DATA_FIELDS, anonymous)
    assert workers.ZEROGPU_MIN_SECONDS <= short <= tune <= workers.call_ceiling(anonymous) == 120
    assert workers.call_ceiling(pro) == workers.ZEROGPU_CALL_CEILING == 300
    assert workers.requested_seconds(100.0, anonymous) == 120 and workers.requested_seconds(100.0, pro) == 140
    assert workers.requested_seconds(None, pro) == 120  # a job that cannot be sized asks for two minutes
    big = dict(DATA_FIELDS, source=svc.SOURCE_SAMPLE, train_size="all")
    many = workers.job_seconds("run", "finetune", {"model": "bundled:SmolLM2-135M-Instruct", "epochs": 100}, big)
    few = workers.job_seconds("run", "finetune", {"model": "bundled:SmolLM2-135M-Instruct", "epochs": 1}, big)
    assert many > 5 * few > 0  # the estimate scales with the work (its fixed costs do not)


def test_a_job_too_long_for_the_visitors_zerogpu_tier_is_refused_before_it_starts(monkeypatch):
    import pytest

    monkeypatch.setenv("SPACES_ZERO_GPU", "true")
    anonymous = svc.Visitor("s:a", "a", "k")
    signed_in = svc.Visitor("hf:s", "s", "k", logged_in=True, tier="signed in")
    pro = svc.Visitor("hf:p", "p", "k", logged_in=True, tier="PRO")
    assert workers.refusal(60, anonymous) is None  # 60 s × 1.3 + 10 s fits two minutes
    assert "Sign in with Hugging Face" in workers.refusal(150, anonymous)
    assert workers.refusal(150, signed_in) is None and "A PRO account" in workers.refusal(200, signed_in)
    assert workers.refusal(200, pro) is None and workers.refusal(400, pro).startswith("this job needs about 8.8 min")
    workers.check_fits_zerogpu("run", "finetune", {"model": "bundled:SmolLM2-135M-Instruct", "epochs": 0.01},
                               dict(DATA_FIELDS, train_size="40"), anonymous)  # a tiny job passes
    with pytest.raises(svc.UserError, match="more than one ZeroGPU call allows a visitor who is anonymous"):
        workers.check_fits_zerogpu("run", "finetune", {"model": "bundled:SmolLM2-135M-Instruct", "epochs": 100},
                                   dict(DATA_FIELDS, train_size="all"), anonymous)
    with pytest.raises(svc.UserError, match="torch.compile is not available on a ZeroGPU Space"):
        list(svc.stream_run("finetune", {"torch_compile": True}, subset(load_data("sample"), 20, 10, seed=0),
                            threading.Event(), RunStore("/tmp/unused-runs")))


def test_the_tier_comes_from_the_login():
    from ui.common import visitor

    class Req:
        session_hash, cookies, headers, client = "sess", {}, {}, None

        def __init__(self, userinfo):
            import time

            self.request = type("R", (), {"scope": {"session": {"oauth_info": {
                "userinfo": userinfo, "expires_at": time.time() + 60}}}})()

    assert visitor(Req({"preferred_username": "ada", "isPro": True})).tier == "PRO"
    assert visitor(Req({"preferred_username": "bob"})).tier == "signed in"
    assert visitor(Req({})).tier == "anonymous" and workers.tier_of(visitor(Req({}))) == "anonymous"


def test_a_job_killed_mid_run_is_shown_interrupted_not_running(tmp_path):
    from comparisons.ground.runs import RunRecord

    store = RunStore(tmp_path)
    record = RunRecord(method="finetune", config={}, data={}, pid=999_999_999, host="elsewhere")
    store.save(record)  # left "running" by a worker that ZeroGPU killed at its time limit
    assert store.load(record.run_id).status == "interrupted"
    assert store.mark_interrupted() == 1
