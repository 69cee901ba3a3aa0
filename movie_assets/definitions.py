"""The one Definitions object of the code location. It only assembles; the assets live in their
stage modules, the producers in resources/, the partitions in partitions.py."""

import dagster as dg

from movie_assets.assets import assembly, clips, music, narration, script, visuals
from movie_assets.assets.batches import BatchSettings, batch_inbox, batch_report, build_batch
from movie_assets.assets.inputs import INPUT_SOURCES
from movie_assets.automation import automation_sensor, regenerate_when_inputs_change
from movie_assets.checks.quality import QUALITY_CHECKS
from movie_assets.checks.stale_marks import up_to_date_checks
from movie_assets.io_manager import ArtifactIOManager
from movie_assets.jobs.launch import (
    PENDING_ROWS,
    delete_movie,
    new_movie,
    rebuild_movie,
)
from movie_assets.jobs.levels import LEVEL_JOBS
from movie_assets.jobs.regenerate import regenerate_movie
from movie_assets.orchestration import code_location
from movie_assets.orchestration.pending_marks import pending_by_asset
from movie_assets.producer_resources import producer_resources
from movie_assets.schedules import rebuild_stale_nightly, scheduled_batches
from resources.storage.projects import ProjectStoreResource

generated_assets = dg.load_assets_from_modules([script, narration, visuals, clips, music, assembly])

# In the UI's code server: what a rebuild will redo, first in each asset's description, so the
# catalog lists it on every row with pending partitions (`movie ui` reloads when it changes).
_PENDING_BY_ASSET = pending_by_asset(PENDING_ROWS)


def _with_pending(spec: dg.AssetSpec) -> str | None:
    pending = _PENDING_BY_ASSET.get(spec.key.to_user_string())
    if not pending:
        return spec.description
    return f"REBUILD PENDING: {pending} (job rebuild_movie). {spec.description or ''}".strip()


defs = dg.Definitions(
    assets=[
        *INPUT_SOURCES,
        *dg.map_asset_specs(
            lambda spec: spec.replace_attributes(
                automation_condition=regenerate_when_inputs_change,
                description=_with_pending(spec),
            ),
            generated_assets,
        ),
        batch_report,
    ],
    asset_checks=[*QUALITY_CHECKS, *up_to_date_checks(generated_assets)],
    jobs=[
        new_movie,
        rebuild_movie,
        regenerate_movie,
        delete_movie,
        *LEVEL_JOBS.values(),
        build_batch,
    ],
    sensors=[automation_sensor, batch_inbox],
    schedules=[rebuild_stale_nightly, *scheduled_batches()],
    # A run's steps execute one after another in the run's own process: a run is one partition
    # of one level, its steps mostly depend on each other, and the multiprocess default would
    # start a Python per step that imports Dagster and this code again (~2 CPU-s each).
    executor=dg.in_process_executor,
    resources={
        **producer_resources(),
        "artifact_io": ArtifactIOManager(),
        # The movies' inputs; MOVIE_HOME/movies wherever a step runs, like ProjectStore().
        "projects": ProjectStoreResource(),
        "batch_settings": BatchSettings.from_env(),
    },
)

# The builder, the queue, migration and the checks run against these (they sit below this module).
code_location.register(defs)
