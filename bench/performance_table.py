"""Write the figures of bench/results.json into docs/performance.md (the part between the two marker lines).

``make bench`` runs it after every benchmark. Ratios come first, then times, sizes and throughputs, then the
soak; a benchmark that has not run (or could not, such as bench_models without a trained cohort) is listed as
not measured. Only the marked part of the document is replaced; the text around it is kept as written.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results_file import RESULTS, load_results  # noqa: E402
from soak import span  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "performance.md"
BEGIN = "<!-- bench:begin (written by bench/performance_table.py from bench/results.json; edits here are lost) -->"
END = "<!-- bench:end -->"
DEVICES = ("cpu", "cuda")


def dig(data: Any, *keys: str) -> Any:
    """``data[k1][k2]...``, or None as soon as a key is missing."""
    for key in keys:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


def fmt(value: Any, spec: str = ".2f", unit: str = "") -> str:
    return "not measured" if value is None else f"{value:{spec}}{unit}"


def records(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every benchmark record that carries a date and a machine, by a readable name."""
    out = {
        name: results[key]
        for name, key in (
            ("bench_app", "app"),
            ("bench_map", "map"),
            ("bench_study", "study"),
            ("bench_stats", "stats"),
            ("bench_synth", "synth"),
            ("bench_models", "models"),
            ("bench_registration", "registration"),
            ("bench_recipes", "recipes"),
        )
        if isinstance(results.get(key), dict)
    }
    for task in ("classifier", "segmentation"):
        for device in DEVICES:
            if isinstance(entry := dig(results, "train", task, device), dict):
                out[f"bench_train {task} ({device})"] = entry
    for part in ("app", "serve"):
        if isinstance(entry := dig(results, "soak", part), dict):
            out[f"bench_soak {part}"] = {**entry, "machine": dig(results, "soak", "machine")}
    return out


def machine_lines(results: dict[str, Any]) -> list[str]:
    found = records(results)
    machines = {}
    for name, record in found.items():
        m = record.get("machine") or {}
        key = (m.get("cpu"), m.get("cpu_count"), m.get("memory_gib"), m.get("platform"), m.get("python"))
        machines.setdefault(key, []).append(name)
    lines = []
    for (cpu, cores, memory, platform, python), names in machines.items():
        lines.append(
            f"- **{cpu}**, {cores} cores, {memory} GiB, {platform}, Python {python}"
            + ("" if len(machines) == 1 else f" ({', '.join(names)})")
        )
    return lines


def run_table(results: dict[str, Any]) -> list[str]:
    rows = ["| benchmark | date (UTC) | load average 1/5/15 min when written | hccp53 |", "|---|---|---|---|"]
    for name, record in records(results).items():
        m = record.get("machine") or {}
        load = m.get("load_average_1_5_15_min")
        rows.append(
            f"| {name} | {record.get('date', '?')} | {' / '.join(map(str, load)) if load else '?'} | "
            f"{m.get('hccp53', '?')} |"
        )
    return rows


def train_rows(results: dict[str, Any], row: Callable[..., None]) -> None:
    for task in ("classifier", "segmentation"):
        for device in DEVICES:
            entry = dig(results, "train", task, device)
            if entry is None:
                if device == "cpu":
                    row(f"training epoch / pure compute, {task} (cpu)", None, "<= 1.2")
                continue
            row(f"training epoch / pure compute, {task} ({device})", fmt(entry.get("epoch_over_pure")), "<= 1.2")


def ratio_table(results: dict[str, Any]) -> list[str]:
    rows = ["| ratio (measured in one run) | value | goal |", "|---|---|---|"]

    def row(label: str, value: Any, goal: str = "") -> None:
        rows.append(f"| {label} | {value if isinstance(value, str) else fmt(value)} | {goal} |")

    row(
        "app (minus start-up) / (DICOM read + forward passes)",
        dig(results, "app", "ratio_app_minus_startup_over_read_plus_forward"),
        "<= 1.3",
    )
    row("app (with start-up) / (DICOM read + forward passes)", dig(results, "app", "ratio_app_over_read_plus_forward"))
    row(
        "MAP, container start to result.json minus start-up / (read + registration + forward passes), in the image",
        dig(results, "map", "ratio_app_minus_startup_over_floor"),
        "<= 1.3",
    )
    row(
        "study loading + phases + resampling / pydicom read (median)",
        dig(results, "study", "median_ratio_pipeline_to_dcmread"),
        "<= 1.5",
    )
    row(
        "registration time, defaults / former 50,000 samples (same studies)",
        dig(results, "registration", "ratio_defaults_over_former_seconds"),
    )
    train_rows(results, row)
    row(
        "bootstrap AUC speed-up over a roc_auc_score loop",
        fmt(dig(results, "stats", "bootstrap", "speedup"), ".0f", "x"),
        ">= 100x",
    )
    row("DeLong speed-up over the textbook kernel", fmt(dig(results, "stats", "delong", "speedup"), ".0f", "x"))
    row(
        "synthetic generation / read-back, small profile",
        dig(results, "synth", "ratios", "small_generate_over_read_back"),
    )
    row(
        "synthetic generation / read-back, full profile",
        dig(results, "synth", "ratios", "full_generate_over_read_back"),
    )
    for part, label in (("app", "run_study in one process"), ("serve", "one `hccp53 serve` process")):
        row(
            f"soak peak RSS, last / first window, {label}",
            fmt(dig(results, "soak", part, "peak_rss_ratio_late_over_early"), ".3f"),
            "<= 1.10",
        )
    models = results.get("models")
    row(
        "classifier test AUC / Bayes AUC of the same cases",
        fmt(dig(models, "auc_over_bayes"), ".3f") if models else "not measured (needs `make weights`)",
        ">= 0.9",
    )
    return rows


def figure_table(results: dict[str, Any]) -> list[str]:
    rows = ["| figure | value |", "|---|---|"]

    def row(label: str, value: str) -> None:
        rows.append(f"| {label} | {value} |")

    app = results.get("app") or {}
    row("app wall time, one full-size study", fmt(app.get("app_wall_s"), ".1f", " s"))
    row("app start-up (imports, settings, both networks; empty input folder)", fmt(app.get("startup_s"), ".1f", " s"))
    row(
        "pydicom read of the study, pixels decoded",
        f"{fmt(app.get('read_s'), '.1f', ' s')} ({app.get('files', '?')} files)" if app else "not measured",
    )
    row("segmentation forward passes (sliding window)", fmt(app.get("segmentation_forward_s"), ".1f", " s"))
    row("classifier forward pass", fmt(app.get("classifier_forward_s"), ".2f", " s"))
    for stage, seconds in (app.get("stages_s") or {}).items():
        row(f"app stage `{stage}`", fmt(seconds, ".1f", " s"))
    row("app peak RSS", fmt(app.get("peak_rss_gib"), ".2f", " GiB"))
    mapped = results.get("map") or {}
    if mapped:
        row("MAP image build: cached / without the layer cache (base image kept)",
            f"{fmt(mapped.get('build_cached_s'), '.0f', ' s')} / {fmt(mapped.get('build_uncached_s'), '.0f', ' s')}")
        row("MAP image size", fmt(mapped.get("image_gb"), ".2f", " GB"))
        row("MAP app start-up in the container (empty input; goal <= 5 s)",
            fmt(mapped.get("app_startup_s"), ".1f", " s"))
        row("MAP container start to result.json, one full-size study",
            f"{fmt(mapped.get('container_to_result_s'), '.1f', ' s')} "
            f"(bare container {fmt(mapped.get('container_s'), '.1f', ' s')})")
        row("MAP floor in the image: read / registration / segmentation forward / classifier forward",
            " / ".join(fmt(mapped.get(k), ".2f", " s") for k in ("read_s", "registration_s", "segmentation_forward_s",
                                                                   "classifier_forward_s")))
    for name in ("defaults", "former"):
        entry = dig(results, "registration", "summary", name)
        if entry:
            row(
                f"registration onto pvp, {name} settings",
                f"{entry['mean_seconds']:.2f} s a phase; shift error {entry['mean_error_mm']:.2f} mm mean, "
                f"{entry['max_error_mm']:.2f} mm max; {entry['refused']} of {entry['registrations']} refused",
            )
    rate = dig(results, "study", "phase_identification")
    row(
        "phase identification, studies already loaded",
        f"{rate['studies_per_s']:.1f} studies/s ({rate['identifications']} identifications)"
        if rate
        else "not measured",
    )
    for task in ("classifier", "segmentation"):
        for device in DEVICES:
            entry = dig(results, "train", task, device)
            if entry is not None:
                row(
                    f"training epoch, {task} ({device})",
                    f"{entry['epoch_seconds']:.1f} s ({entry['images_per_second']:.1f} images/s); pure "
                    f"{entry['pure_seconds']:.1f} s; {entry['train_cases']} cases, batch {entry['batch_size']}",
                )
    boot, delong = dig(results, "stats", "bootstrap"), dig(results, "stats", "delong")
    if boot:
        row(
            "bootstrap AUC, vectorised",
            f"{boot['vectorised_s']:.3f} s for {boot['resamples']} resamples x {boot['models']} models x "
            f"{boot['cases']} cases (loop {boot['sklearn_loop_s']:.1f} s)",
        )
    if delong:
        row("DeLong covariance", f"{delong['fast_s'] * 1000:.1f} ms for {delong['cases']} cases x 2 models")
    for profile in ("small", "full"):
        entry = dig(results, "synth", "profiles", profile)
        if entry:
            row(
                f"synthetic generation, {profile} profile",
                f"{entry['seconds_per_case']:.2f} s/case ({entry['instances_per_second']:.0f} instances/s, "
                f"{entry['workers']} workers)",
            )
    return rows


def recipe_table(results: dict[str, Any]) -> list[str]:
    """bench_recipes: each P53 classifier recipe on each evaluation set (docs/training.md explains the columns)."""
    rows = ["| recipe | training cases | evaluation set | test AUC (DeLong 95% CI) | imaging-only Bayes AUC | "
            "ratio (goal >= 0.9) | calibration slope | probability SD | training min |",
            "|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    entries = dig(results, "recipes", "rows")
    if not entries:
        return [*rows, "| not measured (bench_recipes needs the cohorts of docs/training.md) | | | | | | | | |"]
    for r in entries:
        rows.append(f"| {r['recipe']} | {r['training_cases']} | {r['evaluation']} ({r['cases']}) | {r['auc']:.3f} "
                    f"({r['auc_ci_low']:.3f}–{r['auc_ci_high']:.3f}) | {r['imaging_bayes_auc']:.3f} | "
                    f"{r['ratio_to_imaging_bayes']:.3f} | {r['calibration_slope']:.2f} | {r['probability_sd']:.3f} | "
                    f"{fmt(r.get('training_minutes'), '.1f')} |")  # fmt: skip
    return rows


def reference_table(results: dict[str, Any]) -> list[str]:
    """bench_recipes: what ideal models reach on each evaluation set (the parts of a recipe's gap)."""
    rows = ["| evaluation set | training cohort | imaging-only Bayes AUC | ideal model of the training cohort's "
            "mechanism | tumor size alone |", "|---|---|---|---|---|"]  # fmt: skip
    entries = dig(results, "recipes", "references")
    if not entries:
        return [*rows, "| not measured | | | | |"]
    for r in entries:
        rows.append(f"| {r['evaluation']} ({r['cases']}) | {r['training_cases']} cases | {r['imaging_bayes_auc']:.3f} "
                    f"| {r['training_mechanism_auc']:.3f} | {r['size_only_auc']:.3f} |")  # fmt: skip
    return rows


def follows_table(results: dict[str, Any]) -> list[str]:
    """bench_recipes: Spearman correlation of each model's output with each true imaging sign."""
    refs = [r for r in dig(results, "recipes", "references") or [] if r.get("posterior_follows")]
    entries = [r for r in dig(results, "recipes", "rows") or [] if r.get("follows")]
    if not refs and not entries:
        return ["not measured"]
    signs = list((refs or entries)[0].get("posterior_follows") or entries[0]["follows"])
    rows = ["| output | training cases | evaluation set | " + " | ".join(signs) + " |",
            "|---|---|---|" + "---|" * len(signs)]  # fmt: skip
    seen = set()
    for r in refs:
        if r["evaluation"] not in seen:  # the posterior does not depend on the training cohort
            seen.add(r["evaluation"])
            rows.append(f"| imaging-only posterior (ideal) | | {r['evaluation']} | "
                        + " | ".join(f"{r['posterior_follows'][s]:+.2f}" for s in signs) + " |")  # fmt: skip
    for r in entries:
        rows.append(f"| {r['recipe']} | {r['training_cases']} | {r['evaluation']} | "
                    + " | ".join(f"{r['follows'][s]:+.2f}" for s in signs) + " |")  # fmt: skip
    return rows


def soak_table(results: dict[str, Any]) -> list[str]:
    rows = [
        "| soak | studies | peak RSS, first -> last window | RSS after first -> last | fds | temp-file growth | "
        "left-over growth | wall per study (median) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for part, label in (("app", "run_study, one process"), ("serve", "`hccp53 serve` subprocess")):
        s = dig(results, "soak", part)
        if s is None:
            rows.append(f"| {label} | not measured | | | | | | |")
            continue
        peak_note = "" if s.get("peak_is_per_study", True) else ", peaks since the start: VmHWM could not be reset"
        rows.append(
            f"| {label} | {s['studies']} ({s['distinct_studies']} distinct, {s['profile']}) | "
            f"{s['peak_rss_early_mib']:.0f} -> {s['peak_rss_late_mib']:.0f} MiB "
            f"(studies {span(s['early_window'])} vs {span(s['late_window'])}{peak_note}) | "
            f"{s['rss_after_first_mib']:.0f} -> {s['rss_after_last_mib']:.0f} MiB | "
            f"{s['fds_first']} -> {s['fds_last']} | {s['temp_file_growth']:+d} | "
            f"{s['leftover_file_growth']:+d} | {s['wall_s_median']:.1f} s |"
        )
    return rows


def section(results: dict[str, Any]) -> str:
    parts = [
        BEGIN,
        "",
        "Machine:",
        "",
        *machine_lines(results),
        "",
        *ratio_table(results),
        "",
        *figure_table(results),
        "",
        *soak_table(results),
        "",
        "P53 classifier recipes (bench_recipes):",
        "",
        *recipe_table(results),
        "",
        *reference_table(results),
        "",
        "What each output follows (Spearman correlation with each true imaging sign; bench_recipes):",
        "",
        *follows_table(results),
        "",
        "When each benchmark ran:",
        "",
        *run_table(results),
    ]
    if not any(dig(results, "train", t, "cuda") for t in ("classifier", "segmentation")):
        parts += ["", "No CUDA device was present: every figure above is CPU only."]
    return "\n".join([*parts, "", END])


def replace_section(text: str, new: str) -> str:
    """``text`` with its marked part replaced by ``new`` (appended when the markers are absent)."""
    start, stop = text.find(BEGIN), text.find(END)
    if start < 0 or stop < start:
        return text.rstrip("\n") + "\n\n" + new + "\n"
    return text[:start] + new + text[stop + len(END) :]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", type=Path, default=RESULTS, help="figures to write (default: bench/results.json)")
    parser.add_argument("--doc", type=Path, default=DOC, help="document to update (default: docs/performance.md)")
    args = parser.parse_args(argv)
    results = load_results(args.results, "performance_table")
    if not results:
        raise SystemExit(f"performance_table: {args.results} does not exist; run `make bench` first.")
    text = args.doc.read_text(encoding="utf-8") if args.doc.exists() else "# Performance\n"
    args.doc.write_text(replace_section(text, section(results)), encoding="utf-8")
    print(f"performance_table: {args.doc} updated from {args.results}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
