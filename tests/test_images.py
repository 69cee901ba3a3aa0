"""Still images: the offline artist's real Pillow/numpy renders, and the real `openai` client
against the local stand-in of the OpenAI API."""

from __future__ import annotations

import io
import itertools
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from resources.domain.models import ImageStyle
from resources.producers.images.generators import ImageProviderError
from resources.producers.images.openai_images import OpenAIImages, closest_api_size
from resources.producers.images.painter import OfflineArtist
from tests.openai_standin import OpenAIStandIn

PROMPT = "Snow-capped mountains at dawn over a quiet valley, documentary style"
TEXT = "Why do mountains keep growing?"
API_KEY = "sk-test-secret-0123456789"
SMALL = (540, 960)  # half of 1080x1920: the same code paths, quicker tests


def render(tmp_path: Path, *, prompt: str = PROMPT, text: str = TEXT,
           style: ImageStyle = ImageStyle.documentary, size: tuple[int, int] = SMALL,
           seed: int = 7, name: str = "shot.png") -> Path:
    out = tmp_path / name
    call = OfflineArtist().generate(
        prompt, on_screen_text=text, style=style, width=size[0], height=size[1], seed=seed,
        out_path=out,
    )
    assert (call.provider, call.model, call.seed) == ("offline-artist", "offline-artist-1", seed)
    return out


def colour_count(arr: np.ndarray) -> int:
    packed = (arr[..., 0].astype(np.int32) << 16) | (arr[..., 1] << 8) | arr[..., 2]
    return len(np.unique(packed))


def pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        assert image.format == "PNG"
        return np.asarray(image.convert("RGB")).astype(np.int16)


# --- offline artist ----------------------------------------------------------------------------


@pytest.mark.parametrize("style", list(ImageStyle))
@pytest.mark.parametrize("size", [(1080, 1920), (1920, 1080), (1080, 1080), (333, 517)])
def test_exact_size_and_not_blank(tmp_path, style, size):
    out = render(tmp_path / "deep" / "folder", style=style, size=size)  # folders are created
    with Image.open(out) as image:
        assert image.size == size
        assert image.mode == "RGB"
    arr = pixels(out)
    assert arr.std() > 25, f"{style.value} {size} looks flat (std {arr.std():.1f})"
    colours = colour_count(arr)
    assert colours > 100, f"{style.value} {size} has only {colours} colours"
    assert [p.name for p in out.parent.iterdir()] == [out.name], "temp file left behind"


def test_textured_styles_have_many_colours(tmp_path):
    for style in (ImageStyle.documentary, ImageStyle.watercolor, ImageStyle.cinematic):
        arr = pixels(render(tmp_path, style=style, name=f"{style.value}.png"))
        assert colour_count(arr) > 2000, style.value


def test_styles_look_clearly_different(tmp_path):
    renders = {s: pixels(render(tmp_path, style=s, name=f"{s.value}.png")) for s in ImageStyle}
    for a, b in itertools.combinations(ImageStyle, 2):
        difference = np.abs(renders[a] - renders[b]).mean()
        assert difference > 25, f"{a.value} vs {b.value} differ by only {difference:.1f}/255"
    # Style signatures: letterbox bars for cinematic, a white gutter round the comic panel.
    cinematic = renders[ImageStyle.cinematic]
    assert cinematic[:20].max() == 0 and cinematic[-20:].max() == 0
    comic = renders[ImageStyle.comic]
    assert (comic[:5] == 255).all() and (comic[:, :5] == 255).all()


def test_same_inputs_give_identical_bytes(tmp_path):
    for style in ImageStyle:
        first = render(tmp_path, style=style, name="a.png").read_bytes()
        second = render(tmp_path, style=style, name="b.png").read_bytes()
        assert first == second, style.value


def test_seed_and_prompt_change_the_image(tmp_path):
    for style in ImageStyle:
        base = pixels(render(tmp_path, style=style, name="base.png"))
        other_seed = pixels(render(tmp_path, style=style, seed=8, name="seed.png"))
        other_prompt = pixels(render(tmp_path, style=style, prompt="A city skyline at night",
                                     name="prompt.png"))
        assert np.abs(base - other_seed).mean() > 3, f"{style.value}: seed changed too little"
        assert np.abs(base - other_prompt).mean() > 3, f"{style.value}: prompt changed too little"


@pytest.mark.parametrize("style", list(ImageStyle))
def test_on_screen_text_is_drawn_in_the_safe_area(tmp_path, style):
    w, h = SMALL
    with_text = pixels(render(tmp_path, style=style, name="text.png"))
    without = pixels(render(tmp_path, style=style, text="", name="plain.png"))
    changed = np.abs(with_text - without).max(axis=2) > 40
    ys, xs = np.nonzero(changed)
    assert changed.sum() > 0.02 * w * h, f"{style.value}: text barely visible"
    # Everything the text changed lies in the centre of the frame, clear of the edges.
    assert xs.min() > 0.04 * w and xs.max() < 0.96 * w
    assert ys.min() > 0.12 * h and ys.max() < 0.82 * h
    # And it is large: the block spans most of the safe width.
    assert xs.max() - xs.min() > 0.5 * w


def test_greek_and_cyrillic_render_as_glyphs(tmp_path):
    # Missing glyphs would all be the same box: two different strings of the same length
    # would then render identically.
    for style in (ImageStyle.documentary, ImageStyle.comic):  # comic also upper-cases
        plain = pixels(render(tmp_path, style=style, text="", name="plain.png"))
        greek = pixels(render(tmp_path, style=style, text="Καλημέρα κόσμε", name="el.png"))
        greek2 = pixels(render(tmp_path, style=style, text="Ψάρια στη λίμνη", name="el2.png"))
        russian = pixels(render(tmp_path, style=style, text="Привет, мир", name="ru.png"))
        russian2 = pixels(render(tmp_path, style=style, text="Рыбы в озере", name="ru2.png"))
        for arr in (greek, russian):
            assert (np.abs(arr - plain).max(axis=2) > 40).sum() > 5000
        assert np.abs(greek - greek2).mean() > 1
        assert np.abs(russian - russian2).mean() > 1


def test_long_text_is_wrapped_to_fit(tmp_path):
    w, h = SMALL
    text = "An unusually long on-screen sentence that could never fit on a single line here"
    plain = pixels(render(tmp_path, text="", name="plain.png"))
    arr = pixels(render(tmp_path, text=text, name="long.png"))
    ys, xs = np.nonzero(np.abs(arr - plain).max(axis=2) > 40)
    assert xs.min() > 0.04 * w and xs.max() < 0.96 * w
    assert ys.max() - ys.min() > 0.12 * h, "expected several lines"


def test_full_hd_portrait_render_is_fast(tmp_path):
    timings = {}
    for style in ImageStyle:
        start, cpu = time.perf_counter(), time.process_time()
        render(tmp_path, style=style, size=(1080, 1920), name=f"{style.value}.png")
        timings[style.value] = (time.perf_counter() - start, time.process_time() - cpu)
    print("\n1080x1920 render+PNG seconds (wall, cpu): "
          + "; ".join(f"{k} {w:.3f}, {c:.3f}" for k, (w, c) in timings.items()))
    # CPU time, not wall time: the machine may be busy with other work.
    assert max(c for _, c in timings.values()) < 1.5, timings


# --- OpenAI images through the real client ------------------------------------------------------


def openai_images(standin: OpenAIStandIn, **overrides) -> OpenAIImages:
    return OpenAIImages(api_key=API_KEY, base_url=standin.base_url, **overrides)


@pytest.mark.parametrize(
    ("size", "api_size"),
    [((1080, 1920), "1024x1536"), ((1920, 1080), "1536x1024"), ((1080, 1080), "1024x1024")],
)
def test_openai_request_and_exact_output_size(tmp_path, size, api_size):
    out = tmp_path / "img" / "s00i0.png"
    with OpenAIStandIn() as standin:
        call = openai_images(standin, price_per_image_usd=0.05).generate(
            "A lighthouse on a cliff", on_screen_text="", style=ImageStyle.watercolor,
            width=size[0], height=size[1], seed=3, out_path=out,
        )
    assert len(standin.requests) == 1
    path, body, headers = standin.requests[0]
    assert path == "/v1/images/generations"
    assert body["model"] == "gpt-image-1"
    assert body["size"] == api_size == closest_api_size(*size)
    assert body["n"] == 1
    assert body["prompt"].startswith("A lighthouse on a cliff")
    assert "watercolor" in body["prompt"].lower()
    assert "response_format" not in body  # gpt-image-1 rejects it; it always returns base64
    assert {k.lower(): v for k, v in headers.items()}["authorization"] == f"Bearer {API_KEY}"
    assert (call.provider, call.model, call.estimated_cost_usd) == ("openai", "gpt-image-1", 0.05)
    with Image.open(out) as image:
        assert image.size == size
        arr = np.asarray(image.convert("L")).astype(int)
    # The stand-in's picture is a top-to-bottom dark-to-light gradient: cover-cropping keeps
    # its orientation and does not letterbox (no flat bars at the edges).
    assert arr[:5].mean() < 60 and arr[-5:].mean() > 195
    assert arr[:, :5].std() > 50 and arr[:, -5:].std() > 50


def test_openai_dall_e_asks_for_base64(tmp_path):
    with OpenAIStandIn() as standin:
        openai_images(standin, model="dall-e-3").generate(
            "A lighthouse", on_screen_text="", style=ImageStyle.retro, width=1080,
            height=1920, seed=1, out_path=tmp_path / "a.png",
        )
    body = standin.requests[0][1]
    assert body["response_format"] == "b64_json"
    assert "retro" in body["prompt"].lower()


def test_openai_image_gets_the_on_screen_text(tmp_path):
    with OpenAIStandIn() as standin:
        images = openai_images(standin)
        for name, text in (("plain.png", ""), ("text.png", "Привет, λίμνη")):
            images.generate("A lake", on_screen_text=text, style=ImageStyle.cinematic,
                            width=540, height=960, seed=1, out_path=tmp_path / name)
    assert "no text" in standin.requests[0][1]["prompt"].lower()
    changed = np.abs(pixels(tmp_path / "text.png") - pixels(tmp_path / "plain.png")).max(axis=2)
    assert (changed > 40).sum() > 2000


def test_openai_http_error_carries_the_server_message_not_the_key(tmp_path):
    out = tmp_path / "never.png"
    with OpenAIStandIn() as standin:
        standin.fail_with = (400, "Your request was rejected by the safety system.")
        with pytest.raises(ImageProviderError) as info:
            openai_images(standin).generate(
                "A lake", on_screen_text="", style=ImageStyle.minimal, width=1080,
                height=1080, seed=1, out_path=out,
            )
    message = str(info.value)
    assert "rejected by the safety system" in message
    assert "400" in message and "gpt-image-1" in message
    assert API_KEY not in message
    assert not out.exists()


def test_openai_unreachable_server_is_a_clear_error(tmp_path):
    images = OpenAIImages(api_key=API_KEY, base_url="http://127.0.0.1:9/v1", max_retries=0,
                          timeout_s=5)
    with pytest.raises(ImageProviderError, match="OpenAI images") as info:
        images.generate("A lake", on_screen_text="", style=ImageStyle.minimal, width=64,
                        height=64, seed=1, out_path=tmp_path / "x.png")
    assert API_KEY not in str(info.value)


def test_closest_api_size():
    assert closest_api_size(1080, 1920) == "1024x1536"
    assert closest_api_size(1920, 1080) == "1536x1024"
    assert closest_api_size(1080, 1080) == "1024x1024"
    assert closest_api_size(1000, 1100) == "1024x1024"


def test_png_is_valid_and_complete(tmp_path):
    data = render(tmp_path).read_bytes()
    with Image.open(io.BytesIO(data)) as image:
        image.verify()
