"""The inference engine: the one place durable-rules is imported (durable_rules.py)."""
