"""The Diffusers* producers on tiny random-weight pipelines (no GPU, no download).

The pipelines are built from configs and saved to a temp folder; the producers load them with
from_pretrained like any model from the Hugging Face cache and run their real code: a whole 20 s
movie for each video blueprint, one of them with its stills from DiffusersImages."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from resources.media.probe import probe
from tests.test_generate import movie_cli
from tests.tiny_pipelines import TINY_STILL

pytest.importorskip("diffusers", reason="the gpu extra (torch, diffusers) is not installed")


pytestmark = pytest.mark.e2e  # whole movies on diffusers pipelines


def _env(models: dict[str, Path], **extra: str) -> dict[str, str]:
    return {
        "HF_HUB_OFFLINE": "1",
        "MOVIE_DEVICE": "cpu",
        "MOVIE_VIDEO": "diffusers",
        "MOVIE_T2V_MODEL": str(models["video"]),
        "MOVIE_I2V_MODEL": str(models["video"]),
        "MOVIE_VIDEO_FRAMES": "9",
        "MOVIE_VIDEO_STEPS": "2",
        "MOVIE_VIDEO_LONG_SIDE": "64",
        **extra,
    }


def _latest(home: Path, asset: str) -> list[dict]:
    import dagster as dg

    instance = dg.DagsterInstance.from_config(str(home / "dagster"))
    records = instance.fetch_materializations(dg.AssetKey(asset), limit=100).records
    latest: dict[str, dict] = {}
    for record in records:  # newest first
        meta = {k: v.value for k, v in record.asset_materialization.metadata.items()}
        latest.setdefault(record.partition_key, meta)
    return list(latest.values())


def _check_movie(done: subprocess.CompletedProcess) -> Path:
    assert done.returncode == 0, done.stderr[-3000:]
    mp4 = Path(done.stdout.strip().splitlines()[-1])
    info = probe(mp4, count_frames=True)
    # 360x640: the tests' small render (tests/conftest.py); test_generate checks 1080x1920.
    assert info["video_codec"] == "h264" and (info["width"], info["height"]) == (360, 640)
    assert info["fps"] == 30 and info["nb_frames"] == 20 * 30
    assert info["audio_codec"] == "aac"
    return mp4


@pytest.mark.parametrize(
    ("blueprint", "images_from"),
    [("video-by-image", "diffusers"), ("video-by-text", "offline")],
)
def test_a_20s_movie_made_with_the_diffusers_producers(
    tmp_path, tiny_models, blueprint, images_from
):
    home = tmp_path / ".movie"
    extra = {"MOVIE_IMAGES": images_from}
    if images_from == "diffusers":
        extra |= {
            "MOVIE_IMAGE_MODEL": str(tiny_models["image"]),
            "MOVIE_IMAGE_STEPS": "2",
            "MOVIE_IMAGE_LONG_SIDE": "64",
        }
    done = movie_cli(
        home,
        "generate",
        "A glacier valley",
        "--duration",
        "20",
        "--blueprint",
        blueprint,
        "--images-per-segment",
        "1",
        "--id",
        "tiny",
        extra_env=_env(tiny_models, **extra),
    )
    _check_movie(done)
    clips = _latest(home, "segment_clip")
    assert len(clips) == 2
    for clip in clips:
        assert clip["provider"] == "diffusers" and clip["model"] == str(tiny_models["video"])
        assert clip["frames"] == 9 and clip["mode"] == blueprint.removeprefix("video-by-")
        assert "fallback" not in clip
    assert {v["picture"] for v in _latest(home, "segment_visual")} == {"clip"}
    images = _latest(home, "shot_image")
    expected = "diffusers" if images_from == "diffusers" else "offline-illustrator"
    assert {i["provider"] for i in images} == {expected}


def test_one_pipeline_per_process_batched_stills(tmp_path, tiny_models, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from resources.producers.diffusers import pipelines
    from resources.producers.diffusers.generators import DiffusersImages

    producer = DiffusersImages(model=str(tiny_models["image"]), device="cpu", long_side=64, steps=2)
    first = producer.generate_many(
        ["a glacier", "a river"],
        on_screen_texts=["", ""],
        seeds=[1, 2],
        out_paths=[tmp_path / "a.png", tmp_path / "b.png"],
        **TINY_STILL,
    )
    pipe, took = pipelines.load(producer.spec())
    assert took == 0.0  # already loaded by the call above: reused, not reloaded
    producer.generate(
        "a glacier", on_screen_text="", seed=1, out_path=tmp_path / "c.png", **TINY_STILL
    )
    assert pipelines.load(producer.spec())[0] is pipe
    assert [c.provider for c in first] == ["diffusers", "diffusers"]
    # the same seed and prompt give the same picture; another seed another one
    a, b, c = ((tmp_path / n).read_bytes() for n in ("a.png", "b.png", "c.png"))
    assert a == c and a != b
    assert next(p for p in pipe.components.values() if hasattr(p, "dtype")).dtype.is_floating_point


def test_a_missing_model_is_a_clear_error_without_loading_torch(tmp_path):
    code = (
        "import sys; from pathlib import Path\n"
        "from resources.producers.diffusers.generators import DiffusersTextToVideo\n"
        "try:\n"
        "    DiffusersTextToVideo(model='owner/not-cached-model').generate_clip('x', image=None,"
        " style='documentary', width=64, height=64, duration_s=1, seed=1,"
        f" out_path=Path({str(tmp_path / 'x.mp4')!r}))\n"
        "except Exception as error:\n"
        "    print(type(error).__name__, error.retryable, error)\n"
        "print('torch' in sys.modules)\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    lines = done.stdout.strip().splitlines()
    assert lines[0].startswith("ModelNotFound False"), done.stdout + done.stderr
    assert "owner/not-cached-model" in lines[0] and "MOVIE_T2V_MODEL" in lines[0]
    assert "HF_HUB_OFFLINE" in lines[0]
    assert lines[-1] == "False"
