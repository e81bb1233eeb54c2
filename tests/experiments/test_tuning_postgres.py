"""Two hqnn-pl-compare processes tune one Optuna study in a real, throwaway PostgreSQL server.

The fixture starts its own server (initdb, pg_ctl; PostgreSQL 15 when written) on a free
localhost port, with a password, and stops it afterwards. It skips without psycopg2 (the [dev]
and [postgres] extras) or without the PostgreSQL server binaries.
"""

from __future__ import annotations

import json
import os
import pwd
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from tests.experiments.test_tuning import tune_one_study_in_two_processes

USER = "hqnn"
DATABASE = "hqnn_tuning"


def _server_binaries() -> Path | None:
    """The folder holding initdb and pg_ctl: on PATH, else the newest /usr/lib/postgresql/*/bin."""
    found = [shutil.which("initdb"), shutil.which("pg_ctl")]
    if all(found) and Path(found[0]).parent == Path(found[1]).parent:
        return Path(found[0]).parent

    def version(folder: Path) -> tuple[int, ...]:
        return tuple(int(n) for n in re.findall(r"\d+", folder.parent.name))

    folders = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=version, reverse=True)
    return next((f for f in folders if (f / "initdb").is_file() and (f / "pg_ctl").is_file()), None)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _has_account(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """``postgresql+psycopg2://hqnn:<password>@127.0.0.1:<port>/hqnn_tuning`` on a fresh server."""
    psycopg2 = pytest.importorskip(
        "psycopg2", reason="psycopg2 is not installed (pip install -e '.[dev]' or '.[postgres]')"
    )
    binaries = _server_binaries()
    if binaries is None:
        pytest.skip("no initdb and pg_ctl on PATH or in /usr/lib/postgresql/*/bin")
    # initdb and postgres refuse to run as root: as root, the server runs as an ordinary user.
    as_user: dict[str, Any] = {}
    if os.geteuid() == 0:
        account = next((a for a in ("postgres", "nobody") if _has_account(a)), None)
        if account is None:
            pytest.skip("as root, initdb needs a 'postgres' or 'nobody' user to run as: none here")
        entry = pwd.getpwnam(account)
        as_user = {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}
    folder = Path(tempfile.mkdtemp(prefix="hqnn-pg-"))  # short: it holds the Unix socket
    password = secrets.token_hex(12)
    (folder / "password").write_text(password)
    if as_user:
        for path in (folder, folder / "password"):
            os.chown(path, as_user["user"], as_user["group"])
    data, port = folder / "data", _free_port()

    def run(*command: str | Path) -> None:
        done = subprocess.run(command, cwd=folder, capture_output=True, text=True, timeout=120,
                              **as_user)  # fmt: skip
        log = folder / "server.log"
        server_log = log.read_text() if log.is_file() else ""
        assert done.returncode == 0, f"{command[0]}:\n{done.stdout}\n{done.stderr}\n{server_log}"

    try:
        run(binaries / "initdb", "-D", data, "-U", USER, f"--pwfile={folder / 'password'}",
            "--auth-local=trust", "--auth-host=scram-sha-256", "--no-locale", "-E", "UTF8",
            "--no-sync")  # fmt: skip
        run(binaries / "pg_ctl", "-D", data, "-l", folder / "server.log", "-w", "-t", "60",
            "-o", f"-k {folder} -p {port} -c listen_addresses=127.0.0.1 -c fsync=off",
            "start")  # fmt: skip
        try:
            connection = psycopg2.connect(host="127.0.0.1", port=port, user=USER,
                                          password=password, dbname="postgres")  # fmt: skip
            connection.autocommit = True  # CREATE DATABASE runs outside a transaction
            with connection.cursor() as cursor:
                cursor.execute(f"CREATE DATABASE {DATABASE}")
            connection.close()
            yield f"postgresql+psycopg2://{USER}:{password}@127.0.0.1:{port}/{DATABASE}"
        finally:
            run(binaries / "pg_ctl", "-D", data, "-w", "-m", "fast", "stop")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.slow  # a PostgreSQL server, two tools, 3 trials and a run: ~2 minutes on 2 cores
def test_two_processes_tune_one_study_in_postgresql(tmp_path: Path, postgres_url: str) -> None:
    import psycopg2

    url = make_url(postgres_url)
    with pytest.raises(psycopg2.OperationalError, match="password authentication failed"):
        # The server wants the password: the check below that no file holds it means something.
        psycopg2.connect(host=url.host, port=url.port, user=url.username, password="wrong",
                         dbname=url.database)  # fmt: skip
    tune_one_study_in_two_processes(tmp_path, postgres_url)
    out = tmp_path / "out"
    configs = list(out.glob("**/config.yaml"))
    assert len(configs) >= 4  # three trials and the seed's run
    # The trials read the URL from $HQNN_PL_OPTUNA_STORAGE: the password is in no written file.
    secret = url.password.encode()
    assert not [p for p in out.rglob("*") if p.is_file() and secret in p.read_bytes()]
    manifest = json.loads((out / "compare.json").read_text())
    assert manifest["tuning"]["storage"] == url.render_as_string(hide_password=True)
