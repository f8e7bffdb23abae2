import matplotlib.pyplot as plt
import pandas as pd
import pytest

from madewithml.data.encoder import load_tokenizer
from madewithml.data.schemas import DataValidationError
from madewithml.pipelines.data_processing.nodes import (
    add_clean_text,
    encode_labels,
    map_tags,
    plot_class_balance,
    prepare_tokenizer,
    split_train_val,
    tokenize_projects,
    tokenize_texts,
    validate_projects,
)

ACCEPTED = ["computer-vision", "mlops", "natural-language-processing"]
ENCODER = "packaged:all-MiniLM-L6-v2"


@pytest.fixture
def tagged(raw_projects):
    return add_clean_text(map_tags(raw_projects, ACCEPTED, "other"), remove_stopwords=True)


def test_validate_projects_returns_the_valid_table(raw_projects):
    pd.testing.assert_frame_equal(validate_projects(raw_projects), raw_projects)


def test_validate_projects_names_the_failing_column(raw_projects):
    with pytest.raises(DataValidationError, match="missing column 'tag'"):
        validate_projects(raw_projects.drop(columns="tag"))


def test_map_tags_sends_unaccepted_tags_to_other_and_warns_once_per_tag(raw_projects, caplog):
    mapped = map_tags(raw_projects, ACCEPTED, "other")
    assert set(mapped["tag"]) == {*ACCEPTED, "other"}
    was_other = ~raw_projects["tag"].isin(ACCEPTED)
    assert (mapped.loc[was_other, "tag"] == "other").all()
    assert (mapped.loc[~was_other, "tag"] == raw_projects.loc[~was_other, "tag"]).all()
    assert "other" not in set(raw_projects["tag"])  # the input is not modified
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert sorted(warnings) == [
        "tag 'graph-learning' (6 projects) is not an accepted tag: mapped to 'other'",
        "tag 'reinforcement-learning' (6 projects) is not an accepted tag: mapped to 'other'",
    ]


@pytest.mark.parametrize("tag", [" mlops", "MLOps", "mlops\n", "\tMLOPS  "])
def test_map_tags_forgives_case_and_surrounding_white_space(tag, caplog):
    projects = pd.DataFrame({"tag": [tag, "Other", "computer-vision"]})
    mapped = map_tags(projects, ACCEPTED, "other")
    assert mapped["tag"].tolist() == ["mlops", "other", "computer-vision"]
    assert not [r for r in caplog.records if r.levelname == "WARNING"]


def test_add_clean_text_adds_a_cleaned_column(raw_projects):
    first = add_clean_text(raw_projects, remove_stopwords=True).iloc[0]
    assert (
        first["text"]
        == "project 0 image image segmentation convolutional networks example number 0"
    )
    with_stopwords = add_clean_text(raw_projects, remove_stopwords=False).iloc[0]["text"]
    assert "with" in with_stopwords.split()
    assert "text" not in raw_projects.columns


def test_split_is_stratified_and_disjoint(tagged):
    train, val = split_train_val(tagged, test_size=0.2, seed=1234, min_rows_per_class=5)
    assert len(train) + len(val) == len(tagged)
    assert set(train["id"]).isdisjoint(val["id"])
    for tag, count in tagged["tag"].value_counts().items():
        assert (val["tag"] == tag).sum() == -(-count * 2 // 10)  # ceil(0.2 * count) per tag


def test_split_is_reproducible_for_a_seed_and_changes_with_it(tagged):
    first, _ = split_train_val(tagged, 0.2, seed=7, min_rows_per_class=5)
    again, _ = split_train_val(tagged, 0.2, seed=7, min_rows_per_class=5)
    other, _ = split_train_val(tagged, 0.2, seed=8, min_rows_per_class=5)
    assert first["id"].tolist() == again["id"].tolist()
    assert first["id"].tolist() != other["id"].tolist()


def test_encode_labels_is_sorted_over_every_class(tagged):
    assert encode_labels(tagged, ACCEPTED, "other") == {
        "computer-vision": 0,
        "mlops": 1,
        "natural-language-processing": 2,
        "other": 3,
    }


def test_encode_labels_refuses_a_class_without_rows(tagged):
    with pytest.raises(ValueError, match=r"no rows for the class\(es\) \['mlops'\]"):
        encode_labels(tagged[tagged["tag"] != "mlops"], ACCEPTED, "other")


@pytest.fixture
def tokenizer():
    return load_tokenizer(ENCODER)


def test_prepare_tokenizer_loads_the_encoders_tokenizer(tagged):
    tokenizer = prepare_tokenizer(ENCODER, tagged, max_length=128)
    assert tokenizer("hello")["input_ids"] == [101, 7592, 102]


def test_prepare_tokenizer_warns_about_truncation(tagged, caplog):
    prepare_tokenizer(ENCODER, tagged, max_length=4)
    assert (
        f"{len(tagged)} of {len(tagged)} texts are longer than encoder.max_length=4" in caplog.text
    )


def test_tokenize_projects_gives_unpadded_ids_and_targets(tagged, tokenizer):
    class_to_index = encode_labels(tagged, ACCEPTED, "other")
    inputs = tokenize_projects(tagged, tokenizer, 128, class_to_index)
    assert list(inputs.columns) == ["id", "input_ids", "target"]
    for ids, text in zip(inputs["input_ids"], tagged["text"], strict=True):
        # [CLS] text [SEP] of the MiniLM vocabulary, no padding: each row its own length
        assert list(ids) == tokenizer(text)["input_ids"]
    assert len({len(ids) for ids in inputs["input_ids"]}) > 1
    assert inputs["target"].tolist() == tagged["tag"].map(class_to_index).tolist()
    assert inputs["id"].tolist() == tagged["id"].tolist()


def test_tokenize_texts_needs_no_tag(tagged, tokenizer):
    inputs = tokenize_texts(tagged[["text"]], tokenizer, 128)
    assert list(inputs.columns) == ["input_ids"]
    assert len(inputs) == len(tagged)


def test_tokenize_projects_truncates_to_max_length(tagged, tokenizer):
    inputs = tokenize_projects(tagged, tokenizer, 5, encode_labels(tagged, ACCEPTED, "other"))
    assert {len(ids) for ids in inputs["input_ids"]} == {5}
    assert all(ids[-1] == tokenizer.sep_token_id for ids in inputs["input_ids"])


def test_tokenize_projects_refuses_unknown_tags(tagged, tokenizer):
    with pytest.raises(ValueError, match="column 'tag' has values outside class_to_index"):
        tokenize_projects(tagged, tokenizer, 16, {"mlops": 0})


@pytest.mark.real_data
def test_split_of_the_real_dataset_matches_the_seed(real_data):
    raw = pd.read_csv(real_data / "dataset.csv")
    projects = add_clean_text(map_tags(validate_projects(raw), ACCEPTED, "other"), True)
    train, val = split_train_val(projects, test_size=0.2, seed=1234, min_rows_per_class=5)
    assert (len(train), len(val)) == (610, 154)
    assert set(train["tag"]) == set(val["tag"]) == {*ACCEPTED, "other"}
    assert val["tag"].value_counts().to_dict() == {
        "natural-language-processing": 62,
        "computer-vision": 57,
        "other": 22,
        "mlops": 13,
    }


def test_plot_class_balance_draws_each_part_per_tag():
    train = pd.DataFrame({"tag": ["mlops", "mlops", "other", "computer-vision"]})
    val = pd.DataFrame({"tag": ["mlops", "other"]})
    figure = plot_class_balance(train, val)
    (axes,) = figure.axes
    heights = {
        label: [bar.get_height() for bar in container]
        for label, container in zip(["train", "validation"], axes.containers, strict=True)
    }
    assert [tick.get_text() for tick in axes.get_xticklabels()][0] == "mlops"
    assert sorted(heights["train"]) == [1, 1, 2]
    assert sorted(heights["validation"]) == [0, 1, 1]  # a tag missing from a part shows as 0
    plt.close(figure)
