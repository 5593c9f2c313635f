"""Kaggle credentials: where they are (found, never printed), and scrubbing them from all output.

:func:`find_kaggle_credentials` looks where the kaggle library looks, in its order, and describes
the source it finds (never the secret); :func:`scan_credentials` adds notes about broken set-ups for
the error that lists every way to fix them. :func:`known_secrets` collects every credential value in
sight so that :func:`redact` and :func:`scrubbed_output` keep them out of messages and out of what
the kaggle library prints. Apart from :mod:`colored.io.kaggle` (the download) so that a reader of
either holds one concern.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

_TOKEN_FILES = ("access_token", "access_token.txt")  # kagglesdk accepts both names


def _config_dirs(env: Mapping[str, str], home: Path) -> list[Path]:
    """Folders where the kaggle library looks for credential files, in its order."""
    dirs: list[Path] = []
    if env.get("KAGGLE_CONFIG_DIR"):
        dirs.append(Path(env["KAGGLE_CONFIG_DIR"]).expanduser())
    dot_kaggle = home / ".kaggle"
    dirs.append(dot_kaggle)
    if not env.get("KAGGLE_CONFIG_DIR") and not dot_kaggle.exists():
        # kaggle >= 1.7 on Linux falls back to the XDG folder when ~/.kaggle does not exist.
        xdg = Path(env["XDG_CONFIG_HOME"]) if env.get("XDG_CONFIG_HOME") else home / ".config"
        dirs.append(xdg / "kaggle")
    return dirs


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8").strip() or None
    except (OSError, UnicodeDecodeError):
        return None


def _is_file(value: str) -> bool:
    # A 100+ character token passed to Path.exists() can raise "File name too long" with the token
    # in the message: never let that escape.
    try:
        return Path(value).expanduser().is_file()
    except (OSError, ValueError):
        return False


def scan_credentials(env: Mapping[str, str], home: Path) -> tuple[str | None, list[str]]:
    """(description of the first credential source found or None, notes about broken sources): the
    notes are what :class:`~colored.io.kaggle.KaggleCredentialsError` lists when none is found."""
    notes: list[str] = []
    token = env.get("KAGGLE_API_TOKEN", "").strip()
    if token:
        if _is_file(token):
            if _read_text(Path(token).expanduser()):
                return f"KAGGLE_API_TOKEN environment variable (token file {token})", notes
            notes.append(f"KAGGLE_API_TOKEN points to an empty or unreadable file ({token})")
        else:
            return "KAGGLE_API_TOKEN environment variable (token)", notes

    dirs = _config_dirs(env, home)
    for folder in dirs:
        for name in _TOKEN_FILES:
            path = folder / name
            if path.is_file():
                if _read_text(path):
                    return f"access token file {path}", notes
                notes.append(f"{path} is empty or unreadable")

    for folder in dirs:
        path = folder / "kaggle.json"
        if path.is_file():
            try:
                values = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                values = None  # the parse error is not quoted: it could echo the file's content
            if isinstance(values, dict) and values.get("username") and values.get("key"):
                return f"API key file {path}", notes
            notes.append(f"{path} exists but is not JSON with non-empty 'username' and 'key'")

    if env.get("KAGGLE_USERNAME") and env.get("KAGGLE_KEY"):
        return "KAGGLE_USERNAME and KAGGLE_KEY environment variables", notes
    if env.get("KAGGLE_USERNAME") or env.get("KAGGLE_KEY"):
        missing = "KAGGLE_KEY" if env.get("KAGGLE_USERNAME") else "KAGGLE_USERNAME"
        notes.append(f"KAGGLE_USERNAME/KAGGLE_KEY: {missing} is not set (both are needed)")

    # `kaggle auth login` (OAuth) stores its credentials here; kagglesdk always reads ~/.kaggle.
    oauth = home / ".kaggle" / "credentials.json"
    if oauth.is_file():
        return f"OAuth credentials from `kaggle auth login` ({oauth})", notes
    return None, notes


def token_files(env: Mapping[str, str], home: Path) -> Iterator[Path]:
    """The non-empty access token files in the folders the kaggle library searches, in its order."""
    return (d / n for d in _config_dirs(env, home) for n in _TOKEN_FILES if _read_text(d / n))


def find_kaggle_credentials(
    env: Mapping[str, str] | None = None, home: str | Path | None = None
) -> str | None:
    """Describe where Kaggle credentials were found, or return ``None``. Never returns a secret.

    Checked in the kaggle library's order (``env`` defaults to ``os.environ``, ``home`` to the
    user's home folder, both read at call time):

    1. ``KAGGLE_API_TOKEN``: the token itself, or a path to a file holding it;
    2. ``access_token`` (or ``access_token.txt``) in ``$KAGGLE_CONFIG_DIR`` or ``~/.kaggle``;
    3. ``kaggle.json`` (``{"username": ..., "key": ...}``) in ``$KAGGLE_CONFIG_DIR`` or
       ``~/.kaggle`` (or ``~/.config/kaggle`` when ``~/.kaggle`` does not exist);
    4. ``KAGGLE_USERNAME`` and ``KAGGLE_KEY`` together;
    5. OAuth credentials saved by ``kaggle auth login`` (``~/.kaggle/credentials.json``).
    """
    env = os.environ if env is None else env
    home = Path.home() if home is None else Path(home)
    return scan_credentials(env, home)[0]


def known_secrets(env: Mapping[str, str], home: Path) -> list[str]:
    """Every credential value we can see, so that output and messages can be scrubbed of them."""
    secrets = [env.get("KAGGLE_KEY", ""), env.get("KAGGLE_API_TOKEN", "")]
    token = env.get("KAGGLE_API_TOKEN", "").strip()
    if token and _is_file(token):
        secrets.append(_read_text(Path(token).expanduser()) or "")
    for folder in [*_config_dirs(env, home), home / ".kaggle"]:
        for name in _TOKEN_FILES:
            secrets.append(_read_text(folder / name) or "")
        for name in ("kaggle.json", "credentials.json"):
            try:
                values = json.loads((folder / name).read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if isinstance(values, dict):
                secrets += [
                    str(v) for k, v in values.items() if k != "username" and isinstance(v, str)
                ]
    # Longest first so that a secret containing another is scrubbed whole; short values are not
    # secrets worth scrubbing and would mangle ordinary output.
    return sorted({s.strip() for s in secrets if len(s.strip()) >= 6}, key=len, reverse=True)


def redact(text: str, secrets: list[str]) -> str:
    """``text`` with every one of ``secrets`` replaced by ``***``."""
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


class _RedactingStream:
    """A text stream wrapper that scrubs known secrets from whatever the kaggle library prints."""

    def __init__(self, stream: Any, secrets: list[str]) -> None:
        self._stream = stream
        self._secrets = secrets

    def write(self, text: str) -> int:
        self._stream.write(redact(text, self._secrets))
        return len(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


@contextlib.contextmanager
def scrubbed_output(secrets: list[str]) -> Iterator[None]:
    """Within the block, everything printed to stdout and stderr has ``secrets`` scrubbed."""
    import sys

    with (
        contextlib.redirect_stdout(_RedactingStream(sys.stdout, secrets)),
        contextlib.redirect_stderr(_RedactingStream(sys.stderr, secrets)),
    ):
        yield
