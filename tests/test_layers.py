"""The layers the code keeps, read from the imports of every module (DEVELOPERS.md, issue 12).

- `handlers/` imports nothing of ours;
- `storage/` may import `handlers/`;
- `scheduler/` may import `handlers/` and `storage/`, never `bot/`;
- `bot/` is the edge; only its composition root (app factory, services, CLI, server, demo and
  the verbs' glue) imports `scheduler/`.
"""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OURS = ("bot", "handlers", "storage", "scheduler")
ALLOWED = {
    "handlers": {"handlers"},
    "storage": {"handlers", "storage"},
    "scheduler": {"handlers", "storage", "scheduler"},
    "bot": {"bot", "handlers", "storage", "scheduler"},
}
COMPOSITION_ROOT = {"bot/app.py", "bot/services.py", "bot/cli.py", "bot/server.py",
                    "bot/demo.py", "bot/__main__.py",
                    "bot/cli_notices.py"}     # `notice send` delivers through the outbox worker


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return {name for name in found if name.split(".")[0] in OURS}


def modules():
    for package in OURS:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            yield package, path


def test_every_module_keeps_its_layer():
    broken = []
    for package, path in modules():
        rel = path.relative_to(ROOT).as_posix()
        for name in sorted(imports_of(path)):
            top = name.split(".")[0]
            if top not in ALLOWED[package]:
                broken.append(f"{rel} imports {name}")
            elif package == "bot" and top == "scheduler" and rel not in COMPOSITION_ROOT:
                broken.append(f"{rel} imports {name} (only the composition root wires scheduler/)")
    assert not broken, "layers broken:\n" + "\n".join(broken)


def test_the_layer_test_sees_a_broken_import(tmp_path):
    bad = tmp_path / "x.py"
    bad.write_text("from bot.config import Config\nimport scheduler.jobs as j\n", encoding="utf-8")
    assert imports_of(bad) == {"bot.config", "scheduler.jobs"}
