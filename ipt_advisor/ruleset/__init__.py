"""The rules as data: load and check rules/*.yaml, lint, compile, and the three-valued reading.

Named ruleset, not rules: ``ipt_advisor.rules`` is the YAML rule set itself, shipped as package
data (setup.cfg ``package_dir``).
"""
