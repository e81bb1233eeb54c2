"""The report of a comparison: ``results.md``, ``results.csv``, ``runs.csv`` and PNG figures."""

from __future__ import annotations

import csv
import math
import statistics
from pathlib import Path

from hqnn_pl.experiments.collect import TEST_METRICS, RunResult, collect, seeds_on_disk
from hqnn_pl.experiments.figures import accuracy_figure, curve_figures
from hqnn_pl.experiments.paper import paper_figure
from hqnn_pl.experiments.plan import Manifest, data_identity
from hqnn_pl.experiments.runner import LOG_FILE
from hqnn_pl.experiments.statistics import Paired, Summary, paired, summarise, verdict

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


def write_report(out: Path, manifest: Manifest) -> str:
    """Write the report of the comparison in ``out`` and return ``results.md``'s text."""
    specs = manifest.specs()
    labels = [s.label for s in specs]
    reference = labels[0]
    seeds = sorted(set(range(manifest.seeds)) | set(seeds_on_disk(out, labels)))
    results = collect(out, labels, seeds)
    finished = {label: _finished(runs) for label, runs in results.items()}
    summaries = {
        label: {m: summarise([r.test[m] for r in runs if m in r.test]) for m in TEST_METRICS}
        for label, runs in finished.items()
    }
    comparisons = _paired(finished, reference)
    _write_csv(out / "results.csv", summaries, finished, results)
    _write_runs_csv(out / "runs.csv", results)
    pngs = curve_figures(results, out)
    box = accuracy_figure(results, out)
    if box is not None:
        pngs.append(box)
    text = _markdown(out, manifest, results, finished, summaries, comparisons, pngs)
    (out / "results.md").write_text(text)
    return text


def _paired(finished: dict[str, list[RunResult]], reference: str) -> dict[str, list[Paired]]:
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
            )
            for metric in PAIRED_METRICS
            if all(metric in by_seed[x][s].test for x in (reference, label) for s in common)
        ]
    return out


def _markdown(
    out: Path,
    manifest: Manifest,
    results: dict[str, list[RunResult]],
    finished: dict[str, list[RunResult]],
    summaries: dict[str, dict[str, Summary]],
    comparisons: dict[str, list[Paired]],
    pngs: list[Path],
) -> str:
    specs = {s.label: s for s in manifest.specs()}
    labels = list(specs)
    reference = labels[0]
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
    planned = max((len(runs) for runs in results.values()), default=0)
    lines.append(
        f"Seeds 0..{planned - 1} (`seed_everything`: initialisation and data order; the splits "
        "keep their own `data.seed`). Mean +- sample std over seeds; 95% CI of the mean from "
        "Student's t; s/epoch is the median over seeds."
    )
    lines += _session_lines(manifest)
    run_seconds = sum(r.wall_seconds for runs in results.values() for r in runs)
    if run_seconds:
        lines.append(
            f"Run time summed over all runs and attempts: {run_seconds:.0f} s (per run in "
            "`runs.csv`)."
        )
    lines += [
        "",
        "| config | model | seeds | test acc | 95% CI | top-5 acc | macro F1 | test loss | "
        "trainable params | s/epoch |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for label in labels:
        s = summaries[label]
        lines.append(
            f"| {label} | {specs[label].model_class} | {len(finished[label])}/"
            f"{len(results[label])} | {_cell(s['test/acc'])} | {_interval(s['test/acc'])} | "
            f"{_cell(s['test/acc_top5'])} | {_cell(s['test/f1'])} | {_cell(s['test/loss'])} | "
            f"{_params(results[label])} | {_seconds(finished[label])} |"
        )
    if any(len(runs) < 2 for runs in finished.values()):
        lines += [
            "",
            "Fewer than 2 finished seeds for some configs: no spread, interval or test for them; "
            "their values are listed as they are. Run more seeds for a comparison.",
        ]
    papers = [(label, paper_figure(specs[label].relative)) for label in labels]
    if any(figure for _, figure in papers):
        lines += ["", "Published figures next to ours:", ""]
        lines += [
            f"- {label}: {figure} | here: {_cell(summaries[label]['test/acc'])} test accuracy "
            f"({data_name})"
            for label, figure in papers
            if figure is not None
        ]
    lines += _comparison_lines(reference, comparisons)
    lines += _seed_table(labels, results)
    problems = [r for runs in results.values() for r in runs if not r.finished]
    if problems:
        lines += ["", "## Runs not in the summary", ""]
        lines += [
            f"- {r.label} seed {r.seed}: {r.status}"
            + (f" (see `{r.folder / LOG_FILE}`)" if r.status == "failed" else "")
            for r in problems
        ]
    if pngs:
        lines += ["", "## Figures", ""]
        lines += [f"![{p.stem}]({p.name})" for p in pngs]
    lines += ["", f"Files: `{out}/results.csv` (summary), `runs.csv` (every run), run folders in "
              "`runs/<config>/seed_<s>/`."]  # fmt: skip
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


def _comparison_lines(reference: str, comparisons: dict[str, list[Paired]]) -> list[str]:
    if not comparisons:
        return []
    lines = [
        "",
        f"## Paired comparison with {reference} (same seeds)",
        "",
        "| config | metric | paired seeds | mean difference | 95% CI | paired t-test p | "
        "Wilcoxon p |",
        "|---|---|---|---|---|---|---|",
    ]
    verdicts = []
    count = len(comparisons)
    for label, results in comparisons.items():
        for result in results:
            interval = (
                "n < 2" if math.isnan(result.low) else f"[{result.low:+.4f}, {result.high:+.4f}]"
            )
            lines.append(
                f"| {label} | {result.metric} | {result.n} | {result.difference:+.4f} | "
                f"{interval} | {_p(result.t_p)} | {_p(result.wilcoxon_p)} |"
            )
            if result.metric == "test/acc":
                verdicts.append(f"- {verdict(label, reference, result, count)}")
    return [*lines, "", *verdicts]


def _seed_table(labels: list[str], results: dict[str, list[RunResult]]) -> list[str]:
    seeds = sorted({r.seed for runs in results.values() for r in runs})
    if not seeds:
        return []
    lines = [
        "",
        "Test accuracy per seed:",
        "",
        "| seed | " + " | ".join(labels) + " |",
        "|---|" + "---|" * len(labels),
    ]
    by_seed = {label: {r.seed: r for r in runs} for label, runs in results.items()}
    for seed in seeds:
        cells = []
        for label in labels:
            run = by_seed[label].get(seed)
            cells.append(
                f"{run.test['test/acc']:.4f}" if run and "test/acc" in run.test else
                (run.status if run else "-")
            )  # fmt: skip
        lines.append(f"| {seed} | " + " | ".join(cells) + " |")
    return lines


def _write_csv(
    path: Path,
    summaries: dict[str, dict[str, Summary]],
    finished: dict[str, list[RunResult]],
    results: dict[str, list[RunResult]],
) -> None:
    """One row per config: seeds and, per test metric, mean, std, CI; parameters; s/epoch."""
    fields = ["config", "seeds_finished", "seeds_planned"]
    for metric in TEST_METRICS:
        name = metric.removeprefix("test/")
        fields += [f"{name}_mean", f"{name}_std", f"{name}_ci_low", f"{name}_ci_high"]
    fields += ["params_trainable", "params_quantum", "params_frozen", "seconds_per_epoch"]
    with path.open("w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=fields)
        writer.writeheader()
        for label, metrics in summaries.items():
            row: dict[str, object] = {
                "config": label,
                "seeds_finished": len(finished[label]),
                "seeds_planned": len(results[label]),
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
            counts = next((r.params for r in results[label] if r.params), {})
            row.update(
                {
                    "params_trainable": counts.get("trainable"),
                    "params_quantum": counts.get("quantum"),
                    "params_frozen": counts.get("frozen"),
                    "seconds_per_epoch": median_epoch_seconds(finished[label]),
                }
            )
            writer.writerow(row)


def _write_runs_csv(path: Path, results: dict[str, list[RunResult]]) -> None:
    """One row per run: status, test metrics, seconds per epoch, wall time, threads."""
    fields = ["config", "seed", "status", *TEST_METRICS, "seconds_per_epoch", "wall_seconds",
              "threads", "folder"]  # fmt: skip
    with path.open("w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=fields)
        writer.writeheader()
        for runs in results.values():
            for r in runs:
                writer.writerow(
                    {
                        "config": r.label,
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
