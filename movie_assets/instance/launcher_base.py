"""What every run launcher here shares: it is made from its block in dagster.yaml."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from resources.runtime.dagster_private import ConfigurableClass, ConfigurableClassData, RunLauncher

# Which launcher started a run: "akash" (a GPU lease) or "default" (forked on this host).
LAUNCHER_TAG = "movie/launcher"
LOCAL_LAUNCHER = "default"


class ConfiguredRunLauncher(RunLauncher, ConfigurableClass):
    """A run launcher whose config block's keys are its __init__'s keyword arguments; the block
    itself is kept as inst_data (Dagster hands it on to the processes that rebuild the instance).
    A launcher built by another one (a child of DelegatingRunLauncher) has none."""

    _inst_data: ConfigurableClassData | None = None

    @property
    def inst_data(self) -> ConfigurableClassData | None:
        return self._inst_data

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData, config_value: Mapping[str, Any]):
        launcher = cls(**config_value)
        launcher._inst_data = inst_data
        return launcher
