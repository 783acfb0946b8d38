"""Quality teams' corpus runs: the audit, its workers and state, decision log, summary, rule-set diff."""
