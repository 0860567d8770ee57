"""The experiment's tables from a synthetic run: intervals per style, ratios over any list of styles, costs."""

import numpy as np
import pandas as pd
import pytest

from ocbook import experiment, harness

SCALE = {"a": 1.0, "b": 2.0, "c": 1.0}


@pytest.fixture(scope="module")
def run():
    return synthetic()


@pytest.fixture(scope="module")
def figures(run):
    return experiment.figures(run)


def synthetic(styles=("a", "b", "c"), scale=SCALE, n=60) -> experiment.Run:
    rng = np.random.default_rng(5)
    rows, batches = [], []
    for style in styles:
        for phase, count in ((experiment.WARM_UP, 4), (experiment.MEASURED, n)):
            for i in range(count):
                latency = rng.exponential(0.5) * scale[style] + 0.2
                rows.append({"style": style, "phase": phase, "trip_id": f"{style}{i}", "status": "CONFIRMED",
                             "latency_s": latency, "projected_s": latency, "compensate_s": np.nan if i % 3 else 0.3,
                             "invocations": 4, "events": 5 if style == "b" else 0,
                             "transitions_billed": 0 if style == "b" else 6, "lambda_requests": 4,
                             "lambda_gb_s": 0.05, "events_published": 5 if style == "b" else 0, "ddb_writes": 4,
                             "sqs_requests": 0, "express_requests": 0 if style == "b" else 1,
                             "express_gb_s": 0 if style == "b" else 0.03,
                             "usd_per_million": 10.0 * scale[style] + rng.normal(0, 0.1),
                             "usd_express_per_million": 5.0 * scale[style] + rng.normal(0, 0.1)})
        for rep in (1, 2, 3):
            batches.append({"style": style, "phase": experiment.MEASURED, "repetition": rep, "trips": n // 3,
                            "wall_s": 10.0, "throughput_per_s": 2.0 + rng.normal(0, 0.05)})
    design = experiment.Design(harness.Settings(trips=n // 3), repetitions=3, warmup=4)
    return experiment.Run(design, tuple(styles), pd.DataFrame(rows), pd.DataFrame(batches), {}, {})


def test_every_style_gets_each_figure_with_an_interval_around_its_estimate(figures):
    assert set(figures["style"]) == {"a", "b", "c"}
    assert (figures["low"] <= figures["estimate"] + 1e-9).all()
    assert (figures["estimate"] <= figures["high"] + 1e-9).all()
    assert set(figures.loc[figures["figure"] == "throughput_per_s", "over"]) == {"repetitions"}


def test_ratios_compare_each_style_with_the_reference_and_flag_only_real_differences(run):
    ratios = experiment.ratios(run).set_index(["figure", "ratio"])
    assert ratios.loc[("usd_per_million_trips", "b / a"), "differs"]
    assert not ratios.loc[("usd_per_million_trips", "c / a"), "differs"]
    assert ("events_per_trip", "b / a") not in ratios.index        # a unit only one style uses has no ratio


def test_costs_add_an_express_variant_for_styles_with_state_transitions(run):
    costs = experiment.costs(run)
    assert list(costs.index) == ["a", "a (Express)", "b", "c", "c (Express)"]
    assert costs.loc["a (Express)", "transitions_billed"] == 0 < costs.loc["a", "transitions_billed"]


def test_table_puts_intervals_in_cells(figures):
    shown = experiment.table(figures)
    assert list(shown.columns) == ["a", "b", "c"]
    assert shown.iloc[0, 0].count("[") == 1


def test_phases_put_the_warm_up_first_then_consecutive_repetitions():
    design = experiment.Design(harness.Settings(trips=5), repetitions=2, warmup=3)
    assert experiment.phases(design) == [(experiment.WARM_UP, 0, slice(0, 3)), (experiment.MEASURED, 1, slice(3, 8)),
                                         (experiment.MEASURED, 2, slice(8, 13))]
