"""How a run reads (bot/presenters/run.py) and what it costs (commands/prices.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.presenters import run as present
from bot.presenters.mrkdwn import SLACK
from commands.eval.render import BAR_WIDTH, progress_bar
from commands.eval.stats import wilson_interval
from commands.prices import BUILTIN, Price, PriceTable
from commands.reports import RunHeader, RunProgress, RunSummary
from storage.runs import ModelTally

HEADER = RunHeader(run="r12", suite="ticket-routing", data_version="sha256:" + "ab" * 32, total=10)


def summary_text(
    h: RunHeader,
    state: str,
    models: list[str],
    counts: dict[str, ModelTally],
    costs: dict[str, float | None],
    elapsed_s: float | None,
) -> str:
    return present.summary(SLACK, RunSummary(h, state, models, counts, costs, elapsed_s))


def model_summary(model: str, t: ModelTally, cost: float | None) -> str:
    return present.model_summary(SLACK, model, t, cost)


def progress_text(
    h: RunHeader, models: list[str], counts: dict[str, ModelTally], elapsed_s: float
) -> str:
    return present.progress(SLACK, RunProgress(h, models, counts, elapsed_s))


def tally(
    passed: int,
    failed: int,
    errored: int = 0,
    *,
    latencies: list[int] | None = None,
    tokens_in: int = 0,
    tokens_out: int = 0,
) -> ModelTally:
    return ModelTally(
        passed=passed,
        failed=failed,
        errored=errored,
        input_tokens=tokens_in,
        output_tokens=tokens_out,
        latencies_ms=list(latencies or []),
    )


# -- the summary -----------------------------------------------------------------------------


def test_summary_has_passed_over_graded_and_the_wilson_interval() -> None:
    t = tally(7, 3, latencies=[100] * 10)
    text = summary_text(HEADER, "finished", ["gpt-4.1-mini"], {"gpt-4.1-mini": t}, {}, 65)
    assert "7/10 passed" in text
    assert "70.0%" in text
    lo, hi = wilson_interval(7, 10)
    assert f"95% CI {lo * 100:.1f}–{hi * 100:.1f}%" in text
    assert "95% CI 39.7–89.2%" in text  # the published Wilson interval for 7/10
    assert "*Eval r12*" in text and "`ticket-routing`" in text
    assert "finished in 1:05" in text


def test_errored_samples_are_counted_apart_from_failures() -> None:
    t = tally(6, 2, errored=2)
    line = model_summary("gpt-4.1-mini", t, None)
    assert "6/8 passed" in line, "errored samples are not graded"
    assert "75.0%" in line
    assert "2 errored" in line
    assert "6/10" not in line


def test_no_errors_say_zero_errored() -> None:
    assert "0 errored" in model_summary("m", tally(5, 5), None)


def test_summary_shows_tokens_cost_and_latency_percentiles() -> None:
    latencies = [100, 200, 300, 400, 500, 600, 700, 800, 900, 10_000]
    t = tally(9, 1, latencies=latencies, tokens_in=12_345, tokens_out=678)
    line = model_summary("gpt-4.1-mini", t, 0.01234)
    assert "tokens 12,345 in / 678 out" in line
    assert "cost $0.0123" in line
    assert "p50 0.55 s" in line
    assert "p95 5.91 s" in line  # rank 8.55: 900 + (10000 - 900) * 0.55 ms


def test_cost_is_na_when_unknown_and_dollars_when_large() -> None:
    assert "cost n/a" in model_summary("m", tally(1, 0), None)
    assert "cost $1,234.50" in model_summary("m", tally(1, 0), 1234.5)
    assert "cost $0 " in model_summary("m", tally(1, 0), 0.0)


def test_a_model_with_nothing_graded() -> None:
    line = model_summary("m", tally(0, 0, errored=10), None)
    assert "0/0 passed" in line
    assert "no sample graded" in line
    assert "10 errored" in line
    assert "latency n/a" in line


def test_summary_of_several_models_has_each_and_a_ranking() -> None:
    counts = {"a": tally(3, 7), "b": tally(9, 1), "c": tally(5, 4, errored=1)}
    text = summary_text(HEADER, "finished", ["a", "b", "c"], counts, {"b": 0.5}, None)
    for expected in ("3/10 passed", "9/10 passed", "5/9 passed"):
        assert expected in text
    table = text[text.index("```") :]
    assert table.index("b ") < table.index("c ") < table.index("a "), "ranked by pass rate"


# -- progress ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("done", "total", "filled"),
    [(0, 10, 0), (5, 10, 10), (10, 10, 20), (1, 3, 7), (2, 3, 13), (12, 10, 20), (3, 0, 0)],
)
def test_progress_bar_fill(done: int, total: int, filled: int) -> None:
    bar = progress_bar(done, total)
    assert len(bar) == BAR_WIDTH
    assert bar == "▓" * filled + "░" * (BAR_WIDTH - filled)


def test_progress_text_shows_done_total_and_rate_so_far() -> None:
    counts = {"gpt-4.1-mini": tally(3, 1, errored=1)}
    text = progress_text(HEADER, ["gpt-4.1-mini", "gpt-5-mini"], counts, 125)
    first, second = text.splitlines()[1:3]
    assert "5/10" in first and "3/4 passed (75.0%)" in first and "1 errored" in first
    assert "▓" * 10 + "░" * 10 in first
    assert "0/10" in second and "░" * BAR_WIDTH in second
    assert "elapsed 2:05" in text
    assert "running" in text.splitlines()[0]


# -- prices -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "family"),
    [
        ("gpt-4.1-mini", "gpt-4.1-mini"),
        ("gpt-4.1-mini-2025-04-14", "gpt-4.1-mini"),
        ("gpt-4o-2024-08-06", "gpt-4o"),
        ("ft:gpt-4.1-mini:acme::abc123", "gpt-4.1-mini"),
        ("ft:gpt-4.1-mini-2025-04-14:acme:routing:abc123", "gpt-4.1-mini"),
        ("openai:gpt-4.1-nano", "gpt-4.1-nano"),
        ("azure:ft:gpt-4o-mini:acme::x1", "gpt-4o-mini"),
    ],
)
def test_price_lookup(model: str, family: str) -> None:
    assert PriceTable().price(model) == BUILTIN[family]


@pytest.mark.parametrize(
    "model", ["llama-3.1-8b", "local:qwen2.5", "gpt-4.1-mini-preview", "ft:mystery:acme::x"]
)
def test_unknown_models_have_no_price(model: str) -> None:
    assert PriceTable().price(model) is None
    assert PriceTable().cost(model, 1000, 0, 1000) is None


def test_cost_counts_cached_input_at_its_own_price() -> None:
    # gpt-4.1-mini: $0.40 in, $0.10 cached in, $1.60 out per million tokens.
    cost = PriceTable().cost("gpt-4.1-mini", 1_000_000, 400_000, 500_000)
    assert cost == pytest.approx(0.6 * 0.40 + 0.4 * 0.10 + 0.5 * 1.60)


def test_an_override_file_replaces_and_adds_prices(tmp_path: Path) -> None:
    path = tmp_path / "prices.yaml"
    path.write_text(
        "gpt-4.1-mini: {input: 1.0, cached_input: 0.5, output: 2.0}\n"
        "llama-3.1-8b:\n  input: 0.05\n  output: 0.08\n"
    )
    table = PriceTable.load(path)
    # Inference prices are replaced; the training price the file does not give stays.
    assert table.price("gpt-4.1-mini-2025-04-14") == Price(1.0, 0.5, 2.0, training=5.0)
    assert table.price("local:llama-3.1-8b") == Price(0.05, 0.05, 0.08)
    assert table.price("gpt-4o") == BUILTIN["gpt-4o"], "the rest of the table stays"
    assert PriceTable().price("gpt-4.1-mini") == BUILTIN["gpt-4.1-mini"], "built-ins untouched"


def test_an_override_file_in_json(tmp_path: Path) -> None:
    path = tmp_path / "prices.json"
    path.write_text('{"my-model": {"input": 3, "output": 4}}')
    assert PriceTable.load(path).price("my-model") == Price(3.0, 3.0, 4.0)


def test_one_file_prices_inference_and_training(tmp_path: Path) -> None:
    path = tmp_path / "prices.yaml"
    path.write_text(
        "gpt-4.1-mini: {input: 0.4, output: 1.6, training: 7.5}\n"
        "o4-mini: {input: 1.1, output: 4.4, training_hour: 80}\n"
        "my-model: {input: 1, output: 2, training: 3}\n"
    )
    table = PriceTable.load(path)
    assert table.training_per_million("openai:ft:gpt-4.1-mini:acme::x") == 7.5
    assert table.training_hourly("o4-mini-2025-04-16") == 80.0
    assert table.training_per_million("my-model") == 3.0
    assert table.training_per_million("gpt-5") is None, "no training price: not guessed"
    assert PriceTable().training_per_million("gpt-4.1-mini") == 5.0
    assert PriceTable().training_hourly("o4-mini") == 100.0


def test_gateway_names_are_priced_as_their_family() -> None:
    assert PriceTable().price("gateway:openai/gpt-4o-2024-08-06") == BUILTIN["gpt-4o"]
    assert PriceTable().price("meta-llama/llama-3.1-8b") is None


def test_an_unknown_price_name_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "prices.yaml"
    path.write_text("gpt-4.1-mini: {input: 1, output: 2, trainig: 3}\n")
    with pytest.raises(ValueError, match="trainig"):
        PriceTable.load(path)


def test_no_override_file_is_the_builtin_table() -> None:
    assert PriceTable.load(None).prices == BUILTIN


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ("- gpt-4.1-mini\n- gpt-4o\n", "mapping"),
        ("gpt-4.1-mini: {input: 1.0}\n", "gpt-4.1-mini"),
        ("gpt-4.1-mini: 0.4\n", "gpt-4.1-mini"),
        ("gpt-4.1-mini: {input: cheap, output: 2}\n", "gpt-4.1-mini"),
        ("gpt-4.1-mini: {input: 1, output: [2\n", "prices.yaml"),
    ],
    ids=["not-a-mapping", "no-output", "not-an-object", "not-a-number", "bad-yaml"],
)
def test_a_malformed_override_file_is_a_clear_error(
    tmp_path: Path, content: str, says: str
) -> None:
    path = tmp_path / "prices.yaml"
    path.write_text(content)
    with pytest.raises(ValueError) as err:
        PriceTable.load(path)
    message = str(err.value)
    assert str(path) in message, "the error names the file"
    assert says in message
