"""Run uv, installing it first if it is missing: ``python3 scripts/uv.py run --frozen …``.

Why this exists: the README's commands must work on a distribution's own
Python, which is often "externally managed" (PEP 668: ``pip install uv`` is
refused) and may ship without pip or venv. This script needs only the standard
library. It uses the ``uv`` on PATH when that is at least ``UV_VERSION``;
otherwise it downloads the ``uv`` wheel of ``UV_VERSION`` from the package
index, checks its sha256 against the index, unpacks the one binary it holds
into ``./.guildbase/uv-<version>/`` (saying so in one line), and runs it.
Nothing is installed system-wide; deleting ``.guildbase/`` removes it.

The Python that runs this script is the one uv builds ``.venv`` with (unless
``UV_PYTHON`` says otherwise), so ``/usr/bin/python3 scripts/uv.py …`` really
uses the system Python. The index is ``UV_DEFAULT_INDEX``, ``UV_INDEX_URL`` or
``PIP_INDEX_URL`` when set (a mirror), else PyPI. Like the download here, uv
then trusts the system's certificate store (``UV_SYSTEM_CERTS``), so a proxy
or mirror whose CA the machine trusts works as it does for apt.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path

UV_VERSION = "0.13.9"
ROOT = Path(__file__).resolve().parent.parent
TARGET_DIR = ROOT / ".guildbase" / f"uv-{UV_VERSION}"
EXE = "uv.exe" if os.name == "nt" else "uv"
SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"


class BootstrapError(Exception):
    """A one-line reason the bootstrap could not get uv."""


def _version(text: str) -> tuple[int, ...]:
    match = re.search(r"(\d+)\.(\d+)\.(\d+)", text)
    return tuple(int(part) for part in match.groups()) if match else ()


def _usable_uv_on_path() -> str | None:
    """The uv on PATH if it is at least UV_VERSION (older ones may not read the lock file)."""
    found = shutil.which("uv")
    if found is None:
        return None
    try:
        output = subprocess.run([found, "--version"], capture_output=True, text=True, check=True, timeout=30).stdout  # noqa: S603
    except (OSError, subprocess.SubprocessError):
        return None
    return found if _version(output) >= _version(UV_VERSION) else None


def _wheel_matches(filename: str) -> bool:
    """Whether a uv wheel's platform tags fit this machine."""
    system, machine = platform.system(), platform.machine().lower()
    machine = {"amd64": "x86_64", "arm64": "aarch64" if system == "Linux" else "arm64"}.get(machine, machine)
    tags = filename[: -len(".whl")].rsplit("-", maxsplit=1)[-1]
    if system == "Linux":
        libc = "musllinux" if platform.libc_ver()[0] != "glibc" else "manylinux"
        return any(tag.startswith(libc) and tag.endswith("_" + machine) for tag in tags.split("."))
    if system == "Darwin":
        return tags.startswith("macosx") and (tags.endswith("_" + machine) or "universal2" in tags)
    if system == "Windows":
        return tags == {"x86_64": "win_amd64", "aarch64": "win_arm64", "x86": "win32"}.get(machine, "")
    return False


def _index() -> str:
    for name in ("UV_DEFAULT_INDEX", "UV_INDEX_URL", "PIP_INDEX_URL"):
        if os.environ.get(name):
            return os.environ[name].rstrip("/") + "/"
    return "https://pypi.org/simple/"


def _fetch(url: str, accept: str | None = None) -> bytes:
    request = urllib.request.Request(url, headers={"Accept": accept} if accept else {})  # noqa: S310 - https index
    try:
        with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310
            return bytes(response.read())
    except OSError as error:
        reason = getattr(error, "reason", error)
        raise BootstrapError(f"could not download {url}: {reason}") from None


def _download_wheel() -> tuple[str, bytes]:
    page_url = urllib.parse.urljoin(_index(), "uv/")
    page = json.loads(_fetch(page_url, SIMPLE_JSON))
    prefix = f"uv-{UV_VERSION}-"
    for entry in page.get("files", []):
        name = entry["filename"]
        if name.startswith(prefix) and name.endswith(".whl") and _wheel_matches(name):
            data = _fetch(urllib.parse.urljoin(page_url, entry["url"]))
            expected = entry.get("hashes", {}).get("sha256")
            if expected is None or hashlib.sha256(data).hexdigest() != expected:
                raise BootstrapError(f"{name}: sha256 does not match the index; not installing it")
            return name, data
    machine = f"{platform.system()} {platform.machine()}"
    raise BootstrapError(f"the index has no uv {UV_VERSION} wheel for {machine}; install uv yourself")


def _install() -> Path:
    """Unpack the wheel's uv binary into TARGET_DIR (atomically: concurrent runs are safe)."""
    name, data = _download_wheel()
    TARGET_DIR.parent.mkdir(parents=True, exist_ok=True)
    member = f"uv-{UV_VERSION}.data/scripts/{EXE}"
    with tempfile.TemporaryDirectory(dir=TARGET_DIR.parent) as scratch:
        wheel = Path(scratch) / name
        wheel.write_bytes(data)
        with zipfile.ZipFile(wheel) as archive:
            staged = Path(scratch) / "bin"
            staged.mkdir()
            (staged / EXE).write_bytes(archive.read(member))
        (staged / EXE).chmod(0o755)
        try:
            staged.rename(TARGET_DIR)
        except OSError:
            if not (TARGET_DIR / EXE).exists():  # not another run winning the race
                raise
    return TARGET_DIR / EXE


def find_uv() -> str:
    """The uv to run: on PATH when recent enough, else the project-local copy (installed if needed)."""
    on_path = _usable_uv_on_path()
    if on_path:
        return on_path
    local = TARGET_DIR / EXE
    if not local.exists():
        shown = os.path.relpath(TARGET_DIR)
        print(f"guildbase: installing uv {UV_VERSION} into {shown}/ (delete it to remove)", file=sys.stderr)
        local = _install()
    return str(local)


def main(argv: list[str]) -> int:
    """Run ``uv ARGS…`` from the project root with this Python as uv's interpreter."""
    if sys.version_info < (3, 11):
        print(f"guildbase needs Python 3.11 or newer; this is {platform.python_version()}", file=sys.stderr)
        return 2
    try:
        uv = find_uv()
    except BootstrapError as error:
        print(f"guildbase: {error}", file=sys.stderr)
        return 1
    os.environ.setdefault("UV_PYTHON", sys.executable)
    if "UV_NATIVE_TLS" not in os.environ:  # the older name of the same switch
        os.environ.setdefault("UV_SYSTEM_CERTS", "1")
    os.chdir(ROOT)
    if os.name == "nt":  # pragma: no cover - execv does not replace the process there
        return subprocess.call([uv, *argv])  # noqa: S603
    os.execv(uv, [uv, *argv])  # noqa: S606
    return 0  # pragma: no cover - execv does not return


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
