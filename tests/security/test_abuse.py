"""The hostile review, replayed against a live app (`python app.py`) through its public API (gradio_client) and its
page's own events (tests.security.live): each of its nine findings is refused with a clear message, and nothing of
anyone else's is lost. One app serves the module, with small caps so that each refusal comes in seconds."""
from __future__ import annotations

import json
import re
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from bench.serve import serve_app
from comparisons.ground.runs import RunRecord, RunStore
from comparisons.serving.service import Visitor
from tests.security.live import crashes, ui_event

pytestmark = pytest.mark.e2e
Client = pytest.importorskip("gradio_client").Client
SAMPLE = {"source": "sample", "train_size": "60", "eval_size": "24", "seed": 7}
LIMITS = {"TPR_MAX_QUEUED_JOBS": "2", "TPR_MAX_RUNS": "6", "TPR_MAX_BOARDS_PER_HOUR": "3",
          "TPR_NEW_VISITORS_PER_HOUR": "60", "TPR_MAX_STUDY_CELLS": "50", "TPR_RUNS_MAX_GB": "0.05",
          "TPR_OWNER_MAX_GB": "0", "TPR_MAX_JOB_MINUTES": "10"}
VICTIM_MODEL_MB = 45  # another visitor's saved model, planted: 45 of the folder's 50 MB


class _Recorder(BaseHTTPRequestHandler):
    """A stand-in Hub that only records who called it (a push must never reach it with the host's token)."""

    calls: list = []

    def _any(self):
        self.calls.append((self.command, self.path, self.headers.get("Authorization")))
        self.send_response(500)
        self.end_headers()

    do_GET = do_POST = do_PUT = do_HEAD = _any

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    hub = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    threading.Thread(target=hub.serve_forever, daemon=True).start()
    victim = _plant(runs, "b:victim", model_mb=VICTIM_MODEL_MB)
    log = tmp_path_factory.mktemp("log") / "app.log"
    env = {**LIMITS, "HF_TOKEN": "hf_host_secret_token", "HF_ENDPOINT": f"http://127.0.0.1:{hub.server_port}"}
    with serve_app(runs, env=env, log=log) as url:
        yield {"url": url, "runs": runs, "victim": victim, "log": log}
    hub.shutdown()
    found = crashes(log.read_text())
    assert not found, found[:3]  # every refusal was a user error, never a crash


def _plant(runs: Path, owner: str, model_mb: float = 0.01, method: str = "finetune") -> RunRecord:
    """A finished run of `owner` with a saved model folder, as the app writes them."""
    record = RunRecord(method=method, config={"mode": "lora"}, data={"fingerprint": "fp-planted", "n_eval": 4},
                       status="completed", metrics={"accuracy": 0.5, "macro_f1": 0.5}, owner=owner)
    folder = runs / record.run_id / "model"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    (folder / "adapter_model.safetensors").write_bytes(b"\0" * int(model_mb * 2**20))
    record.artifacts["model_dir"] = str(folder)
    RunStore(runs).save(record)
    return record


def _client(url: str, **kw):
    client = Client(url, verbose=False, **kw)
    client.predict(**SAMPLE, api_name="/load_data")
    return client


def _refused(client, match: str, *args, **kwargs) -> str:
    with pytest.raises(Exception) as e:
        client.predict(*args, **kwargs)
    text = str(e.value)
    assert re.search(match, text), text
    assert "Traceback" not in text and tempfile.gettempdir() + "/gradio" not in text
    return text


def test_1_no_server_file_is_read_and_an_adapt_study_says_why(app):
    """Study settings and axes naming server files are refused by name, before any file is touched; a private
    key's usual path gets the same answer as /etc/passwd (no oracle of which files exist)."""
    client = _client(app["url"])
    study = dict(axis="train_size=16,32", seeds=1, eval_size="24", api_name="/run_study")
    answers = [_refused(client, "'corpus' is a command-line setting", methods="lora", settings=f"corpus={path}",
                        **study) for path in ("/etc/passwd", "/root/.ssh/id_ed25519")]
    assert answers[0] == answers[1]
    _refused(client, "'forgetting_text' is a command-line setting", methods="lora",
             settings="forgetting-text=/dev/zero", **study)
    _refused(client, "'forgetting_text' is a command-line setting", methods="rag:knn",
             settings="forgetting_text=/dev/zero", **study)  # a field of a method not in the study: refused too
    _refused(client, "'corpus' is a command-line setting", methods="lora", axis="corpus=/etc/passwd,/etc/hosts",
             seeds=1, eval_size="24", api_name="/run_study")
    _refused(client, "makes a language model, not a classifier", methods="adapt", **study)
    assert client.predict(api_name="/my_runs")["runs"] == []  # nothing ran


def test_2_the_hosts_token_never_pushes_for_a_visitor(app):
    client = _client(app["url"])
    mine = _plant(app["runs"], Visitor.of(client.session_hash).id)
    _refused(client, "no Hugging Face token", mine.run_id, "host/their-repo", api_name="/push_to_hub")
    assert _Recorder.calls == []  # the stand-in Hub was never called, with the host's token or any other


def test_3_a_flood_of_boards_never_removes_a_live_board(app):
    host, guest, flood = _client(app["url"]), _client(app["url"]), _client(app["url"])
    board = host.predict(title="Tuesday", nickname="Ada", fix_selection=True, api_name="/create_board")
    made = 0
    for _ in range(10):
        try:
            flood.predict(title="spam", api_name="/create_board")
            made += 1
        except Exception as e:
            assert "boards in the last hour" in str(e), e
    assert made == 3  # TPR_MAX_BOARDS_PER_HOUR
    assert guest.predict(board["code"], "Bob", api_name="/join_board")["participants"] == ["Ada", "Bob"]
    assert host.predict(board["code"], api_name="/board")["code"] == board["code"]


def test_4_formats_are_templates_not_code(app):
    client = _client(app["url"])
    _refused(client, r"\{text:>50000000\} is not allowed", example_format="{text:>50000000}{text}\nSentiment: {label}",
             api_name="/run_fewshot")
    _refused(client, r"\{text.__class__\} is not allowed", example_format="{text.__class__}{label}",
             api_name="/run_fewshot")
    _refused(client, "instruction is 1,000,000 characters long; it takes at most 2,000", instruction="x" * 1_000_000,
             api_name="/run_fewshot")
    _refused(client, r"\{0\} is not allowed", input_template="{0}{text}", api_name="/run_finetune")


def test_5_fresh_identities_cannot_evict_another_visitors_model(app):
    victim = app["victim"]
    for _ in range(6):  # six strangers, six identities, one folder already full of someone else's model
        _refused(_client(app["url"]), "other visitors' models are never evicted", mode="lora",
                 api_name="/run_finetune")
    record = json.loads((app["runs"] / victim.run_id / "record.json").read_text())
    assert "model_evicted" not in record["artifacts"]
    assert (app["runs"] / victim.run_id / "model" / "adapter_model.safetensors").stat().st_size == \
        VICTIM_MODEL_MB * 2**20


def test_6_the_neighbour_viewer_and_estimate_check_the_model_like_a_run(app):
    url, victim = app["url"], app["victim"]
    sample = {"Source": "Bundled sample", "Train size": "60", "Eval size": "24"}
    stolen = ui_event(url, "Show neighbours", {**sample, "Neighbours of a tweet": "hi",
                                               "Embedder": f"run:{victim.run_id}"})
    assert not stolen["success"] and stolen["error"] == f"no run '{victim.run_id}'."
    answers = [ui_event(url, "Show neighbours", {**sample, "Neighbours of a tweet": "hi", "Embedder": path})
               for path in ("/etc", "/nonexistent")]
    assert [a["success"] for a in answers] == [False, False]
    assert answers[0]["error"].replace("/etc", "X") == answers[1]["error"].replace("/nonexistent", "X")
    estimate = ui_event(url, "Estimate", {**sample, "Model": f"run:{victim.run_id}"})
    assert not estimate["success"] and f"no run '{victim.run_id}'" in estimate["error"]


def test_7_every_job_has_a_ceiling_and_a_visitor_a_share(app):
    client = _client(app["url"])
    _refused(client, r"about [\d,]+ min by its own estimate, more than the 10 min .*TPR_MAX_JOB_MINUTES",
             min_steps=1_000_000, api_name="/run_finetune")
    _refused(client, "2,000 cells, more than the 50", methods="rag:knn,rag:linear", axis="k=" + ",".join(
        str(k) for k in range(1, 101)), seeds=10, eval_size="24", api_name="/run_study")
    jobs = [client.submit(mode="knn", api_name="/run_rag") for _ in range(5)]  # one visitor floods the queue
    outcomes = []
    for job in jobs:
        try:
            outcomes.append(job.result()["status"])
        except Exception as e:
            outcomes.append(str(e))
    assert outcomes.count("completed") >= 2 and any("TPR_MAX_QUEUED_JOBS" in o for o in outcomes), outcomes
    for _ in range(6 - outcomes.count("completed")):
        assert client.predict(api_name="/run_baseline")["status"] == "completed"
    _refused(client, r"you have 6 runs, the most one visitor may keep here \(TPR_MAX_RUNS\): delete some",
             api_name="/run_baseline")
    assert len(client.predict(api_name="/my_runs")["runs"]) == 6  # none deleted for them


def test_8_board_titles_are_text_and_run_ids_are_the_hosts(app):
    host, guest, stranger = _client(app["url"]), _client(app["url"]), _client(app["url"])
    title = "![pixel](https://evil.example/p.png) [claim](https://evil.example)"
    board = host.predict(title=title, nickname="Ada", fix_selection=True, api_name="/create_board")
    host.predict(api_name="/run_baseline")
    _refused(stranger, "join board .* first", board["code"], api_name="/board")
    guest.predict(board["code"], "Bob", api_name="/join_board")
    assert all("run_id" not in e for e in guest.predict(board["code"], api_name="/board")["entries"])
    entries = host.predict(board["code"], api_name="/board")["entries"]
    assert entries and all(e["run_id"] for e in entries)
    from comparisons.serving.board import Board, summary

    shown = summary(Board(code=board["code"], host="h", title=title), [])
    assert "![" not in shown and "](" not in shown and "https://" not in shown


def test_9_identities_are_minted_signed_and_rate_limited_by_the_server(app):
    url = app["url"]
    page = httpx.get(url, headers={"Accept": "text/html"})
    cookie = page.headers["set-cookie"]
    assert cookie.startswith("tpr_visitor=") and "HttpOnly" in cookie and "Max-Age=2592000" in cookie
    value = cookie.split(";")[0].split("=", 1)[1]
    owner = _client(url, headers={"Cookie": f"tpr_visitor={value}"})
    run = owner.predict(api_name="/run_baseline")
    again = Client(url, verbose=False, headers={"Cookie": f"tpr_visitor={value}"})  # the same browser, a new page
    assert [r["run_id"] for r in again.predict(api_name="/my_runs")["runs"]] == [run["run_id"]]
    for forged in ("0f4c6a1e-2b7d-4c1e-9a55-3d2e1f0a9b8c", value[:-3] + "abc", value.split(".")[0]):
        assert Client(url, verbose=False, headers={"Cookie": f"tpr_visitor={forged}"}).predict(
            api_name="/my_runs")["runs"] == []  # unsigned or tampered: a stranger, who sees nothing of theirs
    minted = sum("set-cookie" in httpx.get(url, headers={"Accept": "text/html"}).headers for _ in range(70))
    assert minted < 70 and minted <= 60  # TPR_NEW_VISITORS_PER_HOUR per client address


def test_temporary_exports_go_after_an_hour(tmp_path, monkeypatch):
    from comparisons.ground import exports

    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path))
    old, new = exports.export_folder("model"), exports.export_folder("board")
    (old / "x.zip").write_bytes(b"zip")
    hour_ago = time.time() - exports.EXPORT_TTL_SECONDS - 5
    import os

    os.utime(old, (hour_ago, hour_ago))
    exports.export_folder("study")  # each new export sweeps the old ones
    assert not old.exists() and new.exists() and old.parent == tmp_path / "tpr-exports"
