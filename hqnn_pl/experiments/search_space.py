"""The search space of ``hqnn-pl-compare --tune``: CLI keys mapped to ranges or choices.

A YAML mapping of dotted ``hqnn-pl fit`` keys to one of::

    model.init_args.optimizer.init_args.lr: {low: 1.0e-4, high: 1.0e-2, log: true}
    model.init_args.n_features: {low: 4, high: 16, step: 4}     # integers: both bounds integers
    data.init_args.batch_size: {choices: [16, 32, 64]}

Floats use ``Trial.suggest_float``, integers ``suggest_int`` and choices ``suggest_categorical``.
Every key must exist in every config compared (checked against the resolved configs), so a typo
fails before any training instead of becoming an unknown-argument error in every trial.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from hqnn_pl.errors import ConfigurationError

#: Keys the tuning must not touch: they decide the seeds, the images or the subsets compared.
FORBIDDEN_PREFIXES = (
    "seed_everything",
    "data.init_args.seed",
    "data.init_args.train_subset",
    "data.class_path",
    "model.class_path",
    "trainer.logger",
)
RANGE_FIELDS = frozenset({"low", "high", "log", "step"})

Choice = bool | int | float | str | None


@dataclass(frozen=True)
class Parameter:
    """One tuned setting.

    Attributes:
        key: The dotted CLI key (``model.init_args.optimizer.init_args.lr``).
        kind: ``float``, ``int`` or ``categorical``.
        low: Lower bound (ranges).
        high: Upper bound (ranges).
        log: Sample on a log scale (ranges).
        step: Grid step (ranges; None: continuous floats, 1 for integers).
        choices: The values (categorical).
    """

    key: str
    kind: str
    low: float = 0.0
    high: float = 0.0
    log: bool = False
    step: float | None = None
    choices: tuple[Choice, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """The parameter as the search-space file writes it (for reports and ``compare.json``)."""
        if self.kind == "categorical":
            return {"choices": list(self.choices)}
        spec: dict[str, Any] = {"low": self.low, "high": self.high}
        if self.log:
            spec["log"] = True
        if self.step is not None:
            spec["step"] = self.step
        return spec


def load_search_space(path: Path) -> dict[str, Parameter]:
    """Read and check a search-space file.

    Raises:
        ConfigurationError: The file is missing, not YAML, empty, not a mapping, or a range or
            choice list is malformed; in one line naming the key.
    """
    where = f"--search_space {path}"
    if not path.is_file():
        raise ConfigurationError(f"{where}: no such file.")
    try:
        content = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        reason = " ".join(str(error).split())
        raise ConfigurationError(f"{where}: not valid YAML ({reason}).") from None
    if content is None or content == {}:
        raise ConfigurationError(
            f"{where}: the search space is empty; map at least one CLI key to a range or "
            "choices, e.g. 'model.init_args.optimizer.init_args.lr: {low: 1e-4, high: 1e-2, "
            "log: true}'."
        )
    if not isinstance(content, Mapping):
        raise ConfigurationError(
            f"{where}: expected a mapping of CLI keys to ranges or choices, got a "
            f"{type(content).__name__}."
        )
    return {str(key): _parameter(where, str(key), spec) for key, spec in content.items()}


def _parameter(where: str, key: str, spec: Any) -> Parameter:
    problem = f"{where}: {key}:"
    if key.startswith("--"):
        raise ConfigurationError(f"{problem} write the key without the leading --.")
    if any(key == p or key.startswith(f"{p}.") for p in FORBIDDEN_PREFIXES):
        raise ConfigurationError(
            f"{problem} this key decides the seeds, the data or the run folder, which a "
            "comparison holds fixed; tune model, optimiser, data loading or trainer settings."
        )
    if not isinstance(spec, Mapping):
        raise ConfigurationError(
            f"{problem} expected {{low: ..., high: ...[, log: true][, step: ...]}} or "
            f"{{choices: [...]}}, got {spec!r}."
        )
    if "choices" in spec:
        choices = spec["choices"]
        if set(spec) != {"choices"}:
            raise ConfigurationError(f"{problem} give either choices or low/high, not both.")
        if not isinstance(choices, list) or not choices:
            raise ConfigurationError(f"{problem} choices must be a non-empty list.")
        if not all(c is None or isinstance(c, bool | int | float | str) for c in choices):
            raise ConfigurationError(
                f"{problem} choices must be numbers, strings, booleans or null (Optuna's "
                "categorical values)."
            )
        return Parameter(key, "categorical", choices=tuple(choices))
    unknown = sorted(set(spec) - RANGE_FIELDS)
    if unknown or "low" not in spec or "high" not in spec:
        raise ConfigurationError(
            f"{problem} a range needs low and high (and optionally log, step); "
            + (f"unknown field {', '.join(unknown)}." if unknown else "low or high is missing.")
        )
    low, high, step = (_number(spec.get(name)) for name in ("low", "high", "step"))
    log = spec.get("log", False)
    numbers = [v for v in (low, high, step) if v is not None]
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in numbers):
        raise ConfigurationError(
            f"{problem} low, high and step must be numbers, got low={spec['low']!r}, "
            f"high={spec['high']!r}."
        )
    if not isinstance(log, bool):
        raise ConfigurationError(f"{problem} log must be true or false, got {log!r}.")
    if not low < high:
        raise ConfigurationError(f"{problem} low ({low}) must be below high ({high}).")
    if log and low <= 0:
        raise ConfigurationError(f"{problem} a log range needs low > 0, got {low}.")
    if step is not None and (step <= 0 or log):
        raise ConfigurationError(f"{problem} step must be positive and not used with log.")
    kind = "int" if all(isinstance(v, int) for v in numbers) else "float"
    return Parameter(key, kind, float(low), float(high), log, step)


def _number(value: Any) -> Any:
    """``value``, or the float a string spells (PyYAML reads ``1e-4`` without a dot as text)."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def check_keys(space: Mapping[str, Parameter], configs: Mapping[str, dict[str, Any]]) -> None:
    """Refuse a key that does not exist in every resolved config.

    Args:
        space: The search space.
        configs: Resolved config by label.

    Raises:
        ConfigurationError: Naming the key, the config and the keys that exist where it
            stops matching.
    """
    for key in space:
        for label, resolved in configs.items():
            node: Any = resolved
            path: list[str] = []
            for part in key.split("."):
                if not isinstance(node, Mapping) or part not in node:
                    here = ".".join(path) or "the top level"
                    known = ", ".join(sorted(map(str, node))) if isinstance(node, Mapping) else ""
                    raise ConfigurationError(
                        f"--search_space: the key {key} does not exist in config {label} "
                        f"(at {here} it has: {known or 'no keys, a value'})."
                    )
                node = node[part]
                path.append(part)


def suggest(trial: Any, space: Mapping[str, Parameter]) -> dict[str, Choice]:
    """Draw a value of every parameter from an Optuna trial.

    Args:
        trial: An ``optuna.trial.Trial``.
        space: The search space.

    Returns:
        The values by key.
    """
    values: dict[str, Choice] = {}
    for key, p in space.items():
        if p.kind == "categorical":
            values[key] = trial.suggest_categorical(key, list(p.choices))
        elif p.kind == "int":
            values[key] = trial.suggest_int(key, int(p.low), int(p.high), step=int(p.step or 1),
                                            log=p.log)  # fmt: skip
        else:
            values[key] = trial.suggest_float(key, p.low, p.high, step=p.step, log=p.log)
    return values


def override_args(values: Mapping[str, Any], keys: Sequence[str] | None = None) -> list[str]:
    """The ``hqnn-pl fit`` overrides that set ``values`` (``--key=value``, in ``keys`` order).

    Values are written as JSON (``true``, ``null``, ``0.001``), which the CLI parses back to the
    same value; strings are written as they are.
    """
    order = list(keys) if keys is not None else list(values)
    return [
        f"--{key}={values[key] if isinstance(values[key], str) else json.dumps(values[key])}"
        for key in order
        if key in values
    ]
