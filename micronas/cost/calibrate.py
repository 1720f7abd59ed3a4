"""Fit the fallback latency predictor and report its error on entries it was not fitted on.

    python -m micronas.cost.calibrate mcu=nucleo_l552 [--records PATH] [--features extended] [--write]

Entries come from the MCU's LUT file (`mcu.cost.lut_path`) or, with `--records`, straight from the
reference implementation's measured records. The command prints, for both feature sets (docs/method.md §7.4's
plain form and the extended one), the error on a stratified random hold-out and under 5-fold
cross-validation, per group and overall (R^2, MAPE, share within +-10 %), the largest residuals, a
FLOPs-proxy baseline and the learning curve (10, 30, 100, all training entries). `--write` stores the
coefficients fitted on the training part, with their hold-out error (and a `mcu.cost.runtime_version` given
on the command line), in the user's copy of the MCU config (`micronas.cost.board_settings`).
"""

import logging
import statistics
from datetime import date
from pathlib import Path

import numpy as np

from micronas.config import load_config
from micronas.cost.board_settings import (
    check_holdout, fit_command_parser, runtime_from_command_line, store_board_settings,
)
from micronas.fit_metrics import error_summary, format_summary
from micronas.cost.lut import DeviceIdentity, LutEntry, read_lut
from micronas.cost.predictor import FEATURE_SETS, LatencyPredictor, op_group
from micronas.cost.reference_records import read_mcu_records
from micronas.errors import DataError, exit_on_user_error

MIN_EVALUATED = 5  # groups with fewer ok entries are always fitted on, never held out
LEARNING_CURVE_SIZES = (10, 30, 100)
LEARNING_CURVE_REPEATS = 5


def load_entries(mcu, records: str | None) -> list[LutEntry]:
    """The `ok` entries of the MCU's LUT file, or of reference records converted with its clock."""
    if records:
        by_key = {}
        for entry in read_mcu_records(records, mcu)[0]:
            by_key[entry.op.key()] = entry  # a later record of the same op wins, as in a LUT file
        entries = list(by_key.values())
    else:
        _, entries = read_lut(mcu.cost.lut_path, DeviceIdentity.from_mcu(mcu))
    usable = [e for e in entries if e.ok]
    if not usable:
        raise DataError(f"no measured (ok) entries in {records or mcu.cost.lut_path}; nothing to fit.")
    return usable


def _by_group(entries: list[LutEntry]) -> dict[str, list[LutEntry]]:
    groups: dict[str, list[LutEntry]] = {}
    for entry in entries:
        groups.setdefault(op_group(entry.op), []).append(entry)
    return groups


def split_holdout(
    entries: list[LutEntry], fraction: float, seed: int
) -> tuple[list[LutEntry], list[LutEntry]]:
    """Stratified random split per group; groups with fewer than MIN_EVALUATED entries stay in training."""
    rng = np.random.default_rng(seed)
    train, heldout = [], []
    for members in _by_group(entries).values():
        if len(members) < MIN_EVALUATED:
            train += members
            continue
        order = rng.permutation(len(members))
        cut = max(1, round(fraction * len(members)))
        heldout += [members[i] for i in order[:cut]]
        train += [members[i] for i in order[cut:]]
    return train, heldout


def cross_validated_predictions(entries, feature_set, clock_hz, folds=5, seed=0) -> dict[str, float]:
    """Out-of-fold predictions (ms) for the entries of every group with at least MIN_EVALUATED entries."""
    rng = np.random.default_rng(seed)
    fold_of = {}
    for members in _by_group(entries).values():
        if len(members) >= MIN_EVALUATED:
            for position, index in enumerate(rng.permutation(len(members))):
                fold_of[members[index].op.key()] = position % folds
    predictions = {}
    for fold in range(folds):
        train = [e for e in entries if fold_of.get(e.op.key()) != fold]
        predictor = LatencyPredictor.fit(train, feature_set, clock_hz)
        for entry in entries:
            if fold_of.get(entry.op.key()) == fold:
                predictions[entry.op.key()] = predictor.predict_ms(entry.op)
    return predictions


def flops_proxy_predictions(entries, folds=5, seed=0) -> dict[str, float]:
    """Out-of-fold predictions of the FLOPs proxy `a + b*FLOPs` (docs/method.md §10; one line, all ops)."""
    rng = np.random.default_rng(seed)
    fold_of = {e.op.key(): i % folds for i, e in zip(rng.permutation(len(entries)), entries)}
    flops = np.array([2.0 * e.op.macs for e in entries])
    latency = np.array([e.latency_ms for e in entries])
    predictions = {}
    for fold in range(folds):
        mask = np.array([fold_of[e.op.key()] != fold for e in entries])
        slope, intercept = np.polyfit(flops[mask], latency[mask], 1)
        for entry, value in zip(entries, flops):
            if fold_of[entry.op.key()] == fold:
                predictions[entry.op.key()] = float(intercept + slope * value)
    return predictions


def summarise(entries: list[LutEntry], predictions: dict[str, float]) -> dict[str, dict]:
    """Error summaries per group and `overall`, over the entries that have a prediction."""
    scored = [e for e in entries if e.op.key() in predictions]
    result = {}
    for group, members in sorted(_by_group(scored).items()):
        result[group] = error_summary(
            [e.latency_ms for e in members], [predictions[e.op.key()] for e in members]
        )
    result["overall"] = error_summary(
        [e.latency_ms for e in scored], [predictions[e.op.key()] for e in scored]
    )
    return result


def largest_residuals(entries, predictions, count=8) -> list[str]:
    """The `count` entries with the largest relative error, one line each."""
    scored = [(predictions[e.op.key()] / e.latency_ms - 1.0, e) for e in entries if e.op.key() in predictions]
    scored.sort(key=lambda pair: -abs(pair[0]))
    return [
        f"{100 * error:+7.1f}%  measured {e.latency_ms:8.3f} ms  "
        f"predicted {e.latency_ms * (1 + error):8.3f} ms  {e.op.key()}"
        for error, e in scored[:count]
    ]


def stratified_sample(entries, size, rng) -> list[LutEntry]:
    """About `size` entries drawn per group in proportion to its share, at least one from every group."""
    groups = _by_group(entries)
    sample = []
    for members in groups.values():
        take = min(len(members), max(1, round(size * len(members) / len(entries))))
        sample += [members[i] for i in rng.choice(len(members), take, replace=False)]
    return sample


def learning_curve(train, heldout, feature_set, clock_hz, seed=0) -> list[tuple[int, dict]]:
    """Hold-out error when fitting on 10, 30, 100 and all training entries (median of 5 draws each)."""
    rng = np.random.default_rng(seed)
    curve = []
    for size in [s for s in LEARNING_CURVE_SIZES if s < len(train)] + [len(train)]:
        draws = 1 if size == len(train) else LEARNING_CURVE_REPEATS
        runs = []
        for _ in range(draws):
            sample = train if size == len(train) else stratified_sample(train, size, rng)
            predictor = LatencyPredictor.fit(sample, feature_set, clock_hz)
            predictions = {e.op.key(): predictor.predict_ms(e.op) for e in heldout}
            runs.append((len(sample), summarise(heldout, predictions)["overall"]))
        curve.append(
            (
                round(statistics.median(n for n, _ in runs)),
                {
                    name: statistics.median(s[name] for _, s in runs)
                    for name in ("r2", "mape_pct", "within_10pct")
                },
            )
        )
    return curve


def predictor_settings(predictor, heldout_summary, plain_summary, cv_summary, overhead_ms, source) -> dict:
    """The `cost` settings `--write` stores: the coefficients fitted on the training part of the split,
    their error (ms) on the held-out part and under 5-fold CV, and the per-invoke overhead (the median
    Invoke - op gap of the single-op models)."""

    def rounded(summary):
        return {
            ("entries" if k == "n" else k): (round(v, 4) if isinstance(v, float) else v)
            for k, v in summary.items()
        }

    return {
        "invoke_overhead_ms": round(overhead_ms, 6),
        "predictor": {
            **predictor.to_config(),
            "fitted_on": f"{source} (calibrate --write, {date.today().isoformat()})",
            "heldout": rounded(heldout_summary),
            "heldout_plain_features": rounded(plain_summary),
            "cv5": rounded(cv_summary),
        },
    }


def invoke_overhead_ms(entries: list[LutEntry]) -> float:
    """Median of (whole Invoke - op) over the single-op models that report both (docs/method.md §7.3)."""
    gaps = [e.invoke_ms - e.latency_ms for e in entries if e.invoke_ms is not None]
    if not gaps:
        raise DataError("no entry reports its whole-Invoke time, so the per-invoke overhead is unknown.")
    return statistics.median(gaps)


def report(entries, clock_hz, holdout, seed) -> dict:
    """Print the calibration report for both feature sets; return the pieces `--write` needs."""
    train, heldout = split_holdout(entries, holdout, seed)
    print(
        f"{len(entries)} ok entries: {len(train)} for fitting, {len(heldout)} held out (seed {seed}); groups:"
    )
    for group, members in sorted(_by_group(entries).items()):
        note = "" if len(members) >= MIN_EVALUATED else f"  (< {MIN_EVALUATED}: fitted on, not evaluated)"
        print(f"  {group:15s} {len(members):4d}{note}")
    results = {}
    for feature_set in FEATURE_SETS:
        predictor = LatencyPredictor.fit(train, feature_set, clock_hz)
        heldout_pred = {e.op.key(): predictor.predict_ms(e.op) for e in heldout}
        cv_pred = cross_validated_predictions(entries, feature_set, clock_hz, seed=seed)
        print(f"\n== features: {feature_set}")
        for title, predictions, pool in (
            ("hold-out", heldout_pred, heldout),
            ("5-fold CV", cv_pred, entries),
        ):
            print(f"-- {title}")
            for group, summary in summarise(pool, predictions).items():
                print(f"  {group:15s} {format_summary(summary)}")
        print("-- largest 5-fold CV residuals")
        for line in largest_residuals(entries, cv_pred):
            print("  " + line)
        print("-- learning curve (hold-out error vs training entries, median of 5 draws)")
        for size, summary in learning_curve(train, heldout, feature_set, clock_hz, seed):
            print(
                f"  {size:4d} entries  R^2={summary['r2']:.4f}  MAPE={summary['mape_pct']:6.2f}%  "
                f"within+-10%={summary['within_10pct']:5.1f}%"
            )
        results[feature_set] = (
            predictor,
            summarise(heldout, heldout_pred)["overall"],
            summarise(entries, cv_pred)["overall"],
        )
    evaluated = [e for e in entries if len(_by_group(entries)[op_group(e.op)]) >= MIN_EVALUATED]
    flops = flops_proxy_predictions(evaluated, seed=seed)
    print(
        "\n== FLOPs proxy a + b*FLOPs (5-fold CV)\n"
        f"  {'overall':15s} {format_summary(summarise(evaluated, flops)['overall'])}"
    )
    return results


@exit_on_user_error
def main(argv: list[str] | None = None) -> None:
    parser = fit_command_parser(__doc__.split("\n\n")[0], "the fitted predictor")
    parser.add_argument("--features", default="extended", choices=FEATURE_SETS, help="feature set to ship")
    args = parser.parse_args(argv)
    check_holdout(args.holdout)
    mcu = load_config("search", args.overrides).mcu
    entries = load_entries(mcu, args.records)
    clock_hz = int(mcu.clock_hz) if mcu.clock_hz else None
    results = report(entries, clock_hz, args.holdout, args.seed)
    if args.write:
        predictor, heldout_summary, cv_summary = results[args.features]
        origin = (
            f"reference records {Path(args.records).name}" if args.records else f"LUT {mcu.cost.lut_path}"
        )
        source = f"{origin}: {len(entries)} ok entries, 80/20 split with seed {args.seed}"
        settings = predictor_settings(
            predictor, heldout_summary, results["plain"][1], cv_summary, invoke_overhead_ms(entries), source
        )
        changes = {f"cost.{key}": value for key, value in settings.items()}
        path = store_board_settings(str(mcu.name), changes | runtime_from_command_line(args.overrides, mcu))
        print(f"\nwrote the {args.features} predictor (held-out MAPE {heldout_summary['mape_pct']:.2f} %) "
              f"into {path}")


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    main()
