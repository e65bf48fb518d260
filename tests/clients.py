"""The collaborator's clients, run for real: git, git-annex, DataLad, DVC and Python libraries.

git comes from Debian; git-annex, DataLad, DVC, pandas, DuckDB and fsspec from PyPI, in
`.venv-clients` (`make install-test`), which keeps their pins away from the app's.
Each test gets a HOME of its own, so no user's git configuration leaks in, and git-annex
is allowed to fetch from loopback (it refuses private addresses by default).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLIENTS_BIN = ROOT / ".venv-clients" / "bin"


@dataclass(frozen=True)
class Clients:
    home: Path

    @classmethod
    def prepare(cls, home: Path) -> Clients:
        for tool in ("git-annex", "dvc", "datalad", "python"):
            if not (CLIENTS_BIN / tool).exists():
                raise RuntimeError(f"{tool} is not installed: run `make install-test`.")
        if shutil.which("git") is None:
            raise RuntimeError("git is not installed: run `make install-test`.")
        home.mkdir(parents=True, exist_ok=True)
        clients = cls(home=home)
        clients.git("config", "--global", "user.name", "Collaborator")
        clients.git("config", "--global", "user.email", "collaborator@localhost")
        clients.git("config", "--global", "init.defaultBranch", "main")
        # git-annex only fetches from loopback when told to (the test servers are there).
        clients.git("config", "--global", "annex.security.allowed-ip-addresses", "127.0.0.1")
        return clients

    @property
    def environment(self) -> dict[str, str]:
        return {
            **os.environ,
            "HOME": str(self.home),
            "PATH": f"{CLIENTS_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_TERMINAL_PROMPT": "0",
            "DVC_NO_ANALYTICS": "1",
            "DVC_SITE_CACHE_DIR": str(self.home / "dvc-site-cache"),
        }

    def run(
        self, *command: str | Path, cwd: Path | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        completed = subprocess.run(
            [str(part) for part in command],
            cwd=cwd or self.home,
            env=self.environment,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if check and completed.returncode != 0:
            raise AssertionError(
                f"{' '.join(map(str, command))} exited {completed.returncode}\n"
                f"stdout: {completed.stdout[-3000:]}\nstderr: {completed.stderr[-3000:]}"
            )
        return completed

    def git(
        self, *arguments: str | Path, cwd: Path | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        return self.run("git", *arguments, cwd=cwd, check=check)

    def annex(self, *arguments: str | Path, cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run("git", "annex", *arguments, cwd=cwd, check=check)

    def dvc(self, *arguments: str | Path, cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run(CLIENTS_BIN / "dvc", *arguments, cwd=cwd, check=check)

    def datalad(
        self, *arguments: str | Path, cwd: Path | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        return self.run(CLIENTS_BIN / "datalad", *arguments, cwd=cwd, check=check)

    def python(self, script: str, *arguments: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """A Python script run by the clients' interpreter (pandas, DuckDB, fsspec live there)."""
        return self.run(CLIENTS_BIN / "python", "-c", script, *arguments, check=check)

    def store_password(self, password: str, user: str = "collaborator") -> None:
        """git's credential helper answers with this password (no prompt, no URL)."""
        helper = self.home / "credential-helper.sh"
        helper.write_text(f"#!/bin/sh\necho username={user}\necho 'password={password}'\n")
        helper.chmod(0o700)
        self.git("config", "--global", "credential.helper", str(helper))


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
