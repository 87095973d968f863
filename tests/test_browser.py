"""The demo page in a real headless Chromium: paste an article, submit, see topics, bars and highlights."""

from __future__ import annotations

import shutil
import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if CHROMIUM is None:
    pytest.skip("browser tests need Chromium (Debian package 'chromium'; `.ci/run` installs it)",
                allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")

ARTIFACTS = ROOT / "test-artifacts"
ARTICLE_TITLE = "Foreign ministers agree to resume talks on missile defence and grain exports"
ARTICLE = ("Foreign ministers from the two countries met in Ankara on Tuesday and agreed to reopen talks on a "
           "missile defence pact, officials said, after months of diplomatic protests over a border clash. They "
           "also discussed lifting an export ban on grain and cutting tariffs on steel imports.")


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"])
        yield browser
        browser.close()


@pytest.fixture
def page(browser, request):
    page = browser.new_page()
    yield page
    failed = getattr(request.node, "rep_call", None)
    if failed is None or failed.failed:
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    page.close()


@pytest.fixture
def server(start_server, seed_models):
    return start_server(seed_models, workers=1)


def test_paste_submit_and_see_topics(page, server):
    page.goto(server.url + "/")
    page.fill("#title", ARTICLE_TITLE)
    page.fill("#text", ARTICLE)
    page.click("#submit")
    page.wait_for_selector("#result:not([hidden])")
    topics = page.locator("#topics .chip").all_inner_texts()
    labels = {t.split()[0] for t in topics}
    assert {"diplomacy", "trade"} <= labels, topics
    assert page.locator(".score-row").count() == 10
    assert page.locator("#why mark").count() > 0
    assert page.locator("#model-version").inner_text().strip()
    assert page.locator("#labels dt").count() == 10  # the label list with scope notes
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "demo.png"), full_page=True)


def test_example_picker_and_no_topic(page, server):
    page.goto(server.url + "/")
    page.select_option("#example", label="Football (no topic)")
    assert "header" in page.input_value("#text")
    page.click("#submit")
    page.wait_for_selector("#result:not([hidden])")
    assert page.locator("#topics .chip").count() == 0
    assert "None of the topics" in page.inner_text("#verdict")


def test_error_is_shown_readably(page, server):
    page.goto(server.url + "/")
    page.fill("#text", "   ")
    page.click("#submit")
    assert page.locator("#error").is_visible()


def test_docs_page_tries_an_endpoint(page, server):
    page.goto(server.url + "/docs")
    operation = page.locator("#operations-classification-classify")
    operation.locator(".opblock-summary").click()  # expand it; "try it out" is on from the start
    operation.locator("button.execute").click()
    status = operation.locator(".live-responses-table tbody td.response-col_status")
    status.first.wait_for()
    assert status.first.inner_text().strip() == "200"
    assert '"topics"' in operation.locator(".live-responses-table .microlight").first.inner_text()


def test_pasted_html_shows_language_extraction_and_codes(page, server):
    from tests.test_html_language import FOREIGN, news_page

    page.goto(server.url + "/")
    page.fill("#text", news_page())
    page.check("#is-html")
    page.click("#submit")
    page.wait_for_selector("#result:not([hidden])")
    assert "Language: en" in page.inner_text("#language")
    assert "Extracted" in page.inner_text("#extracted") and "steel tariffs" in page.inner_text("#extracted")
    assert "trade" in page.inner_text("#topics") and "20000373" in page.inner_text("#topics")
    assert page.locator("#labels .code").count() >= 10
    page.uncheck("#is-html")
    page.fill("#text", FOREIGN["fr"])
    page.click("#submit")
    sync_api.expect(page.locator("#language")).to_contain_text("fr (not supported)")  # no eval: the CSP forbids it
    assert page.locator("#topics .chip").count() == 0


def test_review_view_works_with_the_keyboard_alone(page, start_server, models_dir, tmp_path):
    import json

    queue = tmp_path / "queue.jsonl"
    article = {"id": "q-1", "title": "Storm warning for the coast",
               "text": "storm rain forecast flooding winds on monday, officials said"}
    queue.write_text(json.dumps(article) + "\nnot json\n", encoding="utf-8")
    feedback = tmp_path / "feedback"
    server = start_server(models_dir, workers=1, TOPICS_QUEUE_FILE=str(queue), TOPICS_FEEDBACK_DIR=str(feedback))
    page.goto(server.url + "/#review")  # the view's own address; from here on only keys are pressed
    page.wait_for_selector("#review-item:not([hidden])")
    assert page.locator("#review-title").inner_text() == article["title"]
    sync_api.expect(page.locator("#review-status")).to_contain_text("1 bad line")
    assert page.locator("#review-reasons li").count() >= 1
    assert page.locator(".shortcuts").is_visible() and "Enter" in page.inner_text(".shortcuts")
    boxes = page.locator("#review-topics input[type=checkbox]")
    proposed = {boxes.nth(i).get_attribute("data-label"): boxes.nth(i).is_checked() for i in range(boxes.count())}
    assert proposed["weather"] is True  # the model's proposal is ticked
    second = boxes.nth(1).get_attribute("data-label")
    page.keyboard.press("2")
    assert boxes.nth(1).is_checked() is not proposed[second]
    page.keyboard.press("Enter")
    sync_api.expect(page.locator("#review-status")).to_contain_text("Saved")
    records = [json.loads(line) for line in (feedback / "feedback.jsonl").read_text().splitlines()]
    expected = {label for label, on in proposed.items() if on} ^ {second}
    assert len(records) == 1
    assert set(records[0]["labels"]) == expected
    assert (records[0]["id"], records[0]["text"], records[0]["title"]) == ("q-1", article["text"], article["title"])
    page.keyboard.press("r")  # load the queue again: the answered article does not come back
    sync_api.expect(page.locator("#review-status")).to_contain_text("0 article(s) to review")


def test_model_card_view(page, start_server, models_dir):
    server = start_server(models_dir, workers=1)
    page.goto(server.url + "/")
    page.click("#tab-card")
    page.wait_for_selector("#card:not([hidden])")
    text = page.inner_text("#card")
    assert "Known limits" in text and "Intended use" in text and "Micro-F1" in text
    assert page.locator("#card table").nth(2).locator("tbody tr").count() == 3  # one row per toy topic
    assert page.locator("#view-classify").is_hidden()
