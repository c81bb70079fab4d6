"""Every number in README's results tables is backed by a committed ``results/*.json``.

A table cell's number, written with k decimals, is backed when some number in the JSON files
rounds to it at k decimals (a share may be written as a percentage of a JSON fraction). Numbers in
a table's header row and first column name things (seeds, games) and are not results.
"""

from __future__ import annotations

import json
import re

from tests.helpers import ROOT

NUMBER = re.compile(r"(?<![\w.])-?\d+(?:,\d{3})*(?:\.\d+)?(?![\w.])")


def results_section() -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index("\n## Results")
    end = text.find("\n## ", start + 1)
    return text[start:] if end < 0 else text[start:end]


def table_numbers(section: str) -> list[str]:
    """Numbers in the body cells of every table (not its header row, not its first column)."""
    numbers, previous = [], ""
    for line in section.splitlines():
        is_header = line.startswith("|") and not previous.startswith("|")
        previous = line
        if not line.startswith("|") or is_header or set(line) <= set("|-: "):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        for cell in cells[1:]:
            numbers += NUMBER.findall(cell)
    return numbers


def json_numbers() -> list[float]:
    found: list[float] = []

    def walk(node) -> None:
        if isinstance(node, bool):
            return
        if isinstance(node, (int, float)):
            found.append(float(node))
        elif isinstance(node, dict):
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for path in sorted((ROOT / "results").glob("*.json")):
        walk(json.loads(path.read_text()))
    return found


def backed(token: str, values: list[float]) -> bool:
    number = float(token.replace(",", ""))
    decimals = len(token.split(".")[1]) if "." in token else 0
    half = 0.5 * 10 ** -decimals + 1e-9
    return any(abs(v - number) <= half or abs(100 * v - number) <= half for v in values)


def test_every_number_in_the_results_tables_is_in_a_committed_results_file():
    numbers = table_numbers(results_section())
    assert numbers, "README's results section has no table"
    values = json_numbers()
    missing = [n for n in numbers if not backed(n, values)]
    assert not missing, f"README numbers with no results/*.json behind them: {missing}"
