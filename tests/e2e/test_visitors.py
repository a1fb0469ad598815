"""Two visitors on one instance, through the public API as `gradio_client` users (each Client is its own
session): each sees, classifies with, deletes and pushes only their own runs; a workshop board gathers both;
nothing either of them receives names a server folder."""
import json
import tempfile

import pytest

from bench.serve import serve_app
from comparisons.ground.settings import settings

pytestmark = pytest.mark.e2e
DATA = {"source": "sample", "train_size": "60", "eval_size": "24", "seed": 7}


def test_two_visitors_own_their_runs_share_a_board_and_see_no_server_path(tmp_path):
    Client = pytest.importorskip("gradio_client").Client
    seen = []  # every answer and every error message either visitor got

    def call(client, *args, **kwargs):
        try:
            out = client.predict(*args, **kwargs)
        except Exception as e:
            seen.append(str(e))
            raise
        seen.append(json.dumps(out, default=str))
        return out

    def refused(client, match, *args, **kwargs):
        with pytest.raises(Exception, match=match):
            call(client, *args, **kwargs)

    with serve_app(tmp_path) as url:
        ada, bob = Client(url, verbose=False), Client(url, verbose=False)
        call(ada, **DATA, api_name="/load_data")
        board = call(ada, title="Tuesday", nickname="Ada", fix_selection=True, api_name="/create_board")
        assert board["selection"].startswith("the bundled sample, 60 train / 24 eval")
        ada_rag = call(ada, mode="knn", k=3, api_name="/run_rag")
        ada_fewshot = call(ada, shots=2, selection="balanced", api_name="/run_fewshot")
        assert {r["run_id"] for r in call(ada, api_name="/my_runs")["runs"]} == {ada_rag["run_id"],
                                                                                 ada_fewshot["run_id"]}
        assert any(a["method"].startswith("fewshot") for a in call(ada, "so happy", api_name="/classify")["answers"])

        # Bob made nothing: he sees nothing of Ada's, and cannot delete, push or classify with her runs.
        assert call(bob, api_name="/my_runs")["runs"] == [] and call(bob, api_name="/compare")["runs"] == []
        call(bob, **DATA, api_name="/load_data")
        assert not any(a["method"].startswith("fewshot") for a in call(bob, "so happy", api_name="/classify")[
            "answers"])
        refused(bob, f"no run '{ada_rag['run_id']}'", ada_rag["run_id"], api_name="/delete_run")
        refused(bob, f"no run '{ada_rag['run_id']}'", ada_rag["run_id"], "bob/stolen", api_name="/push_to_hub")
        refused(bob, "no run 'nothing-here'", "nothing-here", api_name="/delete_run")

        # Bob joins Ada's board: its selection becomes his; his run joins hers on the leaderboard.
        joined = call(bob, board["code"].lower(), "Bob", api_name="/join_board")
        assert joined["participants"] == ["Ada", "Bob"]
        bob_rag = call(bob, mode="knn", k=5, api_name="/run_rag")
        assert bob_rag["data_fingerprint"] == ada_rag["data_fingerprint"]  # the board's eval split
        entries = call(ada, board["code"], api_name="/board")["entries"]  # the host sees the entries' run ids
        assert {(e["name"], e["run_id"]) for e in entries} == {("Ada", ada_rag["run_id"]), ("Bob", bob_rag["run_id"]),
                                                              ("Ada", ada_fewshot["run_id"])}
        seen_by_bob = call(bob, board["code"], api_name="/board")["entries"]  # a participant, their names and figures
        assert sorted(e["name"] for e in seen_by_bob) == ["Ada", "Ada", "Bob"] and all("run_id" not in e
                                                                                   for e in seen_by_bob)
        refused(bob, "only the host", board["code"], ada_rag["run_id"], api_name="/remove_board_entry")
        refused(bob, "only the host", board["code"], api_name="/freeze_board")
        after = call(ada, board["code"], bob_rag["run_id"], api_name="/remove_board_entry")
        assert bob_rag["run_id"] not in {e["run_id"] for e in after["entries"]}
        assert call(ada, board["code"], api_name="/freeze_board")["frozen_at"]
        assert [r["run_id"] for r in call(bob, api_name="/my_runs")["runs"]] == [bob_rag["run_id"]]  # still his

        refused(ada, "saved no model", ada_rag["run_id"], "ada/tweets", api_name="/push_to_hub")  # says why not
        call(ada, ada_rag["run_id"], api_name="/delete_run")
        assert [r["run_id"] for r in call(ada, api_name="/my_runs")["runs"]] == [ada_fewshot["run_id"]]

    server_folders = [str(tmp_path), str(settings().cache_dir), tempfile.gettempdir() + "/gradio"]
    leaks = [(folder, text[:300]) for text in seen for folder in server_folders if folder in text]
    assert not leaks, leaks
