"""The one Definitions object of the code location. It only assembles; the assets live in their
stage modules, the producers in resources/, the partitions in partitions.py."""

import dagster as dg

from movie_assets import assembly, music, narration, script, visuals
from movie_assets.automation import automation_sensor, regenerate_when_inputs_change
from movie_assets.inputs import INPUT_SOURCES
from movie_assets.io import ArtifactIOManager
from movie_assets.jobs import LEVEL_JOBS
from movie_assets.providers import provider_resources

generated_assets = dg.load_assets_from_modules([script, narration, visuals, music, assembly])

defs = dg.Definitions(
    assets=[
        *INPUT_SOURCES,
        *dg.map_asset_specs(
            lambda spec: spec.replace_attributes(
                automation_condition=regenerate_when_inputs_change
            ),
            generated_assets,
        ),
    ],
    jobs=list(LEVEL_JOBS.values()),
    sensors=[automation_sensor],
    resources={**provider_resources(), "artifact_io": ArtifactIOManager()},
)
