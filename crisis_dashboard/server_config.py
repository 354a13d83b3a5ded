"""What the operator of a CrisisLens server decides, and a visitor cannot: the run, dataset, scored
collection and corrections database served, the folders an admin may choose others under, who has
which role, and how long a claim on a post lasts. No Streamlit here.

Read from environment variables, over a TOML file named by $CRISISLENS_CONFIG:

    [paths]                                   # each also an environment variable, which wins
    run = "/srv/crisislens/runs/harvey"       # $CRISISLENS_RUN
    data = "/srv/data/CrisisMMD_v2.0"         # $CRISISMMD_ROOT
    collection = "/srv/crisislens/scored/harvey"   # $CRISISLENS_COLLECTION
    corrections = "/srv/crisislens/corrections.db" # $CRISISLENS_CORRECTIONS
    jobs = "/srv/crisislens/retrain"          # $CRISISLENS_JOBS: retrains from the dashboard
    roots = ["/srv/crisislens"]               # $CRISISLENS_ROOTS (os.pathsep between folders)
    [roles]                                   # e-mail addresses, or "@domain" for a whole domain
    admin = ["lead@relief.example"]
    reviewer = ["@relief.example"]
    viewer = ["@partner.example"]
    [review]
    claim_minutes = 10

A folder typed in the browser is used only when it lies under a root: the check is on the typed
text first (no file is looked at, so a refusal says nothing about what exists), then on the folder
it resolves to (a link inside a root that leads out is refused too). Without roots, a laptop (no
sign-in, loopback) takes any folder as before, and a team server takes none.
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from crisis_model.errors import CrisisLensError
from crisis_model.run_folder import find_runs, folders_below
from crisis_model.scoring.folder import MANIFEST_FILE

CONFIG_ENV = "CRISISLENS_CONFIG"
ROOTS_ENV = "CRISISLENS_ROOTS"
PATH_ENVS = {  # [paths] key -> the environment variable that overrides it
    "run": "CRISISLENS_RUN",
    "data": "CRISISMMD_ROOT",
    "collection": "CRISISLENS_COLLECTION",
    "corrections": "CRISISLENS_CORRECTIONS",
    "jobs": "CRISISLENS_JOBS",  # where retrains started from the dashboard write (retrain_job.py)
}
ROLES = ("viewer", "reviewer", "admin")  # each may do what the one before may, and more
DEFAULT_CLAIM_MINUTES = 10.0
DEFAULT_CORRECTIONS = Path(__file__).resolve().parents[1] / "workspace" / "corrections.db"
COLLECTION_DEPTH = 3  # how deep under a root scored collections are looked for


class ServerConfigError(CrisisLensError):
    """A configuration file the server cannot start with: it names the file and the fault."""


@dataclass(frozen=True)
class ServerConfig:
    paths: Mapping[str, Path] = field(default_factory=dict)  # run, data, collection, corrections, jobs
    sources: Mapping[str, str] = field(default_factory=dict)  # path key -> where it was set, in words
    roots: tuple[Path, ...] = ()
    roles: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # role -> e-mails and @domains
    claim_minutes: float = DEFAULT_CLAIM_MINUTES
    source: str = "the environment"  # where it came from, in words

    def role_of(self, email: str | None) -> str | None:
        """The highest role whose list names `email` or its domain; None when none does."""
        email = (email or "").strip().lower()
        if not email:
            return None
        domain = "@" + email.rpartition("@")[2]
        for role in reversed(ROLES):
            if any(entry in (email, domain) for entry in self.roles.get(role, ())):
                return role
        return None

    def under_roots(self, typed: str, restricted: bool) -> tuple[Path | None, str | None]:
        """(the folder `typed` names, None) when it may be used, else (None, why not). `restricted`:
        a team server, where a folder outside the roots is refused (all of them, without roots)."""
        if not restricted and not self.roots:
            return Path(typed).expanduser().absolute(), None
        refused = f"{typed!r} is not under the folders this server serves from; choose one from the list."
        if not self.roots:
            return None, "This server takes no typed folders: choose one from the list."
        path = Path(os.path.normpath(Path(typed).expanduser()))  # the text alone: '..' folded, nothing looked at
        if not path.is_absolute() or not any(path.is_relative_to(root) for root in self.roots):
            return None, refused
        try:
            resolved = path.resolve()  # inside a root: a link there may still lead out
        except (OSError, ValueError, RuntimeError):  # a NUL in the text, a loop of links: no folder
            return None, refused
        if not any(resolved.is_relative_to(root) for root in self.roots):
            return None, refused
        return resolved, None

    def runs_under_roots(self) -> list[Path]:
        """The run folders an admin may choose: each folder of runs (one per task) and each run on
        its own, under the roots."""
        found: list[Path] = []
        for root in self.roots:
            for run in find_runs(root):
                for choice in (run.parent, run) if run.parent != root else (run,):
                    if choice not in found:
                        found.append(choice)
        return found

    def collections_under_roots(self) -> list[Path]:
        """The scored collections (folders with a manifest) under the roots."""
        return [folder for root in self.roots for folder in folders_below(root, COLLECTION_DEPTH)
                if (folder / MANIFEST_FILE).is_file()]  # fmt: skip


def load_server_config(environ: Mapping[str, str] = os.environ) -> ServerConfig:
    """The operator's configuration: the file $CRISISLENS_CONFIG names (if any), under the
    environment variables. Raises ServerConfigError for a file that cannot be read or is wrong."""
    values: dict = {}
    source = "the environment"
    if file := environ.get(CONFIG_ENV):
        source = f"{file} and the environment"
        try:
            values = tomllib.loads(Path(file).expanduser().read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
            raise ServerConfigError(f"{file} (${CONFIG_ENV}): not a readable TOML file ({err}).") from None
    paths_section, roles_section = _table(values, "paths", file), _table(values, "roles", file)
    paths = {key: _path(environ.get(env) or paths_section.get(key), f"paths.{key}", file)
             for key, env in PATH_ENVS.items()}  # fmt: skip
    roots_value = environ.get(ROOTS_ENV)
    if roots_value:
        roots = roots_value.split(os.pathsep)
    else:
        roots = _strings(paths_section.get("roots", []), "paths.roots", file)
    roles = {role: tuple(e.strip().lower() for e in _strings(roles_section.get(role, []), f"roles.{role}", file))
             for role in ROLES}  # fmt: skip
    minutes = _table(values, "review", file).get("claim_minutes", DEFAULT_CLAIM_MINUTES)
    if isinstance(minutes, bool) or not isinstance(minutes, int | float) or not 0 < minutes <= 24 * 60:
        raise ServerConfigError(f"{file}: review.claim_minutes must be a number of minutes from 0 to 1440.")
    sources = {key: f"from ${env}" if environ.get(env) else f"from {file}" for key, env in PATH_ENVS.items()}
    return ServerConfig(
        paths={key: path for key, path in paths.items() if path is not None},
        sources={key: sources[key] for key, path in paths.items() if path is not None},
        roots=tuple(Path(os.path.normpath(Path(r).expanduser().absolute())).resolve() for r in roots if r),
        roles=roles,
        claim_minutes=float(minutes),
        source=source,
    )


def is_loopback(address: str | None) -> bool:
    """Whether a server bound to `address` is reachable from this machine only (Streamlit binds to
    every interface when no address is set)."""
    if not address:
        return False
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def _table(values: dict, name: str, file: str | None) -> dict:
    table = values.get(name, {})
    if not isinstance(table, dict):
        raise ServerConfigError(f"{file}: [{name}] must be a table.")
    return table


def _strings(value: object, name: str, file: str | None) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ServerConfigError(f"{file}: {name} must be a list of strings.")
    return value


def _path(value: object, name: str, file: str | None) -> Path | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ServerConfigError(f"{file}: {name} must be a path (a string).")
    return Path(value).expanduser().absolute()
