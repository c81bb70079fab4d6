"""report.md: the published anchors beside an Atari game's results, none for the built-in games."""

import json

import pytest

from reporting.anchors import anchors_for
from reporting.build import build_report


@pytest.mark.parametrize(("env_id", "anchored"), [("PongNoFrameskip-v4", True), ("ALE/Pong-v5", True),
                                                  ("BuiltinPong-v0", False)])
def test_atari_reports_show_the_published_anchors(tmp_path, env_id, anchored):
    run = tmp_path / "run"
    run.mkdir()
    (run / "run.json").write_text(json.dumps({"env_id": env_id, "project": "diffses"}))
    text = build_report(run, tmp_path, [], None).read_text()
    assert ("Published anchors" in text) == anchored
    if anchored:
        assert "17.5" in text and "RAM objects, not pixels" in text


def test_every_anchor_names_its_source():
    for env_id in ("PongNoFrameskip-v4", "FreewayNoFrameskip-v4", "BoxingNoFrameskip-v4"):
        rows = anchors_for(env_id)
        assert rows and all(row["source"] and row["return"] > 0 for row in rows)
