"""``scripts/uv.py``: the stdlib-only bootstrap the README's commands start with.

A local index on 127.0.0.1 serves a stand-in uv wheel (its "binary" is a shell
script), so the test proves the whole path — index page, wheel choice, hash
check, unpack, exec with this Python as uv's interpreter — without the network.
"""

import hashlib
import http.server
import io
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "uv.py"
VERSION = re.search(r'^UV_VERSION = "(.+)"$', SCRIPT.read_text(), re.MULTILINE)[1]  # type: ignore[index]
TAGS = [
    "manylinux_2_17_x86_64.manylinux2014_x86_64",
    "manylinux_2_17_aarch64.manylinux2014_aarch64.musllinux_1_1_aarch64",
    "musllinux_1_1_x86_64",
    "macosx_10_12_x86_64",
    "macosx_11_0_arm64",
    "win_amd64",
]
FAKE_UV = '#!/bin/sh\necho "fake uv: $* python=$UV_PYTHON certs=$UV_SYSTEM_CERTS cwd=$(pwd)"\n'


def _wheel() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(f"uv-{VERSION}.data/scripts/uv", FAKE_UV)
    return buffer.getvalue()


class _Index(http.server.BaseHTTPRequestHandler):
    wheel = _wheel()
    digest = hashlib.sha256(wheel).hexdigest()
    requests: list[str] = []  # noqa: RUF012 - shared by the handler instances of one server

    def do_GET(self) -> None:
        self.requests.append(self.path)
        if self.path == "/simple/uv/":
            files = [
                {
                    "filename": f"uv-{VERSION}-py3-none-{tags}.whl",
                    "url": f"/files/{tags}.whl",
                    "hashes": {"sha256": self.digest},
                }
                for tags in TAGS
            ]
            body, kind = json.dumps({"files": files}).encode(), "application/vnd.pypi.simple.v1+json"
        elif self.path.startswith("/files/"):
            body, kind = self.wheel, "application/octet-stream"
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def index() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Index)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Index.requests.clear()
    yield f"http://127.0.0.1:{server.server_address[1]}/simple/"
    server.shutdown()
    server.server_close()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "scripts").mkdir()
    shutil.copy(SCRIPT, tmp_path / "scripts" / "uv.py")
    return tmp_path


def _run(project: Path, index: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/nonexistent", "HOME": str(project), "UV_DEFAULT_INDEX": index, "LANG": "C.UTF-8"}
    command = [sys.executable, str(project / "scripts" / "uv.py"), *args]
    return subprocess.run(command, env=env, cwd="/", capture_output=True, text=True, check=False, timeout=60)  # noqa: S603


@pytest.mark.skipif(sys.platform not in {"linux", "darwin"}, reason="the stand-in uv is a shell script")
def test_bootstrap_installs_uv_once_into_the_project_and_runs_it(project: Path, index: str) -> None:
    first = _run(project, index, "run", "--frozen", "pytest")
    assert first.returncode == 0, first.stderr
    assert f"installing uv {VERSION} into" in first.stderr
    assert first.stdout.strip() == f"fake uv: run --frozen pytest python={sys.executable} certs=1 cwd={project}"
    assert os.access(project / ".guildbase" / f"uv-{VERSION}" / "uv", os.X_OK)
    downloads = [path for path in _Index.requests if path.startswith("/files/")]
    assert len(downloads) == 1

    again = _run(project, index, "--version")
    assert again.returncode == 0, again.stderr
    assert "installing" not in again.stderr
    assert [path for path in _Index.requests if path.startswith("/files/")] == downloads


def test_bootstrap_refuses_a_wheel_whose_hash_does_not_match(
    project: Path, index: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_Index, "digest", "0" * 64)
    result = _run(project, index, "--version")
    assert result.returncode == 1
    assert "sha256 does not match the index" in result.stderr
    assert not (project / ".guildbase" / f"uv-{VERSION}").exists()


def test_bootstrap_says_in_one_line_when_the_index_is_unreachable(project: Path) -> None:
    result = _run(project, "http://127.0.0.1:1/simple/", "--version")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("guildbase: could not download http://127.0.0.1:1/")
