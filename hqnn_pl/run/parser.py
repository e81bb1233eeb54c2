"""The CLI's argument parser: an unknown key is named first, with the closest valid names."""

from __future__ import annotations

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


class HQNNArgumentParser(LightningArgumentParser):
    """LightningCLI's parser, with one-line errors for misspelled class arguments.

    jsonargparse reports ``--model.init_args.n_qubit 4`` inside ~70 lines of usage and a
    union-type message. This parser prints the unknown key first, with the closest valid
    argument names of the class and where to list them all, and exits with status 2; other
    errors keep jsonargparse's report.
    """

    def error(self, message: str, ex: Exception | None = None) -> NoReturn:
        """Report a misspelled class argument in one line, anything else as jsonargparse does."""
        hint = unknown_argument_hint(message, prog=self.prog.split()[0])
        if hint is None or not self.exit_on_error:
            super().error(message, ex)
        sys.stderr.write(f"hqnn-pl: error: {hint}\n")
        self.exit(2)


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
