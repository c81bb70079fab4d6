"""The layout's rules, read from the source: imports run one way, and stage scripts stay thin."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
STAGE_PACKAGES = {"teacher", "space", "see", "gplearn_custom", "reporting", "reward", "pipeline"}
PARSING = {"stage_parser", "parse_stage_args", "build_parser", "argparse.ArgumentParser",
           "parser.add_argument", "parser.parse_args", "__doc__.splitlines"}
SCRIPTS = ("train_visual_rl.py", "save_frames.py", "generate_dataset.py", "distill_teacher.py",
           "learn_reward.py", "symbolic_finetuning.py", "report.py", "run_pipeline.py")


def imported_packages(path: Path) -> set[str]:
    """Top-level names of the project's modules that ``path`` imports (anywhere in the file)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def modules(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


@pytest.mark.parametrize("ground", ["common", "envs"])
def test_the_ground_imports_no_stage_package(ground):
    upward = {f"{p.relative_to(ROOT)}: {name}" for p in modules(ground) for name in imported_packages(p)
              if name.split(".")[0] in STAGE_PACKAGES}
    assert not upward


def test_the_policy_language_imports_nothing_outside_itself_but_the_ground():
    allowed = ("gplearn_custom.language", "common")
    outside = {f"{p.relative_to(ROOT)}: {name}" for p in modules("gplearn_custom/language")
               for name in imported_packages(p)
               if name.split(".")[0] in STAGE_PACKAGES | {"envs"} and not name.startswith(allowed)}
    assert not outside


def test_packages_below_the_pipeline_do_not_import_it():
    """Entry points (``python -m space``) are scripts, so ``__main__.py`` may."""
    upward = {f"{p.relative_to(ROOT)}: {name}" for folder in STAGE_PACKAGES - {"pipeline"}
              for p in modules(folder) if p.name != "__main__.py"
              for name in imported_packages(p) if name.startswith("pipeline")}
    assert not upward


@pytest.mark.parametrize("script", SCRIPTS)
def test_a_stage_script_parses_its_arguments_and_calls_one_function(script):
    tree = ast.parse((ROOT / script).read_text())
    main = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "main")
    called = {ast.unparse(c.func) for c in ast.walk(main) if isinstance(c, ast.Call)} - PARSING
    assert len(called) == 1, f"{script}: main calls {sorted(called)} besides parsing"
    from_pipeline = {alias.name for n in tree.body if isinstance(n, ast.ImportFrom) and n.module
                     and n.module.startswith("pipeline.") for alias in n.names}
    assert called <= from_pipeline
