"""The layer contracts in pyproject.toml ([tool.importlinter]) catch a wrong arrow: a copy of the product with
one reversed import fails `lint-imports`, naming the contract and the import; the tree as it is passes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.paths import REPO

PACKAGES = ("config", "email_actions", "jobs", "mappings", "sync_service")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def copy_of_the_product(target: Path) -> Path:
    for package in PACKAGES:
        shutil.copytree(REPO / package, target / package, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.copy(REPO / "pyproject.toml", target / "pyproject.toml")
    return target


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "pyproject.toml"],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )


def add_import(tree: Path, module: str, statement: str) -> None:
    path = tree / (module.replace(".", "/") + ".py")
    path.write_text(path.read_text() + f"\n{statement}  # a reversed arrow, on purpose\n")


def test_the_tree_keeps_every_contract(tmp_path: Path) -> None:
    done = lint_imports(copy_of_the_product(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "broken" not in done.stdout.lower().replace("0 broken", "")


@pytest.mark.parametrize(
    ("module", "statement", "contract", "named"),
    [
        (
            "sync_service.renewal",
            "import email_actions.web.app",
            "Layers point one way",
            "sync_service.renewal -> email_actions.web.app",
        ),
        ("config.settings.parsers", "import sync_service.store.models", "Layers point one way", "config.settings"),
        ("jobs.push", "import email_actions.web.security", "Layers point one way", "jobs.push -> email_actions.web"),
        (
            "sync_service.pull.run",
            "import sync_service.devorg.org",
            "Nothing in the product imports the stand-in org",
            "sync_service.pull.run -> sync_service.devorg.org",
        ),
        ("email_actions.mail.links", "import flask", "The email library works without Flask", "-> flask"),
        ("sync_service.outbox.push", "import rq", "Only jobs knows RQ", "sync_service.outbox.push -> rq"),
    ],
)
def test_a_reversed_import_fails_the_lint(
    tmp_path: Path, module: str, statement: str, contract: str, named: str
) -> None:
    tree = copy_of_the_product(tmp_path)
    add_import(tree, module, statement)
    done = lint_imports(tree)
    assert done.returncode != 0
    report = " ".join(done.stdout.split())
    assert f"{contract}" in report and "BROKEN" in report
    assert named in report


def test_no_benchmark_ships_in_the_product_packages() -> None:
    """The wheel carries the product packages only (pyproject's packages.find); benchmarks live in tests/bench/."""
    shipped = [path for package in PACKAGES for path in (REPO / package).rglob("*.py") if "bench" in path.stem]
    assert shipped == []
