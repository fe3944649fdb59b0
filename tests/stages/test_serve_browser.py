"""``medforge serve`` in a real browser: the real command serves the demo run, headless Chromium (Debian's
package) driven by Playwright reads each page, and what it shows must equal what the command line gives
for the same input (``medforge fill-mask --json``, ``medforge tag``). A screenshot of each page is kept
under the test's temporary folder."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from medforge.paths import assets_dir
from tests_shared import TINY, finished_run

playwright = pytest.importorskip("playwright.sync_api", reason="the test extra (playwright) is not installed")
pytest.importorskip("gradio", reason="the ui extra (gradio) is not installed")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if CHROMIUM is None:
    pytest.skip("no chromium on this machine (apt-get install -y chromium; .ci/run installs it)",
                allow_module_level=True)
BIN = Path(sys.executable).parent
TIMEOUT_MS = 90_000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return finished_run(tmp_path_factory, "serve", *TINY, "evaluate.seeds=1", "evaluate.epochs=15",
                        "evaluate.learning_rate=3e-3")


@pytest.fixture(scope="module")
def url(run):
    """The server on the demo run and on a copy of its model whose tokenizer has no mask token."""
    nomask = run.parent / "nomask"
    shutil.copytree(run / "pretrain" / "model", nomask)
    config = json.loads((nomask / "tokenizer_config.json").read_text())
    (nomask / "tokenizer_config.json").write_text(json.dumps({**config, "mask_token": None}))
    port = _free_port()
    server = subprocess.Popen([BIN / "medforge", "serve", str(run), str(nomask), "--port", str(port)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    address = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 120
    while True:
        assert server.poll() is None, server.stdout.read()
        try:
            urllib.request.urlopen(address, timeout=2)
            break
        except OSError:
            assert time.time() < deadline, "medforge serve did not answer within 2 minutes"
            time.sleep(0.5)
    yield address
    server.terminate()
    server.wait(timeout=30)


@pytest.fixture(scope="module")
def browser():
    with playwright.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, url, tmp_path):
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(url, wait_until="networkidle")
    yield page
    page.screenshot(path=str(tmp_path / "last.png"), full_page=True)
    page.close()


def cli_json(*args) -> list:
    done = subprocess.run([BIN / "medforge", *map(str, args)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


def sample_text() -> str:
    sentences, words = [], []
    for line in (assets_dir() / "sample" / "ner" / "test.conll").read_text(encoding="utf-8").splitlines():
        if line.strip():
            words.append(line.split()[0])
        elif words:
            sentences.append(" ".join(words))
            words = []
    return " ".join(sentences[:12])


def test_the_page_loads_with_the_demo_model_and_run(page, run, tmp_path):
    for tab in ("Fill-mask", "NER", "Tokenizers", "Run dashboard"):
        assert page.get_by_role("tab", name=tab).is_visible()
    assert page.get_by_label(f"{run.name}:model").first.is_visible()  # the run's exported model, offered by name
    page.screenshot(path=str(tmp_path / "home.png"), full_page=True)


def test_fill_mask_shows_what_the_command_line_predicts(page, run, tmp_path):
    text = "The patient was treated with <mask> for the infection."
    page.locator("#fill-text textarea").fill(text.replace("<mask>", "[MASK]"))  # either spelling
    page.get_by_role("button", name="Predict").click()
    column = page.locator(f'.mf-model[data-model="{run.name}:model"]')
    column.locator(".mf-prediction").first.wait_for()
    shown = [(int(r.get_attribute("data-token")), float(r.get_attribute("data-score")))
             for r in column.locator(".mf-prediction").all()]
    expected = cli_json("fill-mask", run / "model", text, "--json", "--top-k", "5")[0]["masks"][0]["predictions"]
    assert [t for t, _ in shown] == [p["token"] for p in expected]
    assert [s for _, s in shown] == pytest.approx([p["score"] for p in expected], abs=1e-6)
    assert page.locator(f'.mf-model[data-model="{run.name}:pretrain"] .mf-prediction').count() == 5  # side by side
    page.screenshot(path=str(tmp_path / "fill-mask.png"), full_page=True)


def test_ner_highlights_what_medforge_tag_writes(page, run, tmp_path):
    text = sample_text()
    (tmp_path / "note.txt").write_text(text, encoding="utf-8")
    tagger = run / "model" / "sample-ner"
    assert subprocess.run([BIN / "medforge", "tag", tagger, tmp_path / "note.txt", "--out", tmp_path / "tagged"],
                          capture_output=True, timeout=300).returncode == 0
    expected = [json.loads(line) for line in (tmp_path / "tagged" / "note.jsonl").read_text().splitlines()]
    assert expected, "the demo NER model finds no entity in its own test sentences: nothing to compare"
    page.get_by_role("tab", name="NER").click()
    page.locator("#ner-text textarea").fill(text)
    page.get_by_role("button", name="Tag").click()
    page.locator(".mf-count").wait_for()
    shown = [(m.get_attribute("data-type"), int(m.get_attribute("data-start")), int(m.get_attribute("data-end")))
             for m in page.locator(".mf-entity").all()]
    assert shown == [(e["type"], e["start"], e["end"]) for e in expected]
    link = page.locator('#ner-downloads a[href*="entities.ann"]').first  # the downloads
    link.wait_for(state="attached")
    href = urllib.parse.urljoin(page.url, link.get_attribute("href"))
    with urllib.request.urlopen(href, timeout=30) as response:
        assert response.read().decode("utf-8") == (tmp_path / "tagged" / "note.ann").read_text(encoding="utf-8")
    page.screenshot(path=str(tmp_path / "ner.png"), full_page=True)

    # the same text uploaded as a file
    page.locator("#ner-text textarea").fill("")
    page.get_by_role("button", name="Tag").click()
    page.get_by_text("no text: paste a text").wait_for()  # the entities shown before are gone
    page.locator("#ner-file input[type=file]").set_input_files(str(tmp_path / "note.txt"))
    page.locator("#ner-file").get_by_text("note.txt").wait_for()
    page.get_by_role("button", name="Tag").click()
    page.locator(".mf-entity").first.wait_for()
    uploaded = [(m.get_attribute("data-type"), int(m.get_attribute("data-start")), int(m.get_attribute("data-end")))
                for m in page.locator(".mf-entity").all()]
    assert uploaded == shown


def test_tokenizers_side_by_side(page, run, tmp_path):
    from transformers import AutoTokenizer

    page.get_by_role("tab", name="Tokenizers").click()
    page.locator("#tok-text textarea, #tok-text input").first.fill("pneumopathie 胃潰瘍")
    page.get_by_role("button", name="Tokenize").click()
    column = page.locator(f'.mf-tokenizer[data-model="{run.name}:model"]')
    column.wait_for()
    ids = AutoTokenizer.from_pretrained(run / "model")("pneumopathie 胃潰瘍", add_special_tokens=False)["input_ids"]
    assert [int(p.get_attribute("data-id")) for p in column.locator(".mf-piece").all()] == ids
    assert page.locator(".mf-tokenizer").count() >= 2
    page.screenshot(path=str(tmp_path / "tokenizers.png"), full_page=True)


def test_the_dashboard_shows_the_runs_evaluation_and_corpus_counts(page, run, tmp_path):
    page.get_by_role("tab", name="Run dashboard").click()
    results = json.loads((run / "evaluate" / "results.json").read_text())
    entry = results["tasks"]["sample-ner"]["model"]
    row = page.locator('.mf-evaluation tr[data-task="sample-ner"][data-model="model"]')
    row.wait_for()
    assert float(row.get_attribute("data-mean")) == pytest.approx(entry["test"]["f1"]["mean"], abs=1e-6)
    report = json.loads((run / "prepare" / "corpus_report.json").read_text())
    read = page.locator('.mf-report tr[data-fact="documents read"]')
    assert int(read.get_attribute("data-value")) == report["totals"]["read"]
    assert page.locator('.mf-status tr[data-state="done"]').count() == 5
    assert page.locator(".mf-curve").count() == 4 and page.get_by_text("test F1 per entity type").first.is_visible()
    page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)


def test_errors_are_shown_in_the_page(page, tmp_path):
    page.locator("#fill-text textarea").fill("No mask in this sentence.")
    page.get_by_role("button", name="Predict").click()
    page.locator(".mf-error").first.wait_for()
    assert "no <mask> in" in page.locator(".mf-error").first.inner_text()
    page.get_by_label("nomask").check()
    page.locator("#fill-text textarea").fill("The patient was treated with <mask>.")
    page.get_by_role("button", name="Predict").click()
    page.locator('.mf-model[data-model="nomask"] .mf-error').wait_for()
    assert "has no mask token" in page.locator('.mf-model[data-model="nomask"] .mf-error').inner_text()
    page.get_by_role("tab", name="NER").click()
    page.locator("#ner-text textarea").fill("   ")
    page.get_by_role("button", name="Tag").click()
    page.get_by_text("no text: paste a text").wait_for()
    assert "Traceback" not in page.content()
    page.screenshot(path=str(tmp_path / "errors.png"), full_page=True)


def test_long_inputs_are_windowed_not_truncated(page, run, tmp_path):
    long = " ".join([sample_text()] * 25)  # far past the model's 64 positions
    text = long + " The patient was treated with <mask>."
    page.locator("#fill-text textarea").fill(text)
    page.get_by_role("button", name="Predict").click()
    column = page.locator(f'.mf-model[data-model="{run.name}:model"]')
    column.locator(".mf-prediction").first.wait_for()
    expected = cli_json("fill-mask", run / "model", text, "--json")[0]["masks"][0]
    assert int(column.locator(".mf-mask").get_attribute("data-position")) == expected["position"] > 64
    (tmp_path / "long.txt").write_text(long, encoding="utf-8")
    tagger = run / "model" / "sample-ner"
    subprocess.run([BIN / "medforge", "tag", tagger, tmp_path / "long.txt", "--out", tmp_path / "t"], check=True,
                   capture_output=True, timeout=300)
    expected_entities = (tmp_path / "t" / "long.jsonl").read_text().splitlines()
    page.get_by_role("tab", name="NER").click()
    page.locator("#ner-text textarea").fill(long)
    page.get_by_role("button", name="Tag").click()
    page.locator(".mf-count").wait_for()
    assert int(page.locator(".mf-count").get_attribute("data-count")) == len(expected_entities)
    assert page.locator(".mf-entity").last.get_attribute("data-end") == str(json.loads(expected_entities[-1])["end"])


def test_a_folder_that_is_neither_a_model_nor_a_run_is_refused(tmp_path):
    done = subprocess.run([BIN / "medforge", "serve", str(tmp_path)], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"})
    assert done.returncode != 0 and "neither a model folder" in done.stderr and "Traceback" not in done.stderr
