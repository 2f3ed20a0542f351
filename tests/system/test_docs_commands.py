"""Every fenced command of README.md and BENCHMARKS.md works on a fresh clone as written.

Each ```bash block is cut into commands (continuation lines joined, comments and ``VAR=value`` prefixes
dropped, ``&&`` / ``;`` split). Then, by program:

- ``make T``: ``T`` is a target of the Makefile and ``make -n T`` accepts it;
- ``lrkit …``: lrkit's own parser accepts the arguments; the cheap ones run as written (``--help``,
  ``bench list``, ``schedule``, in a scratch folder);
- ``python SCRIPT …``: the script exists and every ``--flag`` of the command is in its ``--help``;
- ``pip install -e '.[x,y]'``: the extras exist in pyproject.toml;
- any other program must be named in :data:`OTHER_PROGRAMS` with what is checked for it.

Placeholders the documents use (``DIR``, ``DATA``, ``S``, ``E``, ``P``, ``[optional]``, ``a|b|c``) become
concrete values first. Repository paths a command names (``benchmarks/…``, ``docs/…``) must have an
existing parent folder. ```python blocks must compile and import only names lrkit has.
"""

from __future__ import annotations

import ast
import os
import re
import shlex
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parents[2]
DOCS = ("README.md", "BENCHMARKS.md")
PLACEHOLDERS = {"DIR": "/tmp/lrkit-docs/data", "DATA": "/tmp/lrkit-docs/data", "S": "0", "E": "1", "P": "1",
                "NAME": "sgdr", "...": "/tmp/lrkit-docs/data"}
#: programs that are neither make, lrkit, python nor pip: what is checked for each
OTHER_PROGRAMS = {
    "torchrun": "the script is the reader's own (my_training_script.py); docs/scaling.md has it",
    "conda": "the file it names exists",
    "echo": "nothing", "cd": "nothing", "git": "nothing", "export": "nothing",
}
REPO_DIRS = ("benchmarks/", "docs/", "ci/", "notebooks/", "lrkit/", "tests/")


def fenced(text: str, lang: str) -> list[str]:
    """The bodies of the ```lang blocks of ``text`` (indented fences inside list items too)."""
    blocks = re.findall(rf"^([ \t]*)```{lang}[ \t]*\n(.*?)^\1```", text, flags=re.S | re.M)
    return [re.sub(rf"^{re.escape(indent)}", "", body, flags=re.M) for indent, body in blocks]


def commands(block: str) -> list[str]:
    """One string per command of a shell block."""
    joined = re.sub(r"\\\n\s*", " ", block)
    out = []
    for line in joined.splitlines():
        line = re.sub(r"(^|\s)#.*$", "", line).strip()
        for part in re.split(r"\s*(?:&&|;)\s*", line):
            if part:
                out.append(part)
    return out


def concrete(command: str) -> list[str]:
    """The command as argv: env prefixes dropped, placeholders filled in, ``[opt]`` kept, ``a|b`` → ``a``."""
    command = command.replace("[", " ").replace("]", " ")
    argv = shlex.split(command)
    while argv and re.match(r"^[A-Z_][A-Z0-9_]*=", argv[0]):
        argv.pop(0)
    if argv and argv[0] == "time":
        argv.pop(0)
    out = []
    for a in argv:
        a = os.path.expandvars(a) if "$" in a else a
        if "|" in a and not a.startswith("-"):
            a = a.split("|")[0]
        out.append(PLACEHOLDERS.get(a, a))
    return out


def all_commands() -> list[tuple[str, str]]:
    got = []
    for doc in DOCS:
        for block in fenced((ROOT / doc).read_text(), "bash"):
            got += [(doc, c) for c in commands(block)]
    return got


COMMANDS = all_commands()


def test_the_documents_have_commands():
    docs = {d for d, _ in COMMANDS}
    assert docs == set(DOCS) and len(COMMANDS) >= 25, COMMANDS


@cache
def make_targets() -> set[str]:
    text = (ROOT / "Makefile").read_text()
    return set(re.findall(r"^([A-Za-z][\w-]*):", text, flags=re.M))


@cache
def script_help(script: str, sub: str | None = None) -> str:
    """``script --help``, or ``script sub --help`` for one of its subcommands."""
    args = [sys.executable, script, *([sub] if sub else []), "--help"]
    r = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, f"{script} {sub or ''} --help failed: {r.stderr[-2000:]}"
    return r.stdout


def _subcommand(script: str, args: list[str]) -> str | None:
    """The subcommand a command names (the first positional argument, when ``--help`` lists it among
    ``{a,b,…}``)."""
    first = next((a for a in args if not a.startswith("-")), None)
    choices = re.search(r"\{([\w,-]+)\}", script_help(script))
    return first if first and choices and first in choices.group(1).split(",") else None


def _check_repo_paths(argv: list[str]) -> None:
    for a in argv:
        a = a.split("=", 1)[-1]
        if a.startswith(REPO_DIRS):
            assert (ROOT / a).parent.exists(), f"{a}: no such folder in the repository"


def _check_make(argv: list[str]) -> None:
    targets = [a for a in argv[1:] if not a.startswith("-") and "=" not in a]
    for t in targets:
        assert t in make_targets(), f"make {t}: no such target"
        r = subprocess.run(["make", "-n", t], cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, f"make -n {t}: {r.stderr}"


def _check_lrkit(argv: list[str], tmp_path: Path) -> None:
    from lrkit.cli import build_parser

    args = argv[1:]
    try:
        build_parser().parse_args(args)
    except SystemExit as e:
        assert e.code == 0, f"lrkit's parser refuses: lrkit {' '.join(args)}"
        return  # --help: parsed and printed
    cheap = args[:2] == ["bench", "list"] or args[:1] == ["schedule"]
    if cheap:  # runs as written, here in a scratch folder
        r = subprocess.run([sys.executable, "-m", "lrkit.cli", *args], cwd=tmp_path, capture_output=True, text=True,
                           timeout=120, env={**os.environ, "MPLBACKEND": "Agg"})
        assert r.returncode == 0, f"lrkit {' '.join(args)}: {r.stderr[-2000:]}"


def _check_python(argv: list[str]) -> None:
    i = 1
    if argv[i:i + 2] == ["-m", "venv"]:
        return
    if argv[i] == "-m":
        mod = argv[i + 1]
        assert mod in ("pytest", "lrkit.cli"), f"python -m {mod}: not a module these documents should run"
        return
    script = argv[i]
    assert (ROOT / script).is_file(), f"{script}: no such file"
    helptext = script_help(script, _subcommand(script, argv[i + 1:]))
    for a in argv[i + 1:]:
        if a.startswith("--"):
            flag = a.split("=", 1)[0]
            assert re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", helptext), f"{script}: no option {flag}"


def _check_pip(argv: list[str]) -> None:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    for a in argv:
        m = re.match(r"^\.\[([\w,-]+)\]$", a)
        if m:
            for e in m.group(1).split(","):
                assert e in extras, f"pip install: no extra [{e}] in pyproject.toml"


@pytest.mark.parametrize("doc, command", COMMANDS, ids=[f"{d}:{c[:60]}" for d, c in COMMANDS])
def test_fenced_command(doc, command, tmp_path):
    argv = concrete(command)
    prog = Path(argv[0]).name
    _check_repo_paths(argv)
    if prog == "make":
        _check_make(argv)
    elif prog == "lrkit":
        _check_lrkit(argv, tmp_path)
    elif re.fullmatch(r"python(3(\.\d+)?)?", prog):
        assert "/tmp/" not in argv[0] and "-venv/" not in argv[0], f"{argv[0]}: a hand-made venv of one machine"
        _check_python(argv)
    elif prog == "pip":
        _check_pip(argv)
    elif prog == "conda":
        assert (ROOT / argv[argv.index("-f") + 1]).is_file()
    else:
        assert prog in OTHER_PROGRAMS, f"{doc}: {prog!r} is no program this test knows how to check: {command}"


def python_blocks() -> list[tuple[str, str]]:
    return [(doc, b) for doc in DOCS for b in fenced((ROOT / doc).read_text(), "python")]


@pytest.mark.parametrize("doc, block", python_blocks(), ids=[d for d, _ in python_blocks()])
def test_python_blocks_import_real_names(doc, block):
    import importlib

    tree = ast.parse(block)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "lrkit":
            mod = importlib.import_module(node.module)
            for alias in node.names:
                assert hasattr(mod, alias.name), f"{doc}: from {node.module} import {alias.name}: no such name"
