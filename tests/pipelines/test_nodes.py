"""Every node of every registered pipeline is a documented, fully typed function whose hints
resolve at run time: Kedro's parameter validation reads them (`typing.get_type_hints`) and warns
on the console when a hint names something imported only for type checkers."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import typing

import pytest

from madewithml import pipelines

NODES = {
    node.name: node
    for module in pkgutil.iter_modules(pipelines.__path__)
    for node in importlib.import_module(f"madewithml.pipelines.{module.name}")
    .create_pipeline()
    .nodes
}


@pytest.mark.parametrize("name", sorted(NODES))
def test_a_node_is_a_documented_function_with_resolvable_type_hints(name):
    func = NODES[name].func
    assert inspect.getdoc(func), f"{name}: no docstring"
    hints = typing.get_type_hints(func)  # raises where Kedro would warn
    parameters = inspect.signature(func).parameters
    assert set(parameters) | {"return"} == set(hints), f"{name}: arguments without a type hint"
