"""The request model refuses bad input with the field and the rule in the message."""

import pytest
from pydantic import ValidationError

from resources.domain.models import MovieRequest, parse_shot_key


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        ({"duration_s": 35}, "duration_s", "multiple of 10"),
        ({"duration_s": 0}, "duration_s", "between 10 and 300"),
        ({"duration_s": 400}, "duration_s", "between 10 and 300"),
        ({"images_per_segment": 9}, "images_per_segment", "less than or equal to 5"),
        ({"images_per_segment": 0}, "images_per_segment", "greater than or equal to 1"),
        ({"language": "xx"}, "language", "'en'"),
        ({"prompt": "   "}, "prompt", "must not be empty"),
        ({"prompt": ""}, "prompt", "at least 1 character"),
        ({"aspect_ratio": "4:3"}, "aspect_ratio", "'9:16'"),
        ({"use_video": True, "blueprint": "image"}, "use_video", "conflicts with blueprint"),
        ({"blueprint": "slideshow"}, "blueprint", "'video-by-image'"),
        ({"colour": "red"}, "colour", "Extra inputs are not permitted"),
    ],
)
def test_bad_requests_name_the_field_and_rule(fields, field, words):
    with pytest.raises(ValidationError) as raised:
        MovieRequest(**({"prompt": "Volcanoes"} | fields))
    message = str(raised.value)
    assert field in message
    assert words in message


def test_plan_of_a_valid_request(monkeypatch):
    monkeypatch.delenv("MOVIE_RENDER_DIVISOR", raising=False)  # the real size, not the tests'
    request = MovieRequest(prompt="Volcanoes", duration_s=30, images_per_segment=3)
    assert request.segment_count == 3
    assert request.segment_keys() == ["s00", "s01", "s02"]
    assert request.shot_keys()[:4] == ["s00i0", "s00i1", "s00i2", "s01i0"]
    assert len(request.shot_keys()) == 9
    assert request.size == (1080, 1920)
    monkeypatch.setenv("MOVIE_RENDER_DIVISOR", "3")  # the test-only knob keeps even sides
    assert request.size == (360, 640)
    monkeypatch.setenv("MOVIE_RENDER_DIVISOR", "4")
    assert request.size == (270, 480)


def test_shot_keys_parse_and_refuse_garbage():
    assert parse_shot_key("s12i4") == (12, 4)
    with pytest.raises(ValueError, match="s03i1"):
        parse_shot_key("s3-1")
