"""The catalog's graphs, small enough to read: one per rule (its inputs, the rules feeding
it, what it concludes), one per case (only what fired), one per area (safety, format,
focus, ...), and the whole rule set clustered by area as a secondary page.

A graph is built here as data (nodes, edges, clusters) and written as DOT by the template
``catalog/graph.dot.j2``; Graphviz draws each graph (``dot``, one process per graph, a
few at a time), and the SVGs are inlined in the pages, so the
catalog needs nothing from the network.  Node links are relative to the page (``root``).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import field
from ..core.precompiled_classes import dataclass
from typing import Any

from ..core.errors import OutputError, Problem
from ..core.model import (
    ChooseFormat,
    Derive,
    ExcludeFormat,
    ProposeFocus,
    RaiseFlag,
    Rule,
    RuleSet,
    SetStatus,
    leaves,
)

#: the decision's parts, as clusters in this order
_OUTPUTS = (("format", "Format"), ("focus", "Focus"), ("status", "Status"), ("flag", "Flags"))


@dataclass
class Node:
    id: str
    label: str
    shape: str
    style: str
    fill: str
    url: str = ""
    tooltip: str = ""
    bold: bool = False


@dataclass
class Edge:
    tail: str
    head: str
    dashed: bool = False
    tooltip: str = ""


@dataclass
class Graph:
    name: str
    title: str
    nodesep: float = 0.15
    ranksep: float = 0.6
    nodes: dict[str, Node] = field(default_factory=dict)
    edges: list[Edge] = field(default_factory=list)
    cluster_of: dict[str, tuple[str, str]] = field(default_factory=dict)  # node id -> (name, label)

    @property
    def clusters(self) -> list[dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for node_id, (name, label) in self.cluster_of.items():
            out.setdefault(name, {"name": name, "label": label, "nodes": []})["nodes"].append(self.nodes[node_id])
        return list(out.values())

    @property
    def loose(self) -> list[Node]:
        return [n for nid, n in self.nodes.items() if nid not in self.cluster_of]


class _Builder:
    """Adds the catalog's kinds of nodes to one graph, each once, with links from ``root``."""

    def __init__(self, ruleset: RuleSet, graph: Graph, root: str, page: Any, labels: dict[str, str] | None = None):
        self.rs, self.g, self.root, self.page = ruleset, graph, root, page
        self.labels = labels or {}  # node labels for facts (a case's values)

    def _add(self, node: Node, cluster: tuple[str, str] | None = None) -> str:
        if node.id not in self.g.nodes:
            self.g.nodes[node.id] = node
            if cluster is not None:
                self.g.cluster_of[node.id] = cluster
        return node.id

    def edge(self, tail: str, head: str, dashed: bool = False, tooltip: str = "") -> None:
        e = Edge(tail, head, dashed, tooltip)
        if e not in self.g.edges:
            self.g.edges.append(e)

    def fact(self, name: str, label: str | None = None) -> str:
        spec = self.rs.facts.get(name)
        url = f"{self.root}facts/{self.page(name)}.html"
        if spec is not None and spec.derived:
            return self._add(
                Node(
                    f"fact:{name}",
                    label or self.labels.get(name, name),
                    "ellipse",
                    "filled",
                    "#fff4d6",
                    url,
                    spec.label,
                )
            )
        text = label or self.labels.get(name) or (spec.label if spec else name)
        return self._add(
            Node(f"fact:{name}", text, "box", "rounded", "#ffffff", url, spec.key if spec else name),
            ("inputs", "Intake facts"),
        )

    def rule(self, rule: Rule, bold: bool = False, cluster: tuple[str, str] | None = None) -> str:
        style = "filled" if rule.status == "active" else "filled,dashed"
        return self._add(
            Node(
                f"rule:{rule.id}",
                rule.id,
                "box",
                style,
                "#cfe0f1" if bold else "#e8f0f8",
                f"{self.root}rules/{self.page(rule.id)}.html",
                rule.title,
                bold,
            ),
            cluster,
        )

    def reads(self, rule: Rule) -> None:
        for name in dict.fromkeys(leaf.fact for leaf in leaves(rule.when)):
            self.edge(self.fact(name), f"rule:{rule.id}")

    def outputs(self, rule: Rule, bold: set[str] | None = None) -> None:
        """Edges from a rule to what it concludes: derived facts, format, focus, status, flags."""
        for e in rule.then:
            if isinstance(e, Derive):
                self.edge(f"rule:{rule.id}", self.fact(e.fact))
                continue
            if isinstance(e, (ChooseFormat, ExcludeFormat)):
                kind, key, label, url = "format", e.format, f"format: {e.format}", ""
            elif isinstance(e, ProposeFocus):
                kind, key, label, url = "focus", e.area, f"focus: {e.area}", ""
            elif isinstance(e, RaiseFlag):
                kind, key, label, url = "flag", e.code, e.code, f"{self.root}flags/{self.page(e.code)}.html"
            elif isinstance(e, SetStatus):
                kind, key, label, url = "status", e.status, f"status: {e.status}", ""
            else:  # conditions and points for review are text: no node of their own
                continue
            node_id = f"{kind}:{key}"
            self._add(
                Node(
                    node_id,
                    label,
                    "note" if kind == "flag" else "hexagon",
                    "filled",
                    "#f2f2f2",
                    url,
                    label,
                    node_id in (bold or set()),
                ),
                (kind, dict(_OUTPUTS)[kind]),
            )
            dashed = isinstance(e, ExcludeFormat)
            self.edge(f"rule:{rule.id}", node_id, dashed, "rules out this format" if dashed else "")


def _producers(ruleset: RuleSet) -> dict[str, list[Rule]]:
    out: dict[str, list[Rule]] = {}
    for rule in ruleset.active_rules:
        for e in rule.then:
            if isinstance(e, Derive) and rule not in out.setdefault(e.fact, []):
                out[e.fact].append(rule)
    return out


def whole_graph(ruleset: RuleSet, page: Any) -> Graph:
    """Every rule, clustered by area: intake facts -> rules -> derived facts -> decision."""
    g = Graph("ruleset", "Rule dependency graph", nodesep=0.08, ranksep=1.2)
    b = _Builder(ruleset, g, "", page)
    read = {leaf.fact for rule in ruleset.rules for leaf in leaves(rule.when)}
    for spec in ruleset.facts.values():  # facts in declaration order, whatever reads them first
        if not spec.derived and spec.name in read:
            b.fact(spec.name)
    for rule in ruleset.rules:
        b.rule(rule, cluster=(f"area_{rule.area}", f"Rules: {rule.area}"))
    for rule in ruleset.rules:
        b.reads(rule)
        b.outputs(rule)
    return g


def rule_graph(ruleset: RuleSet, rule: Rule, page: Any) -> Graph:
    """One rule: the facts it reads, the rules deriving those, what it concludes and the rules
    reading what it derives."""
    g = Graph("rule", f"{rule.id}: inputs and conclusions")
    b = _Builder(ruleset, g, "../", page)
    made_by = _producers(ruleset)
    b.rule(rule, bold=True)
    b.reads(rule)
    for name in dict.fromkeys(leaf.fact for leaf in leaves(rule.when)):
        for feeder in made_by.get(name, []):
            if feeder.id != rule.id:
                b.edge(b.rule(feeder), f"fact:{name}")
    b.outputs(rule)
    written = {e.fact for e in rule.then if isinstance(e, Derive)}
    for other in ruleset.active_rules:
        if other.id != rule.id and written & {leaf.fact for leaf in leaves(other.when)}:
            b.rule(other)
            for name in sorted(written & {leaf.fact for leaf in leaves(other.when)}):
                b.edge(f"fact:{name}", f"rule:{other.id}")
    return g


def case_graph(ruleset: RuleSet, decision: dict[str, Any], values: dict[str, Any], page: Any) -> Graph:
    """One case: only the rules that fired, the facts they read (with the recorded value)
    and what they concluded; the decision's format and focus drawn bold."""
    from ..core.wording import answer_words, fact_label, value_words

    g = Graph("case", f"What fired for case {decision['intake_id']}")
    focus = [a for a in (decision["focus"]["primary"], decision["focus"]["secondary"]) if a]
    bold = {f"format:{decision['recommendation']['format']}"} | {f"focus:{a}" for a in focus}
    from ..decision.decide import derived_values

    labels = {
        name: f"{fact_label(ruleset, name)}: {answer_words(ruleset, name, values)}"
        for name, spec in ruleset.facts.items()
        if not spec.derived
    }
    labels.update(
        {
            name: f"{name}: {value_words(got, ruleset.facts.get(name))}"
            for name, got in derived_values(decision, ruleset).items()
            if got
        }
    )
    b = _Builder(ruleset, g, "../", page, labels)
    for rid in dict.fromkeys(t["rule"] for t in decision["trace"]):
        rule = ruleset.rule(rid)
        b.rule(rule)
        b.reads(rule)
        b.outputs(rule, bold)
    return g


def area_graph(ruleset: RuleSet, area: str, page: Any) -> Graph:
    """The active rules of one area, what they read and what they conclude."""
    g = Graph(f"area_{re.sub(r'[^a-z0-9_]', '_', area.lower())}", f"Rules of the area {area}")
    b = _Builder(ruleset, g, "", page)
    for rule in ruleset.active_rules:
        if rule.area == area:
            b.rule(rule)
            b.reads(rule)
            b.outputs(rule)
    return g


def areas(ruleset: RuleSet) -> list[str]:
    """The areas of the active rules, in rule-file order."""
    return list(dict.fromkeys(r.area for r in ruleset.active_rules))


def dot_source(graph: Graph, env: Any) -> str:
    return env.get_template("catalog/graph.dot.j2").render(g=graph)


def render_svgs(sources: list[str], prefixes: list[str]) -> list[str] | None:
    """Every graph drawn by ``dot -Tsvg``, each SVG ready to inline (XML prolog, DOCTYPE and
    comments dropped; element ids prefixed so several fit on one page).  None when ``dot``
    is not installed.  One ``dot`` process per graph: several graphs in one run come out
    laid out differently from run to run (measured), and the catalog must be byte-identical."""
    import os
    from concurrent.futures import ThreadPoolExecutor

    dot = shutil.which("dot")
    if dot is None:
        return None
    with ThreadPoolExecutor(max_workers=max(1, os.cpu_count() or 1)) as pool:
        drawn = list(pool.map(lambda source: _draw(dot, source), sources))
    out = []
    for svg, prefix in zip(drawn, prefixes):
        if prefix:
            svg = re.sub(r'\bid="', f'id="{prefix}-', svg)
        out.append(svg)
    return out


def _draw(dot: str, source: str) -> str:
    try:
        proc = subprocess.run(
            [dot, "-Tsvg"], input=source.encode("utf-8"), capture_output=True, timeout=120, check=False
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise OutputError([Problem("dot", None, "", f"Graphviz failed to run: {exc}")]) from None
    if proc.returncode != 0:
        reason = " ".join(proc.stderr.decode("utf-8", "replace").split())[:300]
        raise OutputError([Problem("dot", None, "", f"Graphviz failed (exit {proc.returncode}): {reason}")])
    svg = re.sub(r"<\?xml.*?\?>|<!DOCTYPE.*?>|<!--.*?-->", "", proc.stdout.decode("utf-8"), flags=re.DOTALL)
    return "\n".join(line for line in svg.splitlines() if line.strip()) + "\n"
