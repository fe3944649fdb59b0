"""Task splits from a ``datasets`` data set: a hub id (where a network is available) or a local
folder that ``datasets.load_dataset`` reads (Parquet, JSON, CSV files). Remote code is never run."""

from __future__ import annotations

from pathlib import Path

from medforge.errors import InputError
from medforge.tasks.classification import ClsFile, examples_from_rows
from medforge.tasks.conll import NerFile, Sentence
from medforge.tasks.kinds import kind_of
from medforge.tasks.schemes import tag_pattern, to_iob2


def load_split(spec, split: str):
    import datasets

    source, name = spec.hub_source(), getattr(spec, split)
    try:
        return datasets.load_dataset(source, spec.hub_config or None, split=name)
    except (OSError, ValueError, datasets.exceptions.DatasetNotFoundError) as err:  # missing, offline, bad split
        raise InputError(f"{source}: cannot load split {name!r} ({err}); check 'hub_dataset', 'hub_config' and "
                         "the split names in train/dev/test (a hub id needs a network)") from None


def _names(feature):
    """Class names of a ClassLabel feature (or of a sequence of them), else None."""
    inner = getattr(feature, "feature", feature)
    return getattr(inner, "names", None)


def read_hub_ner(spec, split: str) -> NerFile:
    ds = load_split(spec, split)
    where = f"{spec.hub_source()}[{getattr(spec, split)}]"
    for field in (spec.tokens_field, spec.tags_field):
        if field not in ds.column_names:
            raise InputError(f"{where}: no field {field!r}; it has {', '.join(ds.column_names)}. Set the task's "
                             "'tokens_field' / 'tags_field'")
    names = _names(ds.features[spec.tags_field])
    pattern = tag_pattern(spec.scheme)
    sentences, repaired = [], 0
    for row_number, row in enumerate(ds, start=1):
        tokens = [str(t) for t in row[spec.tokens_field]]
        tags = [names[t] if names is not None else str(t) for t in row[spec.tags_field]]
        if len(tokens) != len(tags):
            raise InputError(f"{where}: row {row_number} has {len(tokens)} tokens but {len(tags)} tags")
        bad = next((t for t in tags if not pattern.match(t)), None)
        if bad is not None:
            raise InputError(f"{where}: row {row_number}: tag {bad!r} is not {spec.scheme.upper()}; set the task's "
                             "'scheme'")
        if tokens:
            fixed, n = to_iob2(tags, spec.scheme)
            repaired += n
            sentences.append(Sentence(tokens, fixed, row_number))
    if not sentences:
        raise InputError(f"{where}: no sentence found")
    return NerFile(Path(where), sentences, repaired, {})


def read_hub_examples(spec, split: str) -> ClsFile:
    ds = load_split(spec, split)
    where = Path(f"{spec.hub_source()}[{getattr(spec, split)}]")
    names = _names(ds.features.get(spec.label_column)) if spec.label_column in ds.column_names else None

    def rows():
        for number, row in enumerate(ds, start=1):
            label = row.get(spec.label_column)
            if names is not None and label is not None:
                label = [names[x] for x in label] if isinstance(label, list) else names[label]
            yield number, {**row, spec.label_column: label} if spec.label_column in row else row

    from medforge.tasks.data import extra_of

    return examples_from_rows(where, rows(), spec.text_column, spec.label_column, kind_of(spec.type).multilabel,
                              spec.label_separator, extra_of(spec))
