"""What one evaluation produced, before the policies aggregate it: the rules that fired,
with the facts each matched, and the derived facts' values.

Its own module so that the aggregation step (``decide``) and whoever reads a run need not
import the engine, and so durable-rules is loaded only when something is evaluated.
"""

from __future__ import annotations

from dataclasses import field
from .precompiled_classes import dataclass
from typing import Any


@dataclass
class Firing:
    """One rule that fired: its declaration order and derivation depth (the trace order), and the facts it matched."""

    rule_id: str
    order: int
    depth: int
    seq: int
    because: dict[str, Any]


@dataclass
class Run:
    """What one evaluation produced, before the policies aggregate it."""

    sid: str
    deadline: float
    limit: int
    firings: list[Firing] = field(default_factory=list)
    fired: set[str] = field(default_factory=set)
    derived: dict[str, list[Any]] = field(default_factory=dict)
    count: int = 0
    errors: list[str] = field(default_factory=list)
    intake: dict[str, Any] = field(default_factory=dict)  # the intake fact as asserted

    def ordered(self) -> list[Firing]:
        """Firings in trace order: derivation depth, then declaration order."""
        return sorted(self.firings, key=lambda f: (f.depth, f.order))
