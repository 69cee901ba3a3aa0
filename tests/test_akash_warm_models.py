"""Warm models on a lease: run processes call the lease's model server instead of loading.

The model server is started the way the worker starts it (gpu_jobs.worker.start_model_server);
two "runs" are fresh processes with MOVIE_MODEL_SERVER_URL and the lease price in their
environment, as the worker gives them, running the real Diffusers* producers on tiny
random-weight pipelines. The server's /stats counts the loads.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.helpers import run_python
from tests.tiny_pipelines import TINY_STILL

pytest.importorskip("diffusers", reason="the gpu extra (torch, diffusers) is not installed")

PRICE = 1.8  # USD per hour

# One run's GPU steps: a still, a text-to-video clip and an image-to-video clip.
RUN = """
import json, sys
from pathlib import Path
from resources.producers.diffusers.generators import (
    DiffusersImages, DiffusersImageToVideo, DiffusersTextToVideo)
image_model, video_model, out = sys.argv[1], sys.argv[2], Path(sys.argv[3])
video = dict(model=video_model, device="cpu", frames=9, steps=2, long_side=64)
calls = [
    DiffusersImages(model=image_model, device="cpu", long_side=64, steps=2).generate(
        "a glacier valley", on_screen_text="", style="documentary", width=64, height=112,
        seed=7, out_path=out / "still.png"),
    DiffusersTextToVideo(**video).generate_clip(
        "a slow river", image=None, style="documentary", width=64, height=112, duration_s=1,
        seed=7, out_path=out / "t2v.mp4"),
    DiffusersImageToVideo(**video).generate_clip(
        "animate the glacier", image=out / "still.png", style="documentary", width=64,
        height=112, duration_s=1, seed=7, out_path=out / "i2v.mp4"),
]
print(json.dumps({"calls": [c.model_dump() for c in calls], "torch": "torch" in sys.modules}))
"""


pytestmark = pytest.mark.e2e  # a model server process


@pytest.fixture
def model_server(tiny_models):
    from gpu_jobs.worker import start_model_server

    process, url = start_model_server({**os.environ, "HF_HUB_OFFLINE": "1"})
    try:
        yield url
    finally:
        process.terminate()
        process.wait(30)


def _run(tiny_models, out: Path, url: str) -> dict:
    out.mkdir()
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "MOVIE_MODEL_SERVER_URL": url,
        "MOVIE_GPU_USD_PER_HOUR": str(PRICE),
    }
    models = str(tiny_models["image"]), str(tiny_models["video"])
    done = run_python("-c", RUN, *models, out, env=env, timeout=300)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_two_runs_load_each_pipeline_once_on_the_lease(
    tmp_path,
    tiny_models,
    model_server,
    monkeypatch,
):
    from resources.producers.diffusers.model_client import fetch_stats

    assert fetch_stats(model_server) == {"loads": {}, "calls": 0, "device": None}
    first = _run(tiny_models, tmp_path / "run1", model_server)
    second = _run(tiny_models, tmp_path / "run2", model_server)

    stats = fetch_stats(model_server)
    image, video = str(tiny_models["image"]), str(tiny_models["video"])
    assert stats["loads"] == {
        f"text-to-image:{image}": 1,
        f"text-to-video:{video}": 1,
        f"image-to-video:{video}": 1,
    }
    assert stats["calls"] == 6 and stats["device"] == "cpu"
    # The run processes never imported torch: nothing was loaded in them.
    assert first["torch"] is False and second["torch"] is False
    for call in first["calls"] + second["calls"]:
        assert call["provider"] == "diffusers" and call["gpu_seconds"] > 0
        assert call["estimated_cost_usd"] == pytest.approx(call["gpu_seconds"] * PRICE / 3600)
    for name in ("still.png", "t2v.mp4", "i2v.mp4"):
        assert (tmp_path / "run1" / name).read_bytes() == (tmp_path / "run2" / name).read_bytes()

    # The same still from a direct in-process call (no lease): the same picture, no cost.
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("MOVIE_MODEL_SERVER_URL", raising=False)
    monkeypatch.delenv("MOVIE_GPU_USD_PER_HOUR", raising=False)
    from resources.producers.diffusers import pipelines
    from resources.producers.diffusers.generators import DiffusersImages, DiffusersTextToVideo
    from resources.producers.diffusers.model_client import ModelServerClient

    producer = DiffusersImages(model=image, device="cpu", long_side=64, steps=2)
    direct = producer.generate(
        "a glacier valley",
        on_screen_text="",
        seed=7,
        out_path=tmp_path / "direct.png",
        **TINY_STILL,
    )
    assert (tmp_path / "direct.png").read_bytes() == (tmp_path / "run1" / "still.png").read_bytes()
    assert direct.estimated_cost_usd == 0.0 and direct.gpu_seconds > 0
    # Clip frames, compared raw (before encoding): the server's equal the in-process ones.
    spec = DiffusersTextToVideo(model=video, device="cpu").spec()
    args = dict(image=None, width=64, height=96, frames=9, fps=24, steps=2, guidance=1.0, seed=3)
    here = pipelines.video(spec, "a slow river", **args)
    there = ModelServerClient(model_server).video(spec, "a slow river", **args)
    assert len(here) == len(there) == 9
    assert all((a == b).all() for a, b in zip(here, there, strict=True))
    assert fetch_stats(model_server)["loads"][f"text-to-video:{video}"] == 1


def test_a_missing_model_on_the_lease_is_a_clear_permanent_error(tmp_path, model_server):
    from resources.producers.diffusers.model_client import ModelServerClient
    from resources.producers.diffusers.model_source import ModelNotFound, PipelineSpec

    empty = tmp_path / "not-a-model"
    empty.mkdir()
    spec = PipelineSpec("text-to-image", str(empty), "MOVIE_IMAGE_MODEL")
    with pytest.raises(ModelNotFound, match="MOVIE_IMAGE_MODEL") as raised:
        ModelServerClient(model_server).text_to_images(
            spec, ["x"], width=64, height=64, seeds=[1], steps=1, guidance=0.0
        )
    assert not raised.value.retryable
