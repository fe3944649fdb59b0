"""The task kinds benchmark suites need: sentence-pair similarity (Pearson, Spearman), relation classification
with entity markers (micro F1 without the negative class) and question answering as pair classification
(accuracy, macro F1); each fine-tuned with a tiny model, its metric recomputed independently."""

from __future__ import annotations

import json
import random

import pytest
from scipy.stats import pearsonr, spearmanr
from sklearn.metrics import accuracy_score, f1_score

from medforge.models.presets import build_mlm
from medforge.tasks.data import read_task
from medforge.tasks.spec import TaskSpec, load_task
from tests_shared import run_cli, shared_data

WORDS = "patient fever cough pain dose aspirin insulin liver kidney heart tumour scan blood".split()


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory, tiny_tokenizer):
    folder = tmp_path_factory.mktemp("tiny-model")
    build_mlm("roberta", "tiny", tiny_tokenizer, 64).save_pretrained(folder)
    tiny_tokenizer.save_pretrained(folder)
    return folder


def sentence(rng: random.Random, n: int = 8) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def write_rows(folder, name: str, rows: list[dict]) -> None:
    folder.mkdir(exist_ok=True)
    (folder / name).write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def finetuned(model, task_yaml, out) -> list[dict]:
    assert run_cli("benchmark", model, "--tasks", task_yaml, "--seeds", "1", "--out", out,
                   "--set", "epochs=2", "learning_rate=1e-3") == 0
    seed = next(p for p in out.glob("*/*/seed-*"))
    results = json.loads((seed / "results.json").read_text())
    rows = [json.loads(line) for line in (seed / "test.jsonl").read_text().splitlines()]
    return results, rows


def test_similarity_pairs_are_scored_by_pearson_and_spearman(tiny_model, tmp_path, capsys):
    rng = random.Random(0)
    for split, n in (("train", 80), ("dev", 20), ("test", 30)):
        rows = []
        for _ in range(n):
            a, b = sentence(rng), sentence(rng)
            shared = len(set(a.split()) & set(b.split()))
            rows.append({"s1": a, "s2": b, "score": round(min(4.0, shared * 0.8), 2)})
        rows.append({"s1": "x", "s2": "y", "score": "n/a"})  # unreadable: dropped and counted
        write_rows(tmp_path / "data", f"{split}.jsonl", rows)
    (tmp_path / "sim.yaml").write_text("name: pairs\ntype: similarity\nformat: jsonl\ntrain: data/train.jsonl\n"
                                       "dev: data/dev.jsonl\ntest: data/test.jsonl\ntext_column: s1\n"
                                       "text_pair_column: s2\nlabel_column: score\nmax_length: 48\n")
    assert run_cli("tasks", "validate", tmp_path / "sim.yaml") == 0
    assert "pairs: valid similarity task, a score per pair" in capsys.readouterr().out
    data = read_task(load_task(str(tmp_path / "sim.yaml")))
    assert data.summary()["test"]["examples"] == 30 and data.splits["test"].dropped["unreadable_score"] == 1
    assert data.splits["train"].examples[0].pair and data.labels == []
    results, rows = finetuned(tiny_model, tmp_path / "sim.yaml", tmp_path / "out")
    gold, pred = [r["gold"][0] for r in rows], [r["pred"][0] for r in rows]
    assert len(rows) == 30 and isinstance(pred[0], float)
    assert results["test"]["pearson"] == pytest.approx(pearsonr(gold, pred)[0], abs=1e-9)
    assert results["test"]["spearman"] == pytest.approx(spearmanr(gold, pred)[0], abs=1e-9)
    assert results["headline"] == "pearson"


def test_relation_markers_are_inserted_and_the_negative_class_is_left_out_of_f1(tiny_model, tmp_path):
    rng = random.Random(1)
    for split, n in (("train", 90), ("dev", 30), ("test", 40)):
        rows = []
        for _ in range(n):
            label = rng.choice(["INHIBITOR", "SUBSTRATE", "false"])
            text = f"{sentence(rng, 3)} aspirin {label.lower()} COX-1 {sentence(rng, 3)}"
            start = text.index("aspirin")
            rows.append({"text": text, "label": label, "a": start, "b": start + 7,
                         "c": text.index("COX-1"), "d": text.index("COX-1") + 5})
        rows.append({"text": "too short", "label": "false", "a": 0, "b": 50, "c": 1, "d": 2})
        write_rows(tmp_path / "data", f"{split}.jsonl", rows)
    (tmp_path / "rel.yaml").write_text("name: rel\ntype: relation\nformat: jsonl\ntrain: data/train.jsonl\n"
                                       "dev: data/dev.jsonl\ntest: data/test.jsonl\nnegative_label: 'false'\n"
                                       "entity_offsets: [a, b, c, d]\nmax_length: 48\n")
    data = read_task(load_task(str(tmp_path / "rel.yaml")))
    first = data.splits["train"].examples[0].text
    assert "<< aspirin >>" in first and "[[ COX-1 ]]" in first
    assert data.splits["test"].dropped["bad_entity_offsets"] == 1
    results, rows = finetuned(tiny_model, tmp_path / "rel.yaml", tmp_path / "out")
    gold, pred = [r["gold"][0] for r in rows], [r["pred"][0] for r in rows]
    positive = ["INHIBITOR", "SUBSTRATE"]
    assert results["test"]["micro_f1"] == pytest.approx(f1_score(gold, pred, labels=positive, average="micro",
                                                                  zero_division=0))
    assert set(results["test"]["per_label"]) == set(positive) and "'false' left out" in results["test"]["protocol"]


def test_yes_no_maybe_questions_are_pair_classification(tiny_model, tmp_path):
    rng = random.Random(2)
    for split, n in (("train", 90), ("dev", 30), ("test", 40)):
        rows = [{"question": f"does {rng.choice(WORDS)} help ?", "context": sentence(rng, 12),
                 "answer": rng.choice(["yes", "no", "maybe"])} for _ in range(n)]
        write_rows(tmp_path / "data", f"{split}.jsonl", rows)
    (tmp_path / "qa.yaml").write_text("name: qa\ntype: qa\nformat: jsonl\ntrain: data/train.jsonl\n"
                                      "dev: data/dev.jsonl\ntest: data/test.jsonl\ntext_column: question\n"
                                      "text_pair_column: context\nlabel_column: answer\nmax_length: 48\n")
    results, rows = finetuned(tiny_model, tmp_path / "qa.yaml", tmp_path / "out")
    gold, pred = [r["gold"][0] for r in rows], [r["pred"][0] for r in rows]
    assert results["headline"] == "accuracy"
    assert results["test"]["accuracy"] == pytest.approx(accuracy_score(gold, pred))
    assert results["test"]["macro_f1"] == pytest.approx(f1_score(gold, pred, labels=["maybe", "no", "yes"],
                                                                  average="macro", zero_division=0))


def test_a_pair_task_without_its_second_column_is_refused():
    from medforge.errors import ConfigError

    with pytest.raises(ConfigError, match="text_pair_column"):
        TaskSpec(name="q", type="qa", format="jsonl", train="a", dev="b", test="c").validate("q.yaml")


def test_chemprot_reads_as_a_relation_task_with_its_markers():
    shared_data("cls/en/chemprot")
    spec = load_task("chemprot")
    assert spec.type == "relation"
    data = read_task(spec)
    assert [len(data.splits[s].examples) for s in ("train", "dev", "test")] == [4169, 2427, 3469]
    assert all("<<" in e.text and "[[" in e.text for e in data.splits["test"].examples)


def test_pubmedqa_json_reads_as_a_question_with_its_contexts(tmp_path):
    """PubMedQA is distributed as one JSON object keyed by PMID, the context as a list of passages."""
    records = {str(1000 + i): {"QUESTION": f"Does {w} reduce mortality?", "CONTEXTS": [f"{w} was given.", "Outcome."],
                               "final_decision": d}
               for i, (w, d) in enumerate([("aspirin", "yes"), ("insulin", "no"), ("statins", "maybe")])}
    for split in ("train", "dev", "test"):
        (tmp_path / f"{split}.json").write_text(json.dumps(records))
    (tmp_path / "pqa.yaml").write_text("name: pqa\ntype: qa\nformat: json\ntrain: train.json\ndev: dev.json\n"
                                       "test: test.json\ntext_column: QUESTION\ntext_pair_column: CONTEXTS\n"
                                       "label_column: final_decision\n")
    data = read_task(load_task(str(tmp_path / "pqa.yaml")))
    first = data.splits["test"].examples[0]
    assert (first.text, first.pair, first.labels) == ("Does aspirin reduce mortality?", "aspirin was given. Outcome.",
                                                      ("yes",))
    assert data.labels == ["maybe", "no", "yes"]
    (tmp_path / "test.json").write_text('{"1": [1, 2]}')
    with pytest.raises(Exception, match="record 1 is a list, not an object"):
        read_task(load_task(str(tmp_path / "pqa.yaml")))
