"""The package's dataclasses built from precompiled method code (ipt_advisor/core/precompiled_classes.py,
compiled_classes.py): the table is current, a start compiles no dataclass text, every class is
the class the standard decorator builds, and a text the table does not hold is compiled as before."""

from __future__ import annotations

import dataclasses
import json
import platform
import re
import threading

import pytest

from ipt_advisor.core import precompiled_classes

from conftest import ROOT, fresh_python

from ipt_advisor.core import compiled_classes

# The texts are those of the decorator of one Python: under another a miss is expected, and is only slower.
SAME_PYTHON = pytest.mark.skipif(
    platform.python_version() != compiled_classes.PYTHON,
    reason=f"the table holds the texts of Python {compiled_classes.PYTHON}'s decorator",
)


@SAME_PYTHON
def test_the_shipped_table_is_what_the_classes_compile_to() -> None:
    shipped = (ROOT / "ipt_advisor" / "core" / "compiled_classes.py").read_text(encoding="utf-8")
    generated = fresh_python("import sys, ipt_advisor.core.precompiled_classes as p; sys.stdout.write(p.generate())")
    assert shipped == generated, (
        "ipt_advisor/core/compiled_classes.py is stale: run `make templates` "
        "(python -m ipt_advisor.core.precompiled_classes)"
    )


@SAME_PYTHON
def test_an_assess_and_every_module_compile_no_dataclass_text() -> None:
    # the command itself, then every module that builds classes with the decorator
    out = fresh_python(
        "import io, contextlib, importlib, json, sys\n"
        "sys.argv = ['ipt-advisor', 'assess', 'examples/demo.yaml']\n"
        "import cli\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try: cli.main()\n"
        "    except SystemExit: pass\n"
        "from ipt_advisor.core import precompiled_classes as p\n"
        "after_assess = list(p.misses)\n"
        "for name in p.package_modules(): importlib.import_module(name)\n"
        "print(json.dumps([after_assess, p.misses, 'exec' in vars(importlib.import_module('dataclasses'))]))\n"
    )
    after_assess, misses, hook_left = json.loads(out)
    assert after_assess == [] and misses == []
    assert hook_left is False


# What the decorator gave every class of the package, as far as code can tell: its dataclass
# parameters and fields, and for each method it made, the compiled code and where it looks names up.
_DESCRIBE = """
import dataclasses, importlib, json, re, sys, types
from ipt_advisor.core import precompiled_classes as p

def r(value):  # repr without object addresses, which differ from one process to the next
    return re.sub(r" at 0x[0-9a-f]+", "", repr(value))

if sys.argv[1] == "source":
    p._table = {}
names = p.package_modules()
modules = [importlib.import_module(n) for n in names]

def code(c):
    return [c.co_name, c.co_code.hex(), c.co_names, c.co_varnames, c.co_freevars, c.co_cellvars,
            [code(k) if isinstance(k, types.CodeType) else r(k) for k in c.co_consts]]

out = {}
for module in modules:
    for cls in vars(module).values():
        if not (isinstance(cls, type) and dataclasses.is_dataclass(cls) and cls.__module__ == module.__name__):
            continue
        methods = {}
        for name, fn in sorted(vars(cls).items()):
            fn = getattr(fn, "__wrapped__", fn)  # __repr__ is wrapped by reprlib's recursion guard
            if isinstance(fn, types.FunctionType) and fn.__code__.co_filename != module.__file__:
                methods[name] = [code(fn.__code__), fn.__qualname__, r(fn.__annotations__),
                                 r(fn.__defaults__), r(fn.__kwdefaults__),
                                 fn.__globals__ is vars(module), fn.__module__]
        out[cls.__module__ + "." + cls.__qualname__] = [
            r(cls.__dataclass_params__), [r(f) for f in dataclasses.fields(cls)],
            r(getattr(cls, "__match_args__", None)), cls.__hash__ is None, methods]
print(json.dumps([out, len(p.misses)], sort_keys=True))
"""


def test_every_class_is_the_class_the_standard_decorator_builds() -> None:
    (precompiled, hits_missed), (source, compiled_count) = (
        json.loads(fresh_python(_DESCRIBE.replace("sys.argv[1]", repr(mode)))) for mode in ("table", "source")
    )
    assert len(precompiled) >= 38  # the rule model's 23 and the rest of the package
    assert precompiled == source
    assert compiled_count > 300  # the second build really compiled every text
    if platform.python_version() == compiled_classes.PYTHON:
        assert hits_missed == 0  # ...and the first compiled none
    some = precompiled["ipt_advisor.core.model.Leaf"][4]
    assert {"__init__", "__repr__", "__eq__", "__hash__", "__setattr__", "__delattr__"} <= set(some)
    assert all(method[5] for cls in precompiled.values() for method in cls[4].values())  # the module's globals


def test_a_class_the_table_does_not_hold_is_compiled_as_before() -> None:
    before = len(precompiled_classes.misses)

    @precompiled_classes.dataclass(frozen=True)
    class Edited:
        a_field_no_class_of_the_package_has: int
        other: str = "x"

    assert len(precompiled_classes.misses) > before
    one = Edited(1)
    assert one == Edited(1, "x") and hash(one) == hash(Edited(1)) and one != Edited(2)
    assert repr(one).endswith(".<locals>.Edited(a_field_no_class_of_the_package_has=1, other='x')")
    # compiled as the decorator compiles it: the annotations evaluated, not this module's strings
    assert Edited.__init__.__annotations__ == {
        "a_field_no_class_of_the_package_has": "int",
        "other": "str",
        "return": None,
    }
    with pytest.raises(dataclasses.FrozenInstanceError):
        one.other = "y"  # type: ignore[misc]
    assert "exec" not in vars(dataclasses)


def test_the_hook_is_gone_after_a_class_the_decorator_refuses() -> None:
    with pytest.raises(TypeError, match="non-default argument"):

        @precompiled_classes.dataclass
        class Refused:
            first: int = 0
            second: int  # type: ignore[misc]

    assert "exec" not in vars(dataclasses)


def test_classes_built_in_threads_at_once_are_right_and_leave_no_hook() -> None:
    built: list[type] = []
    start = threading.Barrier(8)

    def build(i: int) -> None:
        start.wait()
        for _ in range(20):
            built.append(
                precompiled_classes.dataclass(frozen=True)(
                    type(f"C{i}", (), {"__annotations__": {"n": "int"}, "__module__": __name__})
                )
            )

    threads = [threading.Thread(target=build, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(built) == 160 and all(cls(3) == cls(3) and cls(3).n == 3 for cls in built)
    assert "exec" not in vars(dataclasses)


def test_every_module_of_the_package_builds_its_classes_with_this_decorator() -> None:
    # a class built by dataclasses' own decorator would compile its methods at every start again
    direct = re.compile(r"^from dataclasses import .*\bdataclass\b|@dataclasses\.dataclass\b", re.M)
    package = ROOT / "ipt_advisor"
    offenders = sorted(
        str(path.relative_to(ROOT)) for path in package.rglob("*.py") if direct.search(path.read_text(encoding="utf-8"))
    )
    assert offenders == [], "use `from ipt_advisor.core.precompiled_classes import dataclass` (then `make templates`)"
    assert "ipt_advisor.core.model" in precompiled_classes.package_modules()
