"""Training files from Slack (issue 11, item 6), through the real AsyncWebClient and
aiohttp against the fake Slack: only the asker's own file shared in that channel (by name
or id), only from Slack's hosts, never an external file, no redirect followed with the
token, and at most `max_bytes` read."""

from __future__ import annotations

import pytest

from bot import slack_files
from bot.slack_chat import SlackChat, make_web_client
from commands.ports import ChatError
from tests.fakes.slack import FakeSlack

ROWS = b'{"messages": [{"role": "user", "content": "hi"}]}\n'


def chat_for(fake: FakeSlack) -> SlackChat:
    return SlackChat(make_web_client(fake.bot_token, fake.url))


async def test_the_askers_own_file_is_downloaded(fake_slack: FakeSlack) -> None:
    file_id = fake_slack.add_shared_file("data.jsonl", ROWS, "C1", user="U1")
    got = await chat_for(fake_slack).fetch_file("C1", "data.jsonl", 1000, user="U1")
    assert got == ROWS
    assert fake_slack.downloads == [file_id]


async def test_someone_elses_newer_file_of_that_name_is_never_taken(
    fake_slack: FakeSlack,
) -> None:
    mine = fake_slack.add_shared_file("data.jsonl", ROWS, "C1", user="U1")
    fake_slack.add_shared_file("data.jsonl", b"poisoned\n", "C1", user="U2")
    got = await chat_for(fake_slack).fetch_file("C1", "data.jsonl", 1000, user="U1")
    assert got == ROWS
    assert fake_slack.downloads == [mine]
    with pytest.raises(ChatError) as err:
        await chat_for(fake_slack).fetch_file("C1", "data.jsonl", 1000, user="U3")
    assert err.value.code == "file_not_found"


async def test_a_file_id_must_be_the_askers_and_shared_in_that_channel(
    fake_slack: FakeSlack,
) -> None:
    theirs = fake_slack.add_shared_file("data.jsonl", ROWS, "C1", user="U2")
    elsewhere = fake_slack.add_shared_file("data.jsonl", ROWS, "C9", user="U1")
    mine = fake_slack.add_shared_file("mine.jsonl", ROWS, "C1", user="U1")
    chat = chat_for(fake_slack)
    for file_id in (theirs, elsewhere):
        with pytest.raises(ChatError) as err:
            await chat.fetch_file("C1", file_id, 1000, user="U1")
        assert err.value.code == "file_not_yours"
    assert await chat.fetch_file("C1", mine, 1000, user="U1") == ROWS
    assert fake_slack.downloads == [mine]


async def test_the_token_goes_to_no_other_host(fake_slack: FakeSlack) -> None:
    fake_slack.add_shared_file("data.jsonl", ROWS, "C1", user="U1", url=fake_slack.elsewhere_url)
    with pytest.raises(ChatError) as err:
        await chat_for(fake_slack).fetch_file("C1", "data.jsonl", 1000, user="U1")
    assert err.value.code == "file_not_hosted"
    assert fake_slack.elsewhere_requests == []


async def test_an_external_file_is_refused(fake_slack: FakeSlack) -> None:
    fake_slack.add_shared_file("data.jsonl", ROWS, "C1", user="U1", external=True)
    with pytest.raises(ChatError) as err:
        await chat_for(fake_slack).fetch_file("C1", "data.jsonl", 1000, user="U1")
    assert err.value.code == "file_not_hosted"
    assert fake_slack.downloads == []


async def test_a_redirect_is_not_followed_with_the_token(fake_slack: FakeSlack) -> None:
    url = fake_slack.redirect_url(fake_slack.elsewhere_url)
    fake_slack.add_shared_file("data.jsonl", ROWS, "C1", user="U1", url=url)
    with pytest.raises(ChatError) as err:
        await chat_for(fake_slack).fetch_file("C1", "data.jsonl", 1000, user="U1")
    assert err.value.code == "download_failed"
    assert fake_slack.elsewhere_requests == []


async def test_the_download_stops_at_the_size_limit(fake_slack: FakeSlack) -> None:
    big = ROWS * 10_000  # the file object says its size: checked before and while reading
    fake_slack.add_shared_file("big.jsonl", big, "C1", user="U1")
    with pytest.raises(ChatError) as err:
        await chat_for(fake_slack).fetch_file("C1", "big.jsonl", len(big) - 1, user="U1")
    assert err.value.code == "file_too_large"
    with pytest.raises(ChatError) as streamed:
        await slack_files.download(
            fake_slack.file_info(fake_slack.add_shared_file("b.jsonl", big, "C1"))[
                "url_private_download"
            ],
            token=fake_slack.bot_token,
            name="b.jsonl",
            max_bytes=1000,
        )
    assert streamed.value.code == "file_too_large"


def test_only_slack_hosts_and_the_configured_api_host_are_trusted() -> None:
    assert slack_files.allowed_hosts("https://slack.com/api/") == {"files.slack.com"}
    assert slack_files.allowed_hosts("http://127.0.0.1:9/api/") == {
        "files.slack.com",
        "127.0.0.1",
    }
    https = {"url_private_download": "https://files.slack.com/files-pri/T-F1/x.jsonl"}
    assert slack_files.download_url(https, slack_files.SLACK_FILE_HOSTS).startswith("https://")
    for url in (
        "https://files.slack.com.evil.example/x",
        "https://evil.example/files.slack.com/x",
        "http://files.slack.com/x",
        "",
    ):
        with pytest.raises(ChatError):
            slack_files.download_url({"url_private_download": url}, slack_files.SLACK_FILE_HOSTS)
