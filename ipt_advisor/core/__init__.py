"""What every part shares and nothing of the pipeline: errors, safe YAML, JSON, the rule model, a run."""
