"""The app's public API as a new user meets it: `gradio_client` against `python app.py`, named endpoints
with keyword parameters, each client with its own data selection."""

import pytest

from bench.serve import serve_app

pytestmark = pytest.mark.e2e
ENDPOINTS = {"/load_data", "/classify", "/run_finetune", "/run_fewshot", "/run_rag", "/run_baseline", "/run_setfit",
             "/run_all", "/run_study", "/run_adapt", "/compare", "/stop", "/my_runs", "/delete_run", "/push_to_hub",
             "/create_board", "/join_board", "/board", "/remove_board_entry", "/freeze_board", "/recommend"}


def test_named_endpoints_with_keywords_use_the_clients_selection(tmp_path):
    Client = pytest.importorskip("gradio_client").Client
    with serve_app(tmp_path) as url:
        client = Client(url, verbose=False)
        api = client.view_api(print_info=False, return_format="dict")
        assert set(api["named_endpoints"]) == ENDPOINTS and not api["unnamed_endpoints"]
        rag_params = {p["parameter_name"]: p for p in api["named_endpoints"]["/run_rag"]["parameters"]}
        assert rag_params["mode"]["parameter_default"] == "knn" and rag_params["k"]["parameter_has_default"]

        overview = client.predict(source="sample", train_size="60", eval_size="24", api_name="/load_data")
        assert "60 rows" in overview["markdown"]
        run = client.predict(mode="knn", api_name="/run_rag")
        assert run["status"] == "completed" and run["n_train"] == 60 and run["n_eval"] == 24
        assert run["data_fingerprint"] == overview["fingerprint"]
        answer = client.predict("so happy today", api_name="/classify")
        assert any(a["method"].startswith("rag knn") for a in answer["answers"]) and answer["neighbours"]
        table = client.predict(api_name="/compare")
        assert [r["run_id"] for r in table["runs"]] == [run["run_id"]]
        assert table["runs"][0]["accuracy_low"] <= run["accuracy"] <= table["runs"][0]["accuracy_high"]
        card = client.predict(labels=60, target=0.9, hardware="cpu-basic", api_name="/recommend")  # the decision card
        assert card["recommendation"]["method"] == run["label"] and card["methods"][0]["ms_per_tweet"] > 0
        with pytest.raises(Exception, match="between 0 and 1"):
            client.predict(target=3.0, api_name="/recommend")
        study = client.predict(methods="baseline,rag:linear", axis="train_size=24,60", seeds=2, eval_size="24",
                               api_name="/run_study")
        assert study["status"] == "completed" and study["done"] == 8 and study["eval_fingerprint"] == run[
            "data_fingerprint"]  # the selection's eval split (seed 42, 24 tweets)
        with pytest.raises(Exception, match="unknown method 'magic'"):
            client.predict(methods="magic", api_name="/run_study")

        with pytest.raises(Exception, match="mode must be one of knn, prompt, linear"):
            client.predict(mode="tree", api_name="/run_rag")
        with pytest.raises(Exception, match="source must be one of hub, sample .* got '/etc/passwd'"):
            client.predict(source="/etc/passwd", api_name="/load_data")  # a server path is never a data source
        with pytest.raises(Exception, match="type a tweet first"):
            client.predict("   ", api_name="/classify")
        # Another visitor has their own selection: the app's default (1,000 / 300, capped at the sample).
        other = Client(url, verbose=False).predict(mode="knn", k=3, api_name="/run_rag")
        assert other["n_eval"] != 24 and other["data_fingerprint"] != run["data_fingerprint"]
