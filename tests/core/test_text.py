import unicodedata

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from madewithml.core.text import clean_text, one_project_text, project_text
from madewithml.data.stopwords import ENGLISH_STOPWORDS, stopwords


def test_urls_are_removed_before_punctuation_so_no_bare_http_is_left():
    # The seed stripped punctuation first: "http://x.io" became "http x io", and its later
    # `http\S+` pattern could no longer match the bare "http" nor the domain's pieces.
    text = "See https://github.com/org/repo and http://x.io/a?b=1 or www.site.org now"
    cleaned = clean_text(text)
    assert cleaned == "see and or now"
    assert "http" not in cleaned and "github" not in cleaned


def test_stopwords_are_removed_only_when_given():
    text = "The model is trained on all of the data"
    assert clean_text(text, stopwords(True)) == "model trained data"
    assert clean_text(text, stopwords(False)) == "the model is trained on all of the data"


def test_the_stopwords_are_scikit_learns():
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS  # noqa: PLC0415

    assert set(ENGLISH_STOPWORDS) == ENGLISH_STOP_WORDS


def test_stopwords_only_match_whole_words():
    # "nothing" and "into" are stopwords; words that merely contain them stay whole.
    assert clean_text("nothingness intonation", ENGLISH_STOPWORDS) == "nothingness intonation"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hello,   World!!", "hello world"),
        ("C++ & Rust: a_b-c", "c rust a b c"),
        ("  trailing\nnewline\t", "trailing newline"),
        ("ÜBER café", "über café"),
        ("Détection d'objets", "détection d objets"),
        ("De\u0301tection", "détection"),  # a decomposed accent: NFKC composes it
        ("Распознавание речи", "распознавание речи"),
        ("语音识别 GPT-4", "语音识别 gpt 4"),
        ("🚀🔥 !!!", ""),
        ("", ""),
    ],
)
def test_letters_and_digits_of_any_script_are_kept(text, expected):
    assert clean_text(text) == expected


# Properties, for any text: the output is normalised words of letters and digits joined by
# single spaces, every letter or digit of the input survives, and cleaning is idempotent.
@given(st.text())
def test_cleaned_text_holds_only_letters_and_digits_in_single_spaced_words(text):
    cleaned = clean_text(text)
    assert cleaned == cleaned.strip()
    assert "  " not in cleaned
    assert all(ch.isalnum() or ch == " " for ch in cleaned)


@given(st.text(alphabet=st.characters(categories=["L", "N"]), min_size=1))
def test_text_with_a_letter_or_digit_never_cleans_to_nothing(word):
    # Unless the only alphanumerics sit inside a URL, which cleaning drops on purpose.
    normalised = unicodedata.normalize("NFKC", word).lower()
    if any(ch.isalnum() for ch in normalised):
        assert clean_text(f"!! {word} ??") != ""


@given(st.text())
def test_cleaning_is_idempotent(text):
    once = clean_text(text)
    assert clean_text(once) == once


def test_project_text_joins_title_and_description():
    title = pd.Series(["Fast BERT", "YOLO"])
    description = pd.Series(["Distilled model.", "Real-time detection"])
    assert project_text(title, description).tolist() == [
        "fast bert distilled model",
        "yolo real time detection",
    ]


@given(st.lists(st.tuples(st.text(max_size=40), st.text(max_size=40)), min_size=1, max_size=5))
def test_one_projects_text_is_the_tables(projects):
    """The service checks one project at a time (`one_project_text`); the model cleans a table
    (`project_text`): the same text, whatever the characters."""
    titles = pd.Series([title for title, _ in projects])
    descriptions = pd.Series([description for _, description in projects])
    table = project_text(titles, descriptions, {"the"}).tolist()
    assert table == [one_project_text(t, d, {"the"}) for t, d in projects]


_SCHEMES = ["http://", "https://", "www."]
words = st.lists(st.text("abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=8), max_size=4)


@given(
    before=words,
    after=words,
    scheme=st.sampled_from(_SCHEMES).flatmap(
        lambda prefix: st.tuples(*(st.sampled_from([c.lower(), c.upper()]) for c in prefix))
    ),
    path=st.text("abcXYZ019./?=-_", min_size=1, max_size=20),
)
def test_a_url_goes_whatever_the_case_of_its_scheme(before, after, scheme, path):
    # "HTTPS://GitHub.com/x" and "WWW.Site.org" are URLs as much as their lower-case forms.
    url = "".join(scheme) + path
    text = " ".join([*before, url, *after])
    assert clean_text(text) == " ".join([*before, *after])


def test_an_upper_case_url_is_removed_whole():
    assert clean_text("See HTTPS://GitHub.com/Org/Repo and WWW.Site.ORG now") == "see and now"
