"""Benchmark: what one very long description costs the model's text path (clean, tokenize).

For descriptions of 1 MB and 20 MB (ordinary words), each measured in its own process: the time
and peak resident memory of `clean_text` and of tokenizing with the packaged encoder's
tokenizer, once as `madewithml.core.tokenization.tokenize` does (the first `max_length` words of
the clean text) and once whole (what the tokenizer alone did before), with the ids each keeps.

    .venv/bin/python benchmarks/long_text.py

Writes benchmarks/results/long_text.md (docs/serving.md links it).
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "long_text.md"
MAX_LENGTH = 512  # tokens: the default encoder.max_length is lower; the encoder's own limit
SIZES_MB = (1, 20)

ONE = """
import json, resource, sys, time
from madewithml.core.text import one_project_text
from madewithml.core.tokenization import tokenize
from madewithml.data.encoder import PACKAGED_ENCODER, load_tokenizer

megabytes, how, max_length = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
tokenizer = load_tokenizer(PACKAGED_ENCODER)
description = "deep learning models for images and text " * (megabytes * 10**6 // 40)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
started = time.perf_counter()
text = one_project_text("A title", description)
cleaned = time.perf_counter() - started
started = time.perf_counter()
if how == "first words":
    ids = tokenize([text], tokenizer, max_length)[0].tolist()
else:
    ids = tokenizer([text], truncation=True, max_length=max_length)["input_ids"][0]
tokenized = time.perf_counter() - started
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"clean_s": cleaned, "tokenize_s": tokenized, "peak_mib": peak / 1024,
                  "before_mib": before / 1024, "ids": ids}))
"""


def measure(megabytes: int, how: str) -> dict:
    """One measure in a fresh process (so that its peak memory is its own)."""
    out = subprocess.run(
        [sys.executable, "-c", ONE, str(megabytes), how, str(MAX_LENGTH)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    rows = []
    for megabytes in SIZES_MB:
        measures = {how: measure(megabytes, how) for how in ("first words", "whole")}
        same = measures["first words"]["ids"] == measures["whole"]["ids"]
        for how, m in measures.items():
            rows.append(
                f"| {megabytes} MB | {how} | {m['clean_s']:.1f} | {m['tokenize_s']:.2f} | "
                f"{m['before_mib']:.0f} | {m['peak_mib']:.0f} | {'yes' if same else 'NO'} |"
            )
            print(rows[-1], flush=True)
    lines = [
        "# Long text benchmark",
        "",
        f"Command: `.venv/bin/python benchmarks/long_text.py` — {date.today()}, "
        f"{platform.machine()}, 2 cores. One project whose description is ordinary words, "
        f"through `clean_text` and the packaged encoder's tokenizer (max_length {MAX_LENGTH}), "
        "each row in its own process.",
        "",
        "| description | tokenized | clean (s) | tokenize (s) | RSS before (MiB) | peak RSS (MiB) "
        "| same ids |",
        "| --- | --- | ---: | ---: | ---: | ---: | --- |",
        *rows,
        "",
        "`first words` is `madewithml.core.tokenization.tokenize` (the clean text's first "
        "max_length words); `whole` is the tokenizer on the whole clean text, as before.",
        "",
    ]
    RESULTS.write_text("\n".join(lines))
    print(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
