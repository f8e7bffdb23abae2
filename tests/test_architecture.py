"""docs/architecture.md is the map of the package: it names every module and every pipeline, and
nothing that no longer exists."""

import re

from factories import PROJECT_ROOT

PACKAGE = PROJECT_ROOT / "src" / "madewithml"
ARCHITECTURE = PROJECT_ROOT / "docs" / "architecture.md"


def _modules() -> set[str]:
    """Every module of the package (`core/tagger.py`), and every pipeline's folder
    (`pipelines/training/`), but `__init__.py` files."""
    modules = {
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if path.name != "__init__.py" and path.parts[len(PACKAGE.parts)] != "pipelines"
    }
    pipelines = {
        f"pipelines/{folder.name}/"
        for folder in (PACKAGE / "pipelines").iterdir()
        if (folder / "pipeline.py").is_file()
    }
    return modules | pipelines


def _table_entries() -> set[str]:
    """The first column of the "Which module holds what" table."""
    text = ARCHITECTURE.read_text()
    section = text.split("## Which module holds what", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `([^`]+)` \|", section, flags=re.MULTILINE))


def test_the_architecture_page_names_every_module_and_nothing_else():
    modules, listed = _modules(), _table_entries()
    assert not modules - listed, f"not in docs/architecture.md: {sorted(modules - listed)}"
    assert not listed - modules, f"no such module: {sorted(listed - modules)}"
