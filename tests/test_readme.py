"""The README's configuration table is the one the configuration module declares."""

from __future__ import annotations

import re
from pathlib import Path

from logship.config import markdown_table

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_configuration_table_matches_the_config_module() -> None:
    text = README.read_text()
    match = re.search(r"<!-- configuration table:.*?-->\n(.*?)\n<!-- end of configuration table -->", text, re.S)
    assert match, "the README lost its configuration table markers"
    assert match.group(1) == markdown_table(), "regenerate it: python -m logship.config --markdown"


def test_readme_names_the_ci_test_command() -> None:
    ci = (README.parent / ".ci" / "run").read_text()
    command = re.search(r"^TEST_CMD='([^']+)'", ci, re.M)
    assert command and f"`{command.group(1)}`" in README.read_text()
