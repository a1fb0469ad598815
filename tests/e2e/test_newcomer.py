"""A newcomer in a real browser (1400 px, then a phone's 390 px): sees a one-line "nothing yet" where a table or
chart has nothing to show; uploads a file and presses Load (their file, not the sample); runs RAG and the TF-IDF
baseline and opens Compare (their runs are there, without Refresh, in readable columns that fit the page, best
first, every confusion matrix whole); reads the disagreements with the gold label and each prediction on screen;
and reads no developer's text, raw column name or Markdown marker on the way."""
from __future__ import annotations

import re

import pytest

from tests.e2e.test_browser import SHOTS, app_url, fill, page, tab, wait_text  # noqa: F401 (fixtures)

pytestmark = pytest.mark.e2e
DEVELOPER_TEXT = re.compile(r"bench/|RESULTS\.md|--[a-z]+-[a-z]+|\.py\b|/tmp/|site-packages")
MARKDOWN_MARKERS = re.compile(r"\*\*|(?<![\w/])__\w|^#+ ", re.M)
RAW_COLUMNS = re.compile(r"\b[a-z]+_[a-z_]+\b")  # run_id, macro_f1, inference_tweets_per_second ...

# Every table on the page: (its id or label, how much wider it is than the box it sits in, its header cells).
TABLES_JS = """() => [...document.querySelectorAll('table')].filter(t => t.offsetParent !== null).map(t => {
    const block = t.closest('.block') || t.parentElement;
    const heads = [...t.querySelectorAll('thead th')].map(h => h.innerText.trim()).filter(Boolean);
    return {id: block.id || (block.querySelector('label, span[data-testid=block-info]') || {}).innerText || '?',
            overflow: t.getBoundingClientRect().width - block.getBoundingClientRect().width,
            page_overflow: t.getBoundingClientRect().right - window.innerWidth, heads};
})"""


def headers(pg, elem_id: str) -> list[str]:
    return [h.strip() for h in pg.locator(f"#{elem_id} thead th").all_inner_texts() if h.strip()]


def check_readable(pg, where: str) -> list[str]:
    """What a newcomer should never read on this page; returns the visible text for further checks."""
    text = pg.locator("body").inner_text()
    assert not DEVELOPER_TEXT.findall(text), (where, DEVELOPER_TEXT.findall(text))
    assert not MARKDOWN_MARKERS.findall(text), (where, MARKDOWN_MARKERS.findall(text))
    for t in pg.evaluate(TABLES_JS):
        assert t["page_overflow"] <= 2, (where, "a table wider than the page", t)
        assert not [h for h in t["heads"] if RAW_COLUMNS.fullmatch(h)], (where, "raw column names", t)
        assert t["heads"] != ["1", "2", "3"], (where, "an empty table's bare header", t)
    return text


def test_an_empty_app_says_nothing_yet_instead_of_bare_tables_and_grey_charts(page, app_url):  # noqa: F811
    """Before any run: Compare's table and verdict say what fills them; its charts are not drawn as grey boxes."""
    tab(page, "Compare")
    page.locator("#compare-verdicts").filter(has_text="Nothing yet").wait_for(timeout=30_000)  # the view came
    assert "Nothing yet" in page.locator("#compare-table").inner_text()
    assert not page.locator("#compare-bars").is_visible() and not page.locator("#compare-gallery").is_visible()
    for name in ("Disagreements", "Try it", "Studies", "Workshop"):
        tab(page, name)
        page.wait_for_timeout(500)
        check_readable(page, name)
        if name == "Studies":  # no grey box for a chart before there is a study
            assert not page.locator("#study-chart").is_visible()
    tab(page, "Compare")
    check_readable(page, "Compare (empty)")
    # A file the app will hand out is a thin strip until there is one, not a 264-px empty box (Gradio's own `height`
    # does not reach the empty state; the app's CSS does).
    heights = page.evaluate("() => [...document.querySelectorAll('.tpr-download')].filter(e => e.offsetParent)"
                            ".map(e => e.getBoundingClientRect().height)")
    assert heights and max(heights) < 120, heights
    page.screenshot(path=str(SHOTS / "19-newcomer-empty.png"), full_page=True)


def test_an_upload_is_the_data_compare_fills_itself_and_no_developer_text_shows(page, app_url, tmp_path):  # noqa: F811
    flipped = set(range(3, 80, 7))  # label errors for the quality report to find (8 of its train rows)
    rows = ["text,label"] + [f"{'what a lovely day' if i % 2 else 'what an awful day'} number {i},"
                             f"{'positive' if (i % 2) != (i in flipped) else 'negative'}" for i in range(80)]
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
    check_readable(page, "Data")
    page.locator("#quality").get_by_text("Data quality").first.click()  # the quality report's tables, readable too
    page.locator("#quality-run").click()
    wait_text(page, "#quality-summary", "train rows", 180)
    page.locator("#quality-rows").filter(has_text="label quality").wait_for(timeout=30_000)  # the suspects, read
    check_readable(page, "Data quality")

    tab(page, "RAG")
    page.locator("#rag-start").click()
    wait_text(page, "#rag-result", "accuracy", 300)
    check_readable(page, "RAG")
    tab(page, "Peers")
    page.locator("#bl-start").click()
    wait_text(page, "#bl-result", "accuracy", 300)
    check_readable(page, "Peers")

    tab(page, "Compare")  # no Refresh pressed
    page.locator("#compare-table").filter(has_text="baseline").filter(has_text="rag").wait_for(timeout=60_000)
    assert headers(page, "compare-table")[:3] == ["Run", "Accuracy (95 % CI)", "Macro-F1"]
    page.locator("#compare-gallery img").nth(1).wait_for(timeout=30_000)  # both confusion matrices, whole
    assert page.locator("#compare-gallery img").count() == 2
    assert page.locator("#compare-bars").is_visible()
    verdicts = page.locator("#compare-verdicts").inner_text()
    assert verdicts.count("Winner") == 1 and not re.search(r"at 0x|(buys|loses) 0\.0 points", verdicts)
    page.screenshot(path=str(SHOTS / "21-newcomer-compare.png"), full_page=True)
    check_readable(page, "Compare")
    # the decision card: which of the two to use, at what price (its table within the page, no developer text)
    page.locator("#compare-decision").get_by_text("Decision card").first.click()
    page.locator("#compare-recommend").click()
    card = wait_text(page, "#compare-card", "Recommendation", 60)
    assert re.search(r"Use (baseline|rag)", card) and "Tied with the best" in card
    check_readable(page, "Compare decision card")
    page.locator("#compare-decision").screenshot(path=str(SHOTS / "21b-newcomer-decision-card.png"))
    # what is missing to decide is one click away: the suggested study fills the Studies form and opens the tab
    assert "A study that would supply it" in card
    page.locator("#compare-suggest").click()
    page.locator("#study-start").wait_for(state="visible", timeout=30_000)
    page.wait_for_function("() => /^\\d+,\\d+,\\d+$/.test(document.querySelector('#study-axis-values textarea, "
                           "#study-axis-values input').value)", timeout=30_000)
    checked = page.evaluate("() => [...document.querySelectorAll('#study-methods input:checked')]"
                           ".map(e => e.closest('label').textContent.trim())")
    assert checked and set(checked) <= {"baseline", "rag:knn", "rag:linear", "rag:prompt"}, checked
    assert page.locator("#study-seeds input").input_value() == "3"
    sizes = page.locator("#study-axis-values textarea, #study-axis-values input").first.input_value()
    assert max(map(int, sizes.split(","))) == 64  # within the upload's 64 train rows
    assert page.locator("#study-eval-size textarea, #study-eval-size input").first.input_value() == "16"
    page.screenshot(path=str(SHOTS / "21c-newcomer-suggested-study.png"))
    tab(page, "Compare")

    tab(page, "Disagreements")
    page.locator("#dis-filter").get_by_label("every tweet").check()
    page.locator("#dis-show").click()
    wait_text(page, "#dis-counts", "tweets", 120)
    heads = headers(page, "dis-table")
    assert heads[:2] == ["row", "gold"] and heads[-1] == "text" and len(heads) == 5, heads
    gold = page.locator("#dis-table thead th").nth(1).bounding_box()
    prediction = page.locator("#dis-table thead th").nth(3).bounding_box()
    assert gold["x"] + gold["width"] <= 1400 and prediction["x"] + prediction["width"] <= 1400  # on screen
    page.screenshot(path=str(SHOTS / "22-newcomer-disagreements.png"), full_page=True)
    check_readable(page, "Disagreements")


def test_a_phone_sees_every_tab_within_its_width(page, app_url):  # noqa: F811
    """At 390 px no tab is wider than the screen (a sideways scroll hides buttons and tables' columns)."""
    phone = page.context.browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=2,
                                          is_mobile=True, has_touch=True)
    try:
        phone.goto(app_url[0])
        phone.get_by_role("tab", name="Data").wait_for(timeout=60_000)
        wide = {}
        for name in ("Data", "Fine-tune", "Few-shot", "RAG", "Peers", "Adapt", "Compare", "Disagreements", "Studies",
                     "Try it", "Workshop", "Guide"):
            tab_button = phone.get_by_role("tab", name=name, exact=True)
            if tab_button.count() and tab_button.is_visible():
                tab_button.click()
            else:  # Gradio folds the tabs that do not fit into a menu
                phone.locator(".overflow-menu > button").first.click()
                phone.locator(".overflow-dropdown button").filter(has_text=name).first.click()
            phone.wait_for_timeout(700)
            width = phone.evaluate("() => document.documentElement.scrollWidth")
            if width > 392:
                wide[name] = width
            phone.screenshot(path=str(SHOTS / f"30-phone-{name.lower().replace(' ', '-')}.png"), full_page=True)
    finally:
        phone.close()
    assert not wide, wide
