"""The SDL of a worker lease: the template in sdl_template.yaml with this lease's values.

The rendered SDL holds the lease's secret in the worker's environment (the only way to hand it
to the container), so it is sent to the Console API and never logged or stored.
"""

from __future__ import annotations

import copy
from pathlib import Path

import yaml
from pydantic import BaseModel, Field, field_validator

TEMPLATE = Path(__file__).with_name("sdl_template.yaml")
# The Console API rewrites every pricing denom of an SDL to its deployment denom (uact on
# mainnet, 1 ACT = 1 USD), so that is what bids and escrow come in; the ceiling is in its micro
# units.
DEFAULT_DENOM = "uact"


class GpuOrder(BaseModel):
    """What one attempt asks the market for: which GPUs, at most what price per block."""

    gpu_models: list[str] = Field(min_length=1)
    max_price_per_block: int = Field(gt=0, description="micro units of denom per block")
    denom: str = DEFAULT_DENOM

    @field_validator("gpu_models")
    @classmethod
    def _plain_names(cls, models: list[str]) -> list[str]:
        for model in models:
            if not model.replace("-", "").replace("_", "").isalnum():
                raise ValueError(f"GPU model {model!r}: letters, digits, - and _ only")
        return [model.lower() for model in models]


def render_sdl(order: GpuOrder, image: str, env: dict[str, str], template: Path = TEMPLATE) -> str:
    sdl = copy.deepcopy(yaml.safe_load(template.read_text()))
    service_name, service = next(iter(sdl["services"].items()))
    service["image"] = image
    # Literal KEY=VALUE entries; values are data, never interpolated by the provider.
    service["env"] = [f"{name}={value}" for name, value in sorted(env.items())]
    profile = sdl["profiles"]["compute"][service_name]
    profile["resources"]["gpu"]["attributes"]["vendor"]["nvidia"] = [
        {"model": model} for model in order.gpu_models
    ]
    placement = next(iter(sdl["profiles"]["placement"].values()))
    placement["pricing"][service_name] = {"denom": order.denom, "amount": order.max_price_per_block}
    return yaml.safe_dump(sdl, sort_keys=False)
