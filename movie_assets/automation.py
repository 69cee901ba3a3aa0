"""The opt-in automation policy: regenerate a partition when what it depends on changed.

It is Dagster's eager policy with one change: a slot outside a movie's plan (its user-input
source partition was never observed) is neither requested nor allowed to block a slot in the
plan. Slots in the plan of a 60 s movie are s00..s05; s06..s29 exist in the grid but cost nothing.
The sensor that evaluates it starts stopped; turn it on in the UI (Automation) to opt in.
"""

from __future__ import annotations

import os

import dagster as dg

from movie_assets.assets.inputs import INPUT_SOURCES

AC = dg.AutomationCondition
_input_selection = dg.AssetSelection.keys(*(source.key for source in INPUT_SOURCES))

# True for a partition whose own user-input partitions have been observed, i.e. in the plan.
in_plan = AC.all_deps_match(~AC.missing()).allow(_input_selection).with_label("in plan")

regenerate_when_inputs_change = (
    (AC.newly_missing() | AC.any_deps_updated()).since_last_handled()
    & in_plan
    & ~AC.any_deps_match(AC.missing() & in_plan).with_label("any planned dep missing")
    & ~AC.any_deps_in_progress()
    & ~AC.in_progress()
).with_label("regenerate planned slots when their inputs change")

automation_sensor = dg.AutomationConditionSensorDefinition(
    "regenerate_stale_partitions",
    target=dg.AssetSelection.all(),
    default_status=dg.DefaultSensorStatus.STOPPED,
    # Dagster's default is 30 s; tests and impatient users may tick faster.
    minimum_interval_seconds=int(os.environ.get("MOVIE_AUTOMATION_INTERVAL_S", "30")),
    description="Opt-in: re-materializes planned partitions whose inputs changed.",
)
