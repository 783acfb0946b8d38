"""From what fired to a decision: aggregation under the rule set's policies, and plain-Python firing."""
