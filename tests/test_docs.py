"""Every command line the docs site shows a user is exercised.

The commands are read from the ```bash and ```console blocks of README.md and docs/**/*.md (the
guide pages and the reports they include). ``hqnn-pl fit|validate|test|predict`` runs the real
CLI with ``--print_config`` and checks the printed model class; the other tools' argparse parsers
parse the command and the parsed values are checked. Placeholders (``<run>``, ``<name>``, ...)
become real paths in the test's folder. A command that cannot be checked is listed in
``UNCHECKED`` with the reason.
"""

from __future__ import annotations

import argparse
import itertools
import re
import shlex
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO

DOCS = REPO / "docs"
TOOLS = ("hqnn-pl", "hqnn-pl-compare", "hqnn-pl-diagnose", "hqnn-pl-robustness")
FENCE = re.compile(r"^(?P<indent>\s*)```(?P<lang>[\w-]*)\s*$")

#: Commands shown on purpose that cannot be checked, with the reason (matched by their start).
UNCHECKED: dict[str, str] = {
    "hqnn-pl fit --config configs/fashion_mnist/hqnn_parallel.yaml --seed_everything 0 "
    "--threads 1 --model.init_args.noise": (
        "docs/robustness/README.md records how the measured noisy run was made, before the "
        "execution redesign (its flat `noise` key); the page gives today's spelling"
    ),
}


@dataclass(frozen=True)
class Command:
    """One command line shown in the docs."""

    page: str
    line: int
    text: str

    @property
    def words(self) -> list[str]:
        return shlex.split(self.text, comments=True)


def shown_commands() -> list[Command]:
    """Every command of the four tools in a bash or console block of README.md and docs/."""
    commands = []
    for page in [REPO / "README.md", *sorted(DOCS.rglob("*.md"))]:
        lines = page.read_text().splitlines()
        inside: str | None = None
        pending: list[str] = []
        start = 0
        for number, raw in enumerate(lines, start=1):
            fence = FENCE.match(raw)
            if fence:
                inside = None if inside is not None else fence["lang"]
                continue
            if inside not in ("bash", "console", "shell", "sh"):
                continue
            line = raw.strip()
            if inside == "console":
                if not line.startswith("$ ") and not pending:
                    continue  # output, not a command
                line = line.removeprefix("$ ")
            if not pending:
                start = number
            pending.append(line.removesuffix("\\").strip())
            if line.endswith("\\"):
                continue
            text = " ".join(part for part in pending if part)
            pending = []
            if text.split(" ", 1)[0] in TOOLS:
                commands.append(Command(str(page.relative_to(REPO)), start, text))
    return commands


COMMANDS = shown_commands()


def test_the_docs_show_commands_of_every_tool() -> None:
    shown = {command.words[0] for command in COMMANDS}
    assert shown == set(TOOLS)
    for needle in UNCHECKED:
        assert any(c.text.startswith(needle) for c in COMMANDS), f"no longer shown: {needle}"


def unchecked_reason(command: Command) -> str | None:
    return next((why for start, why in UNCHECKED.items() if command.text.startswith(start)), None)


CHECKED = [
    pytest.param(c, id=f"{c.page}:{c.line}") for c in COMMANDS if unchecked_reason(c) is None
]


def real_words(command: Command, folder: Path) -> list[str]:
    """The command's arguments with placeholders made real paths under ``folder``."""
    run = folder / "runs" / "demo" / "version_0"
    (run / "checkpoints").mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "configs" / "quickstart.yaml", run / "config.yaml")
    replacements = {
        "runs/<name>/version_<n>": str(run),
        "runs/fashion_mnist-hqnn_parallel/version_0": str(run),
        "<run>": str(run),
        "<ckpt>": str(run / "checkpoints" / "last.ckpt"),
        "<folder>": str(folder / "out"),
        "<out>": str(folder / "out"),
    }
    words = []
    for word in command.words[1:]:
        for placeholder, real in replacements.items():
            word = word.replace(placeholder, real)
        if word == "DIR":
            word = str(folder / "out")
        if word.startswith("configs/"):
            word = str(REPO / word)
        assert "<" not in word, f"{command.page}:{command.line}: placeholder left in {word!r}"
        words.append(word)
    return words


def config_files(words: list[str]) -> list[Path]:
    files = []
    for flag, value in itertools.pairwise(words):
        if flag == "--config" and not value.startswith("--"):
            files.append(Path(value))
    return files


def model_class(files: list[Path]) -> str:
    """The model class the last config naming one gives (short or full name)."""
    found = ""
    for file in files:
        model = (yaml.safe_load(file.read_text()) or {}).get("model") or {}
        found = model.get("class_path", found)
    return found


def check_hqnn_pl(words: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    from hqnn_pl.cli import main

    assert words[0] in ("fit", "validate", "test", "predict"), words
    if "--print_config" not in words:
        words = [*words, "--print_config"]
    with pytest.raises(SystemExit) as exit_info:
        main(words)
    assert exit_info.value.code in (0, None)
    printed = yaml.safe_load(capsys.readouterr().out)
    expected = model_class(config_files(words))
    assert expected, "the command's configs name no model"
    assert printed["model"]["class_path"].split(".")[-1] == expected.split(".")[-1]
    for flag, value in itertools.pairwise(words):
        if flag.startswith("--model.init_args.") and not value.startswith("--"):
            keys = flag.removeprefix("--model.init_args.").split(".")
            node: Any = printed["model"]["init_args"]
            for key in keys:
                node = node[key]
            assert node == yaml.safe_load(value), f"{flag} {value} printed as {node!r}"


def parsers() -> dict[str, Callable[[], argparse.ArgumentParser]]:
    from hqnn_pl.analysis import cli as diagnose
    from hqnn_pl.experiments import cli as compare
    from hqnn_pl.experiments import robustness

    return {
        "hqnn-pl-compare": compare.build_parser,
        "hqnn-pl-diagnose": getattr(diagnose, "build_parser", None) or diagnose._parser,
        "hqnn-pl-robustness": robustness.build_parser,
    }


def check_tool(tool: str, words: list[str]) -> None:
    if tool == "hqnn-pl-compare" and "--" in words:
        words = words[: words.index("--")]  # the overrides after `--` go to every run
    parser = parsers()[tool]()
    options = parser.parse_args(words)
    actions = parser._option_string_actions
    for index, word in enumerate(words):
        if not word.startswith("--"):
            continue
        action = actions[word]
        value = getattr(options, action.dest)
        if action.nargs == "*" and value == []:
            # an option of any number of values given none: it turns its grid off
            assert index + 1 == len(words) or words[index + 1].startswith("--"), word
            continue
        assert value not in (None, False, []), f"{word} was not parsed"
        given = []
        for following in words[index + 1 :]:
            if following.startswith("--"):
                break
            given.append(following)
        if given:
            convert = actions[word].type or str
            values = value if isinstance(value, list) else [value]
            expected = [convert(v) for v in given]
            assert values[-len(given) :] == expected, f"{word}: {value!r}"


@pytest.mark.parametrize("command", CHECKED)
def test_shown_command(
    command: Command, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    words = real_words(command, tmp_path)
    tool = command.words[0]
    if tool == "hqnn-pl":
        check_hqnn_pl(words, capsys)
    else:
        check_tool(tool, words)
