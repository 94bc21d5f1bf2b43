"""`/eval compare`, `/eval history` and the comparison API through the real bot process."""

from __future__ import annotations

import io
import json
from pathlib import Path

from PIL import Image

from bot.chart_theme import PALETTE
from tests.e2e.harness import start_bot, teach, wait_status, write_suite
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.slack import FakeSlack


def _size_and_mode(png: bytes) -> tuple[int, str]:
    image = Image.open(io.BytesIO(png))
    return image.width, image.mode


def _pixels_of(png: bytes, colour: str) -> int:
    """Opaque pixels of exactly `colour` (#RRGGBB): a bar's fill or a marker's core."""
    wanted = (*(int(colour[i : i + 2], 16) for i in (1, 3, 5)), 255)
    image = Image.open(io.BytesIO(png)).convert("RGBA")
    return sum(count for count, rgba in image.getcolors(1 << 24) or [] if rgba == wanted)


def test_compare_two_runs_history_and_a_refused_pairing(tmp_path: Path) -> None:
    suites = write_suite(tmp_path / "suites")
    with FakeSlack() as slack, FakeOpenAI(models=["m-good", "m-bad"]) as openai:
        teach(openai)
        bot = start_bot(tmp_path, slack, openai, suites_dir=suites)
        try:
            bot.slash(slack, "run parity m-good")
            wait_status(bot, "r1", {"finished"})
            bot.slash(slack, "run parity m-bad")
            wait_status(bot, "r2", {"finished"})
            _, ack, _, _ = bot.slash(slack, "compare r1 r2")
            assert "Comparing `r1` with `r2`" in ack["text"]
            head = slack.wait_for(
                lambda: next((m for m in slack.messages("C1") if "*r1 vs r2*" in m.text), None)
            )
            # The message is the verdict, not who asked; the details are in its thread.
            assert head.text == (
                "*r1 vs r2*: `m-bad` 0.0% vs r1 `m-good` 85.0%: -85.0 pp, p<0.001, *worse* → "
                "the earlier run's model stays ahead"
            )
            thread = slack.wait_for(
                lambda: len(slack.thread("C1", head.ts)) >= 2 and slack.thread("C1", head.ts)
            )
            report = thread[0].text
            assert "baseline `m-good` (85.0%)" in report
            assert "`m-bad`: -85.0 pp" in report and "17 regressed" in report
            assert "-0.00 s" not in report and "+0.00 s" not in report
            comparison = next(
                u
                for u in slack.uploads
                if u.filename == "comparison.png" and u.thread_ts == head.ts
            )
            # Made for Slack's preview: 2x, transparent; m-good ran first on the suite, so it
            # has the palette's first colour, m-bad the second, here and in the history.
            assert _size_and_mode(comparison.bytes) == (1280, "RGBA")
            assert _pixels_of(comparison.bytes, PALETTE[0]) > 200
            assert _pixels_of(comparison.bytes, PALETTE[1]) == 0  # m-bad passed nothing
            status, body = bot.get("/api/compare/r1/r2")
            assert status == 200 and body["baseline"] == "m-good"
            assert body["challengers"]["m-bad"]["regressed"] == 17
            assert body["challengers"]["m-bad"]["verdict"] == "worse"
            assert bot.get("/api/runs/r1/comparison")[0] == 404  # one model: nothing to pair

            bot.slash(slack, "history parity")
            hist = slack.wait_for(
                lambda: next(
                    (m for m in slack.messages("C1") if "*History of `parity`*" in m.text), None
                )
            )
            assert "`m-good`: 1 runs, last 85.0%" in hist.text
            chart = slack.wait_for(
                lambda: next((u for u in slack.uploads if u.filename == "history.png"), None)
            )
            assert chart.thread_ts == hist.ts and chart.bytes.startswith(b"\x89PNG")
            assert _size_and_mode(chart.bytes) == (1280, "RGBA")
            assert _pixels_of(chart.bytes, PALETTE[0]) > 20  # m-good's marker, same colour
            assert _pixels_of(chart.bytes, PALETTE[1]) > 20  # m-bad's
        finally:
            bot.stop()

        # the suite's data changes: runs before and after no longer pair
        eval_file = suites / "parity" / "eval.jsonl"
        eval_file.write_text(eval_file.read_text().replace("Is 19", "Is nineteen"))
        again = start_bot(tmp_path, slack, openai, suites_dir=suites)
        try:
            again.slash(slack, "run parity m-good")
            wait_status(again, "r3", {"finished"})
            again.slash(slack, "compare r1 r3")
            refusal = slack.wait_for(
                lambda: next(
                    (r for r in slack.responses if "different data versions" in json.dumps(r.body)),
                    None,
                )
            )
            assert "Rerun both models in one `/eval run`" in refusal.body["text"]
            status, body = again.get("/api/compare/r1/r3")
            assert status == 409 and "different data versions" in body["error"]
        finally:
            again.stop()
