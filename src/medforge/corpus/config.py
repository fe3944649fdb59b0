from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from medforge.config import opt
from medforge.corpus.pii import TYPES as PII_TYPES
from medforge.errors import ConfigError


@dataclass
class SourceConfig:
    name: str = opt("", "Name in the report and the card's training-data table (default: the first path).")
    paths: list[str] = opt([], "Files, folders (read recursively) or globs. .txt .jsonl .csv .tsv .parquet, each "
                               "optionally .gz .bz2 .xz .zst. 'asset:' names a file of the embedded sample.")
    text_field: str = opt("text", "JSONL: the field holding a document's text.")
    text_column: str = opt("text", "CSV/TSV/Parquet (and hub data sets): the column holding the text.")
    paragraphs: bool = opt(False, ".txt: documents are separated by blank lines instead of one per line.")
    weight: float = opt(1.0, "Sampling weight in the training split: 2.0 writes every document twice, 0.5 keeps "
                             "half (chosen by a hash of the text, so reruns agree). Validation is never resampled.")
    details: str = opt("", "A line describing the source, for the card's training-data table.")
    hub_dataset: str = opt("", "A `datasets` hub id (or local dataset folder) instead of paths; needs a network "
                               "for hub ids.")
    hub_split: str = opt("train", "The split of hub_dataset to read.")

    @property
    def label(self) -> str:
        return self.name or self.hub_dataset or (self.paths[0] if self.paths else "?")


@dataclass
class PrepareConfig:
    inputs: list[str] = opt([], "Shorthand: files, folders or globs, each its own source with default settings.")
    sources: list[SourceConfig] = opt([], "Named sources, each with its own paths, fields and sampling weight.")
    text_field: str = opt("text", "JSONL field holding the text, for 'inputs'.")
    normalization: Literal["NFC", "NFKC", "none"] = opt(
        "NFC", "Unicode normalisation. NFC keeps characters as written; NFKC also folds compatibility forms "
               "(ligatures, full-width Latin), which changes what the tokenizer sees.")
    fullwidth: bool = opt(False, "Convert ASCII to full-width forms (JMedRoBERTa's input convention).")
    lowercase: bool = opt(False, "Lowercase every document.")
    fix_mojibake: bool = opt(True, "Repair UTF-8 read as Latin-1/cp1252 ('Ã©' -> 'é') with ftfy, in documents "
                                   "that show it; counted.")
    invalid_utf8: Literal["replace", "skip_line", "fail"] = opt(
        "replace", "Bytes that are not UTF-8: replace them (counted, first positions reported), skip the line, or "
                   "stop with an error.")
    min_chars: int = opt(1, "Drop documents shorter than this many characters (after normalisation).")
    max_chars: int = opt(0, "Drop documents longer than this (0: no limit).")
    min_words: int = opt(0, "Drop documents with fewer words (characters / 2 for text without spaces).")
    max_words: int = opt(0, "Drop documents with more words (0: no limit).")
    languages: list[str] = opt([], "Keep only documents identified (py3langid, offline) as one of these ISO 639-1 "
                                   "codes; empty: no language filter. The language mix is reported either way "
                                   "when set.")
    remove_repeated_lines: bool = opt(True, "Remove lines that repeat an earlier line of the same document "
                                            "(headers, footers, flattened tables); counted.")
    max_repeated_ngram_fraction: float = opt(0.0, "Drop documents whose word trigrams repeat more than this share "
                                                  "(boilerplate, spam); 0: off. 0.3 is a usual value.")
    dedup_exact: bool = opt(True, "Drop exact duplicates (same normalised text), across sources.")
    dedup_near: bool = opt(True, "Drop near duplicates (MinHash LSH on character shingles), across sources.")
    near_threshold: float = opt(0.8, "Estimated Jaccard similarity from which a document is a near duplicate.")
    num_perm: int = opt(128, "MinHash signature length (a power of two).")
    shingle: int = opt(7, "Characters per shingle for MinHash.")
    pii_policy: Literal["report", "redact", "drop"] = opt(
        "report", "Personal data found (e-mail, phone, NIR, IBAN, birth date, address, titled name): report it, "
                  "replace it by a typed placeholder such as <EMAIL>, or drop the document.")
    pii_types: list[str] = opt(list(PII_TYPES), f"Kinds screened for: {', '.join(PII_TYPES)}.")
    pii_max_fraction: float = opt(0.0, "The gate: the stage fails when more than this share of kept documents "
                                       "still holds personal data (so with 'report' any find fails it).")
    pii_allow: bool = opt(False, "Let the stage pass the gate anyway (say why in the run's notes).")
    validation_fraction: float = opt(0.1, "Share of documents held out for validation (by a seeded hash of the "
                                          "text, so no document is in two splits and reruns agree).")
    test_fraction: float = opt(0.0, "Share of documents held out for a test split.")
    shard_docs: int = opt(50_000, "Documents read per shard; a finished shard is kept when an interrupted run "
                                  "resumes.")
    workers: int = opt(1, "Processes that normalise, screen and hash documents (the order of the output does "
                          "not depend on it).")
    engine: Literal["stream", "tasks"] = opt(
        "stream", "stream: one pass, documents processed in 'workers' processes, duplicate indexes in memory. "
                  "tasks: one task per input file, then one per LSH band, then the decisions in the global order "
                  "(the same output; what 'ray' and SLURM array parts run, resumable per file).")
    ray: str = opt("", "Address of a running Ray cluster ('auto', 'HEAD:6379'): run the task engine's tasks on its "
                       "nodes (the 'ray' extra; every node needs medforge and the input files at the same paths).")
    examples: int = opt(5, "Masked PII examples and removed duplicate clusters listed per source in the report.")
    resume: bool = opt(True, "Resume an interrupted run with the same config from its last finished shard.")

    operational = ("resume", "workers", "engine", "ray")

    def all_sources(self) -> list[SourceConfig]:
        shorthand = [SourceConfig(name=str(p), paths=[p], text_field=self.text_field) for p in self.inputs]
        return shorthand + list(self.sources)

    def validate(self, source: str) -> None:
        sources = self.all_sources()
        if not sources:
            raise ConfigError(f"{source}: 'prepare.inputs' and 'prepare.sources' are empty; list at least one corpus "
                              "file")
        names = [s.label for s in sources]
        if len(set(names)) != len(names):
            raise ConfigError(f"{source}: source names repeat ({names}); give each source its own 'name'")
        for s in sources:
            if not s.paths and not s.hub_dataset:
                raise ConfigError(f"{source}: source '{s.label}' has neither 'paths' nor 'hub_dataset'")
            if s.weight < 0:
                raise ConfigError(f"{source}: source '{s.label}' has a negative weight")
        if not 0.0 <= self.validation_fraction + self.test_fraction < 1.0 or min(self.validation_fraction,
                                                                                   self.test_fraction) < 0:
            raise ConfigError(f"{source}: 'prepare.validation_fraction' + 'prepare.test_fraction' must be in [0, 1), "
                              f"got {self.validation_fraction} + {self.test_fraction}")
        unknown = set(self.pii_types) - set(PII_TYPES)
        if unknown:
            raise ConfigError(f"{source}: unknown 'prepare.pii_types' {sorted(unknown)}; kinds are {list(PII_TYPES)}")
        if self.num_perm & (self.num_perm - 1) or self.num_perm < 16:
            raise ConfigError(f"{source}: 'prepare.num_perm' must be a power of two >= 16, got {self.num_perm}")
        if not 0 < self.near_threshold <= 1:
            raise ConfigError(f"{source}: 'prepare.near_threshold' must be in (0, 1], got {self.near_threshold}")
        if self.shard_docs < 1 or self.workers < 1:
            raise ConfigError(f"{source}: 'prepare.shard_docs' and 'prepare.workers' must be >= 1")

    def input_paths(self) -> list[str]:
        """Every file read (folders and globs expanded), so that a new or changed file reruns the stage."""
        from medforge import paths
        from medforge.corpus.readers import expand

        files = [str(f) for s in self.all_sources() for p in s.paths for f in expand(paths.resolve(p))]
        return files + [s.hub_dataset for s in self.all_sources() if s.hub_dataset]  # a local folder, or the id
