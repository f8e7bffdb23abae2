"""Continuous training's intake nodes on hand-made tables."""

import pandas as pd

from madewithml.pipelines.continuous_training.nodes import merge_incoming, report_intake_metrics


def _raw(rows):
    frame = pd.DataFrame(rows, columns=["id", "title", "description", "tag"])
    frame.insert(1, "created_on", "2024-01-01")
    return frame


def test_merge_incoming_loads_every_partition_and_its_report_becomes_metrics():
    dataset = _raw([(1, "YOLO", "Object detection", "computer-vision")])
    holdout = _raw([(9, "Feature store", "Serving features", "mlops")])
    loaded = []

    def partition(table):
        def load():
            loaded.append(len(table))
            return table

        return load

    incoming = {
        "a": partition(_raw([(2, "Whisper", "Speech", "natural-language-processing")])),
        "b": partition(_raw([(3, "Feature store", "serving features!", "mlops")])),
    }
    merged, report = merge_incoming(dataset, incoming, holdout, False, "drop")
    assert sorted(loaded) == [1, 1]
    assert merged["id"].tolist() == [1, 2]
    assert report_intake_metrics(report) == {
        "incoming_rows": [{"value": 2, "step": 0}],
        "added_rows": [{"value": 1, "step": 0}],
        "training_rows": [{"value": 2, "step": 0}],
        "dropped_repeated_in_incoming": [{"value": 0, "step": 0}],
        "dropped_in_training_data": [{"value": 0, "step": 0}],
        "dropped_in_holdout": [{"value": 1, "step": 0}],
    }
