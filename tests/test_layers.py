"""The package `rill` is layered: a module imports only its own layer and the layers below it.

The import graph is read from the source with `ast`, so nothing is imported. Module-level imports
are edges that must point down (or within a layer) and must not form a cycle. Imports inside a
function, and `if TYPE_CHECKING:` imports, run late or never; they may point up only if listed
in UPWARD_LAZY_EDGES, where each one is documented at its import.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import rill

PKG_DIR = Path(rill.__file__).parent

# bottom to top; the layers in one tier are siblings and may not import each other
TIERS: list[tuple[str, ...]] = [
    ("errors", "procs"),  # the exception classes every layer raises | the child-process owner
    ("hw",),  # isa, config, numerics, rtlgen, the RTL's location
    ("ir",),  # NNIR: graph, verifier, streaming_transform
    ("frontend", "compile"),  # torch.fx -> NNIR (public as rill.fx) | NNIR -> Program
    ("vm",),  # the golden VM runs a Program
    ("cosim",),  # the RTL against the VM
    ("rt",),  # the runtime: one interface over the VM and a persistent RTL simulation
    ("app",),  # rill/__init__ (the public API), the CLI, the demo and its models
]
LAYER_OF_PACKAGE = {
    "rill.errors": "errors",
    "rill.procs": "procs",
    "rill.hw": "hw",
    "rill.ir": "ir",
    "rill.frontend": "frontend",
    "rill.fx": "frontend",
    "rill.nn": "frontend",  # PaddedConv1d (torch modules)
    "rill.compile": "compile",
    "rill.vm": "vm",
    "rill.cosim": "cosim",
    "rill.rt": "rt",
    "rill": "app",
    "rill.__main__": "app",
    "rill.cli": "app",
    "rill.demo": "app",
    "rill.models": "app",
}
# (importer, imported): the only imports allowed to point up, each lazy, inside a method
UPWARD_LAZY_EDGES = {
    ("rill.ir.nnir", "rill.compile.compiler"),  # NNIR.to_program()
    ("rill.ir.nnir", "rill.compile.program"),  # its return annotation (TYPE_CHECKING)
    ("rill.ir.nnir", "rill.frontend.onnx"),  # NNIR.from_onnx()
    ("rill.compile.program", "rill.vm"),  # Program.to_vm()
}
# layers that may import torch at module level; the others must stay importable without it
TORCH_LAYERS = {"frontend", "app"}

RANK = {layer: i for i, tier in enumerate(TIERS) for layer in tier}


def layer_of(module: str) -> str:
    parts = module.split(".")
    for n in range(len(parts), 0, -1):
        layer = LAYER_OF_PACKAGE.get(".".join(parts[:n]))
        if layer is not None:
            return layer
    raise AssertionError(f"module {module} is in no layer: add it to LAYER_OF_PACKAGE")


def module_files() -> dict[str, Path]:
    """Every module of the package, by name. Data directories (symlinks into rtl/, cosim/) are
    not Python packages and are skipped."""
    out = {}
    for path in sorted(PKG_DIR.rglob("*.py")):
        rel = path.relative_to(PKG_DIR)
        if any((PKG_DIR / Path(*rel.parts[:i])).is_symlink() for i in range(1, len(rel.parts))):
            continue
        if not all((PKG_DIR / Path(*rel.parts[:i]) / "__init__.py").exists()
                   for i in range(1, len(rel.parts))):
            continue
        parts = ["rill", *rel.with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imports(module: str, path: Path, modules: set[str]):
    """Yield (imported name, lazy) for each import statement of the module; lazy means inside a
    function or under `if TYPE_CHECKING:`."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]

    def visit(node: ast.AST, lazy: bool):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            lazy = True
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.body:
                yield from visit(child, True)
            for child in node.orelse:
                yield from visit(child, lazy)
            return
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, lazy
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                yield (sub if sub in modules else target), lazy
        for child in ast.iter_child_nodes(node):
            yield from visit(child, lazy)

    yield from visit(ast.parse(path.read_text(), str(path)), False)


def import_graph():
    files = module_files()
    names = set(files)
    eager: dict[str, set[str]] = {m: set() for m in files}
    lazy: dict[str, set[str]] = {m: set() for m in files}
    external: dict[str, set[str]] = {m: set() for m in files}
    for m, path in files.items():
        for target, is_lazy in imports(m, path, names):
            if target == "rill" or target.startswith("rill."):
                (lazy if is_lazy else eager)[m].add(target)
            elif not is_lazy:
                external[m].add(target.split(".")[0])
    return eager, lazy, external


def test_every_module_has_a_layer():
    files = module_files()
    assert {"rill.hw.isa", "rill.ir.nnir", "rill.compile.program", "rill.vm.vm"} <= set(files)
    for m in files:
        layer_of(m)


def test_module_level_imports_point_down():
    eager, _, _ = import_graph()
    bad = []
    for m, targets in eager.items():
        for t in targets:
            lm, lt = layer_of(m), layer_of(t)
            if lm != lt and RANK[lt] >= RANK[lm]:
                bad.append(f"{m} ({lm}) imports {t} ({lt})")
    assert not bad, "imports against the layer order:\n" + "\n".join(sorted(bad))


def test_lazy_upward_imports_are_documented():
    _, lazy, _ = import_graph()
    up = {(m, t) for m, ts in lazy.items() for t in ts
          if layer_of(m) != layer_of(t) and RANK[layer_of(t)] >= RANK[layer_of(m)]}
    assert up <= UPWARD_LAZY_EDGES, f"undocumented upward lazy imports: {up - UPWARD_LAZY_EDGES}"


def test_no_import_cycles():
    eager, _, _ = import_graph()
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def dfs(m: str) -> None:
        state[m] = 1
        path.append(m)
        for t in sorted(eager.get(m, ())):
            if state.get(t) == 1:
                cycle = path[path.index(t):] + [t]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if t in eager and t not in state:
                dfs(t)
        path.pop()
        state[m] = 2

    for m in sorted(eager):
        if m not in state:
            dfs(m)


def test_torch_only_in_the_frontend():
    _, _, external = import_graph()
    bad = sorted(m for m, ext in external.items()
                 if "torch" in ext and layer_of(m) not in TORCH_LAYERS)
    assert not bad, f"modules outside {sorted(TORCH_LAYERS)} import torch: {bad}"


def test_hw_and_cosim_import_without_torch():
    """The cocotb benches import rill.hw inside the simulator; torch must not come along."""
    code = ("import sys, rill, rill.hw.isa, rill.hw.numerics, rill.hw.config, rill.cosim.run; "
            "sys.exit('torch' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
