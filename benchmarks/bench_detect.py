"""Detection speed and memory: runner.confident against cleanlab 2.9.0, side by side.

Both run in this one process on the same synthetic float32 pred_probs (softmax of noisy
logits, 20% of labels flipped). Time is the median of ``--repeats`` runs, alternating ours and
the reference so that machine noise hits both alike. Peak extra memory is the peak of
``tracemalloc`` (numpy reports its buffers to it) above what was allocated before the call,
as a multiple of the pred_probs array; the reference is measured with ``n_jobs=1`` because
its worker processes are invisible to tracemalloc. Outputs are compared for identity.

    python benchmarks/bench_detect.py            # N=1,000,000 K=10 and N=200,000 K=100
    python benchmarks/bench_detect.py --quick    # small sizes, a smoke test
"""

from __future__ import annotations

import argparse
import platform
import time
import tracemalloc
import warnings

import cleanlab.count
import cleanlab.filter
import cleanlab.rank
import numpy as np
from threadpoolctl import threadpool_limits

from runner.confident import count, filter, rank


def make_inputs(n_samples, n_classes, seed=0):
    rng = np.random.default_rng(seed)
    true_labels = rng.integers(0, n_classes, n_samples)
    pred_probs = rng.normal(size=(n_samples, n_classes)).astype(np.float32)
    pred_probs[np.arange(n_samples), true_labels] += 2.3 if n_classes <= 10 else 3.3
    np.exp(pred_probs, out=pred_probs)
    pred_probs /= pred_probs.sum(axis=1, keepdims=True)
    labels = true_labels.copy()
    flip = rng.random(n_samples) < 0.2
    labels[flip] = (labels[flip] + rng.integers(1, n_classes, flip.sum())) % n_classes
    return labels, pred_probs


def functions():
    """``name -> (ours, reference, reference for memory)`` as calls on (labels, pred_probs)."""
    table = {}
    for method in ("prune_by_noise_rate", "both", "confident_learning", "prune_by_class"):
        table[f"find_label_issues[{method}]"] = (
            lambda s, p, m=method: filter.find_label_issues(s, p, filter_by=m),
            lambda s, p, m=method: cleanlab.filter.find_label_issues(s, p, filter_by=m),
            lambda s, p, m=method: cleanlab.filter.find_label_issues(s, p, filter_by=m, n_jobs=1),
        )
    table["compute_confident_joint"] = (
        count.compute_confident_joint,
        cleanlab.count.compute_confident_joint,
        cleanlab.count.compute_confident_joint,
    )
    for method in ("self_confidence", "normalized_margin"):
        table[f"get_label_quality_scores[{method}]"] = (
            lambda s, p, m=method: rank.get_label_quality_scores(s, p, method=m),
            lambda s, p, m=method: cleanlab.rank.get_label_quality_scores(s, p, method=m),
            lambda s, p, m=method: cleanlab.rank.get_label_quality_scores(s, p, method=m),
        )
    return table


def timed(fn, *args):
    start = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - start, out


def peak_extra_bytes(fn, *args):
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    fn(*args)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak - base


def same(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and np.array_equal(a, b)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke test)")
    args = parser.parse_args()
    sizes = [(20_000, 10), (5_000, 50)] if args.quick else [(1_000_000, 10), (200_000, 100)]
    warnings.simplefilter("ignore")
    print(
        f"# {platform.processor() or platform.machine()}, Python {platform.python_version()}, "
        f"numpy {np.__version__}, cleanlab {cleanlab.__version__}; median of {args.repeats}"
    )
    print("| N | K | function | ours s | cleanlab s | ratio | identical | ours peak extra | cleanlab peak extra |")
    print("|---:|---:|---|---:|---:|---:|---|---:|---:|")
    with threadpool_limits(1):
        for n_samples, n_classes in sizes:
            labels, pred_probs = make_inputs(n_samples, n_classes)
            for name, (ours, ref, ref_single) in functions().items():
                ours_times, ref_times = [], []
                for _ in range(args.repeats):
                    t, ours_out = timed(ours, labels, pred_probs)
                    ours_times.append(t)
                    t, ref_out = timed(ref, labels, pred_probs)
                    ref_times.append(t)
                ours_mem = peak_extra_bytes(ours, labels, pred_probs) / pred_probs.nbytes
                ref_mem = peak_extra_bytes(ref_single, labels, pred_probs) / pred_probs.nbytes
                ours_s, ref_s = np.median(ours_times), np.median(ref_times)
                print(
                    f"| {n_samples:,} | {n_classes} | {name} | {ours_s:.3f} | {ref_s:.3f} | "
                    f"{ours_s / ref_s:.2f} | {'yes' if same(ours_out, ref_out) else 'NO'} | "
                    f"{ours_mem:.2f}x | {ref_mem:.2f}x |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
