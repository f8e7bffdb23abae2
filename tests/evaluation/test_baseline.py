"""The TF-IDF baseline: built from its parameters, and it tags projects it never saw by the
words of their topic."""

import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.svm import LinearSVC

from madewithml.evaluation.baseline import make_baseline

PARAMS = {
    "classifier": "linear_svc",
    "ngram_range": [1, 2],
    "analyzer": "word",
    "min_df": 1,
    "C": 1.0,
    "seed": 0,
}
TOPICS = {
    "computer-vision": ["image", "pixels", "segmentation", "camera"],
    "natural-language-processing": ["text", "sentences", "translation", "tokens"],
    "mlops": ["deployment", "monitoring", "pipelines", "serving"],
}
FILLER = ["a", "new", "method", "for", "fast", "robust", "open", "source", "study", "of"]
OTHER_FILLER = ["an", "improved", "approach", "with", "large", "scale", "simple", "library"]


def _texts(filler_words: list[str], count: int) -> tuple[list[str], list[str]]:
    """`count` texts per topic: one topic word among filler words."""
    texts, tags = [], []
    for tag, words in TOPICS.items():
        for i in range(count):
            filler = [filler_words[(i * 3 + k) % len(filler_words)] for k in range(4)]
            texts.append(" ".join([*filler[:2], words[i % len(words)], *filler[2:]]))
            tags.append(tag)
    return texts, tags


@pytest.mark.parametrize(
    ("classifier", "kind"), [("linear_svc", LinearSVC), ("logistic_regression", LogisticRegression)]
)
def test_the_baseline_tags_unseen_projects_by_their_topic_words(classifier, kind):
    train, train_tags = _texts(FILLER, 8)
    unseen, unseen_tags = _texts(OTHER_FILLER, 4)  # other words around the same topic words
    assert not set(unseen) & set(train)
    model = make_baseline({**PARAMS, "classifier": classifier}).fit(train, train_tags)
    assert isinstance(model.named_steps["classifier"], kind)
    assert list(model.predict(unseen)) == unseen_tags


def test_the_baseline_takes_its_features_and_regularisation_from_the_parameters():
    params = {**PARAMS, "analyzer": "char_wb", "ngram_range": [2, 3], "min_df": 2, "C": 0.25}
    model = make_baseline(params)
    tfidf, classifier = model.named_steps["tfidf"], model.named_steps["classifier"]
    assert (tfidf.analyzer, tfidf.ngram_range, tfidf.min_df) == ("char_wb", (2, 3), 2)
    assert classifier.C == 0.25 and classifier.random_state == 0
    texts, tags = _texts(FILLER, 4)
    model.fit(texts, tags)
    assert all(2 <= len(feature) <= 3 for feature in tfidf.get_feature_names_out())
