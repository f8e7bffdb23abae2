"""Scoring a model: metrics, slices, scoring as served, calibration, the baseline, promotion,
shared plots.
"""
