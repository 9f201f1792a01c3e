"""returnpath as a user installs it: a wheel built from this tree, installed with pip into a
clean virtual environment (not the editable install the scripts use), runs `parse`, `init` and
`serve`. An editable install reads data files from the source tree, so only this shows one
left out of the package."""

from __future__ import annotations

import json
import os
import signal
import smtplib
import subprocess
import sys
import venv
import zipfile
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.harness import free_port, wait_for

ROOT = Path(__file__).resolve().parents[2]
DSN = (
    b"From: MAILER-DAEMON@mx.example.net\r\nTo: b@bounces.example.test\r\nSubject: Undelivered Mail\r\n"
    b"MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n"
    b"--b\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
    b"--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.net\r\n\r\n"
    b"Final-Recipient: rfc822; gone@example.net\r\nAction: failed\r\nStatus: 5.1.1\r\n"
    b"Diagnostic-Code: smtp; 550 5.1.1 <gone@example.net>: Recipient address rejected: User unknown\r\n"
    b"--b--\r\n"
)

#: The environment of everything run from the clean virtual environment: ours without
#: PYTHONPATH. A PYTHONPATH that names this tree's src/ (as a worktree's test run sets it)
#: holds the returnpath.egg-info that `pip wheel` leaves there, so pip would find returnpath
#: "already satisfied" and install no `returnpath` command, and the commands would import the
#: source tree instead of the wheel.
CLEAN = {name: value for name, value in os.environ.items() if name != "PYTHONPATH"}


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The `bin` folder of a clean virtual environment with the wheel installed."""
    folder = tmp_path_factory.mktemp("install")
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet"]
    subprocess.run([*pip, "wheel", "--no-deps", "--wheel-dir", str(folder / "dist"), str(ROOT)], check=True)
    [wheel] = (folder / "dist").glob("returnpath-*.whl")
    venv.create(folder / "venv", with_pip=True)
    bin = folder / "venv" / "bin"
    subprocess.run(
        [bin / "python", "-m", "pip", "install", "--quiet", "--disable-pip-version-check", wheel], check=True, env=CLEAN
    )
    return bin


def test_the_wheel_carries_every_data_file_the_code_reads(installed: Path) -> None:
    [wheel] = (installed.parents[1] / "dist").glob("returnpath-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    source = ROOT / "src"
    data = {str(p.relative_to(source)) for p in source.rglob("*") if p.suffix in (".sql", ".toml", ".json")}
    assert data and data <= names, sorted(data - names)


def test_parse_runs_from_the_installed_wheel(installed: Path, tmp_path: Path) -> None:
    (tmp_path / "dsn.eml").write_bytes(DSN)
    result = subprocess.run(
        [installed / "returnpath", "parse", "--json", str(tmp_path / "dsn.eml")],
        capture_output=True,
        text=True,
        env=CLEAN,
    )
    assert result.returncode == 0, result.stderr
    assert '"gone@example.net"' in result.stdout and '"userunknown"' in result.stdout


def test_serve_runs_from_the_installed_wheel(installed: Path, tmp_path: Path) -> None:
    data = tmp_path / "rp-data"
    init = subprocess.run(
        [installed / "returnpath", "init", "--data", data, "--bounce-domain", "bounces.example.test"],
        capture_output=True,
        text=True,
        env=CLEAN,
    )
    assert init.returncode == 0, init.stderr
    token = json.loads(init.stdout)["api_token"]
    config = data / "returnpath.toml"
    http = f"127.0.0.1:{free_port()}"
    text = config.read_text()
    for old, new in (("127.0.0.1:2587", f"127.0.0.1:{free_port()}"), ("127.0.0.1:2525", f"127.0.0.1:{free_port()}"),
                     ("127.0.0.1:8587", http), ("workers = 0", "workers = 1")):  # fmt: skip
        assert old in text
        text = text.replace(old, new)
    config.write_text(text)
    stderr = tmp_path / "serve.stderr"
    with open(stderr, "wb") as err:
        serve = subprocess.Popen([installed / "returnpath", "serve", "--config", config], stderr=err, env=CLEAN)
    try:
        wait_for(lambda: b" ready " in stderr.read_bytes() or serve.poll() is not None, what="the worker")
        assert serve.poll() is None, stderr.read_text()
        assert httpx.get(f"http://{http}/healthz").status_code == 200
        answer = httpx.get(f"http://{http}/v1/feedback-loops", headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 200, answer.text
        assert "restarting" not in stderr.read_text()
    finally:
        serve.send_signal(signal.SIGTERM)
        assert serve.wait(30) == 0, stderr.read_text()


def test_the_readme_on_one_machine_from_the_installed_wheel(installed: Path, tmp_path: Path) -> None:
    """README.md's "Using it", as a user of the wheel follows it: `init` in the current folder
    (so that the other commands find ./rp-data/returnpath.toml without --config), every domain
    routed to aiosmtpd's sink run with the venv's python, a message through `POST /v1/send`,
    and a DSN for it handed to the inbound server, which fails the delivery; `logs` shows both."""

    def returnpath(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [installed / "returnpath", *args], cwd=tmp_path, capture_output=True, text=True, env=CLEAN, timeout=60
        )

    init = returnpath("init", "--data", "./rp-data", "--bounce-domain", "bounces.example.com")
    assert init.returncode == 0, init.stderr
    assert "the credentials above are shown only now" in init.stderr  # README: printed once
    assert "run `returnpath serve --config rp-data/returnpath.toml`" in init.stderr
    token = json.loads(init.stdout)["api_token"]
    config = tmp_path / "rp-data" / "returnpath.toml"
    sink_port, inbound, http = free_port(), f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    text = config.read_text()
    for old, new in (("127.0.0.1:2587", f"127.0.0.1:{free_port()}"), ("127.0.0.1:2525", inbound),
                     ("127.0.0.1:8587", http), ("workers = 0", "workers = 1"),
                     ("[delivery.routes]\n", f'[delivery.routes]\n"*" = "127.0.0.1:{sink_port}"\n')):  # fmt: skip
        assert old in text
        text = text.replace(old, new)
    config.write_text(text)

    sink_out = tmp_path / "sink.out"
    with open(sink_out, "wb") as out:
        sink = subprocess.Popen(
            [installed / "python", "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{sink_port}"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=CLEAN,
        )
    stderr = tmp_path / "serve.stderr"
    with open(stderr, "wb") as err:
        serve = subprocess.Popen([installed / "returnpath", "serve"], cwd=tmp_path, stderr=err, env=CLEAN)
    try:
        wait_for(lambda: b" ready " in stderr.read_bytes() or serve.poll() is not None, what="the worker")
        assert serve.poll() is None, stderr.read_text()
        sent = httpx.post(
            f"http://{http}/v1/send",
            headers={"Authorization": f"Bearer {token}"},
            json={"recipients": ["someone@example.net"], "mime": "From: me@example.com\nSubject: hi\n\nhello\n"},
        )
        assert sent.status_code == 200, sent.text
        delivery_id = sent.json()["recipients"]["someone@example.net"]

        def delivery() -> dict[str, Any]:
            shown = returnpath("delivery", delivery_id)
            assert shown.returncode == 0, shown.stderr
            return json.loads(shown.stdout)  # type: ignore[no-any-return]

        wait_for(lambda: delivery()["state"] == "delivered", what="the delivery")
        assert b"Subject: hi" in sink_out.read_bytes()

        envelope = delivery()["envelope"]
        host, port = inbound.rsplit(":", 1)
        with smtplib.SMTP(host, int(port)) as smtp:
            smtp.sendmail("", [envelope], DSN.replace(b"gone@example.net", b"someone@example.net"))
        wait_for(lambda: delivery()["state"] == "failed", what="the DSN to fail the delivery")

        def logged(log: str) -> list[dict[str, Any]]:
            lines = returnpath("logs", log, "--json").stdout.splitlines()
            return [record for line in lines if (record := json.loads(line))["id"] == delivery_id]

        (bounce,) = wait_for(lambda: logged("bounces"), what="the bounce line")
        (failure,) = wait_for(lambda: logged("failures"), what="the failure line")
        assert (bounce["kind"], bounce["status"], bounce["reason"]) == ("dsn", "5.1.1", "userunknown")
        assert (failure["type"], failure["reason"], failure["hard"]) == ("async", "userunknown", True)

        second = returnpath("serve")  # the same data folder: refused, the first one goes on
        assert second.returncode == 2 and "Traceback" not in second.stderr
        assert f"another `returnpath serve` (pid {serve.pid})" in second.stderr
        assert serve.poll() is None
    finally:
        serve.send_signal(signal.SIGINT)  # README: Ctrl-C stops it cleanly
        sink.terminate()
        sink.wait(10)
        assert serve.wait(30) == 0, stderr.read_text()
