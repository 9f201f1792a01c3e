"""Settings: the file `init` writes loads back to the same settings, and mistakes are named."""

from __future__ import annotations

from pathlib import Path

import pytest

from returnpath import config
from returnpath.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "returnpath.toml"
    path.write_text('secret = "0123456789abcdef0123"\n' + text)
    return path


def test_rendered_file_lists_every_setting_and_loads_back(tmp_path: Path) -> None:
    settings = config.Settings(secret="s" * 32, bounce_domain="bounces.example.org")
    settings.delivery.routes = {"example.net": "127.0.0.1:2526"}
    text = config.render(settings)
    for name in (
        "listen",
        "max_message_size",
        "auth_over_cleartext",
        "per_destination",
        "lifetime",
        "eom",
        "[delivery.routes]",
        "[smtp.inbound]",
        "url",
    ):
        assert name in text
    path = tmp_path / "returnpath.toml"
    path.write_text(text)
    loaded = config.load(path)
    loaded.base = settings.base
    assert loaded == settings


def test_durations_and_sizes(tmp_path: Path) -> None:
    settings = config.load(
        write(
            tmp_path, '[delivery.retry]\nfirst = "90s"\nlifetime = "2d"\n[smtp.submission]\nmax_message_size = "10m"\n'
        )
    )
    assert settings.delivery.retry.first == 90 and settings.delivery.retry.lifetime == 172800
    assert settings.smtp.submission.max_message_size == 10 * 1024 * 1024


def test_retention_keeps_forever_at_0_or_forever(tmp_path: Path) -> None:
    settings = config.load(
        write(tmp_path, '[retention]\nmessage_bodies = "forever"\nreturned_mail = 0\nevents = "12h"\n')
    )
    assert (settings.retention.message_bodies, settings.retention.returned_mail) == (0, 0)
    assert settings.retention.events == 12 * 3600
    assert 'message_bodies = "forever"' in config.render(settings)  # and loads back the same
    assert config.Settings().retention.returned_mail == 30 * 86400  # the default is not forever


@pytest.mark.parametrize(
    "text, message",
    [
        ("colour = 1\n", "unknown setting.*colour"),
        ('[retention]\nevents = "always"\n', 'retention.events.*or "forever"'),
        ('[delivery.retry]\nlifetime = "forever"\n', "delivery.retry.lifetime"),  # only retention keeps forever
        ("[delivery]\nconcurency = 3\n", r"\[delivery\].*concurency"),
        ('[delivery.retry]\nfirst = "soon"\n', "delivery.retry.first"),
        ('[http]\nlisten = "8080"\n', "http.listen.*host:port"),
        ('[smtp.submission]\nauth_over_cleartext = "sometimes"\n', "never, loopback, always"),
        ('[delivery.routes]\n"example.com" = "nowhere"\n', "host:port"),
        ('[storage]\nurl = "mysql://x"\n', "sqlite"),
        ('workers = "two"\n', "whole number"),
        ("this is not toml", "not valid TOML"),
        (
            '[smtp.inbound]\nmax_message_size = "30m"\n',
            r"smtp.inbound.max_message_size \(31457280 bytes\) must not be larger than "
            r"smtp.submission.max_message_size \(26214400 bytes\)",
        ),
        ("[smtp.inbound]\ndata_timeout = 0\n", "smtp.inbound.data_timeout must be positive"),
        ("[http]\nmax_connections_per_address = 0\n", "http.max_connections_per_address must be at least 1"),
        ("[node]\ntakeover_after = 10\n", "node.takeover_after must be at least three times node.heartbeat"),
        ('[http]\nlisten = "127.0.0.1:99999"\n', "http.listen.*the port from 1 to 65535"),
        ('[dns]\nnameservers = "dns.google"\n', "dns.nameservers: 'dns.google' is not an IP address"),
        ("workers = -1\n", r"workers must be 0 \(one per CPU core\) or more"),
        ("worker_max_quick_deaths = 0\n", "worker_max_quick_deaths must be at least 1"),
        ("[smtp.submission]\nmax_recipients = 0\n", "smtp.submission.max_recipients must be at least 1"),
        ("[smtp.submission]\nmax_message_size = 0\n", "smtp.submission.max_message_size must be at least 1"),
        ("[delivery]\npoll_interval = 0\n", "delivery.poll_interval must be positive"),
        ("[delivery.retry]\nfactor = 0.5\n", "delivery.retry.factor must be at least 1"),
        ("[delivery.retry]\nfirst = 0\n", "delivery.retry.first must be positive"),
        ("[delivery.retry]\nlifetime = 0\n", "delivery.retry.lifetime must be positive"),
        ("[webhooks]\npoll_interval = 0\n", "webhooks.poll_interval must be positive"),
    ],
)
def test_mistakes_are_named(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        config.load(write(tmp_path, text))


@pytest.mark.parametrize("server", ["submission", "inbound"])
def test_the_old_timeout_is_read_as_command_timeout_with_a_warning(
    tmp_path: Path, server: str, caplog: pytest.LogCaptureFixture
) -> None:
    settings = config.load(write(tmp_path, f'[smtp.{server}]\ntimeout = "2m"\n'))
    assert getattr(settings.smtp, server).command_timeout == 120
    assert f"[smtp.{server}] timeout is now command_timeout" in caplog.text and "rename it" in caplog.text
    given = config.load(write(tmp_path, f'[smtp.{server}]\ntimeout = "2m"\ncommand_timeout = "30s"\n'))
    assert getattr(given.smtp, server).command_timeout == 30  # the new name wins


def test_returned_mail_is_limited_to_submissions_size_unless_set_lower(tmp_path: Path) -> None:
    follows = config.load(write(tmp_path, '[smtp.submission]\nmax_message_size = "10m"\n'))
    assert follows.smtp.inbound_message_size == 10 * 1024 * 1024
    lower = config.load(write(tmp_path, '[smtp.inbound]\nmax_message_size = "1m"\n'))
    assert lower.smtp.inbound_message_size == 1024 * 1024


def test_missing_file(tmp_path: Path) -> None:
    """It says how to name the right file as well as how to make one: a user whose data folder
    is not ./rp-data meets this first."""
    with pytest.raises(ConfigError, match=r"--config PATH or RETURNPATH_CONFIG.*returnpath init --data DIR"):
        config.load(tmp_path / "nope.toml")


def test_a_folder_given_for_the_file(tmp_path: Path) -> None:
    """`--config rp-data`: the data folder; the message names the file in it."""
    with pytest.raises(ConfigError, match=r"is a folder: give the configuration file$"):
        config.load(tmp_path)
    write(tmp_path, "")
    with pytest.raises(
        ConfigError, match=f"{tmp_path} is a folder: give the file, --config {tmp_path}/returnpath.toml$"
    ):
        config.load(tmp_path)


@pytest.mark.parametrize("entry", ["192.0.2.53", "192.0.2.53:5353", "2001:db8::53", "[2001:db8::53]:5353"])
def test_nameservers_take_addresses_with_or_without_a_port(tmp_path: Path, entry: str) -> None:
    settings = config.load(write(tmp_path, f'[dns]\nnameservers = "{entry}"\n'))
    port = 5353 if entry.endswith(":5353") else 53
    assert settings.dns.servers() == [(entry.rsplit(":5353", 1)[0].strip("[]"), port)]


def test_paths_are_relative_to_the_file(tmp_path: Path) -> None:
    settings = config.load(write(tmp_path, ""))
    assert settings.sqlite_path == tmp_path / "returnpath.db"
    assert settings.path("logs") == tmp_path / "logs"


def test_the_configuration_reference_is_current() -> None:
    committed = (Path(__file__).parents[2] / "docs" / "configuration.md").read_text()
    assert committed == config.reference(), "regenerate: python -m returnpath.config > docs/configuration.md"
