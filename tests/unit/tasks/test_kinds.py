from __future__ import annotations

import pytest

from medforge.errors import ConfigError
from medforge.tasks.kinds import KINDS, kind_of
from medforge.tasks.spec import TaskSpec


@pytest.mark.parametrize("name", sorted(KINDS))
def test_every_kind_names_functions_that_exist_and_metrics_it_reports(name):
    kind = kind_of(name)
    for role in ("reader", "finetune", "predictions", "bootstrap"):
        assert callable(kind.call(role)), role
    keys = [key for key, _ in kind.metrics]
    assert set(kind.headlines) <= set(keys) and kind.headlines[0] == keys[0]
    assert len({label for _, label in kind.metrics}) == len(keys)  # one name per metric
    assert kind.pipeline_task in ("token-classification", "text-classification")


def test_a_spec_takes_its_formats_and_headlines_from_its_kind():
    spec = TaskSpec(name="t", type="multilabel", format="tsv", train="a", test="b", dev="c")
    spec.validate("t")
    assert spec.headline == "micro_f1"
    with pytest.raises(ConfigError, match="does not suit a multilabel task; use tsv or csv or jsonl or json or hub"):
        TaskSpec(name="t", type="multilabel", format="conll", train="a", test="b", dev="c").validate("t")
    with pytest.raises(ConfigError, match="not supported; supported: ner, classification, multilabel"):
        kind_of("coreference")
