"""A real browser (Debian's chromium, driven by Playwright) against `python app.py` on localhost:
Data -> LoRA fine-tune -> Stop -> few-shot -> RAG -> Compare -> Try it, with tiny settings."""
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import ROOT, free_port

pytestmark = pytest.mark.e2e
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = ROOT / "test-artifacts" / "screenshots"


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    if not Path(CHROMIUM).exists():
        pytest.skip("chromium is not installed (scripts/setup.sh --test installs it)")
    pytest.importorskip("playwright")
    port = free_port()
    runs = tmp_path_factory.mktemp("runs")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_SERVER_PORT": str(port), "TPR_RUNS_DIR": str(runs),
           "GRADIO_ANALYTICS_ENABLED": "False", "PYTHONUNBUFFERED": "1"}
    log = open(tmp_path_factory.mktemp("log") / "app.log", "w")
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    for _ in range(240):
        try:
            if urllib.request.urlopen(url, timeout=2).status == 200:
                break
        except OSError:
            time.sleep(0.5)
        if proc.poll() is not None:
            pytest.fail(f"app exited: {Path(log.name).read_text()[-3000:]}")
    first_page = time.perf_counter() - t0
    SHOTS.mkdir(parents=True, exist_ok=True)
    (SHOTS / "startup.json").write_text(json.dumps({"first_page_seconds": round(first_page, 2)}))
    yield url, runs
    proc.terminate()
    proc.wait(timeout=30)


@pytest.fixture(scope="module")
def page(app_url):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                    args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                                          "--disable-component-update", "--disable-sync", "--no-first-run"])
        pg = browser.new_page(viewport={"width": 1400, "height": 1000})
        pg.goto(app_url[0])
        pg.get_by_role("tab", name="Data").wait_for(timeout=60_000)
        yield pg
        browser.close()


def fill(page, elem_id, value):
    box = page.locator(f"#{elem_id} textarea, #{elem_id} input").first
    box.fill(str(value))
    box.press("Tab")


def tab(page, name):
    page.get_by_role("tab", name=name, exact=True).click()


def wait_text(page, selector, text, timeout=300):
    """Wait until the element shows `text`; fail at once if it shows an error instead."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        content = page.locator(selector).inner_text()
        if text in content:
            return content
        if "Error" in content and text != "Error":
            page.screenshot(path=str(SHOTS / "failure.png"), full_page=True)
            pytest.fail(f"{selector} shows an error: {content[:500]}")
        page.wait_for_timeout(1000)
    page.screenshot(path=str(SHOTS / "failure.png"), full_page=True)
    pytest.fail(f"{selector} did not show {text!r} within {timeout} s: {page.locator(selector).inner_text()[:500]}")


# The journey, a step a test (each under a minute), in order on one page: Data -> LoRA -> Stop -> few-shot -> RAG ->
# Compare -> Try it. A later step needs the earlier ones' runs.
def test_journey_1_data(page, app_url):
    page.get_by_label("Bundled sample").check()
    fill(page, "train-size", 60)
    fill(page, "eval-size", 24)
    page.locator("#load-data").click()
    overview = wait_text(page, "#data-overview", "rows", 120)
    assert "train" in overview and "60 rows" in overview and "24 rows" in overview
    page.screenshot(path=str(SHOTS / "1-data.png"), full_page=True)


def test_journey_2_lora_finetune(page):
    """A small LoRA run on the bundled model."""
    tab(page, "Fine-tune")
    fill(page, "ft-epochs", 0.5)
    fill(page, "ft-batch-size", 16)  # 2 steps on 60 tweets (4 steps took 49-75 s inside the parallel suite)
    page.locator("#ft-more").get_by_text("More settings").click()
    fill(page, "ft-forgetting-tokens", 256)
    fill(page, "ft-n-evals", 1)
    page.locator("#ft-start").click()
    result = wait_text(page, "#ft-result", "accuracy", 600)
    assert "status **completed**" in result or "completed" in result
    assert "forgetting" in result
    page.screenshot(path=str(SHOTS / "2-finetune.png"), full_page=True)


def test_journey_3_stop_leaves_a_stopped_run(page):
    fill(page, "ft-epochs", 30)
    page.locator("#ft-start").click()
    wait_text(page, "#ft-status", "step", 300)
    page.locator("#ft-stop").click()
    result = wait_text(page, "#ft-result", "stopped", 300)
    assert "stopped" in result
    page.screenshot(path=str(SHOTS / "3-stopped.png"), full_page=True)


def test_journey_4_fewshot_preset_then_a_run(page):
    tab(page, "Few-shot")
    page.locator("#fs-best").click()  # the preset fills the settings and says what it measured
    wait_text(page, "#fs-status", "most accurate setting measured", 30)
    assert page.locator("#fs-shots input").first.input_value() == "12"
    assert page.locator("#fs-calibration").get_by_label("both", exact=True).is_checked()
    assert page.locator("#fs-selection").get_by_label("retrieved", exact=True).is_checked()
    fill(page, "fs-shots", 2)
    page.locator("#fs-selection").get_by_label("balanced").check()
    page.locator("#fs-start").click()
    result = wait_text(page, "#fs-result", "accuracy", 600)
    assert "macro-F1" in result
    page.screenshot(path=str(SHOTS / "4-fewshot.png"), full_page=True)


def test_journey_5_rag(page):
    tab(page, "RAG")
    page.locator("#rag-start").click()
    result = wait_text(page, "#rag-result", "accuracy", 600)
    assert "chosen on" in result
    page.screenshot(path=str(SHOTS / "5-rag.png"), full_page=True)


def test_journey_6_compare_lists_every_run_then_try_it(page):
    tab(page, "Compare")  # opening it shows the visitor's runs: no Refresh needed
    page.locator("#compare-table").filter(has_text="rag knn k=").wait_for(timeout=60_000)
    table = page.locator("#compare-table").inner_text()
    for label in ("finetune lora", "fewshot k=2 balanced", "rag knn k="):
        assert label in table, table
    assert "stopped" in table and table.count("completed") >= 3
    page.screenshot(path=str(SHOTS / "6-compare.png"), full_page=True)

    # Try it
    tab(page, "Try it")
    page.locator("#try-text textarea").fill("so happy, best day ever")
    page.locator("#try-go").click()
    page.locator("#try-table").filter(has_text="rag knn k=").wait_for(timeout=300_000)
    answers = page.locator("#try-table").inner_text()
    assert "finetune lora" in answers and "fewshot" in answers
    page.screenshot(path=str(SHOTS / "7-try.png"), full_page=True)


def test_bad_upload_shows_an_error_and_the_app_keeps_serving(page, tmp_path):
    tab(page, "Data")
    bad = tmp_path / "bad.csv"
    bad.write_text("body,y\nhello,1\n")
    page.get_by_label("Uploaded file").check()
    page.locator("input[type=file]").first.set_input_files(str(bad))
    page.wait_for_timeout(1500)
    page.locator("#load-data").click()
    notice = wait_text(page, "#data-notice", "Error", 60)
    assert "no text column" in notice and "columns found: body, y" in notice
    page.screenshot(path=str(SHOTS / "8-bad-upload.png"), full_page=True)
    page.get_by_label("Bundled sample").check()
    page.locator("#load-data").click()
    wait_text(page, "#data-overview", "rows", 60)


def test_quality_report_then_drop_suspects_makes_a_cleaned_selection(page, tmp_path):
    """An upload with planted label flips (the bundled sample has none): report, review, drop, a cleaned selection."""
    import csv

    with open(ROOT / "comparisons" / "sample_tweets.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    names, flip = ["negative", "neutral", "positive"], {"0": "2", "2": "0", "1": "0"}
    for r in rows[:25]:
        r["label"] = flip[r["label"]]
        r["label_text"] = names[int(r["label"])]
    planted = tmp_path / "planted.csv"
    with open(planted, "w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    tab(page, "Data")
    page.get_by_label("Uploaded file").check()
    clear = page.locator("#data-upload button[aria-label='Clear']")
    if clear.count():  # an earlier test's upload is still there
        clear.first.click()
        page.wait_for_timeout(500)
    page.locator("#data-upload input[type=file]").first.set_input_files(str(planted))
    page.wait_for_timeout(1500)
    page.locator("#quality").get_by_text("Data quality").click()
    page.locator("#quality-run").click()
    summary = wait_text(page, "#quality-summary", "train rows", 180)
    assert "Suspected label errors" in summary and "Class balance" in summary
    page.locator("#quality-rows").filter(has_text="suggested").wait_for(timeout=30_000)
    page.locator("#drop-suspects").click()
    notice = wait_text(page, "#data-notice", "Cleaned: dropped", 120)
    assert "the eval split is untouched" in notice
    assert page.locator("#drop-rows textarea, #drop-rows input").first.input_value().startswith("suspects: ")
    fill(page, "drop-rows", "")  # back to the bundled sample for the tests that follow
    page.get_by_label("Bundled sample").check()
    page.locator("#load-data").click()
    wait_text(page, "#data-overview", "rows", 60)
    page.screenshot(path=str(SHOTS / "8b-quality.png"), full_page=True)


def test_disagreement_browser_filters_and_shows_a_tweets_neighbours(page):
    """After the journey's runs (LoRA, few-shot, RAG on the sample's 24 eval tweets): filter, count, select."""
    tab(page, "Disagreements")
    page.locator("#dis-filter").get_by_label("every tweet").check()
    page.locator("#dis-show").click()
    counts = wait_text(page, "#dis-counts", "tweets", 120)
    assert "every tweet: 24 tweets" in counts and "the runs disagree:" in counts
    page.locator("#dis-show").click()  # A and B are filled in now: their filter is counted too
    page.locator("#dis-counts").filter(has_text=" right, ").wait_for(timeout=60_000)
    page.locator("#dis-filter").get_by_label("every run wrong").check()
    page.locator("#dis-show").click()
    page.wait_for_timeout(2000)
    page.locator("#dis-filter").get_by_label("every tweet").check()
    page.locator("#dis-show").click()
    page.wait_for_timeout(2000)
    page.locator("#dis-table [role=gridcell]").nth(1).click()  # a cell of the first row (its gold label)
    detail = wait_text(page, "#dis-detail", "gold", 120)
    assert detail.startswith("Row ")
    page.locator("#dis-neighbours").filter(has_text="similarity").wait_for(timeout=60_000)
    assert "Sentiment:" in page.locator("#dis-prompt textarea").input_value()
    page.screenshot(path=str(SHOTS / "9-disagreements.png"), full_page=True)


def test_study_chart_fills_in_then_stop_and_resume(page):
    """The CPU preset with tiny sizes on the bundled sample: the chart appears after the first cell and fills
    in; Stop keeps the finished cells; Resume runs the rest."""
    tab(page, "Data")
    page.get_by_label("Bundled sample").check()
    tab(page, "Studies")
    assert page.locator("#study-preset").get_by_label("CPU preset").is_checked()
    assert page.locator("#study-axis-values textarea, #study-axis-values input").first.input_value() == "32,128,512"
    fill(page, "study-axis-values", "12,24")
    fill(page, "study-seeds", 1)
    fill(page, "study-eval-size", 30)
    fill(page, "study-settings", "forgetting_tokens=0, n_evals=1, curve_size=8, train_slice=false, min_steps=2, "
                                 "batch_size=8, shots=2")
    page.locator("#study-estimate").click()
    assert "8 cells (8 to run)" in wait_text(page, "#study-status", "estimated", 120)
    page.locator("#study-start").click()
    first = wait_text(page, "#study-findings", "cells done", 600)
    assert page.locator("#study-chart img, #study-chart canvas, #study-chart svg").count() > 0
    page.locator("#study-stop").click()
    status = wait_text(page, "#study-status", "stopped", 300)
    done = int(re.search(r"stopped, (\d+)/8 cells", status).group(1))
    assert 1 <= done < 8, status
    assert f"{done} of 8 cells done (stopped)" in wait_text(page, "#study-findings", "(stopped)", 60)
    page.screenshot(path=str(SHOTS / "10-study-stopped.png"), full_page=True)
    page.locator("#study-resume").click()
    wait_text(page, "#study-status", "completed, 8/8 cells", 600)
    findings = wait_text(page, "#study-findings", "8 of 8 cells done (completed)", 60)
    assert first != findings and "Winner at 24 labelled tweets" in findings  # the chart and its words filled in
    table = page.locator("#study-table").inner_text()
    assert "LoRA" in table and "RAG linear" in table and "few-shot balanced" in table
    heads = [h.strip() for h in page.locator("#study-table thead th").all_inner_texts()]
    assert "train size" in heads and not [h for h in heads if "_" in h], heads  # words, not setting names
    page.screenshot(path=str(SHOTS / "11-study-done.png"), full_page=True)


def test_workshop_board_two_visitors_each_see_their_own_runs(page, app_url):
    """The journey's visitor reloads (their cookie keeps their runs), hosts a board; a second browser (its own
    cookie) joins it, sees none of the host's runs, runs RAG, and its run appears on both visitors' leaderboard."""
    page.reload()
    page.get_by_role("tab", name="Data").wait_for(timeout=60_000)
    tab(page, "Compare")
    page.locator("#compare-refresh").click()
    page.locator("#compare-table").filter(has_text="finetune lora").wait_for(timeout=60_000)  # still theirs
    tab(page, "Workshop")
    fill(page, "board-nickname", "Host")
    fill(page, "board-title", "Room one")
    page.locator("#board-create").click()
    code = re.search(r"Board \*?\*?([A-Z0-9]{6})", wait_text(page, "#board-status", "created", 120)).group(1)

    guest_context = page.context.browser.new_context(viewport={"width": 1400, "height": 1000})
    guest = guest_context.new_page()
    guest.goto(app_url[0])
    guest.get_by_role("tab", name="Data").wait_for(timeout=60_000)
    tab(guest, "Workshop")
    fill(guest, "board-nickname", "Ada")
    fill(guest, "board-code", code.lower())
    guest.locator("#board-join").click()
    assert "Your Data tab now uses the board's selection" in wait_text(guest, "#board-status", "Joined", 120)
    tab(guest, "Compare")
    guest.locator("#compare-refresh").click()
    guest.wait_for_timeout(3000)
    assert "finetune lora" not in guest.locator("#compare-table").inner_text()  # the host's runs are not hers
    tab(guest, "RAG")
    guest.locator("#rag-start").click()
    wait_text(guest, "#rag-result", "accuracy", 600)
    tab(guest, "Workshop")
    guest.locator("#board-refresh").click()
    guest.locator("#board-table").filter(has_text="Ada").wait_for(timeout=60_000)
    assert "rag knn" in guest.locator("#board-table").inner_text()
    guest.screenshot(path=str(SHOTS / "12-board-guest.png"), full_page=True)
    guest_context.close()
    page.locator("#board-refresh").click()
    page.locator("#board-table").filter(has_text="Ada").wait_for(timeout=60_000)
    assert f"code **{code}**" in page.locator("#board-summary").inner_text() or code in page.locator(
        "#board-summary").inner_text()
    page.screenshot(path=str(SHOTS / "13-board-host.png"), full_page=True)
    heads = [h.strip() for h in page.locator("#board-table thead th").all_inner_texts()]
    assert "Accuracy (95 % CI)" in heads and "Run id" in heads and not [h for h in heads if "_" in h], heads
