"""The human summary a finished run logs: what ran, what it found, the most suspicious labels."""

from __future__ import annotations

from pathlib import Path

import pandas as pd


def summary(metrics: dict, output_dir, *, one_line: bool = False, issues=None) -> str:
    """A short human summary of a finished run (one line for a sweep job).

    ``issues`` (the ranked label-issue table) adds its most suspicious rows.
    """
    if one_line:
        detection = f", precision {metrics['detection_precision']:.3f}" if "detection_precision" in metrics else ""
        accuracy = (
            f"test accuracy {metrics['test_accuracy']:.4f} "
            f"(baseline {metrics.get('baseline_test_accuracy', float('nan')):.4f})"
            if "test_accuracy" in metrics
            else "no test accuracy"
        )
        return f"done {Path(output_dir).name}: {metrics['n_label_issues']} issues{detection}, {accuracy}"
    # The detector by its option (a plugin's has no filter_by), with confident learning's filter_by.
    detector = metrics.get("detection_option")
    if metrics.get("filter_by") and metrics.get("filter_by") != detector:
        detector = f"{detector} ({metrics['filter_by']})" if detector else metrics["filter_by"]
    parts = [metrics["dataset"], metrics["classifier"], detector]
    lines = [f"{' · '.join(part for part in parts if part)} → {metrics['strategy']} · seed {metrics['seed']}"]
    # Every group's option, and the callable it names: what ran, plugins included.
    options = [
        f"{key.removesuffix('_option')}={value}"
        + (f" <{metrics[target]}>" if (target := key.removesuffix("_option") + "_target") in metrics else "")
        for key, value in metrics.items()
        if key.endswith("_option")
    ]
    if options:
        lines.append(f"  options: {', '.join(options)}")
    lines.append(f"  label issues found: {metrics['n_label_issues']} of {metrics['n_train']} training labels")
    if "detection_precision" in metrics or "detection_recall" in metrics:
        lines.append(
            f"  detection precision {metrics.get('detection_precision', float('nan')):.3f}, "
            f"recall {metrics.get('detection_recall', float('nan')):.3f} "
            f"(true noise rate {metrics['true_noise_rate']:.3f})"
        )
    if "test_accuracy" in metrics:
        accuracy = f"  test accuracy {metrics['test_accuracy']:.4f}"
        if "baseline_test_accuracy" in metrics:
            accuracy += f" (baseline on the noisy labels: {metrics['baseline_test_accuracy']:.4f})"
    elif not metrics.get("n_test"):
        accuracy = "  no test split (dataset.test_size=0): every row was checked, so there is no test accuracy"
    else:
        accuracy = "  no final model (final_fit=skip), so there is no test accuracy"
    lines.append(accuracy)
    if issues is not None and len(issues):
        lines += _most_suspicious(issues)
    lines.append(f"  run directory: {output_dir}")
    return "\n".join(lines)


def _most_suspicious(issues, count: int = 10) -> list[str]:
    """The first rows of the ranked issue table, as indented text lines."""
    identity = issues.columns[1]  # `row`, or the id column (runner.run.experiment._issue_table)
    top = issues.head(count)
    shown = pd.DataFrame(
        {
            "rank": top["rank"],
            identity: top[identity],
            "given label": top["given_label"],
            "suggested label": top["predicted_label"],
            "quality": top["label_quality"].map("{:.4f}".format),
            "flagged": top["is_label_issue"].map({True: "yes", False: "no"}),
        }
    )
    header = f"  the {len(top)} most suspicious labels (all {len(issues)} ranked in label_issues.csv):"
    return [header, *("    " + line for line in shown.to_string(index=False).splitlines())]
