"""Speed of the evaluation statistics, as ratios measured in one run.

Two figures of the evaluation issue:

- paired bootstrap of the AUC: ``--resamples`` stratified resamples x ``--models`` models x ``--cases``
  cases with ``hccp53.stats.bootstrap_auc`` (vectorised over resamples and models) against a Python loop over
  ``sklearn.metrics.roc_auc_score`` on the same indices (goal: >= 100x faster; the loop is timed on a
  slice of the resamples and scaled, say how many with ``--loop-resamples``);
- DeLong's covariance of two models on ``--delong-cases`` cases (Sun & Xu, goal: well under a second),
  against the textbook kernel of DeLong et al. (1988) on a smaller sample, scaled by n^2.

Results are printed and merged into bench/results.json under "stats".
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results_file import RESULTS, machine, merge_results  # noqa: E402

from hccp53.stats import bootstrap_auc, bootstrap_indices, delong  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="\n\n".join(__doc__.split("\n\n")[1:]),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--resamples", type=int, default=2000, help="bootstrap resamples (default 2000)")
    parser.add_argument("--models", type=int, default=8, help="models scored on the same cases (default 8)")
    parser.add_argument("--cases", type=int, default=300, help="cases (default 300)")
    parser.add_argument("--loop-resamples", type=int, default=200,
                        help="resamples timed in the sklearn loop, scaled to --resamples (default 200)")
    parser.add_argument("--delong-cases", type=int, default=10_000, help="cases of the DeLong timing (default 10000)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic scores and resamples (default 0)")
    parser.add_argument("--no-save", action="store_true", help="print only; do not update bench/results.json")
    return parser.parse_args(argv)


def best_of(repeats: int, function: Callable[[], object]) -> float:
    """The shortest of ``repeats`` wall times of ``function()``, in seconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def textbook_delong(y: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """DeLong's covariance from the explicit (models, positives, negatives) kernel of DeLong et al. (1988)."""
    x, z = scores[:, y == 1], scores[:, y == 0]
    psi = (x[:, :, None] > z[:, None, :]) + 0.5 * (x[:, :, None] == z[:, None, :])
    return np.atleast_2d(np.cov(psi.mean(axis=2))) / x.shape[1] + np.atleast_2d(np.cov(psi.mean(axis=1))) / z.shape[1]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    rng = np.random.default_rng(args.seed)
    y = rng.integers(0, 2, args.cases)
    scores = np.round(y + rng.normal(0, 1.2, (args.models, args.cases)), 2)  # some ties, as real scores have
    indices = bootstrap_indices(y, args.resamples, seed=args.seed)
    vectorised = best_of(3, lambda: bootstrap_auc(y, scores, indices))
    part = indices[: args.loop_resamples]
    loop_part = best_of(1, lambda: [[roc_auc_score(y[i], s[i]) for s in scores] for i in part])
    loop = loop_part * args.resamples / len(part)
    check = np.array([[roc_auc_score(y[i], s[i]) for s in scores] for i in indices[:20]])
    np.testing.assert_allclose(bootstrap_auc(y, scores, indices[:20]), check, atol=1e-12)

    yd = rng.integers(0, 2, args.delong_cases)
    sd = yd + rng.normal(0, 1, (2, args.delong_cases))
    fast = best_of(3, lambda: delong(yd, sd))
    small = 2000
    slow_small = best_of(1, lambda: textbook_delong(yd[:small], sd[:, :small]))
    slow = slow_small * (args.delong_cases / small) ** 2
    np.testing.assert_allclose(delong(yd[:small], sd[:, :small]).covariance,
                               textbook_delong(yd[:small], sd[:, :small]), atol=1e-15)  # fmt: skip

    figures = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "bootstrap": {"resamples": args.resamples, "models": args.models, "cases": args.cases,
                      "vectorised_s": vectorised, "sklearn_loop_s": loop, "speedup": loop / vectorised,
                      "loop_timed_resamples": len(part)},  # fmt: skip
        "delong": {"cases": args.delong_cases, "models": 2, "fast_s": fast, "textbook_s_scaled": slow,
                   "speedup": slow / fast},  # fmt: skip
        "machine": machine(numpy=np.__version__),
    }
    b, d = figures["bootstrap"], figures["delong"]
    print(f"bootstrap AUC, {b['resamples']} resamples x {b['models']} models x {b['cases']} cases:")
    print(f"  speed-up over a roc_auc_score loop  {b['speedup']:.0f}x   (goal >= 100x)")
    print(f"  vectorised {b['vectorised_s']:.3f} s, loop {b['sklearn_loop_s']:.1f} s "
          f"(timed on {b['loop_timed_resamples']} resamples, scaled)")  # fmt: skip
    print(f"DeLong covariance, {d['cases']} cases x 2 models: {d['fast_s'] * 1000:.1f} ms (goal well under 1 s); "
          f"{d['speedup']:.0f}x faster than the textbook kernel (timed on 2000 cases, scaled by n^2)")  # fmt: skip
    if not args.no_save:
        merge_results(RESULTS, "bench_stats", "stats", figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
