"""The Makefile as a new user meets it: which dependencies each target installs, the Python
version check, and a ``.venv`` left behind by another Python."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _make(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - make with fixed arguments
        ["make", "--no-print-directory", "-C", str(REPO), *args],  # noqa: S607 - make from PATH
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=env,
    )


def _fake_python(path: Path, version: str) -> Path:
    """A ``python`` that answers the Makefile's version questions as ``version`` would."""
    major, minor = version.split(".")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f"#!{sys.executable}\n"
        "import sys\n"
        f"sys.version_info = ({major}, {minor}, 0)\n"
        "exec(sys.argv[2])\n"  # -c CODE
    )
    path.chmod(0o755)
    return path


def test_serve_installs_runtime_dependencies_only(tmp_path: Path) -> None:
    venv = f"VENV={tmp_path / '.venv'}"
    serve = _make("-n", "serve", venv)
    assert serve.returncode == 0, serve.stderr
    assert "requirements/runtime.txt" in serve.stdout
    assert "requirements/dev.txt" not in serve.stdout
    assert "reach serve" in serve.stdout
    test = _make("-n", "test", venv)
    assert test.returncode == 0, test.stderr
    assert "requirements/runtime.txt" in test.stdout
    assert "requirements/dev.txt" in test.stdout


def test_an_older_python_is_refused_before_anything_is_installed(tmp_path: Path) -> None:
    old = _fake_python(tmp_path / "python3.10", "3.10")
    result = _make("serve", f"PYTHON={old}", f"VENV={tmp_path / '.venv'}")
    assert result.returncode != 0
    assert f"reach-server needs Python >= 3.11, but {old} is 3.10" in result.stderr
    assert not (tmp_path / ".venv").exists()


def test_a_venv_made_by_another_python_is_rebuilt(tmp_path: Path) -> None:
    venv = tmp_path / ".venv"
    _fake_python(venv / "bin" / "python", "3.10")
    (venv / "left-over").write_text("from the 3.10 attempt")
    # pip is kept from reaching any package source, so the run stops right after the rebuild.
    env = {"PATH": "/usr/bin:/bin", "PIP_NO_INDEX": "1", "PIP_CONFIG_FILE": "/dev/null"}
    result = _make("serve", f"PYTHON={sys.executable}", f"VENV={venv}", env=env)
    assert f"{venv} was made by another Python" in result.stdout, result.stdout + result.stderr
    assert not (venv / "left-over").exists()
    rebuilt = subprocess.run(  # noqa: S603 - the fresh venv's interpreter
        [str(venv / "bin" / "python"), "-c", "import sys; print(sys.version_info[:2])"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert rebuilt.stdout.strip() == str(sys.version_info[:2])
