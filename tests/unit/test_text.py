"""Which text every backend can store, and how its problems are reported."""

from __future__ import annotations

from wfplatform.domain.text import text_problems
from wfplatform.errors import bounded


def test_problems_name_the_path_and_never_the_text():
    problems = text_problems(
        {
            "name": "fine \t\x1b\x07 ☃ 😀",
            "tags": ["ok", "a\x00"],
            "settings": {"zone \ud800": "UTC", "nested": [{"deep": "\udfff"}]},
        }
    )
    assert problems == {
        "tags": {1: ["holds a NUL character (\\u0000), which cannot be stored"]},
        "settings": {
            "_schema": [
                "an object key holds a lone UTF-16 surrogate (not valid Unicode), "
                "which cannot be stored"
            ],
            "nested": {
                0: {
                    "deep": [
                        "holds a lone UTF-16 surrogate (not valid Unicode), which cannot be stored"
                    ]
                }
            },
        },
    }


def test_any_depth_is_walked_and_the_count_is_bounded():
    deep: object = "\x00"
    for _ in range(3_000):  # deeper than Python's recursion limit
        deep = [deep]
    assert text_problems({"deep": deep})
    many = text_problems({"tags": ["\x00"] * 1_000})
    assert len(many["tags"]) == 10


def test_bounded_details_keep_their_shape_and_count_what_was_cut():
    details = {"json": {f"field {n} " + "x" * 1_000: ["Unknown field."] for n in range(50)}}
    cut = bounded(details)
    assert len(cut["json"]) == 21 and cut["json"]["…"] == "and 30 more"
    assert all(len(key) <= 201 for key in cut["json"])
    assert bounded({"nodes": {0: {"id": ["x"]}}}) == {"nodes": {"0": {"id": ["x"]}}}
    deep: object = "message"
    for _ in range(100):
        deep = {"a": deep}
    assert "…" in str(bounded(deep))
