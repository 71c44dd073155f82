"""The web demo in a real browser: Playwright driving Debian's chromium.

`playwright install` cannot download browsers offline, so this uses /usr/bin/chromium
(`apt-get install -y chromium`) and skips with that instruction when it is absent.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from oncogpt.generate import Engine
from oncogpt.serve import BackgroundServer, ServeSettings, create_app
from tests.test_serve import RED_FLAG, ScriptedEngine

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
XSS = "<img src=x onerror=alert(1)>"
PIECES = ("Chemotherapy ", "is one ", "option. ", XSS, " Ask your oncology team.")
ANSWER = "".join(PIECES)

pytestmark = pytest.mark.skipif(
    not CHROMIUM.is_file(), reason="needs Debian's chromium: apt-get install -y chromium"
)


@pytest.fixture(scope="module")
def server(tiny_model_dir) -> Iterator[BackgroundServer]:
    scripted = ScriptedEngine(Engine.load(tiny_model_dir), pieces=PIECES, delay=0.12)
    app = create_app(scripted, ServeSettings(model_id="tiny"))
    with BackgroundServer(app) as running:
        yield running


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, server):
    context = browser.new_context(viewport={"width": 1000, "height": 760})
    page = context.new_page()
    page.dialogs = []  # an alert() would mean model output ran as code
    page.on("dialog", lambda d: (page.dialogs.append(d.message), d.dismiss()))
    page.requested = []
    page.on("request", lambda r: page.requested.append(r))
    page.goto(server.url)
    page.uncheck("#cite")  # these tests read the model's own streamed answer, not a cited one
    yield page
    context.close()


def last_answer(page) -> str:
    return page.locator(".message.assistant .body").last.text_content()


def ask(page, question: str) -> None:
    page.fill("#input", question)
    page.press("#input", "Enter")


def test_streamed_answer_is_shown_as_text(page, server, tmp_path):
    assert page.locator("#notice").is_visible()
    assert "Research only" in page.locator("#notice").inner_text()
    ask(page, "Is chemotherapy an option for my father?")
    # Part of the answer is on screen while the rest is still being generated.
    page.wait_for_function(
        """() => { const b = [...document.querySelectorAll('.assistant .body')].pop();
                   return b && b.textContent.includes('is one') &&
                          !b.textContent.includes('oncology team'); }"""
    )
    page.wait_for_function("() => !document.querySelector('#send').disabled")
    assert last_answer(page) == ANSWER.strip()
    assert XSS in last_answer(page)  # markup from the model shows as text...
    assert page.locator("#log img").count() == 0  # ...and never becomes an element
    assert page.dialogs == []
    assert page.locator("#red-flag").is_hidden()
    page.screenshot(path=tmp_path / "chat.png", full_page=True)
    assert (tmp_path / "chat.png").stat().st_size > 10_000
    assert all(r.url.startswith(server.url) or r.url.startswith("data:") for r in page.requested)


def test_history_new_conversation_and_red_flag_banner(page, tmp_path):
    ask(page, "What is a PSA test?")
    page.wait_for_function("() => !document.querySelector('#send').disabled")
    with page.expect_request("**/v1/chat/completions") as request:
        ask(page, "And a CEA test?")
    sent = json.loads(request.value.post_data)
    assert [m["role"] for m in sent["messages"]] == ["user", "assistant", "user"]
    assert sent["stream"] is True and sent["messages"][1]["content"] == ANSWER.strip()
    page.wait_for_function("() => !document.querySelector('#send').disabled")

    page.click("#new-chat")
    assert page.locator(".message").count() == 0
    with page.expect_request("**/v1/chat/completions") as request:
        ask(page, RED_FLAG)
    assert len(json.loads(request.value.post_data)["messages"]) == 1  # history cleared
    page.locator("#red-flag").wait_for(state="visible")
    assert "urgent care" in page.locator("#red-flag").inner_text().lower()
    page.wait_for_function("() => !document.querySelector('#send').disabled")
    assert last_answer(page).startswith("URGENT:")
    page.screenshot(path=tmp_path / "red-flag.png")
    page.click("#new-chat")
    assert page.locator("#red-flag").is_hidden()


def test_crlf_event_stream_is_parsed(page):
    """sse-starlette and proxies may end lines with \\r\\n: the page must still parse them."""
    chunk = {"choices": [{"index": 0, "delta": {"content": "CRLF works"}}]}
    body = f"data: {json.dumps(chunk)}\r\n\r\ndata: [DONE]\r\n\r\n"
    page.route(
        "**/v1/chat/completions",
        lambda route: route.fulfill(status=200, content_type="text/event-stream", body=body),
    )
    ask(page, "What is a PSA test?")
    page.wait_for_function("() => !document.querySelector('#send').disabled")
    assert last_answer(page) == "CRLF works"
    # A \r\n split between two network chunks is not taken for two line ends.
    split = page.evaluate(
        """() => { const a = OncoGPT.splitEvents('data: 1\\r');
                   const b = OncoGPT.splitEvents(a.rest + '\\ndata: 2\\r\\n\\r\\n');
                   return [a.events, b.events]; }"""
    )
    assert split == [[], ["1\n2"]]


KB_ROWS = [
    {
        "id": "kb-cis",
        "title": "Cisplatin: side effects",
        "text": "Cisplatin can cause nausea and vomiting, kidney damage, hearing loss and "
        "numbness or tingling in the hands and feet. Blood tests check kidney function before "
        "each dose of cisplatin.",
        "source_title": "Cisplatin - NCI",
        "source_url": "https://www.cancer.gov/about-cancer/treatment/drugs/cisplatin",
    },
    {
        "id": "kb-tea",
        "title": "Green tea",
        "text": "Green tea extract has been linked to rare cases of liver injury.",
        "source_title": "Green Tea - NCCIH",
        "source_url": "https://www.nccih.nih.gov/health/green-tea",
    },
]


@pytest.fixture(scope="module")
def cited_server(tiny_model_dir, tmp_path_factory) -> Iterator[BackgroundServer]:
    from oncogpt.rag.kb import build_kb

    folder = tmp_path_factory.mktemp("kb")
    source = folder / "kb.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in KB_ROWS), encoding="utf-8")
    build_kb([source], folder / "kb.sqlite")
    app = create_app(
        Engine.load(tiny_model_dir), ServeSettings(model_id="tiny", kb=str(folder / "kb.sqlite"))
    )
    with BackgroundServer(app) as running:
        yield running


def test_cite_switch_shows_references_as_links(browser, cited_server):
    context = browser.new_context()
    page = context.new_page()
    page.goto(cited_server.url)
    page.check("#cite")
    ask(page, "What side effects does cisplatin have?")
    link = page.locator(".message.assistant .references a").first
    link.wait_for(timeout=60_000)
    assert link.get_attribute("href") == KB_ROWS[0]["source_url"]
    assert link.get_attribute("rel") == "noopener noreferrer"
    body = last_answer(page)
    assert "Cisplatin can cause" in body and "[1]" in body and "Reference check" in body
    context.close()
