"""The Markdown report of tools/bench_eval.py."""

from __future__ import annotations

import math
import statistics

from bench_common import cell, header

SHARE_TARGET = 0.10


def every_for(seconds: float, step_s: float, share: float = SHARE_TARGET) -> int:
    """The fewest steps between evaluations that cost `seconds` for them to take at most `share`
    of the in-training wall time: t / (t + every * step) <= share."""
    return math.ceil(seconds * (1 - share) / share / step_s)


def _case_numbers(res: dict) -> dict:
    run, timing = res["run"], res["timing"]
    in_training = run["eval_seconds"] - run["final_eval_seconds"]
    warm = statistics.median(timing["all_metrics_s"])
    step_s = run["train_seconds"] / run["steps"]
    return {
        "step_s": step_s,
        "evals": run["evaluations"] - 1,
        "in_training": in_training,
        "share": in_training / (run["wall_seconds"] - run["final_eval_seconds"]),
        "share_total": run["eval_seconds"] / run["wall_seconds"],
        "warm": warm,
        "every_min": every_for(warm, step_s),
    }


def _share_table(results: dict) -> list[str]:
    lines = [
        "| case | metrics | steps, every | ms per step | evaluations in training | their s "
        "| share in training | final evaluation s | share with the final | one warm evaluation s "
        "| every for <= 10 % | target <= 10 % |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for case, res in results.items():
        n, run = _case_numbers(res), res["run"]
        verdict = "met" if n["share"] <= SHARE_TARGET else f"**missed** (met from every {n['every_min']:,})"
        lines.append(
            f"| {case} | {', '.join(res['metrics'])} | {res['steps']:,}, {res['every']:,} "
            f"| {n['step_s'] * 1e3:.2f} | {n['evals']} | {n['in_training']:.1f} | {n['share']:.1%} "
            f"| {run['final_eval_seconds']:.1f} "
            f"| {n['share_total']:.1%} | {n['warm']:.2f} | {n['every_min']:,} | {verdict} |"
        )
    return lines


def _share(seconds: float, every: int, step_s: float) -> float:
    """The share of the in-training wall time that evaluations of `seconds` every `every` steps take."""
    return seconds / (seconds + every * step_s)


def _metric_table(results: dict) -> list[str]:
    lines = [
        "| case | metric | in training s | share at the case's every | every for <= 10 % "
        "| final evaluation s | note |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for case, res in results.items():
        t, n = res["timing"], _case_numbers(res)
        draw = statistics.median(t["draw_s"])
        lines.append(
            f"| {case} | draw the samples ({t['samples']:,}; final {t['final_samples']:,}) "
            f"| {cell(t['draw_s'], '{:.3f}')} | | | {t['final_draw_s']:.3f} | |"
        )
        for name, secs in t["metric_s"].items():
            note = ""
            if name == "nll" and "final_nll" in t:
                f = t["final_nll"]
                note = f"final: k = {f['k']:,} on {f['examples']:,} examples"
                if f["timed_examples"] < f["examples"]:
                    note += f", timed on {f['timed_examples']:,} and scaled linearly"
            alone = statistics.median(secs) + draw
            share, every = _share(alone, res["every"], n["step_s"]), every_for(alone, n["step_s"])
            lines.append(
                f"| {case} | {name} | {cell(secs, '{:.3f}')} | {share:.1%} | {every:,} "
                f"| {t['final_s'][name]:.3f} | {note} |"
            )
        lines.append(
            f"| {case} | **one evaluation, all metrics** (warm) | {cell(t['all_metrics_s'], '{:.3f}')} "
            f"| {_share(n['warm'], res['every'], n['step_s']):.1%} | {n['every_min']:,} "
            f"| {sum(t['final_s'].values()) + t['final_draw_s']:.3f} "
            "| final: draw + sum of the metrics alone |"
        )
        lines.append(
            f"| {case} | first evaluation of a process (cold) | {t['cold_evaluation_s']:.3f} | | | | |"
        )
    return lines


def _rate(count: int, seconds: list[float]) -> str:
    return cell([count / s for s in seconds], "{:,.0f}")


def _throughput_lines(results: dict, defaults: dict) -> list[str]:
    lines = ["| what | throughput | detail |", "|---|---:|---|"]
    for res in results.values():
        tp = res["timing"]["throughput"]
        if "mode_coverage" in tp:
            m = tp["mode_coverage"]
            lines.append(
                f"| mode_coverage, {m['samples']:,} samples | {_rate(m['samples'], m['seconds'])} samples/s "
                f"| {cell(m['seconds'], '{:.3f}')} s; drawing them from the GAN {m['draw_seconds']:.3f} s |"
            )
        if "mnist_classifier_features" in tp:
            m = tp["mnist_classifier_features"]
            lines.append(
                f"| MNIST classifier features, {m['images']:,} test images "
                f"| {_rate(m['images'], m['seconds'])} images/s "
                f"| {cell(m['seconds'], '{:.2f}')} s, batches of {m['batch']} |"
            )
        if "inception_features" in tp:
            m = tp["inception_features"]
            if "skipped" in m:
                lines.append(f"| inception features | not run | {m['skipped']} |")
            else:
                lines.append(
                    f"| inception features, {m['images']:,} images "
                    f"| {_rate(m['images'], m['seconds'])} images/s | {cell(m['seconds'], '{:.2f}')} s |"
                )
        if "iwae_nll" in tp:
            m = tp["iwae_nll"]
            evals = m["k"] * m["images"]
            per_1000 = m["seconds"] * 1000 / m["images"]
            all_test = per_1000 * 10  # the MNIST test split: 10,000 images
            lines.append(
                f"| IWAE NLL, k = {m['k']:,} on {m['images']:,} MNIST test images | {m['seconds']:.1f} s "
                f"({evals / m['seconds']:,.0f} decoder evaluations/s) | in {m['chunks']} parts of "
                f"{cell(m['chunk_seconds'], '{:.1f}')} s; per 1,000 images {per_1000:.1f} s, all 10,000 test "
                f"images {all_test / 60:.1f} min (linear) |"
            )
    return lines


def _limits(results: dict) -> list[str]:
    lines = []
    for case, res in results.items():
        n, t = _case_numbers(res), res["timing"]
        costs = {name: statistics.median(s) for name, s in t["metric_s"].items()}
        top = sorted(costs.items(), key=lambda kv: -kv[1])[:2]
        parts = ", ".join(f"{name} {s:.2f} s" for name, s in top)
        verdict = "within" if n["share"] <= SHARE_TARGET else "over"
        cold = " (classifier and reference features loaded)" if "grid25" not in res["dataset"] else ""
        lines.append(
            f"- {case}: {n['share']:.1%} of the in-training wall time ({verdict} the target) at every "
            f"{res['every']:,} steps of {n['step_s'] * 1e3:.1f} ms; a warm evaluation takes "
            f"{n['warm']:.2f} s, the costliest metrics {parts}; the first evaluation of a process "
            f"{t['cold_evaluation_s']:.2f} s"
            f"{cold}."
        )
        for metric, why in res["unavailable"].items():
            lines.append(f"  - {metric} skipped on {case}: {why}")
    return lines


def report(raw: dict) -> str:
    """The results of tools/bench_eval.py as Markdown."""
    args, results = raw["args"], raw["results"]
    command = "python tools/bench_eval.py --mnist-files DIR" + (" --quick" if args["quick"] else "")
    defaults = ", ".join(f"{k}={v}" for k, v in raw["eval_defaults"].items() if k != "every")
    changed = [
        c for c, r in results.items() if r.get("eval_defaults", raw["eval_defaults"]) != raw["eval_defaults"]
    ]
    if changed:
        defaults += f" (they changed while this ran: {', '.join(changed)} ran under others, see the JSON)"
    lines = header("Evaluation share", command, raw["machine"], raw["load"], "one torch thread")
    lines += [
        "Each case is a real run, `genbench run --serial` in a fresh process, with every registered metric "
        "that applies to it and can run here, at genbench's default evaluation settings but for `eval.every` "
        "(and, for the final evaluation only, `nll_k` set to the in-training `nll_k_train`; the final "
        "evaluation at the default `nll_k` is in the per-metric table). The share in training is "
        "(`eval_seconds` - `final_eval_seconds`) / (`wall_seconds` - `final_eval_seconds`) of its "
        "result.json "
        "(the evaluation at step 0 included); the share with the final evaluation is "
        "`eval_seconds` / `wall_seconds`. A second process loads the run's checkpoint and times one "
        f"evaluation as the trainer does it ({args['repeats']} repeats after a first, cold one) and each "
        "metric alone on a shared draw of samples (feature metrics each extract the features themselves "
        "then; in one evaluation they share them), with the share its evaluations would take at the "
        "case's cadence (samples drawn included). 'every for <= 10 %' is the fewest steps between "
        "evaluations for the evaluations to take at most 10 % of the in-training wall time, from the warm "
        "time and the run's time per step. Cells are medians with [min-max] over repeats."
        + (
            " --quick: small runs and evaluation settings; the numbers only show the script works."
            if args["quick"]
            else ""
        ),
        "",
        f"Default evaluation settings when this ran: {defaults}.",
        "",
        "Cases (seed 0, `cpus: 1`): "
        + "; ".join(f"{c}: `{r['model']}` on `{r['dataset']}`" for c, r in results.items())
        + ".",
        "",
        "## Share of a run's wall time spent evaluating",
        "",
        *_share_table(results),
        "",
        "## Seconds per evaluation, per metric",
        "",
        *_metric_table(results),
        "",
        "## Throughputs",
        "",
        *_throughput_lines(results, raw["eval_defaults"]),
        "",
        "## Peak resident memory",
        "",
        "VmHWM in MiB of the process that ran the case (the CLI with `--serial`: the run's worker) and of "
        "the process that timed its evaluations and throughputs.",
        "",
        "| case | real run | timing |",
        "|---|---:|---:|",
        *[
            f"| {c} | {r['run']['peak_mib']:.0f} | {r['timing']['peak_mib']:.0f} |"
            for c, r in results.items()
        ],
        "",
        "## What limits it",
        "",
        *_limits(results),
    ]
    for case, why in raw["skipped"].items():
        lines.append(f"- {case} not run: {why}")
    return "\n".join(lines) + "\n"
