"""The Lightning and Hugging Face examples are plain framework scripts: they import nothing of trainjob."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).parents[2] / "examples"


def imported_modules(script: Path) -> set[str]:
    modules: set[str] = set()
    for node in ast.walk(ast.parse(script.read_text())):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module)
    return modules


@pytest.mark.parametrize("script", ["lightning/train.py", "transformers/train.py"])
def test_framework_examples_do_not_import_trainjob(script):
    modules = imported_modules(EXAMPLES / script)
    assert modules, "the script imports something"
    assert not any(name == "trainjob" or name.startswith("trainjob.") for name in modules)
    assert "importlib" not in modules and "__import__" not in (EXAMPLES / script).read_text()


def test_the_plain_loop_example_uses_the_one_call_api():
    assert "trainjob" in imported_modules(EXAMPLES / "plain-loop/train.py")
