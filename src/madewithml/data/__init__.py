"""Data contracts and preparation shared by the pipelines: schemas, quality checks, tag mapping,
stopwords, the encoder.
"""
