from madewithml.evaluation.baseline import make_baseline

PARAMS = {
    "classifier": "linear_svc",
    "ngram_range": [1, 2],
    "analyzer": "word",
    "min_df": 1,
    "C": 1.0,
    "seed": 0,
}


def test_baseline_fits_and_separates_obvious_topics(raw_projects):
    texts = raw_projects["title"] + " " + raw_projects["description"]
    model = make_baseline(PARAMS).fit(texts, raw_projects["tag"])
    assert (model.predict(texts) == raw_projects["tag"]).mean() == 1.0
