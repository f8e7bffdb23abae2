"""Kedro framework glue: hooks, the Ray runtime they and `kedro serve` share, the config loader,
CLI hooks.
"""
