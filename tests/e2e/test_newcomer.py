"""A newcomer in a real browser (1400 px): uploads a file and presses Load (their file, not the sample); runs a
method and opens Compare (their run is there, without Refresh); reads no developer's text on the way."""
from __future__ import annotations

import re

import pytest

from tests.e2e.test_browser import SHOTS, app_url, fill, page, tab, wait_text  # noqa: F401 (fixtures)

pytestmark = pytest.mark.e2e
DEVELOPER_TEXT = re.compile(r"bench/|RESULTS\.md|--[a-z]+-[a-z]+|\.py\b|/tmp/|site-packages")


def test_an_upload_is_the_data_compare_fills_itself_and_no_developer_text_shows(page, app_url, tmp_path):  # noqa: F811
    rows = ["text,label"] + [f"{'what a lovely day' if i % 2 else 'what an awful day'} number {i},"
                             f"{'positive' if i % 2 else 'negative'}" for i in range(80)]
    upload = tmp_path / "my tweets.csv"
    upload.write_text("\n".join(rows) + "\n")
    tab(page, "Data")
    page.locator("#data-upload input[type=file]").set_input_files(str(upload))
    page.get_by_label("Uploaded file").wait_for(timeout=30_000)
    page.wait_for_function("() => [...document.querySelectorAll('input[type=radio]')]"
                           ".some(r => r.checked && r.value === 'Uploaded file')", timeout=30_000)
    fill(page, "train-size", "all")
    fill(page, "eval-size", "all")
    page.locator("#load-data").click()
    overview = wait_text(page, "#data-overview", "rows", 120)
    assert "my tweets" in overview and "64 rows" in overview and "16 rows" in overview  # their 80 rows, split 80/20
    page.screenshot(path=str(SHOTS / "20-newcomer-upload.png"), full_page=True)
    texts = [page.locator("body").inner_text()]

    tab(page, "RAG")
    page.locator("#rag-start").click()
    wait_text(page, "#rag-result", "accuracy", 300)
    texts.append(page.locator("body").inner_text())

    tab(page, "Compare")  # no Refresh pressed
    page.locator("#compare-table").filter(has_text="rag").wait_for(timeout=60_000)
    page.screenshot(path=str(SHOTS / "21-newcomer-compare.png"), full_page=True)
    texts.append(page.locator("body").inner_text())
    for text in texts:
        found = DEVELOPER_TEXT.findall(text)
        assert not found, found
