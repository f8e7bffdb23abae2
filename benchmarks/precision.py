"""How the shipped model answers on this CPU at each arithmetic it could ship with, on the 191
holdout projects: float32, bfloat16 (`inference.precision`), and PyTorch's dynamic int8
quantization of the Linear layers (tried for issue 24, not shipped).

For each: the model's own `predict_proba` over the holdout in its batches (projects/s), one
project's median latency, the holdout F1 as served (at the model's own threshold) and by the
most likely tag, the largest change of a probability against float32, and the largest change
of a probability when a project is answered alone rather than in its batch (an answer should
not depend on its batch mates).

1. The model: `--model-uri` (in `--tracking-uri`), else the champion of a fresh `kedro run` in a
   throw-away copy of the project (the committed defaults);
2. the same classifier weights in each arithmetic, everything else of the model unchanged.

MADEWITHML_DATA_DIR=../shared/data/madewithml .venv/bin/python benchmarks/precision.py
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import statistics
import time
import warnings

import numpy as np
import pandas as pd
import torch
from commands import add_model_arguments, model_in_a_copy
from training import RESULTS, _data_dir, _machine, write_results


def _int8(classifier: torch.nn.Module) -> torch.nn.Module:
    """A copy whose encoder's Linear layers are quantized dynamically to int8 (weights int8,
    activations quantized per batch at run time); the head stays float32."""
    quantized = copy.deepcopy(classifier)
    with warnings.catch_warnings():  # torch.ao.quantization is deprecated in favour of torchao
        warnings.simplefilter("ignore")
        quantized.encoder = torch.ao.quantization.quantize_dynamic(
            quantized.encoder, {torch.nn.Linear}, dtype=torch.qint8
        )
    return quantized


def variants(tagger):
    """(name, a Tagger answering in that arithmetic) for the model's own Tagger."""
    from madewithml.core.tagger import Tagger  # noqa: PLC0415

    def with_(classifier, precision: str) -> Tagger:
        settings = dataclasses.replace(tagger.settings, precision=precision)
        return Tagger(classifier, tagger.tokenizer, tagger.classes, settings, tagger.tfidf_model)

    yield "float32", with_(tagger.classifier, "float32")
    yield "bfloat16", with_(tagger.classifier, "bfloat16")
    yield "int8 (dynamic, the encoder's Linear layers)", with_(_int8(tagger.classifier), "float32")


def measure(tagger, holdout: pd.DataFrame, reference: np.ndarray | None) -> dict:
    from madewithml.evaluation.metrics import weighted_scores  # noqa: PLC0415

    projects = holdout[["title", "description"]]
    tagger.predict_proba(projects.iloc[:64])  # warm-up
    started = time.perf_counter()
    batched = tagger.predict_proba(projects)
    rows_per_s = len(projects) / (time.perf_counter() - started)
    alone, one = [], []
    for i in range(len(projects)):
        began = time.perf_counter()
        alone.append(tagger.predict_proba(projects.iloc[[i]]))
        one.append(time.perf_counter() - began)
    served = tagger.predict(projects)["prediction"].tolist()
    likely = [tagger.classes[i] for i in batched.argmax(axis=1)]
    truth = holdout["tag"].tolist()
    return {
        "rows_per_s": rows_per_s,
        "one_ms": 1000 * statistics.median(one),
        "served_f1": weighted_scores(truth, served)["f1"],
        "argmax_f1": weighted_scores(truth, likely)["f1"],
        "vs_float32": 0.0 if reference is None else float(np.abs(batched - reference).max()),
        "batch_mates": float(np.abs(batched - np.vstack(alone)).max()),
        "probabilities": batched,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_model_arguments(parser)
    parser.add_argument("--out", default=str(RESULTS / "precision.md"))
    args = parser.parse_args()

    import mlflow  # noqa: PLC0415

    from madewithml.core.classifier import inference_dtype  # noqa: PLC0415

    data = _data_dir()
    holdout = pd.read_csv(data / "holdout.csv")
    with model_in_a_copy(args, data) as (_, env, model_uri):
        mlflow.set_tracking_uri(env["MLFLOW_TRACKING_URI"])
        tagger = mlflow.pyfunc.load_model(model_uri).unwrap_python_model().tagger
        results, reference = [], None
        for name, variant in variants(tagger):
            result = measure(variant, holdout, reference)
            reference = result["probabilities"] if reference is None else reference
            results.append((name, result))
            print(name, {k: v for k, v in result.items() if k != "probabilities"}, flush=True)

    auto = inference_dtype("auto", "cpu")
    lines = [
        "# precision benchmark: the shipped model in float32, bfloat16 and int8",
        "",
        f"Command: `python benchmarks/precision.py` — {time.strftime('%Y-%m-%d')}, {_machine()} "
        f"({torch.backends.cpu.get_cpu_capability()}, bfloat16 native: "
        f"{auto == torch.bfloat16}; `inference.precision: auto` answers in "
        f"{str(auto).removeprefix('torch.')} here); model {model_uri} (shipped with "
        f"precision {tagger.settings.precision!r}, threshold {tagger.settings.threshold:.3f} "
        "calibrated at that precision); torch "
        f"{torch.__version__}, {torch.get_num_threads()} threads; the 191 holdout projects.",
        "",
        "| arithmetic | projects/s (batches of "
        f"{tagger.settings.batch_size}) | one project, median (ms) | holdout F1 as served "
        "| holdout F1, most likely tag | largest change of a probability vs float32 "
        "| largest change when answered alone vs in its batch |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, r in results:
        lines.append(
            f"| {name} | {r['rows_per_s']:.0f} | {r['one_ms']:.1f} | {r['served_f1']:.4f} "
            f"| {r['argmax_f1']:.4f} | {r['vs_float32']:.4f} | {r['batch_mates']:.4f} |"
        )
    write_results(args.out, [*lines, ""])


if __name__ == "__main__":
    main()
