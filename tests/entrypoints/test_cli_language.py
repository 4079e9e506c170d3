"""Every ``--help`` of the command line, rendered in French, is made of the catalogs' words:
the framework's own texts ("Show this message and exit.", "[required]", "Usage:") included."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

from avance.kit.i18n import catalog

_RENDER = r"""
import json, click, typer
from click.testing import CliRunner
from avance.__main__ import app
from avance.kit.cli import speak_framework_language

command = typer.main.get_command(app)
speak_framework_language(command)

def walk(c, path):
    yield path, c
    if isinstance(c, click.Group):
        for name, sub in c.commands.items():
            yield from walk(sub, path + [name])

runner = CliRunner()
pages = {}
names = set()
for path, c in walk(command, []):
    names.update(path)
    for p in c.params:
        names.update(p.opts + p.secondary_opts)
        if isinstance(p, click.Choice) or isinstance(getattr(p, "type", None), click.Choice):
            names.update(str(x) for x in p.type.choices)
    result = runner.invoke(command, path + ["--help"], prog_name="avance", terminal_width=200)
    pages[" ".join(path) or "avance"] = result.output
print(json.dumps({"pages": pages, "names": sorted(names)}))
"""

WORD = re.compile(r"[A-Za-zÀ-ÿ]+(?:['’][A-Za-zÀ-ÿ]+)*")


def _words(text: str) -> set[str]:
    return {w.lower() for w in WORD.findall(text)}


def test_every_help_page_in_french_is_made_of_the_catalogs_words() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AVANCE_")}
    env.update(AVANCE_LANG="fr", COLUMNS="200", NO_COLOR="1", TERM="dumb")
    done = subprocess.run([sys.executable, "-c", _RENDER], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    rendered = json.loads(done.stdout)
    known = set()
    for message in catalog("fr").values():
        known |= _words(message)
    for name in rendered["names"]:
        known |= _words(name)
    foreign = {}
    for command, text in rendered["pages"].items():
        text = re.sub(r"--?[\w-]+", " ", text)  # option names
        unknown = sorted(w for w in _words(text) - known if len(w) > 2)
        if unknown:
            foreign[command] = unknown
    assert foreign == {}, f"words shown in French help that no French catalog message holds: {foreign}"
