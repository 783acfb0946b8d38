"""Rule sets N times the shipped size, for the scale benchmark (``bench.py --scale``).

    python bench/scale.py 4 rules-x4/     # writes the shipped rules plus 3 copies of each

Copy k of rule R is ``R-Xk``: the same condition, effects and tests, so every copy fires
exactly when R does. That is the worst case for the engine (each intake fires N times the
rules, and every copy's tests adds alpha nodes matching the same facts), not a realistic
rule set; it measures what the engine costs per rule and per firing as the rules grow.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def scaled_rules(factor: int, dest: Path, source: Path = ROOT / "rules") -> int:
    """Write the rule set ``factor`` times its size into ``dest``; returns the number of rules."""
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(source, dest)
    manifest_path = dest / "ruleset.yaml"
    manifest = yaml.safe_load(manifest_path.read_text())
    originals = list(manifest["rule_files"])
    total = 0
    for name in originals:
        rules = yaml.safe_load((dest / name).read_text())["rules"]
        total += len(rules)
        for k in range(1, factor):
            copies = [{**rule, "id": f"{rule['id']}-X{k}"} for rule in rules]
            (dest / f"x{k}-{name}").write_text(yaml.safe_dump({"rules": copies}, sort_keys=False, allow_unicode=True))
            manifest["rule_files"].append(f"x{k}-{name}")
            total += len(copies)
    manifest["version"] = f"{manifest['version']}{factor:02d}"  # a version lint accepts, another per size
    manifest_path.write_text(yaml.safe_dump(manifest, sort_keys=False, allow_unicode=True))
    return total


if __name__ == "__main__":
    print(scaled_rules(int(sys.argv[1]), Path(sys.argv[2])), "rules written to", sys.argv[2])
