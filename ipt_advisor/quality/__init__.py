"""How good the rules' tests are: mutants, equivalence, killing tests, mutation reports, MC/DC."""
