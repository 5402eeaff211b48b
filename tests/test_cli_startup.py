"""`reach --help` starts without importing what only some commands need (Alembic and
SQLAlchemy for migrations): checked by what is imported, not by a clock."""

from __future__ import annotations

import subprocess
import sys


def test_the_cli_imports_no_migration_machinery_until_a_command_needs_it() -> None:
    probe = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from reach.cli import main\n"
        "result = CliRunner().invoke(main, ['--help'])\n"
        "assert result.exit_code == 0, result.output\n"
        "print(sorted(m for m in ('alembic', 'sqlalchemy') if m in sys.modules))\n"
    )
    found = subprocess.run(  # noqa: S603 - this interpreter, a fixed program
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert found.stdout.strip() == "[]", found.stdout + found.stderr
