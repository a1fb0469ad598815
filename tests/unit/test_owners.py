"""Many visitors on one instance: each sees, deletes and overwrites only their own runs and studies; workshop
boards rank their participants' runs, only the host removes entries or freezes; a push goes through
huggingface_hub to a (local stand-in) Hub, with the visitor's token, and says why when it cannot."""
import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from comparisons.ground.errors import UserError
from comparisons.ground.runs import RunRecord, RunStore
from comparisons.serving.board import BoardStore, normalise_code, to_csv, to_markdown
from comparisons.serving.service import Visitor


def _record(store: RunStore, accuracy=0.5, fingerprint="fp1", method="rag", **kw) -> RunRecord:
    r = RunRecord(method=method, config={"mode": "knn", "k": 3}, data={"fingerprint": fingerprint, "n_train": 10,
                                                                        "n_eval": 4},
                  status="completed", metrics={"accuracy": accuracy, "macro_f1": accuracy},
                  predictions={"y_true": [0, 1, 0, 1], "y_pred": [0, 1, 0, 0] if accuracy < 1 else [0, 1, 0, 1]},
                  timings={"total_seconds": 1.5}, **kw)
    store.save(r)
    return r


def test_each_visitor_sees_deletes_and_overwrites_only_their_own_runs(tmp_path):
    root = RunStore(tmp_path)
    alice, bob = root.for_owner("b:alice", "alice"), root.for_owner("b:bob")
    a, b = _record(alice), _record(bob)
    assert [r.run_id for r in alice.list()] == [a.run_id] and [r.run_id for r in bob.list()] == [b.run_id]
    assert {r.run_id for r in root.list()} == {a.run_id, b.run_id}  # the CLI (machine owner) sees everything
    for attempt in (lambda: bob.load(a.run_id), lambda: bob.delete(a.run_id), lambda: bob.save(alice.load(a.run_id))):
        with pytest.raises(UserError, match=f"^no run '{a.run_id}'.$"):  # reads as no run at all
            attempt()
    assert (tmp_path / a.run_id / "record.json").exists()
    assert RunStore(tmp_path).load(a.run_id).owner == "b:alice"
    alice.delete(a.run_id)
    assert not (tmp_path / a.run_id).exists()
    for bad in ("..", "../x", "/etc", ".hidden", "a/b", ""):
        with pytest.raises(UserError, match="no run"):
            root.delete(bad)


def test_a_running_run_cannot_be_deleted(tmp_path):
    store = RunStore(tmp_path).for_owner("b:alice")
    r = _record(store)
    r.status = "running"
    r.pid, r.host = __import__("os").getpid(), __import__("socket").gethostname()
    store.save(r)
    with pytest.raises(UserError, match="still running"):
        store.delete(r.run_id)


def test_studies_are_their_owners_too(tmp_path):
    from comparisons.running.study import Study, StudyStore

    root = RunStore(tmp_path)
    mine, theirs = StudyStore(root.for_owner("b:alice")), StudyStore(root.for_owner("b:bob"))
    study = Study(spec={"methods": ["baseline"]})
    mine.save(study)
    assert [s.study_id for s in mine.list()] == [study.study_id] and theirs.list() == []
    with pytest.raises(UserError, match="no study"):
        theirs.load(study.study_id)
    with pytest.raises(UserError, match="no study"):
        theirs.save(mine.load(study.study_id))
    assert [s.study_id for s in StudyStore(root).list()] == [study.study_id]


def test_visitor_ids_are_one_way_and_follow_the_login_then_the_signed_cookie(monkeypatch):
    from comparisons.running import identity

    value, raw = identity.mint()
    by_cookie = Visitor.of("sess1", cookie=value)
    assert by_cookie.id.startswith("b:") and raw not in by_cookie.id and value not in by_cookie.id
    assert Visitor.of("sess2", cookie=value).id == by_cookie.id  # a page reload
    assert Visitor.of("sess1").id.startswith("s:") and Visitor.of("sess1").id != Visitor.of("sess2").id
    # Unsigned, forged or tampered values are ignored: the visitor is their page session, nobody else.
    from itsdangerous import URLSafeTimedSerializer

    forged = URLSafeTimedSerializer("not-the-secret", salt="tpr-visitor").dumps(raw)
    for cookie in ("0f4c6a1e-2b7d-4c1e-9a55-3d2e1f0a9b8c", "x;/etc", raw, forged, value[:-1], value + "x"):
        assert Visitor.of("sess1", cookie=cookie).id == Visitor.of("sess1").id, cookie
    hf = Visitor.of("sess1", cookie=value, hf_user="ada")
    assert hf.id == "hf:ada" and hf.name == "ada" and hf.logged_in
    monkeypatch.setenv("TPR_SECRET", "another-secret-after-a-rotation")
    assert Visitor.of("sess1", cookie=value).id == Visitor.of("sess1").id  # signed with another key: ignored


def test_hf_username_comes_from_gradios_signed_oauth_session():
    import time

    from ui.common import hf_username

    class Req:
        def __init__(self, session):
            self.request = type("R", (), {"scope": {"session": session}})()

    assert hf_username(Req({"oauth_info": {"userinfo": {"preferred_username": "ada"},
                                           "expires_at": time.time() + 60}})) == "ada"
    assert hf_username(Req({"oauth_info": {"userinfo": {"preferred_username": "ada"},
                                           "expires_at": time.time() - 60}})) is None
    assert hf_username(Req({})) is None and hf_username(None) is None


def test_a_board_ranks_its_participants_runs_on_its_split_and_only_the_host_administers_it(tmp_path):
    root = RunStore(tmp_path)
    boards = BoardStore(root)
    board = boards.create("b:host", "Host", "Tuesday", {"source": "sample"}, "fp1", "the bundled sample")
    assert normalise_code(board.code.lower()) == board.code
    boards.join(board.code.lower(), "b:ada", "Ada", "visitor-1")
    boards.join(board.code, "b:bob", "", "visitor-2")
    with pytest.raises(UserError, match="nickname"):
        boards.join(board.code, "b:x", "<script>", "v")
    ada, bob, eve = (root.for_owner(o) for o in ("b:ada", "b:bob", "b:eve"))
    a1, b1 = _record(ada, 0.75), _record(bob, 1.0)
    _record(ada, 0.9, fingerprint="other")  # another eval split: not on a board that fixed one
    _record(eve, 1.0)  # not a participant
    _record(ada, 0.99, study={"study_id": "s", "cell": "c"})  # a study's cell
    rows = boards.rows(boards.load(board.code))
    assert [(r["name"], r["run_id"], r["rank"]) for r in rows] == [("visitor-2", b1.run_id, 1), ("Ada", a1.run_id, 2)]
    assert rows[1]["accuracy_low"] < 0.75 < rows[1]["accuracy_high"] and rows[1]["settings"] == "mode knn, k 3"
    with pytest.raises(UserError, match="only the host"):
        boards.remove(board.code, "b:ada", b1.run_id)
    with pytest.raises(UserError, match="only the host"):
        boards.freeze(board.code, "b:bob")
    boards.remove(board.code, "b:host", b1.run_id)
    frozen = boards.freeze(board.code, "b:host")
    _record(ada, 0.95)  # after the freeze: does not count
    rows = boards.rows(boards.load(board.code))
    assert [r["run_id"] for r in rows] == [a1.run_id] and frozen.frozen_at
    with pytest.raises(UserError, match="frozen"):
        boards.join(board.code, "b:zoe", "Zoe", "v")
    assert "| 1 | Ada |" in to_markdown(frozen, rows) and to_csv(rows).splitlines()[0].startswith("rank,name,method")
    with pytest.raises(UserError, match="no board 'ZZZZZZ'"):
        boards.load("zzzzzz")
    with pytest.raises(UserError, match="a board code is 6 letters"):
        boards.load("../x")


def test_board_cli_prints_the_leaderboard_and_the_host_may_freeze_it(tmp_path, capsys):
    from comparisons.cli import main

    root = RunStore(tmp_path)
    board = BoardStore(root).create("b:host", "Host", "CLI board")
    BoardStore(root).join(board.code, "b:ada", "Ada", "v")
    _record(root.for_owner("b:ada"), 0.75)
    assert main(["board", board.code, "--runs-dir", str(tmp_path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["code"] == board.code and [e["name"] for e in out["entries"]] == ["Ada"]
    assert "b:ada" not in json.dumps(out)  # nicknames only: never an owner id
    assert main(["board", board.code, "--runs-dir", str(tmp_path), "--freeze"]) == 0
    assert "frozen" in capsys.readouterr().out
    assert main(["board", "NOPE00", "--runs-dir", str(tmp_path)]) == 2


class _StandInHub(BaseHTTPRequestHandler):
    """As much of the Hub's HTTP API as huggingface_hub's create_repo + upload_folder use (regular files)."""

    repos: dict = {}
    auth: list = []
    validated: list = []

    def _json(self, obj, status=200):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.auth.append(self.headers.get("Authorization"))
        if self.path == "/api/repos/create":
            req = json.loads(body)
            repo = f"{req['organization']}/{req['name']}" if req.get("organization") else req["name"]
            self.repos.setdefault(repo, {})
            return self._json({"url": f"http://{self.headers['Host']}/{repo}"})
        if self.path == "/api/validate-yaml":  # the Hub's own schema is not here: only that it is a YAML mapping
            import yaml

            content = json.loads(body)["content"]
            meta = yaml.safe_load(content.split("---")[1])
            self.validated.append(meta)
            return self._json({"warnings": []} if isinstance(meta, dict) else {"errors": [{"message": "no"}]},
                              200 if isinstance(meta, dict) else 400)
        if "/preupload/" in self.path:
            files = json.loads(body)["files"]
            return self._json({"files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False}
                                         for f in files]})
        if "/commit/" in self.path:
            repo = self.path.split("/api/models/")[1].split("/commit/")[0]
            for line in body.decode().splitlines():
                item = json.loads(line)
                if item["key"] == "file":
                    self.repos.setdefault(repo, {})[item["value"]["path"]] = base64.b64decode(item["value"]["content"])
            return self._json({"commitUrl": f"http://{self.headers['Host']}/{repo}/commit/1", "commitOid": "1" * 40,
                               "success": True})
        return self._json({"error": f"not in the stand-in: {self.path}"}, 404)

    def log_message(self, *args):
        pass


def test_push_uploads_the_model_and_its_card_with_the_visitors_token(tmp_path, monkeypatch):
    import huggingface_hub.constants

    from comparisons.serving.push import cli_token, push

    folder = tmp_path / "run" / "model"
    folder.mkdir(parents=True)
    (folder / "model.safetensors").write_bytes(b"weights")
    (folder / "tpr_model.json").write_text(json.dumps({"base_model": str(tmp_path / "server-cache")}))
    record = RunRecord(method="finetune", config={"mode": "full"}, data={"fingerprint": "fp", "n_eval": 4},
                       metrics={"accuracy": 0.5, "macro_f1": 0.4}, artifacts={"model_dir": str(folder)})
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(UserError, match="offline"):
        push(record, "ada/tweets", "hf_x")
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    with pytest.raises(UserError, match="no Hugging Face token"):
        push(record, "ada/tweets", None)
    with pytest.raises(UserError, match="your-name/model-name"):
        push(record, "../../etc", "hf_x")
    monkeypatch.setenv("HF_TOKEN", "hf_machine_owner")
    assert cli_token() == "hf_machine_owner"  # the command line's; the app never reads it (tests/security)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _StandInHub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = push(record, "ada/tweets", "hf_visitor", endpoint=f"http://127.0.0.1:{server.server_port}")
    finally:
        server.shutdown()
    files = _StandInHub.repos["ada/tweets"]
    assert url.endswith("ada/tweets") and files["model.safetensors"] == b"weights"
    assert "tpr_model.json" not in files  # our loader's file names a server folder: never pushed
    card = files["README.md"].decode()
    assert '"ada/tweets"' in card and "library_name: transformers" in card
    assert set(_StandInHub.auth) == {"Bearer hf_visitor"}
    assert _StandInHub.validated[-1]["model-index"][0]["name"] == "tweets"  # huggingface_hub sent the card's YAML
    assert not any(str(tmp_path).encode() in content for content in files.values())  # no server path went up


def test_visitors_are_told_the_jobs_ahead_and_their_estimated_wait():
    from comparisons.serving.jobs import WAITING_EXPIRES, HeavyJobs, wait_text

    now = [0.0]
    jobs = HeavyJobs(clock=lambda: now[0])
    first = jobs.announce("ada", "run finetune", 300)
    assert jobs.ahead(first) == (0, 0.0, False) and wait_text(0, 0, False) == "Starting…"
    jobs.start("ada")
    now[0] = 100
    second = jobs.announce("bob", "run fewshot", 60)
    third = jobs.announce("eve", "run rag", None)
    assert jobs.ahead(second) == (1, 200.0, False)  # Ada's job has 200 s of its 300 left
    assert jobs.ahead(third) == (2, 260.0, False)
    assert wait_text(*jobs.ahead(third)) == "Queued behind 2 jobs (one heavy job runs at a time): about 4 min by " \
                                            "their estimates."
    fourth = jobs.announce("zoe", "run rag", 10)
    assert jobs.ahead(fourth)[2] is True  # Eve's job has no estimate: "at least"
    assert jobs.announce("bob", "run fewshot", 30) > fourth  # a second click replaces Bob's unstarted job
    jobs.finish("ada")
    assert jobs.ahead(fourth)[0] == 1  # Ada done, Bob moved behind: only Eve is ahead
    now[0] += WAITING_EXPIRES + 1  # abandoned pages: jobs never started expire
    assert jobs.ahead(jobs.announce("new", "run rag", 5))[0] == 0


def test_a_visitor_cannot_start_from_a_server_folder_or_another_visitors_model(tmp_path, tiny_gpt2):
    from comparisons.running.api import make_config, run_method
    from tests.unit.test_finetune import toy

    root = RunStore(tmp_path)
    theirs = _record(root.for_owner("b:bob"), method="adapt")
    ada = root.for_owner("b:ada")
    for model, match in ((tiny_gpt2, "folders on the server are a command-line option"),
                         (f"run:{theirs.run_id}", f"no run '{theirs.run_id}'"),
                         ("../../etc", "folders on the server")):
        with pytest.raises(UserError, match=match):
            run_method("finetune", make_config("finetune", {"model": model, "epochs": 1}), toy(), store=ada)
    assert ada.list() == []  # refused before any record
    record = run_method("finetune", make_config("finetune", {"model": tiny_gpt2, "epochs": 1, "curve_size": 0,
                                                            "forgetting_tokens": 0, "save_model": False}), toy(),
                        store=root)  # the CLI (the machine's owner) may name any folder
    assert record.status == "completed"


def test_an_upload_is_shown_by_its_file_name_not_the_servers_path(tmp_path):
    from comparisons.analysis import report
    from comparisons.ground.data import load_data

    upload = tmp_path / "gradio" / "3f2a" / "my tweets.csv"
    upload.parent.mkdir(parents=True)
    upload.write_text("text,label\n" + "\n".join(f"tweet number {i} is {'good' if i % 2 else 'bad'},{i % 2}"
                                                 for i in range(40)))
    overview = report.data_overview(load_data(str(upload)))
    assert "**Source:** my tweets\\.csv" in overview["markdown"] and str(tmp_path) not in json.dumps(
        overview, default=str)


def test_a_visitors_list_does_not_parse_other_visitors_records_again(tmp_path, monkeypatch):
    root = RunStore(tmp_path)
    mine = [_record(root.for_owner("b:ada")) for _ in range(2)]
    for i in range(6):
        _record(root.for_owner(f"b:other{i}"))
    ada = root.for_owner("b:ada")
    assert {r.run_id for r in ada.list()} == {r.run_id for r in mine}
    parsed = []
    real = RunRecord.from_dict.__func__
    monkeypatch.setattr(RunRecord, "from_dict", classmethod(lambda cls, d: parsed.append(d["owner"]) or real(cls, d)))
    assert {r.run_id for r in ada.list()} == {r.run_id for r in mine}
    assert parsed == ["b:ada", "b:ada"]  # the six others were skipped by their unchanged files' stamps
    assert len(root.list()) == 8  # the machine owner's view still reads everything


def test_a_board_counts_runs_made_since_each_member_joined(tmp_path):
    """Creating a board does not put the host's earlier runs on it; a participant's runs count from their join."""
    import time

    root = RunStore(tmp_path)
    host, guest = root.for_owner("b:host"), root.for_owner("b:guest")
    before = [_record(host, 0.6), _record(guest, 0.7)]
    time.sleep(1.1)  # joined_at has a resolution of one second
    boards = BoardStore(root)
    board = boards.create("b:host", "Host", "Tuesday", {"source": "sample"}, "fp1", "the bundled sample")
    boards.join(board.code, "b:guest", "Guest", "guest")
    after = [_record(host, 0.5), _record(guest, 0.8)]
    ids = {r["run_id"] for r in boards.rows(boards.load(board.code))}
    assert ids == {r.run_id for r in after} and not ids & {r.run_id for r in before}
