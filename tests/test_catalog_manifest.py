"""`rules doc -o site` over an earlier catalog never deletes or replaces a file a user added
or edited there (issue 11, point 7), whatever its name: the catalog lists every file it wrote
with its sha256, and anything else in the folder makes the run refuse with one line naming it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path
from typing import Callable

import pytest
from click.testing import CliRunner

from cli import cli
from conftest import ROOT
from ipt_advisor.core.catalog_manifest import read_manifest
from ipt_advisor.catalog.site import MARKER

DEMO = ROOT / "examples" / "demo.yaml"


def rules_doc(site: Path):
    return CliRunner().invoke(cli, ["rules", "doc", "--no-default-cases", "--cases", str(DEMO), "-o", str(site)])


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    site = tmp_path_factory.mktemp("built") / "site"
    result = rules_doc(site)
    assert result.exit_code == 0, result.output
    return site


@pytest.fixture
def site(built: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "site"
    shutil.copytree(built, copy, symlinks=True)
    return copy


def contents(site: Path) -> dict[str, bytes | str]:
    out: dict[str, bytes | str] = {}
    for root, dirs, names in os.walk(site):
        for name in dirs + names:
            path = Path(root) / name
            relative = path.relative_to(site).as_posix()
            out[relative] = (
                f"-> {os.readlink(path)}" if path.is_symlink() else "<dir>" if path.is_dir() else path.read_bytes()
            )
    return out


def test_the_marker_lists_every_file_written_with_its_sha256(site: Path) -> None:
    listed = read_manifest((site / MARKER).read_text())
    files = {p.relative_to(site).as_posix(): p for p in site.rglob("*") if p.is_file() and p.name != MARKER}
    assert set(listed) == set(files) and {"index.html", "graph.dot"} <= set(listed)
    assert all(listed[name] == hashlib.sha256(path.read_bytes()).hexdigest() for name, path in files.items())


def test_an_untouched_catalog_is_replaced_by_the_same_bytes(site: Path) -> None:
    before = contents(site)
    result = rules_doc(site)
    assert result.exit_code == 0, result.output
    assert contents(site) == before  # deterministic, the marker included


def _add(relative: str, data: str = "mine") -> Callable[[Path], None]:
    def change(site: Path) -> None:
        (site / relative).parent.mkdir(parents=True, exist_ok=True)
        (site / relative).write_text(data)

    return change


def _edit(relative: str) -> Callable[[Path], None]:
    def change(site: Path) -> None:
        with (site / relative).open("a") as handle:
            handle.write("<!-- my note -->\n")

    return change


def _symlink(site: Path) -> None:
    (site / "latest.html").symlink_to(site / "index.html")


def _folder(site: Path) -> None:
    (site / "my-slides").mkdir()


@pytest.mark.parametrize(
    "change, named",
    [
        (_add("my-notes.html"), "my-notes.html"),  # a user's own .html: a suffix the catalog writes
        (_add("rules/annotated.html"), "rules/annotated.html"),  # ... inside one of its folders
        (_add("figure.svg"), "figure.svg"),
        (_add("my-graph.dot"), "my-graph.dot"),
        (_add("notes.txt"), "notes.txt"),
        (_add("extra/deep/file.html"), "extra/"),  # a folder of one's own, named once
        (_edit("index.html"), "index.html"),  # a page of the catalog, edited since
        (_edit("graph.dot"), "graph.dot"),
        (_symlink, "latest.html"),
        (_folder, "my-slides/"),
    ],
)
def test_a_file_the_catalog_did_not_write_is_named_and_nothing_is_touched(
    site: Path, change: Callable[[Path], None], named: str
) -> None:
    change(site)
    before = contents(site)
    result = rules_doc(site)
    assert result.exit_code == 1, result.output
    assert result.stderr.splitlines() == [
        f"{site}: holds 1 file this catalog did not write or that changed since "
        f"({named}); move them out, or choose another folder"
    ]
    assert contents(site) == before
    assert not [p for p in site.parent.iterdir() if p.name.startswith(".site.")]  # no temporary left


def test_many_foreign_files_are_counted_and_the_first_named(site: Path) -> None:
    for n in range(6):
        (site / f"mine-{n}.html").write_text("mine")
    result = rules_doc(site)
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"{site}: holds 6 files this catalog did not write or that changed since (mine-0.html, mine-1.html, "
        "mine-2.html, mine-3.html and 2 more); move them out, or choose another folder"
    ]


def test_once_the_users_files_are_moved_out_the_catalog_is_replaced(site: Path) -> None:
    (site / "rules" / "mine.html").write_text("mine")
    assert rules_doc(site).exit_code == 1
    (site / "rules" / "mine.html").unlink()
    assert rules_doc(site).exit_code == 0


def test_a_catalog_whose_marker_lists_no_files_is_refused(site: Path) -> None:
    """A catalog of an earlier version (its marker a note only): what is the user's cannot be told."""
    (site / MARKER).write_text("This directory is an ipt-advisor rule catalog.\n")
    before = contents(site)
    result = rules_doc(site)
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"{site}: is a catalog of an older ipt-advisor, whose {MARKER} does not list its files, so files of yours "
        "cannot be told apart: move them out and remove it, or choose another folder"
    ]
    assert contents(site) == before
