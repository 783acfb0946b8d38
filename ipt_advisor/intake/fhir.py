"""FHIR R4 data -> an intake-v1 record (``ipt-advisor intake from-fhir``, ``assess FILE.json``).

Reads a Bundle, or a single Patient / QuestionnaireResponse / Observation, and maps the PHQ-9
and the C-SSRS screener onto the intake's fields by the LOINC codes that ``rules/facts.yaml``
declares (``codes:``), so the mapping is data. What it never does:

* guess a "no": an item without an answer stays unknown (not recorded); an item the form's
  ``enableWhen`` skipped is simply absent and reads "not asked" by the facts' ``asked_when``;
* copy a name or an identifier: the age comes from ``birthDate`` at the assessment date, the
  case id from ``--id`` or a hash of the resource id;
* stop at the first problem: every one is listed with its resource path
  (``Bundle.entry[3].resource.item[2].answer[0]``) in one ``IntakeError``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import sys
from dataclasses import field
from ..core.precompiled_classes import dataclass
from typing import Any, Iterator

from ..core import yamlio
from ..core.errors import IntakeError, Problem
from .schema import Intake, from_mapping, is_free_text, safe_path
from ..core.model import FactSpec, RuleSet

MAX_BYTES = 16 * 1024 * 1024  # a patient's bundle of questionnaires; larger is refused before parsing
LOINC_SYSTEM = "http://loinc.org"
UNUSED_STATUS = {"entered-in-error", "cancelled"}  # withdrawn data is not data


class _Codebook:
    """The codes of one rule set, indexed for mapping (worked out once per rule set)."""

    def __init__(self, ruleset: RuleSet):
        self.facts: dict[str, FactSpec] = {}  # item LOINC -> the fact it fills
        self.totals: list[FactSpec] = []  # facts that sum items
        self.gates: dict[str, FactSpec] = {}  # "asked after yes" item -> the follow-up fact
        self.panels: dict[str, set[str]] = {}  # panel LOINC -> every item code it may hold
        for spec in ruleset.facts.values():
            c = spec.codes
            if c is None or spec.source is None:
                continue
            self.facts[c.loinc] = spec
            if c.items:
                self.totals.append(spec)
            if c.asked_after_yes:
                self.gates[c.asked_after_yes] = spec
            if c.panel:
                self.panels.setdefault(c.panel, set()).update((c.loinc, *c.items, *filter(None, [c.asked_after_yes])))
        self.summed = {code: total for total in self.totals for code in total.codes.items}  # type: ignore[union-attr]

    def panel_of(self, code: str) -> str | None:
        return next((p for p, codes in self.panels.items() if code in codes), None)


@dataclass
class _Found:
    """One value read from the data: which fact, when, and where it was."""

    value: Any
    date: dt.date | None
    path: str


@dataclass
class FhirIntake:
    """The mapped record, the validated intake, and notes for the clinician (not errors)."""

    record: dict[str, Any]
    intake: Intake
    notes: list[str] = field(default_factory=list)
    findings_given: bool = False


def looks_like_fhir(data: bytes) -> bool:
    """A JSON object naming a ``resourceType`` (no intake has that key)."""
    head = data.lstrip()[:1]
    return head == b"{" and b'"resourceType"' in data


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"the key {key!r} appears twice in one object")
        out[key] = value
    return out


def parse_json(data: bytes, source: str) -> Any:
    if len(data) > MAX_BYTES:
        raise IntakeError([Problem(source, None, "", f"file is larger than {MAX_BYTES} bytes")])
    try:
        return json.loads(data.decode("utf-8-sig"), object_pairs_hook=_no_duplicates)  # FHIR JSON is UTF-8
    except RecursionError:
        raise IntakeError([Problem(source, None, "", "JSON nested too deeply")]) from None
    except UnicodeDecodeError:
        raise IntakeError([Problem(source, None, "", "not UTF-8 text")]) from None
    except ValueError as exc:  # json.JSONDecodeError and our duplicate keys
        where = f"line {exc.lineno}: " if isinstance(exc, json.JSONDecodeError) else ""
        msg = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
        raise IntakeError(
            [Problem(source, getattr(exc, "lineno", None), "", f"not valid JSON: {where}{msg}"[:200])]
        ) from None


def _text(value: Any) -> str | None:
    """A string as itself; anything else (a list where a code belongs) as no value."""
    return value if isinstance(value, str) else None


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _date(value: Any) -> dt.date | None:
    """The date part of a FHIR date / dateTime / instant; None if it is not one."""
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        return dt.date.fromisoformat(value[:10])
    except ValueError:
        return None


class _Mapper:
    def __init__(self, book: _Codebook, source: str):
        self.book = book
        self.source = source
        self.problems: list[Problem] = []
        self.found: dict[str, list[_Found]] = {}
        self.patients: list[tuple[str, dict[str, Any]]] = []
        self.resource_ids: list[str] = []
        self.notes: list[str] = []

    def problem(self, path: str, message: str) -> None:
        self.problems.append(Problem(self.source, None, path, message))

    # ------------------------------------------------------------------ resources
    def resources(self, value: Any) -> Iterator[tuple[str, dict[str, Any]]]:
        kind = value["resourceType"]
        if kind != "Bundle":
            yield kind, value
            return
        entries = value.get("entry", [])
        if not isinstance(entries, list):
            self.problem("Bundle.entry", "must be a list of entries")
            return
        for i, entry in enumerate(entries):
            res = entry.get("resource") if isinstance(entry, dict) else None
            path = f"Bundle.entry[{i}].resource"
            if not isinstance(res, dict) or not isinstance(res.get("resourceType"), str):
                self.problem(path, "missing, or not a resource with a resourceType")
                continue
            yield path, res

    def map(self, value: Any) -> None:
        resources = list(self.resources(value))
        for path, res in resources:
            if res["resourceType"] == "Patient":
                self.patients.append((path, res))
        patient_refs = {f"Patient/{res['id']}" for _, res in self.patients if isinstance(res.get("id"), str)}
        for path, res in resources:
            kind = res["resourceType"]
            if isinstance(res.get("id"), str):
                self.resource_ids.append(f"{kind}/{res['id']}")
            if kind not in ("QuestionnaireResponse", "Observation") or _text(res.get("status")) in UNUSED_STATUS:
                continue
            ref = (res.get("subject") or {}).get("reference") if isinstance(res.get("subject"), dict) else None
            if patient_refs and isinstance(ref, str) and ref not in patient_refs and not ref.startswith("urn:"):
                self.problem(
                    f"{path}.subject",
                    f"refers to {ref[:60]}, not to the Patient in this file: data of another person is never mixed in",
                )
                continue
            if kind == "QuestionnaireResponse":
                self.response(path, res)
            else:
                self.observation(path, res)

    # ------------------------------------------------------------------ answers
    def answer_value(
        self, spec: FactSpec, answers: dict[str, Any], rng: tuple[int, int] | None, answer: Any, path: str
    ) -> tuple[bool, Any]:
        """(ok, value) of one answer[] element / Observation value for a fact or a summed item."""
        if not isinstance(answer, dict):
            self.problem(path, "must be an object")
            return False, None
        coding = answer.get("valueCoding")
        if coding is None and isinstance(answer.get("valueCodeableConcept"), dict):
            codings = _list(answer["valueCodeableConcept"].get("coding"))
            coding = next((c for c in codings if isinstance(c, dict) and c.get("system") in (None, LOINC_SYSTEM)), None)
            path += ".valueCodeableConcept.coding"
        if coding is not None:
            code = _text(coding.get("code")) if isinstance(coding, dict) else None
            if isinstance(coding, dict) and coding.get("system") not in (None, LOINC_SYSTEM):
                self.problem(path, f"answer system {str(coding.get('system'))[:60]!r}: LOINC answer codes expected")
            elif code not in answers:
                self.problem(path, f"answer code {str(code)[:20]!r} is not one of {', '.join(answers)}")
            else:
                return True, answers[code]
            return False, None
        if "valueBoolean" in answer and spec.type == "boolean":
            if type(answer["valueBoolean"]) is bool:
                return True, answer["valueBoolean"]
            self.problem(path + ".valueBoolean", "must be true or false")
            return False, None
        number = answer.get("valueInteger")
        if number is None and isinstance(answer.get("valueQuantity"), dict):
            number = answer["valueQuantity"].get("value")
        if number is not None and spec.type == "integer":
            if isinstance(number, bool) or not isinstance(number, (int, float)) or number != int(number):
                self.problem(path, f"{str(number)[:20]} is not a whole number")
            elif rng and not rng[0] <= int(number) <= rng[1]:
                self.problem(path, f"{int(number)} is outside {rng[0]}..{rng[1]}")
            else:
                return True, int(number)
            return False, None
        self.problem(
            path,
            "no answer of the expected kind (a LOINC-coded answer"
            + (", a whole number" if spec.type == "integer" else ", true/false")
            + ")",
        )
        return False, None

    @staticmethod
    def _range(spec: FactSpec, answers: dict[str, Any]) -> tuple[int, int] | None:
        values = [v for v in answers.values() if type(v) is int]
        return (min(values), max(values)) if values else spec.range

    def reading(self, code: str) -> tuple[FactSpec, dict[str, Any], tuple[int, int] | None]:
        """How to read an item: the fact it fills (a summed item: its total's), its answer
        set, and the range of a number given instead of a coded answer."""
        if code in self.book.facts:
            spec = self.book.facts[code]
            return spec, spec.codes.answers, spec.range  # type: ignore[union-attr]
        spec = self.book.summed[code] if code in self.book.summed else self.book.gates[code]
        return spec, spec.codes.answers, self._range(spec, spec.codes.answers)  # type: ignore[union-attr]

    def response(self, path: str, res: dict[str, Any]) -> None:
        date = _date(res.get("authored"))
        if date is None:
            self.problem(f"{path}.authored", "missing or not a date: the assessment date comes from it")
        named = str(res.get("questionnaire") or "").split("|")[0].rstrip("/").rsplit("/", 1)[-1]
        answered: dict[str, tuple[Any, str]] = {}  # item code -> (value, path)
        seen: dict[str, str] = {}
        ours = invalid = False
        for item_path, item in self.items(res.get("item"), f"{path}.item"):
            link = item.get("linkId")
            code = link.rsplit("/", 1)[-1] if isinstance(link, str) else None
            panel = self.book.panel_of(code) if code else None
            if panel is None or code is None:
                if named in self.book.panels and item.get("answer") and not item.get("item"):
                    self.problem(f"{item_path}.linkId", f"{str(link)[:40]!r} is not an item of panel {named}")
                continue
            ours = True
            if code in seen:
                self.problem(
                    item_path, f"item {code} appears twice (also at {seen[code]}): which answer counts is unknown"
                )
                answered.pop(code, None)
                invalid = True
                continue
            seen[code] = item_path
            answers = item.get("answer")
            if not answers:  # unanswered: unknown, never "no"
                continue
            if not isinstance(answers, list) or len(answers) != 1:
                self.problem(f"{item_path}.answer", "one answer expected")
                continue
            spec, answer_set, rng = self.reading(code)
            ok, value = self.answer_value(spec, answer_set, rng, answers[0], f"{item_path}.answer[0]")
            if ok:
                answered[code] = (value, f"{item_path}.answer[0]")
            else:
                invalid = True
        if not ours and named not in self.book.panels:
            return
        if not invalid:  # an answer already reported would make every total check say it again
            self.collect(answered, date, path)

    def items(self, items: Any, path: str) -> Iterator[tuple[str, dict[str, Any]]]:
        """Every item, groups and answer-nested items included, with its path."""
        if items is None:
            return
        if not isinstance(items, list):
            self.problem(path, "must be a list of items")
            return
        for i, item in enumerate(items):
            here = f"{path}[{i}]"
            if not isinstance(item, dict):
                self.problem(here, "must be an object")
                continue
            yield here, item
            yield from self.items(item.get("item"), f"{here}.item")
            for j, answer in enumerate(item.get("answer") or [] if isinstance(item.get("answer"), list) else []):
                if isinstance(answer, dict):
                    yield from self.items(answer.get("item"), f"{here}.answer[{j}].item")

    def collect(self, answered: dict[str, tuple[Any, str]], date: dt.date | None, path: str) -> None:
        """The facts one response gives: direct items, totals (computed or checked), follow-ups."""
        for code, (value, where) in answered.items():
            spec = self.book.facts.get(code)
            if spec is not None:
                self.add(spec, value, date, where)
        for total in self.book.totals:
            items = total.codes.items  # type: ignore[union-attr]
            got = [answered[c][0] for c in items if c in answered]
            given = answered.get(total.codes.loinc)  # type: ignore[union-attr]
            missing = [c for c in items if c not in answered]
            if not got and given is None:
                continue
            if given is None:
                if missing:
                    self.problem(
                        path,
                        f"{total.label}: not given, and {len(missing)} of {len(items)} items have no "
                        f"answer ({', '.join(missing)}): the total cannot be computed",
                    )
                else:
                    self.add(total, sum(got), date, f"{path} (sum of {len(items)} items)")
                continue
            low = sum(got)
            high = low + len(missing) * max(self._range(total, total.codes.answers) or (0, 0))  # type: ignore[union-attr]
            if not low <= given[0] <= high:
                said = f"their sum is {low}" if not missing else f"the answered items allow {low}..{high}"
                self.problem(given[1], f"{total.label} {given[0]} disagrees with its items: {said}")
        for gate, spec in self.book.gates.items():
            if gate in answered and spec.codes.loinc not in answered and answered[gate][0] is False:  # type: ignore[union-attr]
                self.add(spec, False, date, answered[gate][1])

    def observation(self, path: str, res: dict[str, Any]) -> None:
        codings = (res.get("code") or {}).get("coding") if isinstance(res.get("code"), dict) else None
        codes = [
            _text(c.get("code"))
            for c in _list(codings)
            if isinstance(c, dict) and c.get("system") in (None, LOINC_SYSTEM)
        ]
        spec = next((self.book.facts[c] for c in codes if c in self.book.facts), None)
        if spec is None:
            return
        date = _date(res.get("effectiveDateTime")) or _date(res.get("issued"))
        if date is None:
            self.problem(f"{path}.effectiveDateTime", "missing or not a date: the assessment date comes from it")
        if "dataAbsentReason" in res and not any(k.startswith("value") for k in res):
            return  # recorded as not available: unknown
        ok, value = self.answer_value(spec, spec.codes.answers, spec.range, res, path)  # type: ignore[union-attr]
        if ok:
            self.add(spec, value, date, path)

    def add(self, spec: FactSpec, value: Any, date: dt.date | None, path: str) -> None:
        self.found.setdefault(spec.name, []).append(_Found(value, date, path))

    # ------------------------------------------------------------------ the record
    def chosen(self) -> dict[str, _Found]:
        """The latest value of each fact; two different values on that date are a problem."""
        out: dict[str, _Found] = {}
        for name, found in self.found.items():
            dated = [f for f in found if f.date is not None]
            if not dated:
                continue
            latest = max(f.date for f in dated)  # type: ignore[type-var]
            last = [f for f in dated if f.date == latest]
            if len({repr(f.value) for f in last}) > 1:
                self.problem(
                    last[1].path,
                    f"{name}: {last[1].value!r} here but {last[0].value!r} at {last[0].path}, "
                    f"both on {latest}: which one holds is unknown",
                )
                continue
            out[name] = last[0]
        return out

    def birth(self) -> tuple[str, dt.date] | None:
        """(path, birthDate) of the one Patient; None (a problem said why) otherwise."""
        if not self.patients:
            self.problem("", "no Patient resource: the age (from birthDate) is required")
            return None
        if len({json.dumps(res.get("id")) for _, res in self.patients}) > 1:
            self.problem(self.patients[1][0], "a second Patient: one file is one person")
            return None
        path, patient = self.patients[0]
        raw = patient.get("birthDate")
        birth = _date(raw) if isinstance(raw, str) and len(raw) == 10 else None
        if birth is None:
            self.problem(f"{path}.birthDate", "missing or not a full date (YYYY-MM-DD): the age cannot be computed")
            return None
        return f"{path}.birthDate", birth

    def age(self, on: dt.date | None) -> int | None:
        """Whole years at the assessment date."""
        found = self.birth()
        if found is None or on is None:
            return None
        path, birth = found
        if birth > on:
            self.problem(path, f"after the assessment date {on}")
            return None
        return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def _put(record: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    for part in parents:
        record = record.setdefault(part, {})
    record[leaf] = value


def _paths(value: Any, prefix: str = "") -> Iterator[str]:
    if isinstance(value, dict):
        for key, sub in value.items():
            yield from _paths(sub, f"{prefix}.{key}" if prefix else str(key))
    else:
        yield prefix


def _merge(into: dict[str, Any], fragment: dict[str, Any]) -> None:
    for key, value in fragment.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


def _findings(data: bytes, source: str, record: dict[str, Any]) -> tuple[dict[str, Any], dict[str, int], list[Problem]]:
    """An intake fragment (findings, preferences, other risks, notes...) and its lines."""
    value, lines, problems = yamlio.load(data, source, safe_path, is_free_text)
    if value is None and not problems:
        value = {}
    if problems:
        return {}, {}, problems
    if not isinstance(value, dict):
        return {}, {}, [Problem(source, None, "", "must be a mapping of intake fields (findings:, preferences: ...)")]
    by_dotted = {yamlio.dotted(k): v for k, v in lines.items()}
    taken = set(_paths(record))
    clash = [
        Problem(source, by_dotted.get(p), p, "comes from the FHIR data; the fragment may not set it")
        for p in _paths(value)
        if p in taken or any(p.startswith(t + ".") for t in taken)
    ]
    return value, by_dotted, clash


def map_fhir(
    data: bytes, source: str, ruleset: RuleSet, findings: tuple[bytes, str] | None = None, case_id: str | None = None
) -> FhirIntake:
    """FHIR JSON bytes -> a validated intake; ``IntakeError`` listing every problem."""
    return map_resources(parse_json(data, source), source, ruleset, findings, case_id)


def map_resources(
    value: Any, source: str, ruleset: RuleSet, findings: tuple[bytes, str] | None = None, case_id: str | None = None
) -> FhirIntake:
    """Parsed FHIR JSON (a Bundle or one resource) -> a validated intake, as ``map_fhir``."""
    if not isinstance(value, dict) or not isinstance(value.get("resourceType"), str):
        raise IntakeError(
            [Problem(source, None, "", "not a FHIR resource: a JSON object with a resourceType is expected")]
        )
    mapper = _Mapper(ruleset.memo(_Codebook), source)
    mapper.map(value)
    chosen = mapper.chosen()
    dates = sorted({f.date for f in chosen.values() if f.date is not None})
    if not chosen and not mapper.problems:
        mapper.problem("", "no PHQ-9 or C-SSRS data found (LOINC panels " + ", ".join(sorted(mapper.book.panels)) + ")")
    on = dates[-1] if dates else None
    age = mapper.age(on)
    every = sorted({f.date for found in mapper.found.values() for f in found if f.date is not None})
    if len(every) > 1 and on is not None:
        mapper.notes.append(
            f"answers from {len(every)} dates ({every[0]} to {every[-1]}); the latest of each is "
            f"used and the assessment date is {on}"
        )
    patient_id = mapper.patients[0][1].get("id") if mapper.patients else None
    seed = patient_id if isinstance(patient_id, str) else str((mapper.resource_ids or [source])[0])
    ident = case_id or "FHIR-" + hashlib.sha256(seed.encode()).hexdigest()[:12]
    record: dict[str, Any] = {"intake_version": 1, "id": ident}
    if on is not None:
        record["assessed_on"] = on  # a date: the YAML reads 2026-11-02, not a quoted string
    if age is not None:
        record["age"] = age
    specs = ruleset.facts
    for name in specs:  # declaration order: the record reads like the template
        if name in chosen:
            _put(record, specs[name].source, chosen[name].value)  # type: ignore[arg-type]
    problems = list(mapper.problems)
    lines: dict[str, int] = {}
    fragment_source = None
    if findings is not None:
        fragment, lines, more = _findings(findings[0], findings[1], record)
        fragment_source = findings[1]
        problems += more
        _merge(record, fragment)
    if problems:
        raise IntakeError(problems)
    try:
        intake = from_mapping(record, None, source)
    except IntakeError as exc:  # a problem inside the fragment is reported at its own line
        raise IntakeError([_rehome(p, lines, fragment_source) for p in exc.problems]) from None
    return FhirIntake(record, intake, mapper.notes, findings is not None)


def read_input(path: str, limit: int = MAX_BYTES) -> tuple[bytes, str]:
    """A file's bytes (``-``: standard input), bounded; ``IntakeError`` if unreadable."""
    if path == "-":
        try:
            return sys.stdin.buffer.read(limit + 1), "<stdin>"
        except (OSError, ValueError, AttributeError):  # closed (`assess - <&-`)
            raise IntakeError([Problem("<stdin>", None, "", "cannot read: standard input is closed")]) from None
    try:
        with open(path, "rb") as handle:
            return handle.read(limit + 1), path
    except OSError as exc:
        raise IntakeError([Problem(path, None, "", f"cannot read file: {exc.strerror or exc}")]) from None


def load_fhir_file(path: str, ruleset: RuleSet, findings: str | None = None, case_id: str | None = None) -> FhirIntake:
    """``map_fhir`` over a file (and an optional findings fragment file)."""
    data, source = read_input(path)
    fragment = read_input(findings, yamlio.MAX_BYTES) if findings else None
    return map_fhir(data, source, ruleset, fragment, case_id)


def _rehome(problem: Problem, lines: dict[str, int], fragment: str | None) -> Problem:
    path = problem.path
    while path:
        if path in lines and fragment:
            return Problem(fragment, lines[path], problem.path, problem.message)
        path = path.rpartition(".")[0]
    return problem


def to_yaml(mapped: FhirIntake, source: str) -> str:
    """The record as a commented intake file."""
    import yaml

    head = [
        f"# intake-v1 record converted from FHIR data ({source}) by ipt-advisor intake from-fhir.",
        "# No name or identifier was copied; the age is computed from birthDate at the assessment date.",
    ]
    head += [f"# note: {n}" for n in mapped.notes]
    if not mapped.findings_given:
        head.append("# The interpersonal inventory (findings:) and preferences are not in FHIR data: add them here")
        head.append("# (see `ipt-advisor intake template`) or pass --findings FILE. Omitted areas mean 'not present'.")
    body = yaml.safe_dump(mapped.record, sort_keys=False, allow_unicode=True, default_flow_style=False)
    return "\n".join(head) + "\n" + body


def load_assessable(
    path: str, ruleset: RuleSet, findings: str | None = None, case_id: str | None = None
) -> tuple[Intake, list[str], bool]:
    """What ``assess`` reads: an intake file, or FHIR data recognised by its ``resourceType``.
    Returns (intake, notes for the clinician, whether it was FHIR)."""
    from .schema import load_intake

    data, source = read_input(path)
    if not looks_like_fhir(data):
        return load_intake(data, source), [], False
    fragment = read_input(findings, yamlio.MAX_BYTES) if findings else None
    mapped = map_fhir(data, source, ruleset, fragment, case_id)
    notes = list(mapped.notes)
    if findings is None:
        notes.append(
            "no --findings FILE: the interpersonal inventory and preferences are not in FHIR data, "
            "so every problem area reads as not present"
        )
    return mapped.intake, notes, True
