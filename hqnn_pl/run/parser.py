"""The CLI's argument parser: an unknown key is named first, with the closest valid names."""

from __future__ import annotations

import dataclasses
import difflib
import importlib
import inspect
import re
import sys
from typing import Any, NoReturn

from lightning.pytorch.cli import LightningArgumentParser

#: jsonargparse's report of an argument a class does not take, inside its union-type message.
_UNKNOWN_OPTION = re.compile(
    r"Problem with given class_path '(?P<class_path>[\w.]+)':\s+"
    r"(?:Option|Key) '(?P<key>[\w.]+)' is not accepted"
)
#: The config group the failing value belongs to ("model", "data", "trainer.logger", ...).
_GROUP = re.compile(r'Parser key "(?P<group>[\w.]+)"')
#: Every key of a nested report, outermost first.
_GROUP_KEYS = re.compile(r'Parser key "([\w.]+)"')
#: The class whose argument failed, inside a union-type report.
_CLASS_PATH = re.compile(r"Problem with given class_path '(?P<class_path>[\w.]+)'")
#: argparse's report of options nobody takes.
_UNRECOGNIZED = re.compile(r"unrecognized arguments: (?P<args>.+)")
#: One type of a ``Subtypes: [...]`` list: ``<class 'x'>`` or a generic (``dict[str, float]``).
_SUBTYPE = re.compile(r"<class '[\w.]+'>|[\w.]+\[[^\]]*\]|[\w.]+")
_SUBTYPES = re.compile(r"Subtypes: \[(.*)\]")
_GIVEN = re.compile(r"Given value: (?P<value>.*)")
_EXPECTED = re.compile(
    r"Expected a (?P<type><class '[\w.]+'>|[\w.\[\], ]+?)\.?(?: Got value: (?P<value>.*))?$", re.M
)
#: A class argument given before the class is known (``--model.init_args.x`` before --config).
_NESTED_ARG = re.compile(r"NestedArg\(key='(?P<key>[\w.]+)', val=(?P<value>.*)\)")
_MISSING_FILE = re.compile(r"File does not exist: '?(?P<file>[^']+)'?")


class HQNNArgumentParser(LightningArgumentParser):
    """LightningCLI's parser, with every error in one line.

    jsonargparse reports a bad argument inside ~70 lines of usage and union-type messages.
    This parser prints one line naming the key or file, the value and what it should be (a
    misspelled key gets the closest valid ones), and exits with status 2.
    """

    def error(self, message: str, ex: Exception | None = None) -> NoReturn:
        """Report ``message`` in one line on stderr and exit with status 2."""
        if not self.exit_on_error:
            super().error(message, ex)
        words = self.prog.split()
        prog, command = words[0], " ".join(w for w in words if not w.startswith("["))
        hint = (
            unknown_argument_hint(message, prog=prog)
            or self._unrecognized_hint(message, command)
            or value_hint(message, prog=prog, command=command)
        )
        sys.stderr.write(f"{prog}: error: {hint}\n")
        self.exit(2)

    def _unrecognized_hint(self, message: str, command: str) -> str | None:
        """``--trainer.max_epocs 1`` -> the option named, with the closest valid options."""
        match = _UNRECOGNIZED.search(message)
        if match is None:
            return None
        given = match.group("args").split()
        option = next((arg.split("=")[0] for arg in given if arg.startswith("-")), given[0])
        valid = [name for name in self._option_string_actions if name.startswith("--")]
        close = difflib.get_close_matches(option, valid, n=3, cutoff=0.75)
        suggestion = f"did you mean {' or '.join(close)}?" if close else "check the spelling."
        return f"{option}: no such option; {suggestion} (`{command} --help` lists them all)"


def value_hint(message: str, prog: str = "hqnn-pl", command: str = "hqnn-pl fit") -> str:
    """Turn jsonargparse's report of a bad value or file into one line.

    The report nests one ``Parser key`` per level (``model``, then the class's argument); the
    innermost one names the failing key, its value and the types it takes.

    Args:
        message: jsonargparse's error message.
        prog: The program, for the pointer to a class's help.
        command: The program and subcommand, for the pointer to ``--help``.

    Returns:
        e.g. ``"--trainer.max_epochs one: expected int or null (`hqnn-pl fit --help` ...)"``.
    """
    keys = _GROUP_KEYS.findall(message)
    if not keys:
        return " ".join(line.strip() for line in message.splitlines() if line.strip())
    class_path = _CLASS_PATH.search(message)
    early = _NESTED_ARG.search(message)
    if class_path is None and early is not None:
        return (
            f"--{keys[0]}.init_args.{early.group('key')} {early.group('value').strip(chr(39))}: "
            f"the {keys[0]}'s class is not known yet; give --config (or --{keys[0]}) before "
            "the arguments of its class."
        )
    nested = class_path is not None and len(keys) > 1
    key = f"{keys[0]}.init_args.{keys[-1]}" if nested else keys[0]
    segment = _innermost(message)
    missing = _MISSING_FILE.search(segment)
    if missing is not None:
        return f"--{key} {missing.group('file')}: no such file; give the path of an existing file."
    expected_value = _EXPECTED.search(segment)
    subtypes = _SUBTYPES.search(segment)
    given = _GIVEN.search(segment)
    if expected_value is not None and subtypes is None:
        expected = _type_name(expected_value.group("type"))
        given_text = expected_value.group("value") or (given.group("value") if given else "")
    else:
        names = [_type_name(t) for t in _SUBTYPE.findall(subtypes.group(1))] if subtypes else []
        expected = " or ".join("null" if n == "NoneType" else n for n in names) or "another value"
        given_text = given.group("value") if given else ""
    if nested and class_path is not None:
        where = f"`{prog} fit --{keys[0]}.help {class_path.group('class_path').rpartition('.')[2]}`"
    else:
        where = f"`{command} --help`"
    value = f" {given_text.strip()}" if given_text.strip() else ""
    return f"--{key}{value}: expected {expected} ({where} describes it)"


def _innermost(message: str) -> str:
    """The lines of the innermost ``Parser key`` block of a nested report."""
    lines = message.splitlines()
    start = max(i for i, line in enumerate(lines) if "Parser key" in line)
    indent = len(lines[start]) - len(lines[start].lstrip())
    block = [lines[start]]
    for line in lines[start + 1 :]:
        if line.strip() and len(line) - len(line.lstrip()) <= indent:
            break
        block.append(line)
    return "\n".join(block)


def _type_name(text: str) -> str:
    """``"<class 'int'>"`` -> ``"int"``; ``"dict[str, float]"`` stays."""
    match = re.fullmatch(r"<class '(?:[\w.]+\.)?(\w+)'>", text.strip())
    return match.group(1) if match else text.strip()


def unknown_argument_hint(message: str, prog: str = "hqnn-pl") -> str | None:
    """Turn jsonargparse's message about an unaccepted class argument into a one-line hint.

    Args:
        message: jsonargparse's error message.
        prog: The command, for the pointer to ``--<group>.help``.

    Returns:
        ``"--model.init_args.n_qubit: HQNNParallel takes no argument 'n_qubit'; did you mean
        n_qubits? ..."``, or None when the message is about something else.
    """
    match = _UNKNOWN_OPTION.search(message)
    if match is None:
        return None
    group_match = _GROUP.search(message)
    group = group_match.group("group") if group_match else "model"
    class_path, key = match.group("class_path"), match.group("key")
    name = class_path.rpartition(".")[2]
    valid = _init_arguments(class_path)
    if key in execution_fields() and "execution" in valid:
        return (
            f"--{group}.init_args.{key}: how circuits run is one `execution` setting now; use "
            f"--{group}.init_args.execution.{key} (YAML: execution: {{{key}: ...}})"
        )
    close = difflib.get_close_matches(key, valid, n=3, cutoff=0.6)
    if close:
        suggestion = f"did you mean {' or '.join(close)}?"
    elif valid:
        suggestion = f"its arguments are {', '.join(valid)}."
    else:
        suggestion = "check the spelling."
    return (
        f"--{group}.init_args.{key}: {name} takes no argument '{key}'; {suggestion} "
        f"(`{prog} fit --{group}.help {name}` describes them all)"
    )


def execution_fields() -> list[str]:
    """The settings of :class:`~hqnn_pl.quantum.execution.Execution` (once flat model keys)."""
    from hqnn_pl.quantum.execution import Execution

    return [field.name for field in dataclasses.fields(Execution)]


def _init_arguments(class_path: str) -> list[str]:
    """The keyword arguments a class's ``__init__`` accepts (through ``**kwargs`` to its bases)."""
    module, _, name = class_path.rpartition(".")
    try:
        cls: Any = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError):
        return []
    names: list[str] = []
    for klass in inspect.getmro(cls):
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        parameters = list(inspect.signature(init).parameters.values())[1:]
        names += [
            p.name
            for p in parameters
            if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) and p.name not in names
        ]
        if not any(p.kind is p.VAR_KEYWORD for p in parameters):
            break
    return names
