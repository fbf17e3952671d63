"""What code a rule's results depend on, derived from its script's imports (no list kept by hand).

`import_closure(script)` follows every `import` / `from ... import` statement (anywhere in a file,
lazy imports inside functions included) from a rule's script through the modules of
workflow_scripts/ (the library package `deepens` and the scripts' helpers such as `_job`), and
`code_digest(script)` hashes the sources of that closure. A rule passes the digest as a param, so
editing a module reruns exactly the rules whose scripts import it, directly or not; modules
outside workflow_scripts/ (numpy, TensorFlow, ...) are covered by the package versions instead.
Standard library only: the Snakefile imports this at parse time.
"""
import ast
import functools
import hashlib
from pathlib import Path

SCRIPTS_DIR = Path(__file__).resolve().parents[1]
PACKAGE = "deepens"


def _module_file(name: str, root: Path):
    """The source file of a module name under root (a package's __init__.py), or None."""
    path = root.joinpath(*name.split("."))
    for candidate in (path.with_suffix(".py"), path / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, root: Path) -> set[str]:
    """Names of the modules under root that a file imports (relative imports resolved)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = _module_name(path, root)
    if path.name != "__init__.py":
        package = package.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".") if package else []
                anchor = anchor[:len(anchor) - (node.level - 1)] if node.level > 1 else anchor
                base = ".".join(anchor + ([base] if base else []))
            # `from pkg import mod` imports the module pkg.mod when there is one
            names = [base] + [f"{base}.{alias.name}" if base else alias.name for alias in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            for i in range(1, len(parts) + 1):  # a.b.c imports a, a.b and a.b.c
                if _module_file(".".join(parts[:i]), root):
                    found.add(".".join(parts[:i]))
    return found


@functools.lru_cache(maxsize=None)
def import_closure(script, root=SCRIPTS_DIR, modules=()) -> tuple[str, ...]:
    """Sorted names of every module under root that `script` imports, directly or not; `modules`:
    module names it imports dynamically (importlib), which join the closure with theirs."""
    root = Path(root).resolve()
    seen, todo = set(modules), [Path(script).resolve(), *(_module_file(m, root) for m in modules)]
    while todo:
        for name in _imports(todo.pop(), root):
            if name not in seen:
                seen.add(name)
                todo.append(_module_file(name, root))
    return tuple(sorted(seen))


def code_digest(script, root=SCRIPTS_DIR, modules=()) -> str:
    """sha256 (16 hex digits) of the sources of the script's import closure under root (with the
    dynamically imported `modules`)."""
    root = Path(root)
    h = hashlib.sha256()
    for name in import_closure(Path(script).resolve(), root, tuple(modules)):
        h.update(name.encode() + b"\0" + _module_file(name, root).read_bytes() + b"\0")
    return h.hexdigest()[:16]
