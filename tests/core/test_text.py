import pandas as pd
import pytest
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from madewithml.text_cleaning import STOPWORDS, clean_text, project_text


def test_urls_are_removed_before_punctuation_so_no_bare_http_is_left():
    # The seed stripped punctuation first: "http://x.io" became "http x io", and its later
    # `http\S+` pattern could no longer match the bare "http" nor the domain's pieces.
    text = "See https://github.com/org/repo and http://x.io/a?b=1 or www.site.org now"
    cleaned = clean_text(text, remove_stopwords=False)
    assert cleaned == "see and or now"
    assert "http" not in cleaned and "github" not in cleaned


def test_stopwords_removed_by_default_and_kept_when_switched_off():
    text = "The model is trained on all of the data"
    assert clean_text(text) == "model trained data"
    assert clean_text(text, remove_stopwords=False) == "the model is trained on all of the data"


def test_stopwords_come_from_scikit_learn():
    assert STOPWORDS == ENGLISH_STOP_WORDS


def test_stopwords_only_match_whole_words():
    # "nothing" and "into" are stopwords; words that merely contain them stay whole.
    assert clean_text("nothingness intonation", remove_stopwords=True) == "nothingness intonation"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hello,   World!!", "hello world"),
        ("C++ & Rust: a_b-c", "c rust a b c"),
        ("  trailing\nnewline\t", "trailing newline"),
        ("ÜBER café", "ber caf"),
        ("", ""),
    ],
)
def test_non_alphanumerics_become_single_spaces(text, expected):
    assert clean_text(text, remove_stopwords=False) == expected


def test_project_text_joins_title_and_description():
    title = pd.Series(["Fast BERT", "YOLO"])
    description = pd.Series(["Distilled model.", "Real-time detection"])
    assert project_text(title, description, remove_stopwords=False).tolist() == [
        "fast bert distilled model",
        "yolo real time detection",
    ]
