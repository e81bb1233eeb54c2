"""The report of a comparison: ``results.md``, ``results.csv``, ``runs.csv`` and PNG figures."""

from __future__ import annotations

import csv
import math
import statistics
from pathlib import Path

from hqnn_pl.experiments.collect import TEST_METRICS, RunResult, collect, seeds_on_disk
from hqnn_pl.experiments.figures import accuracy_figure, curve_figures, learning_curve_figure
from hqnn_pl.experiments.paper import paper_figure
from hqnn_pl.experiments.plan import Manifest, data_identity
from hqnn_pl.experiments.runner import LOG_FILE
from hqnn_pl.experiments.statistics import Paired, Summary, holm, paired, summarise, verdict

#: Metrics of the paired comparison with the reference config.
PAIRED_METRICS = ("test/acc", "test/f1")


def _cell(summary: Summary, digits: int = 4) -> str:
    if summary.n == 0:
        return "-"
    if math.isnan(summary.std):
        return f"{summary.mean:.{digits}f}"
    return f"{summary.mean:.{digits}f} +- {summary.std:.{digits}f}"


def _interval(summary: Summary, digits: int = 4) -> str:
    if math.isnan(summary.low):
        return "n < 2"
    return f"[{summary.low:.{digits}f}, {summary.high:.{digits}f}]"


def _p(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.3g}"


def _finished(runs: list[RunResult]) -> list[RunResult]:
    return [r for r in runs if r.finished]


def _params(runs: list[RunResult]) -> str:
    counts = next((r.params for r in runs if r.params), None)
    if not counts:
        return "-"
    text = f"{counts.get('trainable', 0):,} ({counts.get('quantum', 0):,} quantum)"
    if counts.get("frozen"):
        text += f", {counts['frozen']:,} frozen"
    return text


def median_epoch_seconds(runs: list[RunResult]) -> float | None:
    """Median seconds per epoch over ``runs`` (a run slowed by other jobs does not drag it)."""
    values = [r.epoch_seconds for r in runs if not math.isnan(r.epoch_seconds)]
    return statistics.median(values) if values else None


def _seconds(runs: list[RunResult]) -> str:
    value = median_epoch_seconds(runs)
    return "-" if value is None else f"{value:.1f}"


#: A training-set size; None is the whole split.
Size = int | None


def write_report(out: Path, manifest: Manifest) -> str:
    """Write the report of the comparison in ``out`` and return ``results.md``'s text.

    With training-set sizes, every size gets its summary and paired tests, the p-values of each
    config's tests Holm-corrected across sizes, and ``learning_curve.png``; the epoch curves and
    the box plot show the largest size.
    """
    specs = manifest.specs()
    labels = [s.label for s in specs]
    reference = labels[0]
    sizes: list[Size] = list(manifest.train_sizes or [None])
    groups: dict[Size, dict[str, list[RunResult]]] = {}
    for size in sizes:
        seeds = sorted(set(range(manifest.seeds)) | set(seeds_on_disk(out, labels, size)))
        groups[size] = collect(out, labels, seeds, size)
    finished = {
        size: {label: _finished(runs) for label, runs in results.items()}
        for size, results in groups.items()
    }
    summaries = {
        size: {
            label: {m: summarise([r.test[m] for r in runs if m in r.test]) for m in TEST_METRICS}
            for label, runs in by_label.items()
        }
        for size, by_label in finished.items()
    }
    comparisons = _holm_across_sizes(
        {size: _paired(by_label, reference, manifest.margin) for size, by_label in finished.items()}
    )
    _write_csv(out / "results.csv", summaries, finished, groups)
    _write_runs_csv(out / "runs.csv", groups)
    largest = groups[sizes[-1]]
    pngs = curve_figures(largest, out)
    box = accuracy_figure(largest, out)
    if box is not None:
        pngs.append(box)
    if manifest.train_sizes:
        curve = learning_curve_figure({s: g for s, g in groups.items() if s is not None}, out)
        if curve is not None:
            pngs.insert(0, curve)
    text = _markdown(out, manifest, groups, finished, summaries, comparisons, pngs)
    (out / "results.md").write_text(text)
    return text


def _paired(
    finished: dict[str, list[RunResult]], reference: str, margin: float | None
) -> dict[str, list[Paired]]:
    by_seed = {label: {r.seed: r for r in runs} for label, runs in finished.items()}
    out: dict[str, list[Paired]] = {}
    for label in finished:
        if label == reference:
            continue
        common = sorted(by_seed[reference].keys() & by_seed[label].keys())
        out[label] = [
            paired(
                metric,
                [by_seed[reference][s].test[metric] for s in common],
                [by_seed[label][s].test[metric] for s in common],
                margin,
            )
            for metric in PAIRED_METRICS
            if all(metric in by_seed[x][s].test for x in (reference, label) for s in common)
        ]
    return out


def _holm_across_sizes(
    comparisons: dict[Size, dict[str, list[Paired]]],
) -> dict[Size, dict[str, list[Paired]]]:
    """Holm-correct each (config, metric)'s p-values over the training-set sizes."""
    if len(comparisons) < 2:
        return comparisons
    sizes = list(comparisons)
    labels = {label for by_label in comparisons.values() for label in by_label}
    corrected: dict[Size, dict[str, list[Paired]]] = {s: {} for s in sizes}
    for label in sorted(labels):
        for metric in PAIRED_METRICS:
            family = [
                (size, r)
                for size in sizes
                for r in comparisons[size].get(label, [])
                if r.metric == metric
            ]
            for (size, _), result in zip(family, holm([r for _, r in family]), strict=True):
                corrected[size].setdefault(label, []).append(result)
    return corrected


def _size_text(size: Size) -> str:
    return "all" if size is None else str(size)


def _markdown(
    out: Path,
    manifest: Manifest,
    groups: dict[Size, dict[str, list[RunResult]]],
    finished: dict[Size, dict[str, list[RunResult]]],
    summaries: dict[Size, dict[str, dict[str, Summary]]],
    comparisons: dict[Size, dict[str, list[Paired]]],
    pngs: list[Path],
) -> str:
    specs = {s.label: s for s in manifest.specs()}
    labels = list(specs)
    reference = labels[0]
    sized = manifest.train_sizes is not None
    data = data_identity(specs[reference].resolved)
    data_name = str(data.pop("class_path", "?")).rsplit(".", 1)[-1]
    lines = [
        f"# Comparison: {', '.join(labels)}",
        "",
        f"Reference (first config): **{reference}**. Data: `{data_name}` "
        + ", ".join(f"{k}={v}" for k, v in data.items() if v is not None)
        + ".",
    ]
    if manifest.extra:
        lines.append(f"Overrides for every run: `{' '.join(manifest.extra)}`.")
    planned = max((len(runs) for g in groups.values() for runs in g.values()), default=0)
    lines.append(
        f"Seeds 0..{planned - 1} (`seed_everything`: initialisation and data order; the splits "
        "keep their own `data.seed`). Mean +- sample std over seeds; 95% CI of the mean from "
        "Student's t; s/epoch is the median over seeds."
    )
    if sized:
        lines.append(
            f"Training-set sizes {', '.join(map(str, manifest.train_sizes or []))}: stratified "
            "subsets of the training split drawn with the run's seed (the same images for every "
            "config at a size and seed; validation and test splits unchanged)."
            + (
                " Each config's p-values are Holm-corrected across the sizes."
                if len(manifest.train_sizes or []) > 1
                else ""
            )
        )
    lines += _session_lines(manifest)
    run_seconds = sum(r.wall_seconds for g in groups.values() for runs in g.values() for r in runs)
    if run_seconds:
        lines.append(
            f"Run time summed over all runs and attempts: {run_seconds:.0f} s (per run in "
            "`runs.csv`)."
        )
    lines += _tuning_lines(manifest, labels)
    size_head, size_rule = ("train size | ", "---|") if sized else ("", "")
    lines += [
        "",
        f"| config | {size_head}model | seeds | test acc | 95% CI | top-5 acc | macro F1 | "
        "test loss | trainable params | s/epoch |",
        f"|---|{size_rule}---|---|---|---|---|---|---|---|---|",
    ]
    for size, by_label in summaries.items():
        for label in labels:
            s = by_label[label]
            cell = f"{_size_text(size)} | " if sized else ""
            lines.append(
                f"| {label} | {cell}{specs[label].model_class} | {len(finished[size][label])}/"
                f"{len(groups[size][label])} | {_cell(s['test/acc'])} | "
                f"{_interval(s['test/acc'])} | {_cell(s['test/acc_top5'])} | "
                f"{_cell(s['test/f1'])} | {_cell(s['test/loss'])} | "
                f"{_params(groups[size][label])} | {_seconds(finished[size][label])} |"
            )
    if any(len(runs) < 2 for f in finished.values() for runs in f.values()):
        lines += [
            "",
            "Fewer than 2 finished seeds for some configs: no spread, interval or test for them; "
            "their values are listed as they are. Run more seeds for a comparison.",
        ]
    largest = list(summaries)[-1]
    papers = [(label, paper_figure(specs[label].relative)) for label in labels]
    if any(figure for _, figure in papers) and largest is None:
        lines += ["", "Published figures next to ours:", ""]
        lines += [
            f"- {label}: {figure} | here: {_cell(summaries[largest][label]['test/acc'])} test "
            f"accuracy ({data_name})"
            for label, figure in papers
            if figure is not None
        ]
    lines += _comparison_lines(reference, comparisons, manifest.margin, sized)
    lines += _seed_table(labels, groups, sized)
    problems = [r for g in groups.values() for runs in g.values() for r in runs if not r.finished]
    if problems:
        lines += ["", "## Runs not in the summary", ""]
        lines += [
            f"- {r.label}{f' n={r.train_size}' if sized else ''} seed {r.seed}: {r.status}"
            + (f" (see `{r.folder / LOG_FILE}`)" if r.status == "failed" else "")
            for r in problems
        ]
    if pngs:
        lines += ["", "## Figures", ""]
        if sized:
            lines.append(
                f"Epoch curves and the box plot show training-set size {_size_text(largest)}."
            )
            lines.append("")
        lines += [f"![{p.stem}]({p.name})" for p in pngs]
    folders = "`runs/<config>/n<size>/seed_<s>/`" if sized else "`runs/<config>/seed_<s>/`"
    lines += ["", f"Files: `{out}/results.csv` (summary), `runs.csv` (every run), run folders in "
              f"{folders}."]  # fmt: skip
    return "\n".join(lines) + "\n"


def _session_lines(manifest: Manifest) -> list[str]:
    if not manifest.sessions:
        return []
    total = sum(float(s.get("wall_seconds", 0)) for s in manifest.sessions)
    last = manifest.sessions[-1]
    interrupted = sum(1 for s in manifest.sessions if s.get("interrupted"))
    stopped = f" ({interrupted} interrupted)" if interrupted else ""
    return [
        f"Wall time {total:.0f} s over {len(manifest.sessions)} invocation(s){stopped}; last: "
        f"{last.get('parallel')} run(s) at once x {last.get('threads')} thread(s) on "
        f"{last.get('cpu_count')} CPU cores ({last.get('machine')})."
    ]


def _tuning_lines(manifest: Manifest, labels: list[str]) -> list[str]:
    """The tuning section: settings, and per (config, size) the best values and the budget."""
    tuning = manifest.tuning
    if not tuning:
        return []
    space = ", ".join(f"`{k}` {v}" for k, v in (tuning.get("search_space") or {}).items())
    lines = [
        "",
        "## Tuning",
        "",
        f"Every config and size got the same budget of {tuning['trials']} Optuna trials before "
        f"its seeds: {tuning.get('sampler')}, {tuning.get('pruner')}; objective "
        f"{tuning.get('objective')} (not an evaluation seed; the test split untouched). Search "
        f"space: {space}. Studies in `{tuning.get('storage')}` (to look at them: "
        f"`optuna-dashboard {tuning.get('storage')}`).",
        "",
        "| config | study | best values | best val acc | trial | trials (states) | tuning time |",
        "|---|---|---|---|---|---|---|",
    ]
    for key, best in manifest.best.items():
        label = key.split("/", 1)[0]
        if label not in labels:
            continue
        values = ", ".join(f"{k.rsplit('.', 1)[-1]}={_value(v)}" for k, v in best["params"].items())
        states = ", ".join(f"{n} {state.lower()}" for state, n in sorted(best["states"].items()))
        lines.append(
            f"| {label} | {best['study']} | {values} | {best['value']:.4f} | {best['trial']} | "
            f"{sum(best['states'].values())} of {best['budget']} ({states}) | "
            f"{best.get('seconds', 0):.0f} s |"
        )
    if not manifest.best:
        lines.append("| (no study finished yet) | | | | | | |")
    return lines


def _value(value: object) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _comparison_lines(
    reference: str,
    comparisons: dict[Size, dict[str, list[Paired]]],
    margin: float | None,
    sized: bool,
) -> list[str]:
    if not any(comparisons.values()):
        return []
    tost_head, tost_rule = (f" TOST p (+-{margin:g}) |", "---|") if margin is not None else ("", "")
    size_head, size_rule = (" train size |", "---|") if sized else ("", "")
    corrected = " (p-values Holm-corrected across sizes)" if len(comparisons) > 1 else ""
    lines = [
        "",
        f"## Paired comparison with {reference} (same seeds){corrected}",
        "",
        f"| config |{size_head} metric | paired seeds | mean difference | 95% CI | paired t-test p "
        f"| Wilcoxon p |{tost_head}",
        f"|---|{size_rule}---|---|---|---|---|---|{tost_rule}",
    ]
    verdicts = []
    count = max(len(c) for c in comparisons.values())
    for size, by_label in comparisons.items():
        for label, results in by_label.items():
            for result in results:
                interval = (
                    "n < 2"
                    if math.isnan(result.low)
                    else f"[{result.low:+.4f}, {result.high:+.4f}]"
                )
                size_cell = f" {_size_text(size)} |" if sized else ""
                tost_cell = f" {_p(result.tost_p)} |" if margin is not None else ""
                lines.append(
                    f"| {label} |{size_cell} {result.metric} | {result.n} | "
                    f"{result.difference:+.4f} | {interval} | {_p(result.t_p)} | "
                    f"{_p(result.wilcoxon_p)} |{tost_cell}"
                )
                if result.metric == "test/acc":
                    where = f"{_size_text(size)} training images: " if sized else ""
                    verdicts.append(f"- {where}{verdict(label, reference, result, count)}")
    return [*lines, "", *verdicts]


def _seed_table(
    labels: list[str], groups: dict[Size, dict[str, list[RunResult]]], sized: bool
) -> list[str]:
    rows = [
        (size, seed)
        for size, results in groups.items()
        for seed in sorted({r.seed for runs in results.values() for r in runs})
    ]
    if not rows:
        return []
    size_head, size_rule = ("train size | ", "---|") if sized else ("", "")
    lines = [
        "",
        "Test accuracy per seed:",
        "",
        f"| {size_head}seed | " + " | ".join(labels) + " |",
        f"|{size_rule}---|" + "---|" * len(labels),
    ]
    for size, seed in rows:
        by_seed = {label: {r.seed: r for r in runs} for label, runs in groups[size].items()}
        cells = []
        for label in labels:
            run = by_seed[label].get(seed)
            cells.append(
                f"{run.test['test/acc']:.4f}" if run and "test/acc" in run.test else
                (run.status if run else "-")
            )  # fmt: skip
        size_cell = f"{_size_text(size)} | " if sized else ""
        lines.append(f"| {size_cell}{seed} | " + " | ".join(cells) + " |")
    return lines


def _write_csv(
    path: Path,
    summaries: dict[Size, dict[str, dict[str, Summary]]],
    finished: dict[Size, dict[str, list[RunResult]]],
    groups: dict[Size, dict[str, list[RunResult]]],
) -> None:
    """One row per (config, training-set size): seeds and, per test metric, mean, std, CI.

    Also parameters and s/epoch; ``train_size`` is empty for the whole training split.
    """
    fields = ["config", "train_size", "seeds_finished", "seeds_planned"]
    for metric in TEST_METRICS:
        name = metric.removeprefix("test/")
        fields += [f"{name}_mean", f"{name}_std", f"{name}_ci_low", f"{name}_ci_high"]
    fields += ["params_trainable", "params_quantum", "params_frozen", "seconds_per_epoch"]
    with path.open("w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=fields)
        writer.writeheader()
        for size, by_label in summaries.items():
            for label, metrics in by_label.items():
                row: dict[str, object] = {
                    "config": label,
                    "train_size": size,
                    "seeds_finished": len(finished[size][label]),
                    "seeds_planned": len(groups[size][label]),
                }
                for metric, s in metrics.items():
                    name = metric.removeprefix("test/")
                    row.update(
                        {
                            f"{name}_mean": s.mean,
                            f"{name}_std": s.std,
                            f"{name}_ci_low": s.low,
                            f"{name}_ci_high": s.high,
                        }
                    )
                counts = next((r.params for r in groups[size][label] if r.params), {})
                row.update(
                    {
                        "params_trainable": counts.get("trainable"),
                        "params_quantum": counts.get("quantum"),
                        "params_frozen": counts.get("frozen"),
                        "seconds_per_epoch": median_epoch_seconds(finished[size][label]),
                    }
                )
                writer.writerow(row)


def _write_runs_csv(path: Path, groups: dict[Size, dict[str, list[RunResult]]]) -> None:
    """One row per run: size, status, test metrics, seconds per epoch, wall time, threads."""
    fields = ["config", "train_size", "seed", "status", *TEST_METRICS, "seconds_per_epoch",
              "wall_seconds", "threads", "folder"]  # fmt: skip
    with path.open("w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=fields)
        writer.writeheader()
        for results in groups.values():
            for runs in results.values():
                for r in runs:
                    writer.writerow(
                        {
                            "config": r.label,
                            "train_size": r.train_size,
                            "seed": r.seed,
                            "status": r.status,
                            **{m: r.test.get(m) for m in TEST_METRICS},
                            "seconds_per_epoch": None if math.isnan(r.epoch_seconds) else
                            round(r.epoch_seconds, 3),
                            "wall_seconds": round(r.wall_seconds, 1),
                            "threads": r.threads,
                            "folder": str(r.folder),
                        }
                    )  # fmt: skip
