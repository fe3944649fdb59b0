"""``medforge serve``: a local Gradio app over model and run folders.

Pages: fill-mask (several models side by side), NER (highlighted entities, downloads as JSONL and brat),
tokenizers side by side, and a run dashboard. It binds to 127.0.0.1 unless told otherwise, loads no remote
code, and needs the ``ui`` extra.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from medforge.errors import ConfigError
from medforge.ui import dashboard, views
from medforge.ui.sources import Sources, find

UI_EXTRA = "pip install 'medforge[ui]' (installed by make)"
EXAMPLE = "The patient was treated with <mask> for the infection."


def build(sources: Sources):
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # nothing leaves the machine
    try:
        import gradio as gr
    except ImportError as exc:
        raise ConfigError(f"medforge serve needs Gradio: {UI_EXTRA}") from exc
    downloads_dir = Path(tempfile.mkdtemp(prefix="medforge-serve-"))
    theme = gr.themes.Default(font=["system-ui", "sans-serif"], font_mono=["monospace"])  # no web fonts
    with gr.Blocks(title="medforge") as app:
        gr.Markdown("# medforge")
        with gr.Tab("Fill-mask", id="fill-mask"):
            masked = list(sources.masked)
            if not masked:
                gr.HTML(views.error_box("no masked language model among the paths given"))
            models = gr.CheckboxGroup(masked, value=masked[:2], label="models", elem_id="fill-models")
            text = gr.Textbox(EXAMPLE, label="text with a mask (<mask> or [MASK], for either family)", lines=2,
                              elem_id="fill-text")
            top_k = gr.Slider(1, 20, value=5, step=1, label="top k", elem_id="fill-k")
            go = gr.Button("Predict", elem_id="fill-go", variant="primary")
            out = gr.HTML(elem_id="fill-out")
            go.click(lambda names, t, k: views.fill_mask(sources.masked, names, t, k), [models, text, top_k], out)
        with gr.Tab("NER", id="ner"):
            taggers = list(sources.taggers)
            if not taggers:
                gr.HTML(views.error_box("no NER model (fine-tuned by medforge evaluate) among the paths given"))
            tagger = gr.Dropdown(taggers, value=taggers[0] if taggers else None, label="model", elem_id="ner-model")
            with gr.Row():
                ner_text = gr.Textbox(label="text", lines=5, elem_id="ner-text", scale=3)
                upload = gr.File(label="or a .txt file", file_types=[".txt"], type="filepath", elem_id="ner-file",
                                 scale=1, height=150)
            tag_go = gr.Button("Tag", elem_id="ner-go", variant="primary")
            tagged = gr.HTML(elem_id="ner-out")
            files = gr.File(label="entities (JSONL, brat .ann and its .txt)", file_count="multiple",
                            elem_id="ner-downloads")

            def run_tag(name, text, path):
                if path:
                    try:
                        text = Path(path).read_bytes().decode("utf-8").removeprefix("\ufeff")
                    except UnicodeDecodeError:
                        return views.error_box(f"{Path(path).name}: not valid UTF-8; save it as UTF-8"), None
                if not name:
                    return views.error_box("no NER model to run"), None
                shown, entities = views.tag(sources.taggers[name], text or "")
                folder = Path(tempfile.mkdtemp(dir=downloads_dir))
                return shown, (views.downloads(entities, text, folder) if entities else None)

            tag_go.click(run_tag, [tagger, ner_text, upload], [tagged, files])
        with gr.Tab("Tokenizers", id="tokenizers"):
            names = list(sources.tokenizers)
            chosen = gr.CheckboxGroup(names, value=names, label="tokenizers", elem_id="tok-models")
            words = gr.Textbox("pneumopathie 胃潰瘍 acetaminophen", label="a word or a text", elem_id="tok-text")
            tok_go = gr.Button("Tokenize", elem_id="tok-go", variant="primary")
            pieces = gr.HTML(elem_id="tok-out")
            tok_go.click(lambda n, t: views.tokenize(sources.tokenizers, n, t), [chosen, words], pieces)
        with gr.Tab("Run dashboard", id="dashboard"):
            runs = list(sources.runs)
            if not runs:
                gr.HTML(views.error_box("no run folder among the paths given (medforge serve RUN_DIR)"))
            for name in runs:
                _run_page(gr, name, sources.runs[name])
    app.medforge_theme = theme
    return app


def _run_page(gr, name: str, run: Path) -> None:
    gr.Markdown(f"## Run {name}\n`{run}`")
    gr.HTML(dashboard.status(run), elem_id=f"run-status-{name}", elem_classes=["mf-run-status"])
    with gr.Accordion("corpus", open=True):
        gr.HTML(dashboard.corpus(run), elem_classes=["mf-run-corpus"])
    train, held = dashboard.curves(run)
    with gr.Accordion("training curves", open=True):
        if train is None:
            gr.HTML(views.error_box("no training metrics (the pretrain stage has not run)"))
        else:
            with gr.Row():
                gr.LinePlot(train, x="step", y="loss", title="training loss", elem_classes=["mf-curve"])
                if held is not None:
                    gr.LinePlot(held, x="step", y="eval_perplexity", title="held-out perplexity",
                                elem_classes=["mf-curve"])
            with gr.Row():
                gr.LinePlot(train, x="step", y="lr", title="learning rate", elem_classes=["mf-curve"])
                gr.LinePlot(train, x="step", y="tokens_per_s", title="real tokens/s", elem_classes=["mf-curve"])
    scores, comparison = dashboard.evaluation(run)
    with gr.Accordion("evaluation", open=True):
        gr.HTML(scores, elem_classes=["mf-run-evaluation"])
        if comparison:
            gr.Markdown(comparison)
    with gr.Accordion("model card", open=False):
        gr.Markdown(dashboard.card(run), elem_classes=["mf-run-card"])


def serve(paths: list[str], host: str = "127.0.0.1", port: int = 7860) -> None:
    app = build(find(paths))
    print(f"medforge serve: http://{host}:{port}", flush=True)
    app.launch(server_name=host, server_port=port, css=views.CSS, theme=app.medforge_theme, show_error=False,
               inbrowser=False, share=False)
