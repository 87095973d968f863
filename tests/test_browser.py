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
