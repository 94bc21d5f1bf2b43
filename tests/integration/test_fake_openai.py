"""The fake OpenAI server against the real openai SDK (sync and async clients)."""

from __future__ import annotations

import contextlib
import json
import math
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from tests.fakes.openai_server import ApiError, FakeOpenAI, Request, run_in_subprocess

TRAIN = (
    b'{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}\n'
)
STRING_CHECK = {
    "type": "string_check",
    "name": "label",
    "input": "{{ sample.output_text }}",
    "reference": "{{ item.label }}",
    "operation": "ilike",
}


@pytest.fixture
def client(fake_openai: FakeOpenAI) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(
        api_key=fake_openai.api_key, base_url=fake_openai.base_url, max_retries=0
    ) as c:
        yield c


def raw_get(fake: FakeOpenAI, path: str) -> tuple[int, dict[str, str], Any]:
    """GET without the SDK, to check the wire format itself."""
    req = urllib.request.Request(
        fake.base_url + path, headers={"Authorization": f"Bearer {fake.api_key}"}
    )
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, dict(resp.headers), json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), json.loads(err.read())


def upload(client: openai.OpenAI, content: bytes = TRAIN, purpose: Any = "fine-tune") -> str:
    return client.files.create(file=("train.jsonl", content), purpose=purpose).id


# -- models -------------------------------------------------------------------------------


def test_models_list_retrieve_and_runtime_changes(
    fake_openai: FakeOpenAI, client: openai.OpenAI
) -> None:
    fake_openai.add_model("gpt-9", owned_by="openai")
    fake_openai.set_shutdown_date("gpt-4o-mini", "2030-01-31")
    fake_openai.remove_model("gpt-4.1-nano")
    models = {m.id: m for m in client.models.list()}
    assert "gpt-9" in models and "gpt-4.1-nano" not in models
    assert models["gpt-4o-mini"].shutdown_date == "2030-01-31"
    assert models["gpt-9"].owned_by == "openai"
    assert client.models.retrieve("gpt-9").object == "model"
    with pytest.raises(openai.NotFoundError) as err:
        client.models.retrieve("gpt-nope")
    assert err.value.code == "model_not_found"


def test_list_wire_format_honours_after_and_limit(fake_openai: FakeOpenAI) -> None:
    status, headers, page = raw_get(fake_openai, "/models?limit=2")
    assert status == 200 and headers["Content-Type"].startswith("application/json")
    assert page["object"] == "list" and page["has_more"] is True
    assert [m["id"] for m in page["data"]] == ["gpt-4.1", "gpt-4.1-mini"]
    assert (page["first_id"], page["last_id"]) == ("gpt-4.1", "gpt-4.1-mini")
    _, _, last = raw_get(fake_openai, f"/models?limit=100&after={page['last_id']}")
    assert last["has_more"] is False and last["data"][0]["id"] == "gpt-4.1-nano"
    _, _, unknown = raw_get(fake_openai, "/models?after=nope")
    assert unknown["data"] == [] and unknown["has_more"] is False


def test_wrong_api_key_is_401(fake_openai: FakeOpenAI) -> None:
    c = openai.OpenAI(api_key="sk-wrong", base_url=fake_openai.base_url, max_retries=0)
    with pytest.raises(openai.AuthenticationError) as err:
        c.models.list()
    assert err.value.code == "invalid_api_key"


def test_cursor_auto_paging_terminates(fake_openai: FakeOpenAI, client: openai.OpenAI) -> None:
    ids = [upload(client) for _ in range(5)]
    fake_openai.reset_records()
    listed = [f.id for f in client.files.list(limit=2)]
    assert listed == list(reversed(ids))  # newest first, like the API
    assert fake_openai.count("/files") == 3
    assert [r.query.get("after") for r in fake_openai.requests_to("/files")] == [
        None,
        ids[3],
        ids[1],
    ]


# -- inference ----------------------------------------------------------------------------


async def test_async_chat_responses_and_embeddings(fake_openai: FakeOpenAI) -> None:
    fake_openai.answer("gpt-4.1-mini", "I was charged twice", "billing")
    fake_openai.answer("*", "The app crashes", "bug")
    fake_openai.cached_tokens = 2
    async with openai.AsyncOpenAI(api_key="sk-test", base_url=fake_openai.base_url) as c:
        chat = await c.chat.completions.create(
            model="gpt-4.1-mini",
            messages=[
                {"role": "system", "content": "Answer with one word"},
                {"role": "user", "content": "I was charged twice"},
            ],
            temperature=0,
        )
        assert chat.choices[0].message.content == "billing"
        assert chat.choices[0].finish_reason == "stop"
        assert chat.usage is not None and chat.usage.prompt_tokens == 8
        assert chat.usage.completion_tokens == 1
        assert chat.usage.prompt_tokens_details is not None
        assert chat.usage.prompt_tokens_details.cached_tokens == 2

        resp = await c.responses.create(
            model="gpt-5-mini",
            instructions="Answer with one word",
            input=[
                {"role": "user", "content": [{"type": "input_text", "text": "The app crashes"}]}
            ],
        )
        assert resp.output_text == "bug" and resp.status == "completed"
        assert resp.usage is not None and resp.usage.input_tokens == 7
        assert resp.usage.input_tokens_details.cached_tokens == 2

        echoed = await c.responses.create(model="gpt-4.1", input="Where is my parcel?")
        assert echoed.output_text == "Where is my parcel?"  # unscripted: echo

        short = await c.chat.completions.create(
            model="gpt-4.1",
            messages=[{"role": "user", "content": "one two three four"}],
            max_completion_tokens=2,
        )
        assert short.choices[0].message.content == "one two"
        assert short.choices[0].finish_reason == "length"

        emb = await c.embeddings.create(
            model="text-embedding-3-small",
            input=["refund my card payment", "refund my card payment please", "the app crashes"],
        )
    a, b, other = (d.embedding for d in emb.data)
    assert len(a) == 64 and math.isclose(sum(x * x for x in a), 1.0, rel_tol=1e-5)
    cos = sum(x * y for x, y in zip(a, b, strict=True))
    assert cos > 0.8 > sum(x * y for x, y in zip(a, other, strict=True))
    # The SDK asks for base64 by default and decodes it itself.
    assert fake_openai.requests_to("/embeddings")[0].json["encoding_format"] == "base64"


def test_responder_sees_messages_and_params(fake_openai: FakeOpenAI, client: openai.OpenAI) -> None:
    seen: list[Request] = []

    def responder(req: Request) -> str | dict[str, Any]:
        seen.append(req)
        if req.last_user == "fail":
            raise ApiError(400, "nope", param="messages", code="bad")
        return {"text": f"{req.model}:{req.last_user}", "completion_tokens": 7}

    fake_openai.responder = responder
    resp = client.responses.create(
        model="gpt-4.1", input="hello", instructions="sys", temperature=0.5
    )
    assert resp.output_text == "gpt-4.1:hello"
    assert resp.usage is not None and resp.usage.output_tokens == 7
    assert seen[0].endpoint == "responses"
    assert seen[0].messages == [
        {"role": "system", "content": "sys"},
        {"role": "user", "content": "hello"},
    ]
    assert seen[0].params["temperature"] == 0.5
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(
            model="gpt-4.1", messages=[{"role": "user", "content": "fail"}]
        )
    assert err.value.code == "bad"


def test_unknown_model_is_404(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as err:
        client.chat.completions.create(
            model="gpt-nope", messages=[{"role": "user", "content": "hi"}]
        )
    assert err.value.code == "model_not_found"


def test_reasoning_model_refuses_temperature(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(
            model="o4-mini", messages=[{"role": "user", "content": "hi"}], temperature=0
        )
    assert err.value.param == "temperature" and err.value.code == "unsupported_value"
    assert err.value.message.endswith(
        "Unsupported value: 'temperature' does not support 0 with this model. "
        "Only the default (1) value is supported."
    )
    ok = client.chat.completions.create(
        model="o4-mini", messages=[{"role": "user", "content": "hi"}], temperature=1
    )
    assert ok.choices[0].message.content == "hi"


# -- faults and limits --------------------------------------------------------------------


def test_sdk_retries_through_injected_429(fake_openai: FakeOpenAI) -> None:
    fake_openai.fail_next("/chat/completions", status=429, count=2, retry_after_ms=20)
    c = openai.OpenAI(api_key="sk-test", base_url=fake_openai.base_url, max_retries=2)
    started = time.monotonic()
    resp = c.chat.completions.create(model="gpt-4.1", messages=[{"role": "user", "content": "x"}])
    assert resp.choices[0].message.content == "x"
    assert time.monotonic() - started < 2  # retry-after-ms honoured, not the default backoff
    calls = fake_openai.requests_to("/chat/completions")
    assert [r.status for r in calls] == [429, 429, 200]
    assert [r.headers["x-stainless-retry-count"] for r in calls] == ["0", "1", "2"]


def test_injected_429_and_5xx_bodies(fake_openai: FakeOpenAI, client: openai.OpenAI) -> None:
    fake_openai.fail_next("/responses", status=429, retry_after=3)
    with pytest.raises(openai.RateLimitError) as err:
        client.responses.create(model="gpt-4.1", input="x")
    assert err.value.response.headers["retry-after"] == "3"
    assert err.value.code == "rate_limit_exceeded"
    assert "x-ratelimit-remaining-requests" in err.value.response.headers
    fake_openai.fail_next("/v1/responses", status=503)
    with pytest.raises(openai.InternalServerError):
        client.responses.create(model="gpt-4.1", input="x")


def test_hang_times_out_the_client(fake_openai: FakeOpenAI, client: openai.OpenAI) -> None:
    fake_openai.hang_next("/chat/completions", seconds=30)
    started = time.monotonic()
    with pytest.raises(openai.APITimeoutError):
        client.chat.completions.create(
            model="gpt-4.1", messages=[{"role": "user", "content": "x"}], timeout=0.5
        )
    assert time.monotonic() - started < 3
    again = client.chat.completions.create(
        model="gpt-4.1", messages=[{"role": "user", "content": "x"}], timeout=5
    )
    assert again.choices[0].message.content == "x"


def test_drop_is_a_connection_error_the_sdk_retries(fake_openai: FakeOpenAI) -> None:
    fake_openai.drop_next("/embeddings")
    c = openai.OpenAI(api_key="sk-test", base_url=fake_openai.base_url, max_retries=0)
    with pytest.raises(openai.APIConnectionError):
        c.embeddings.create(model="text-embedding-3-small", input="x")
    fake_openai.drop_next("/embeddings")
    retrying = openai.OpenAI(api_key="sk-test", base_url=fake_openai.base_url, max_retries=1)
    assert retrying.embeddings.create(model="text-embedding-3-small", input="x").data


def test_rpm_limit_answers_429_with_rate_headers(
    fake_openai: FakeOpenAI, client: openai.OpenAI
) -> None:
    fake_openai.rpm_limit = 2
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4.1", messages=[{"role": "user", "content": "x"}]
    )
    assert raw.headers["x-ratelimit-limit-requests"] == "2"
    assert raw.headers["x-ratelimit-remaining-requests"] == "1"
    assert int(raw.headers["x-ratelimit-remaining-tokens"]) > 0
    client.chat.completions.create(model="gpt-4.1", messages=[{"role": "user", "content": "x"}])
    with pytest.raises(openai.RateLimitError) as err:
        client.chat.completions.create(model="gpt-4.1", messages=[{"role": "user", "content": "x"}])
    headers = err.value.response.headers
    assert 0 < int(headers["retry-after-ms"]) <= 30_000 and int(headers["retry-after"]) >= 1
    assert headers["x-ratelimit-remaining-requests"] == "0"
    assert "requests per min (RPM)" in err.value.message


def test_fail_rate_is_seeded_and_records_reset(
    fake_openai: FakeOpenAI, client: openai.OpenAI
) -> None:
    def statuses() -> list[int]:
        fake_openai.reset_records()
        fake_openai.fail_rate("/embeddings", status=500, fraction=0.5, seed=7)
        for _ in range(20):
            with contextlib.suppress(openai.InternalServerError):
                client.embeddings.create(model="text-embedding-3-small", input="x")
        return [r.status for r in fake_openai.requests_to("/embeddings")]

    first = statuses()
    assert 0 < first.count(500) < 20 and first == statuses()
    fake_openai.fail_rate("/embeddings", fraction=0)
    assert client.embeddings.create(model="text-embedding-3-small", input="x").data


# -- files, fine-tuning, graders ----------------------------------------------------------


def test_files_crud_and_purpose(fake_openai: FakeOpenAI, client: openai.OpenAI) -> None:
    file_id = upload(client, b"abc", "user_data")
    got = client.files.retrieve(file_id)
    assert (got.bytes, got.purpose, got.filename) == (3, "user_data", "train.jsonl")
    assert client.files.content(file_id).read() == b"abc"
    assert client.files.delete(file_id).deleted is True
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve(file_id)
    with pytest.raises(openai.BadRequestError) as err:
        upload(client, b"abc", "nonsense")
    assert err.value.param == "purpose"


def _jobs(client: openai.OpenAI, training_file: str) -> dict[str, Any]:
    sft = client.fine_tuning.jobs.create(
        model="gpt-4.1-mini",
        training_file=training_file,
        suffix="routing",
        metadata={"suite": "ticket-routing"},
        method={"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 2}}},
    )
    dpo = client.fine_tuning.jobs.create(
        model="gpt-4.1",
        training_file=training_file,
        metadata={"suite": "other"},
        method={"type": "dpo", "dpo": {"hyperparameters": {"beta": 0.2}}},
    )
    rft = client.fine_tuning.jobs.create(
        model="o4-mini",
        training_file=training_file,
        validation_file=training_file,
        metadata={"suite": "ticket-routing"},
        method={"type": "reinforcement", "reinforcement": {"grader": STRING_CHECK}},
    )
    return {"sft": sft, "dpo": dpo, "rft": rft}


def test_fine_tuning_lifecycle(fake_openai: FakeOpenAI, client: openai.OpenAI) -> None:
    jobs = _jobs(client, upload(client))
    sft, dpo, rft = jobs["sft"], jobs["dpo"], jobs["rft"]
    assert sft.status == "validating_files" and sft.hyperparameters.n_epochs == 2
    assert dpo.method is not None and dpo.method.dpo is not None
    assert rft.method is not None and rft.method.reinforcement is not None
    assert rft.method.reinforcement.grader.type == "string_check"

    listed = client.fine_tuning.jobs.list(metadata={"suite": "ticket-routing"})
    assert [j.id for j in listed] == [rft.id, sft.id]
    assert fake_openai.requests_to("/fine_tuning/jobs")[-1].query == {
        "metadata[suite]": "ticket-routing"
    }

    fake_openai.advance_job(sft.id, steps=3)  # queued, running, one training step
    job = client.fine_tuning.jobs.retrieve(sft.id)
    assert job.status == "running" and job.fine_tuned_model is None
    events = list(client.fine_tuning.jobs.list_events(sft.id))
    metrics = [e for e in events if e.type == "metrics"]
    assert len(metrics) == 1 and isinstance(metrics[0].data, dict)
    assert metrics[0].data["step"] == 1
    points = list(client.fine_tuning.jobs.checkpoints.list(sft.id))
    assert points[0].step_number == 1 and points[0].metrics.train_loss is not None
    assert points[0].metrics.valid_loss is not None
    assert points[0].metrics.full_valid_loss is not None

    assert client.fine_tuning.jobs.cancel(dpo.id).status == "cancelled"
    with pytest.raises(openai.BadRequestError):
        client.fine_tuning.jobs.cancel(dpo.id)

    done = fake_openai.advance_job(sft.id, steps=100)
    assert done["status"] == "succeeded"
    model = client.fine_tuning.jobs.retrieve(sft.id).fine_tuned_model
    assert model == f"ft:gpt-4.1-mini:org:routing:{sft.id[-8:]}"
    assert model in {m.id for m in client.models.list()}
    answer = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "hi"}]
    )
    assert answer.choices[0].message.content == "hi"

    failed = fake_openai.finish_job(rft.id, "failed", error="bad grader output")
    assert failed["error"]["message"] == "bad grader output"
    assert client.fine_tuning.jobs.retrieve(rft.id).status == "failed"


def test_fine_tuning_validation_errors(fake_openai: FakeOpenAI, client: openai.OpenAI) -> None:
    training_file = upload(client)

    def refused(**kwargs: Any) -> openai.APIStatusError:
        with pytest.raises(openai.APIStatusError) as err:
            client.fine_tuning.jobs.create(**{"training_file": training_file, **kwargs})
        return err.value

    assert refused(model="davinci-9").param == "model"
    assert refused(model="gpt-4.1", training_file="file-missing").param == "training_file"
    no_grader = refused(model="o4-mini", method={"type": "reinforcement"})
    assert no_grader.param == "method.reinforcement.grader"
    label = {"type": "label_model", "name": "l", "model": "gpt-4.1", "input": [],
             "labels": ["a"], "passing_labels": ["a"]}  # fmt: skip
    bad = refused(
        model="o4-mini", method={"type": "reinforcement", "reinforcement": {"grader": label}}
    )
    assert bad.param == "method.reinforcement.grader.type"
    assert refused(model="gpt-4.1", method={"type": "rlhf"}).param == "method.type"

    fake_openai.refuse_new_jobs = "Fine-tuning is no longer available for new jobs."
    wind_down = refused(model="gpt-4.1")
    assert isinstance(wind_down, openai.PermissionDeniedError)
    assert "no longer available" in wind_down.message
    assert fake_openai.job_ids() == []


def test_auto_progress_reaches_success_by_polling(
    fake_openai: FakeOpenAI, client: openai.OpenAI
) -> None:
    fake_openai.auto_progress = True
    job = client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=upload(client))
    statuses = [client.fine_tuning.jobs.retrieve(job.id).status for _ in range(8)]
    assert statuses[0] == "queued" and statuses[-1] == "succeeded"
    assert "running" in statuses


def test_graders_validate_and_run(client: openai.OpenAI) -> None:
    graders: list[Any] = [
        STRING_CHECK,
        {"type": "text_similarity", "name": "sim", "input": "{{ sample.output_text }}",
         "reference": "{{ item.answer }}", "evaluation_metric": "fuzzy_match"},
        {"type": "score_model", "name": "judge", "model": "gpt-4.1",
         "input": [{"role": "user", "content": "Score {{ sample.output_text }}"}],
         "range": [0, 1], "sampling_params": {"max_completions_tokens": 50, "seed": 1}},
        {"type": "python", "name": "py", "source": "def grade(sample, item):\n    return 1.0\n"},
        {"type": "multi", "name": "both", "calculate_output": "0.5 * label + 0.5 * sim",
         "graders": {"label": STRING_CHECK, "sim": {"type": "text_similarity", "name": "sim",
                     "input": "{{ sample.output_text }}", "reference": "{{ item.label }}",
                     "evaluation_metric": "cosine"}}},
    ]  # fmt: skip
    for grader in graders:
        assert client.fine_tuning.alpha.graders.validate(grader=grader).grader is not None

    bad_cases = [
        ({**STRING_CHECK, "operation": "contains"}, "grader.operation"),
        ({k: v for k, v in STRING_CHECK.items() if k != "reference"}, "grader.reference"),
        ({**graders[2], "sampling_params": {"max_completion_tokens": 5}},
         "grader.sampling_params.max_completion_tokens"),
        ({**graders[3], "source": "def grade(:"}, "grader.source"),
        ({**graders[4], "calculate_output": "label + nope"}, "grader.calculate_output"),
        ({"type": "label_model", "name": "l"}, "grader.type"),
    ]  # fmt: skip
    for grader, param in bad_cases:
        with pytest.raises(openai.BadRequestError) as err:
            client.fine_tuning.alpha.graders.validate(grader=grader)
        assert err.value.param == param
        assert param in err.value.message or "Invalid value" in err.value.message

    run = client.fine_tuning.alpha.graders.run(
        grader=STRING_CHECK, model_sample="Billing", item={"label": "billing"}
    )
    assert run.reward == 1.0


def test_fake_in_its_own_process() -> None:
    with run_in_subprocess(latency=0.0, rpm=600) as proc:
        c = openai.OpenAI(api_key=proc.api_key, base_url=proc.base_url, max_retries=0)
        assert "gpt-4.1" in {m.id for m in c.models.list()}
        raw = c.chat.completions.with_raw_response.create(
            model="gpt-4.1", messages=[{"role": "user", "content": "x"}]
        )
        assert raw.headers["x-ratelimit-limit-requests"] == "600"
    assert proc.proc.returncode is not None
