"""The shape of the house, as guides rather than a cap on file size:

- no import circles inside lrkit (imports inside functions count too);
- no function over :data:`MAX_BODY_LINES` body lines (a function that does not fit on a screen usually
  hides named phases), except the few in :data:`EXCEPTIONS`, each with its reason;
- no private name (``_x``) imported from another lrkit module (it usually means the split is wrong);
- ``import lrkit`` and ``import lrkit.schedules`` stay light: no torch.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "lrkit"
#: body lines of a function: from its first statement after the docstring to its last line (blank and
#: comment lines included, nested functions counted in their parent)
MAX_BODY_LINES = 80
#: "module:qualname" → why it may be longer (none today: fit is 25 lines, train_recipe 14)
EXCEPTIONS: dict[str, str] = {}


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def import_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    """``{module: modules of the package it imports}``, reading every import statement (also those
    inside functions) of every ``.py`` file under ``package``."""
    root = package.parent
    files = {module_name(p, root): p for p in package.rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in files}
    for mod, path in files.items():
        is_pkg = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = mod.split(".") if is_pkg else mod.split(".")[:-1]
                    base = base[: len(base) - (node.level - 1)]
                    src = ".".join(base + ([node.module] if node.module else []))
                else:
                    src = node.module or ""
                # `from pkg import sub` imports the submodule pkg.sub when there is one
                targets = [f"{src}.{a.name}" if f"{src}.{a.name}" in files else src for a in node.names]
            for t in targets:
                while t and t not in files:  # `import lrkit.bench.store` → the deepest known module
                    t = t.rpartition(".")[0]
                if t and t != mod:
                    graph[mod].add(t)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle as ``[a, b, …, a]``, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        stack.append(m)
        for n in sorted(graph.get(m, ())):
            if state.get(n) == 1:
                return stack[stack.index(n):] + [n]
            if n not in state and (c := visit(n)):
                return c
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state and (c := visit(m)):
            return c
    return None


def test_cycle_finder_finds_a_circle_and_none_where_there_is_none():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_import_graph_reads_function_level_and_relative_imports(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("def f():\n    from .sub import b\n")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "b.py").write_text("from ..a import f\nimport pkg.sub\n")
    g = import_graph(pkg)
    assert g["pkg.a"] == {"pkg.sub.b"} and g["pkg.sub.b"] == {"pkg.a", "pkg.sub"}
    assert find_cycle(g) == ["pkg.a", "pkg.sub.b", "pkg.a"]


def test_lrkit_has_no_import_circle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import circle: " + " → ".join(cycle)


def function_sizes(package: Path = PACKAGE) -> dict[str, int]:
    """``{"module:qualname": body lines}`` of every function and method under ``package``."""
    root = package.parent
    sizes: dict[str, int] = {}

    def visit(node: ast.AST, mod: str, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                body = child.body
                if isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                        and isinstance(body[0].value.value, str) and len(body) > 1:
                    body = body[1:]  # the docstring does not count
                sizes[f"{mod}:{prefix}{child.name}"] = child.end_lineno - body[0].lineno + 1
                visit(child, mod, f"{prefix}{child.name}.")
            elif isinstance(child, ast.ClassDef):
                visit(child, mod, f"{prefix}{child.name}.")

    for path in package.rglob("*.py"):
        visit(ast.parse(path.read_text(), str(path)), module_name(path, root), "")
    return sizes


def test_function_sizes_count_body_lines(tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "a.py").write_text('def f():\n    """Doc."""\n    x = 1\n\n    return x\n\n\nclass C:\n    def g(self):\n'
                              '        def h():\n            pass\n        return h\n')
    assert function_sizes(pkg) == {"pkg.a:f": 3, "pkg.a:C.g": 3, "pkg.a:C.g.h": 1}


def test_no_function_is_longer_than_the_guide():
    sizes = function_sizes()
    assert sizes["lrkit.training.loop:fit"] <= 60, "fit should read as its phases"
    long = {name: n for name, n in sizes.items() if n > MAX_BODY_LINES and name not in EXCEPTIONS}
    assert not long, (f"functions over {MAX_BODY_LINES} body lines: {long}; cut them into named phases "
                      "(or list one in EXCEPTIONS with the reason)")
    stale = {name for name in EXCEPTIONS if sizes.get(name, 0) <= MAX_BODY_LINES}
    assert not stale, f"EXCEPTIONS that are no longer needed (or gone): {sorted(stale)}"
    assert all(reason.strip() for reason in EXCEPTIONS.values()), "every exception says why"


def private_imports(package: Path = PACKAGE) -> list[str]:
    """``"module: from X import _name"`` for every private name one lrkit module imports from another."""
    root = package.parent
    found = []
    for path in sorted(package.rglob("*.py")):
        mod = module_name(path, root)
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").split(".")[0] == root.name
                                                     or (node.module or "").split(".")[0] == package.name):
                for alias in node.names:
                    name = alias.name
                    if name.startswith("_") and not (name.startswith("__") and name.endswith("__")):
                        found.append(f"{mod}: from {'.' * node.level}{node.module or ''} import {name}")
    return found


def test_private_import_finder_finds_one(tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "a.py").write_text("_x = 1\n__version__ = 2\n")
    (pkg / "b.py").write_text("from .a import _x, __version__\n")
    assert private_imports(pkg) == ["pkg.b: from .a import _x"]


def test_no_private_name_is_imported_across_modules():
    found = private_imports()
    assert not found, "private names imported from another module (make them public or move them): " + "; ".join(found)


@pytest.mark.parametrize("module", ["lrkit", "lrkit.schedules"])
def test_importing_stays_light(module):
    """The public face is lazy (PEP 562) and the schedules are pure numpy: neither imports torch."""
    code = f"import sys, {module}; assert 'torch' not in sys.modules, [m for m in sys.modules if 'torch' in m][:5]"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, capture_output=True, text=True)


def test_the_public_face_names_real_things():
    import lrkit

    for name in lrkit.__all__:
        assert getattr(lrkit, name) is not None, name
    assert "fit" in dir(lrkit)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        lrkit.nope  # noqa: B018
