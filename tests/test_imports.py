"""The package's import graph: no circle anywhere, and leaf modules stay leaves.

The graph is read from the source with the standard library's :mod:`ast`, without
importing anything, so a circle that Python happens to survive today (because of the
order of the imports in an ``__init__``) is still found. Edges:

- every ``import`` and ``from ... import`` statement, at module level or inside a
  function (a deferred import is still a dependency), relative imports resolved;
  ``from pkg import name`` points at ``pkg.name`` when that is a module, else at
  ``pkg``. Imports under ``if TYPE_CHECKING:`` never run and are left out;
- ``importlib.import_module("collapse_jax....")``: a constant argument names its
  module; a computed one (a loop over a table of names) points at every string
  constant of the same file that names a package module;
- importing ``a.b.c`` first runs the ``__init__`` of ``a.b``: an import of a module in
  another package also depends on that package's ``__init__``. This is the circle
  that once forced an ``# isort: off`` block in ``collapse_jax/__init__.py`` (metrics
  imported ``families.base``, whose package ``__init__`` imports the GMM family,
  which imported metrics).

Run ``python tests/test_imports.py`` for the report of module sizes (modules over
:data:`SIZE_GUIDE` lines), which is printed, not asserted.
"""

from __future__ import annotations

import ast
import functools
import pathlib
import sys
from collections import deque

PACKAGE = "collapse_jax"
ROOT = pathlib.Path(__file__).resolve().parents[1] / PACKAGE

# Modules that import nothing of the package but each other: the private numeric
# kernel every layer may use without an import circle.
LEAVES = frozenset(
    {
        "collapse_jax._version",
        "collapse_jax._reduce",
        "collapse_jax._util",
        "collapse_jax._quantiles",
        "collapse_jax._linalg",
        "collapse_jax._gaussians",
    }
)

SIZE_GUIDE = 600  # lines: a module past it probably holds several concepts


def module_files(root: pathlib.Path, package: str) -> dict[str, pathlib.Path]:
    """``{dotted module name: path}`` for every ``.py`` file under ``root``."""
    out = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join([package, *parts])] = path
    return out


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _runtime_nodes(tree: ast.AST):
    """Every node of ``tree`` except the bodies of ``if TYPE_CHECKING:``."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))


def _resolve(name: str, modules) -> str | None:
    """The longest prefix of dotted ``name`` that is a package module."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in modules:
            return candidate
        parts.pop()
    return None


def _ancestors(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def direct_imports(module: str, path: pathlib.Path, modules) -> set[str]:
    """The package modules ``module`` imports (statements and import_module calls)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    package = module if is_package else module.rpartition(".")[0]
    found: set[str] = set()
    computed = False
    for node in _runtime_nodes(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            for alias in node.names:
                sub = f"{source}.{alias.name}"
                found.add(sub if sub in modules else source)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute | ast.Name)
            and (getattr(node.func, "attr", None) or getattr(node.func, "id", None))
            == "import_module"
            and node.args
        ):
            arg = node.args[0]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                found.add(arg.value)
            else:
                computed = True
    if computed:
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                if node.value in modules:
                    found.add(node.value)
    out = set()
    for name in found:
        target = _resolve(name, modules)
        if target is None or target == module:
            continue
        out.add(target)
        # Importing a module of another package runs that package's __init__ first.
        mine = set(_ancestors(module)) | ({module} if is_package else set())
        out.update(p for p in _ancestors(target) if p not in mine and p in modules)
    out.discard(module)
    return out


@functools.cache
def import_graph(root: pathlib.Path = ROOT, package: str = PACKAGE):
    """``{module: the package modules it imports}`` (read once per root)."""
    modules = module_files(root, package)
    return {m: direct_imports(m, p, modules) for m, p in modules.items()}


def _strongly_connected(graph) -> list[list[str]]:
    """Tarjan's components with more than one module, iteratively."""
    index, low, on, stack, out = {}, {}, set(), [], []
    counter = [0]
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter[0]
        counter[0] += 1
        stack.append(start)
        on.add(start)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter[0]
                    counter[0] += 1
                    stack.append(child)
                    on.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                    advanced = True
                    break
                if child in on:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    top = stack.pop()
                    on.discard(top)
                    comp.append(top)
                    if top == node:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return sorted(out)


def _shortest_cycle(graph, component: list[str]) -> list[str]:
    """A shortest circle through the component's first module, as a path."""
    inside = set(component)
    start = component[0]
    prev = {start: None}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for child in sorted(graph[node] & inside):
            if child == start:
                path = [node]
                while prev[path[-1]] is not None:
                    path.append(prev[path[-1]])
                return [*reversed(path), start]
            if child not in prev:
                prev[child] = node
                queue.append(child)
    return component  # unreachable for a strongly connected component


def cycles(graph) -> list[list[str]]:
    """One shortest circle per strongly connected component of ``graph``."""
    return [_shortest_cycle(graph, comp) for comp in _strongly_connected(graph)]


def _describe(found, graph=None) -> str:
    """One line per circle; with ``graph``, each member's imports inside its circle's
    component (what to cut)."""
    lines = []
    for cycle in found:
        lines.append(" -> ".join(cycle))
        if graph is not None:
            comp = next(c for c in _strongly_connected(graph) if cycle[0] in c)
            lines += [f"    {m} imports {sorted(graph[m] & set(comp))}" for m in comp]
    return "\n".join(lines)


def size_report(root: pathlib.Path = ROOT, package: str = PACKAGE) -> list[str]:
    """``"<lines> <module>"`` for each module past :data:`SIZE_GUIDE`, largest first."""
    sizes = [
        (len(p.read_text(encoding="utf-8").splitlines()), m)
        for m, p in module_files(root, package).items()
    ]
    return [f"{n:5d} {m}" for n, m in sorted(sizes, reverse=True) if n > SIZE_GUIDE]


# ------------------------------------------------------------------ the package ---


def test_package_import_graph_has_no_circle():
    graph = import_graph()
    found = cycles(graph)
    assert not found, "import circles in collapse_jax:\n" + _describe(found, graph)


def test_leaf_modules_import_only_leaves():
    graph = import_graph()
    assert LEAVES <= graph.keys(), sorted(LEAVES - graph.keys())
    bad = {m: sorted(graph[m] - LEAVES) for m in sorted(LEAVES) if graph[m] - LEAVES}
    assert not bad, f"leaf modules import the package: {bad}"


def test_metrics_and_families_meet_only_through_leaves():
    # metrics measures what the families build: it sits above them, never below.
    graph = import_graph()
    assert not {m for m in graph["collapse_jax.metrics"] if ".families" in m}
    kernel = {"collapse_jax._linalg", "collapse_jax._gaussians"}
    assert kernel <= graph["collapse_jax.families.gaussian"]


def test_size_report(capsys):
    # Printed for the lead, not asserted: the ~600-line guide is a judgement call.
    report = size_report()
    with capsys.disabled():
        print(f"\nmodules over {SIZE_GUIDE} lines:\n" + "\n".join(report))
    assert all(line.split()[1].startswith(PACKAGE) for line in report)


# ---------------------------------------------------- the walker, on a toy package ---


def _toy(tmp_path, files: dict[str, str]) -> pathlib.Path:
    root = tmp_path / "toy"
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_walker_finds_the_package_init_circle(tmp_path):
    # The shape that forced `# isort: off`: metrics -> fam.base runs fam/__init__,
    # which imports fam.gmm, which imports metrics back.
    root = _toy(
        tmp_path,
        {
            "__init__.py": "",
            "metrics.py": "from toy.fam.base import View\n",
            "fam/__init__.py": "from toy.fam.gmm import gmm\n",
            "fam/base.py": "",
            "fam/gmm.py": "def gmm():\n    from toy.metrics import l2\n",
        },
    )
    found = cycles(import_graph(root, "toy"))
    assert found == [["toy.fam", "toy.fam.gmm", "toy.metrics", "toy.fam"]]


def test_walker_resolves_relative_deferred_and_importlib(tmp_path):
    root = _toy(
        tmp_path,
        {
            "__init__.py": "",
            "a.py": "def f():\n    from .sub import b\n",
            "sub/__init__.py": "",
            "sub/b.py": "from ..c import x\n",
            "c.py": (
                "import importlib\n"
                "NAMES = ('toy.d',)\n"
                "def g():\n"
                "    for n in NAMES:\n"
                "        importlib.import_module(n)\n"
            ),
            "d.py": "import importlib\nimportlib.import_module('toy.a')\n",
            "e.py": (
                "from typing import TYPE_CHECKING\n"
                "if TYPE_CHECKING:\n    from toy import a\n"
            ),
        },
    )
    graph = import_graph(root, "toy")
    assert graph["toy.a"] == {"toy.sub", "toy.sub.b"}
    assert graph["toy.sub.b"] == {"toy.c"}
    assert graph["toy.c"] == {"toy.d"}
    assert graph["toy.d"] == {"toy.a"}
    assert graph["toy.e"] == set()  # TYPE_CHECKING imports never run
    (cycle,) = cycles(graph)
    assert set(cycle) == {"toy.a", "toy.sub.b", "toy.c", "toy.d"}
    assert cycle[0] == cycle[-1]


def test_walker_accepts_a_package_importing_its_own_modules(tmp_path):
    # A package __init__ re-exporting its modules, which import each other: no circle.
    root = _toy(
        tmp_path,
        {
            "__init__.py": "from toy import fam\n",
            "fam/__init__.py": "from toy.fam.gmm import gmm\n",
            "fam/base.py": "",
            "fam/gmm.py": "from toy.fam.base import View\nfrom toy import leaf\n",
            "leaf.py": "",
        },
    )
    assert cycles(import_graph(root, "toy")) == []


if __name__ == "__main__":
    print(f"modules over {SIZE_GUIDE} lines:")
    print("\n".join(size_report()))
    graph = import_graph()
    remaining = cycles(graph)
    print("import circles:\n" + (_describe(remaining, graph) or "none"))
    sys.exit(1 if remaining else 0)
