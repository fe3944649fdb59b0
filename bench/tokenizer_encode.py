"""Encoding throughput of a saved fast tokenizer: batched calls against one text at a time.

    .venv/bin/python bench/tokenizer_encode.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main() -> None:
    from _common import real_lines
    from transformers import AutoTokenizer

    from medforge.tokenizer.config import TokenizerConfig
    from medforge.tokenizer.train import train_tokenizer

    lines = real_lines()
    texts = lines[:4000]
    mb = sum(len(t.encode("utf-8")) for t in texts) / 1e6
    print(f"Encoding {len(texts)} real fr+en documents ({mb:.1f} MB), special tokens added")
    print(f"{'tokenizer':26} {'one at a time':>14} {'batched (1000)':>15} {'ratio':>7}")
    for algorithm, family in (("byte_bpe", "roberta"), ("sp_unigram", "camembert"), ("wordpiece", "bert")):
        with tempfile.TemporaryDirectory() as out:
            train_tokenizer(iter(lines[4000:24000]), TokenizerConfig(algorithm=algorithm, family=family,
                                                                     vocab_size=16000), Path(out), 0, [])
            tok = AutoTokenizer.from_pretrained(out)
            tok.model_max_length = 1 << 62
            start = time.perf_counter()
            single = [tok(t)["input_ids"] for t in texts]
            t_single = time.perf_counter() - start
            start = time.perf_counter()
            batched = [ids for i in range(0, len(texts), 1000) for ids in tok(texts[i:i + 1000])["input_ids"]]
            t_batch = time.perf_counter() - start
            assert batched == single
            print(f"{algorithm + ' (' + family + ')':26} {mb / t_single:11.2f}MB/s {mb / t_batch:12.2f}MB/s "
                  f"{t_single / t_batch:7.2f}")


if __name__ == "__main__":
    main()
