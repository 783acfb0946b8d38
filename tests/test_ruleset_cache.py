"""The rule-set cache (ipt_advisor/ruleset_cache.py): the same answers with and without it,
never a stale or foreign entry, nothing read or written where it would not be private."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from ipt_advisor import ruleset_cache
from ipt_advisor.advisor import Advisor
from ipt_advisor.core.errors import RuleSetError
from ipt_advisor.intake.schema import load_intake_file
from ipt_advisor.ruleset.compile import compile_ruleset
from ipt_advisor.ruleset.load import load_ruleset, rules_root

from conftest import EXAMPLES, ROOT


@pytest.fixture
def cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "xdg"
    home.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_CACHE_HOME", str(home))
    monkeypatch.delenv("IPT_ADVISOR_NO_CACHE", raising=False)
    return home


def load(rules_dir: Path | None = None) -> Advisor:
    """A fresh Advisor, as a new process makes it (not the per-process one of Advisor.load)."""
    return Advisor._load(rules_dir)


def entries(home: Path) -> list[Path]:
    return sorted((home / "ipt-advisor").glob("*")) if (home / "ipt-advisor").exists() else []


def cached(rules_dir: Path | None = None) -> bool:
    """Whether the cache holds a usable entry for ``rules_dir`` now."""
    root, shown = rules_root(rules_dir)
    return ruleset_cache.read(root, shown) is not None


def same_rule_set(a: object, b: object) -> bool:
    """Equal field by field, compare=False fields (lines, files, texts) included."""
    return ruleset_cache.dumps(a) == ruleset_cache.dumps(b) and repr(a) == repr(b)


def test_a_cached_rule_set_is_the_loaded_one_and_decides_alike(cache_home: Path) -> None:
    first = load()
    assert cached(), "a clean load stores the rule set"
    (entry,) = entries(cache_home)
    assert stat.S_IMODE(entry.stat().st_mode) == 0o600
    assert stat.S_IMODE(entry.parent.stat().st_mode) == 0o700
    again = load()
    assert same_rule_set(again.ruleset, first.ruleset)
    assert same_rule_set(again.ruleset, load_ruleset())
    assert again.compiled == compile_ruleset(again.ruleset) == first.compiled
    for path in EXAMPLES:
        intake = load_intake_file(str(path))
        assert again.assess(intake) == first.assess(intake), path.name
        for fmt in ("text", "md", "html", "json"):
            assert again.report(intake, fmt, "t")[1] == first.report(intake, fmt, "t")[1], (path.name, fmt)


def test_assess_prints_the_same_bytes_with_and_without_the_cache(tmp_path: Path) -> None:
    home = tmp_path / "xdg"
    home.mkdir(mode=0o700)
    demo = str(ROOT / "examples" / "demo.yaml")

    def assess(fmt: str, **env: str) -> bytes:
        done = subprocess.run(
            [sys.executable, str(ROOT / "cli.py"), "assess", demo, "--format", fmt],
            cwd=ROOT,
            capture_output=True,
            timeout=120,
            env={**os.environ, "XDG_CACHE_HOME": str(home), **env},
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    for fmt in ("text", "json", "html"):
        without = assess(fmt, IPT_ADVISOR_NO_CACHE="1")
        filling = assess(fmt)
        assert entries(home), "the first run stores the rule set"
        assert assess(fmt) == filling == without, fmt


def test_an_edited_rule_file_is_never_served_from_the_cache(cache_home: Path, rules_copy: Path) -> None:
    before = load(rules_copy)
    assert cached(rules_copy)
    safety = rules_copy / "safety.yaml"
    safety.write_text(
        safety.read_text(encoding="utf-8").replace(
            "title: The person declined", "title: Edited, the person declined", 1
        ),
        encoding="utf-8",
    )
    assert not cached(rules_copy), "the entry no longer matches the files"
    after = load(rules_copy)
    assert after.ruleset.sha256 != before.ruleset.sha256
    assert any(r.title.startswith("Edited,") for r in after.ruleset.rules)
    assert same_rule_set(after.ruleset, load_ruleset(rules_copy))
    assert cached(rules_copy), "the fresh load is stored again"


def test_a_new_unlisted_yaml_file_fails_as_it_does_without_a_cache(cache_home: Path, rules_copy: Path) -> None:
    load(rules_copy)
    (rules_copy / "extra.yaml").write_text("rules: []\n", encoding="utf-8")
    with pytest.raises(RuleSetError) as raised:
        load(rules_copy)
    assert "not listed" in str(raised.value.problems[0])


def test_a_broken_rule_set_is_never_stored(cache_home: Path, rules_copy: Path) -> None:
    (rules_copy / "facts.yaml").write_text("facts: [\n", encoding="utf-8")
    with pytest.raises(RuleSetError):
        load(rules_copy)
    assert entries(cache_home) == []


def test_another_tool_version_or_edited_code_is_another_key(cache_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    load()
    assert cached()
    monkeypatch.setattr(ruleset_cache, "__version__", "9.9.9")
    assert not cached()
    monkeypatch.undo()
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache_home))
    assert cached()
    monkeypatch.setattr(ruleset_cache, "_code_stamp", lambda code: "another build of the loader")
    assert not cached()


def test_another_build_of_pyyaml_or_durable_is_another_key(cache_home: Path) -> None:
    load()
    (entry,) = entries(cache_home)
    libs = json.loads(entry.read_bytes().partition(b"\n")[0])["libs"]
    assert any("durable_rules_engine" in p for p in libs) and any("yaml" in p for p in libs), libs
    core = next(Path(p) for p in libs if "durable_rules_engine" in p)
    stamp = core.stat()
    try:
        os.utime(core, ns=(stamp.st_atime_ns, stamp.st_mtime_ns + 1_000_000_000))  # "reinstalled"
        assert not cached()
    finally:
        os.utime(core, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    assert cached()


@pytest.mark.parametrize("damage", ["truncated", "flipped byte", "not json", "empty"])
def test_a_corrupt_entry_means_a_full_load_and_a_fresh_entry(cache_home: Path, damage: str) -> None:
    reference = load().ruleset
    (entry,) = entries(cache_home)
    raw = entry.read_bytes()
    broken = {
        "truncated": raw[: len(raw) // 2],
        "flipped byte": raw[:-50] + bytes([raw[-50] ^ 1]) + raw[-49:],
        "not json": b"\x00\xffnot json",
        "empty": b"",
    }[damage]
    entry.write_bytes(broken)
    assert not cached()
    again = load()
    assert same_rule_set(again.ruleset, reference)
    assert cached(), "the entry was written again"


def test_a_forged_entry_with_a_valid_checksum_builds_nothing_else(cache_home: Path) -> None:
    """A body naming a class outside the rule model (whatever its checksum) is a mismatch."""
    load()
    (entry,) = entries(cache_home)
    head, _, body = entry.read_bytes().partition(b"\n")
    for forged in (b'{"o":"Path","f":["/"]}', b'{"o":"RuleSet","f":[1]}', b'{"x":1}', b'["l"]'):
        header = json.loads(head)
        header["sha256"] = hashlib.sha256(forged).hexdigest()
        entry.write_bytes(json.dumps(header).encode() + b"\n" + forged)
        assert not cached(), forged


def test_wrong_permissions_or_owner_are_neither_read_nor_written(cache_home: Path) -> None:
    load()
    (entry,) = entries(cache_home)
    entry.chmod(0o644)
    assert not cached(), "an entry others can read is not trusted"
    entry.chmod(0o600)
    assert cached()
    folder = entry.parent
    folder.chmod(0o755)
    try:
        assert not cached(), "a folder others can list is not ours alone"
        entry.unlink()
        load()
        assert not entry.exists(), "and nothing is written into it"
    finally:
        folder.chmod(0o700)


def test_a_cache_home_others_can_write_gets_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "shared"
    home.mkdir()
    home.chmod(0o777)
    monkeypatch.setenv("XDG_CACHE_HOME", str(home))
    load()
    assert list(home.iterdir()) == []


def test_a_planted_symlink_is_not_followed(cache_home: Path, tmp_path: Path) -> None:
    load()
    (entry,) = entries(cache_home)
    elsewhere = tmp_path / "elsewhere.json"
    elsewhere.write_bytes(entry.read_bytes())
    elsewhere.chmod(0o600)
    entry.unlink()
    entry.symlink_to(elsewhere)
    assert not cached()


def test_a_missing_cache_home_is_made_owner_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "fresh" / ".cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(home))
    load()
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert cached()


def test_no_cache_env_turns_it_off(cache_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IPT_ADVISOR_NO_CACHE", "1")
    load()
    assert entries(cache_home) == []


def _write_many(home: str, times: int) -> None:
    os.environ["XDG_CACHE_HOME"] = home
    read: list[str] = []
    ruleset = load_ruleset(None, read)
    root, shown = rules_root(None)
    compiled = compile_ruleset(ruleset)
    for _ in range(times):
        ruleset_cache.write(root, shown, read, ruleset, compiled, "0" * 64)


def test_concurrent_writers_leave_one_whole_entry(cache_home: Path) -> None:
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_write_many, args=(str(cache_home), 15)) for _ in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(120)
        assert w.exitcode == 0
    assert [p.name.startswith("ruleset-") for p in entries(cache_home)] == [True], "no temp file left behind"
    root, shown = rules_root(None)
    got = ruleset_cache.read(root, shown)
    assert got is not None and got[1] == "0" * 64
    assert same_rule_set(got[0], load_ruleset())


def test_the_codec_keeps_every_type_apart() -> None:
    import datetime

    value = {2: (1, [2.5, None], "x"), True: [], (1, "a"): {"k": datetime.date(2025, 1, 2)}, "": frozenset("ab")}
    assert ruleset_cache.decode(ruleset_cache.dumps(value)) == value
    back = ruleset_cache.decode(ruleset_cache.dumps(value))
    assert [type(k) for k in back] == [int, bool, tuple, str]
    assert type(back[2]) is tuple and type(back[2][1]) is list
    with pytest.raises(ruleset_cache.Uncacheable):
        ruleset_cache.dumps({"x": {1, 2}})


def test_a_set_encodes_to_the_same_bytes_whatever_the_string_hashes() -> None:
    """The compiled form's derived facts are a frozenset, whose order follows the process's
    string hash seed; write() checks that decoding and encoding again gives the same bytes.
    Encoded in set order, that check failed under some seeds and the entry was never written
    (found as 13 failures of this file in one full CI run)."""
    code = (
        "from ipt_advisor.ruleset_cache import decode, dumps\n"
        "value = frozenset(f'derived_{i}' for i in range(40))\n"
        "body = dumps(value)\n"
        "print(body.decode(), dumps(decode(body)) == body)\n"
    )
    bodies = set()
    for seed in range(12):
        done = subprocess.run(
            [sys.executable, "-c", code],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "PYTHONHASHSEED": str(seed)},
        )
        assert done.returncode == 0, done.stderr
        body, round_trip = done.stdout.split()
        assert round_trip == "True", f"seed {seed}: the round trip changed the bytes"
        bodies.add(body)
    assert len(bodies) == 1
