"""The import contracts are the map of the code (docs/architecture.md): every package of Avance
has its place in them, so that a new engineer can tell which way the layers go and CI
(`make lint`, `lint-imports`) checks every import, those inside functions included."""

from __future__ import annotations

import ast
import re
import tomllib

from tests.support import ROOT

PACKAGE = ROOT / "src" / "avance"


def _contracts() -> list[dict]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return config["tool"]["importlinter"]["contracts"]


def _named(contract: dict) -> set[str]:
    """The modules a contract names (layers split on ``|`` and ``:``, optional ones unwrapped)."""
    names: set[str] = set()
    for key in ("layers", "modules", "source_modules", "forbidden_modules", "ancestors", "containers"):
        for entry in contract.get(key, []):
            for part in re.split(r"[|:]", entry):
                names.add(part.strip().strip("()").strip())
    return names


def _top_level() -> set[str]:
    found = set()
    for path in PACKAGE.iterdir():
        if path.is_dir() and (path / "__init__.py").exists():
            found.add(f"avance.{path.name}")
        elif path.suffix == ".py" and path.name != "__init__.py":
            found.add(f"avance.{path.stem}")
    return found


def test_every_top_level_package_has_its_place_in_a_layer():
    layered = set()
    for contract in _contracts():
        if contract["type"] == "layers":
            layered |= _named(contract)
    missing = _top_level() - layered
    assert not missing, f"packages in no layer of pyproject.toml's import contracts: {sorted(missing)}"


def test_the_contracts_name_only_packages_that_exist_or_are_marked_to_come():
    existing = _top_level()
    for contract in _contracts():
        for entry in contract.get("layers", []):
            for part in re.split(r"[|:]", entry):
                part = part.strip()
                optional = part.startswith("(") and part.endswith(")")
                name = part.strip("()")
                assert optional or name in existing, f"{contract['id']}: {name} does not exist (mark a package to come as optional: ({name}))"


def test_no_package_imports_another_that_imports_it_back():
    """The acyclic-siblings contract covers the whole tree, at every depth."""
    acyclic = [c for c in _contracts() if c["type"] == "acyclic_siblings"]
    assert acyclic and "avance" in acyclic[0]["ancestors"]
    assert int(acyclic[0].get("depth", 10)) >= max(len(p.relative_to(PACKAGE).parts) for p in PACKAGE.rglob("*.py"))


def test_imports_inside_functions_say_why():
    """An import of Avance inside a function stays only where it saves start-up time of the
    command line, with a comment saying so (on its line or the line above)."""
    unexplained = []
    for path in sorted(PACKAGE.rglob("*.py")):
        lines = path.read_text(encoding="utf-8").splitlines()
        tree = ast.parse("\n".join(lines))
        for function in ast.walk(tree):
            if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(function):
                if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("avance") or (
                    isinstance(node, ast.Import) and any(a.name.startswith("avance") for a in node.names)
                ):
                    here, above = lines[node.lineno - 1], lines[node.lineno - 2] if node.lineno > 1 else ""
                    if "#" not in here and not above.strip().startswith("#"):
                        unexplained.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not unexplained, "imports inside functions without a comment saying why: " + ", ".join(sorted(set(unexplained)))
