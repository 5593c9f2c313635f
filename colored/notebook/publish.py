"""Where the lab is published: the GitHub repository the Colab badges open and the setup cells install
from, in one place (:data:`PUBLISHED`), and ``colored notebooks --repo OWNER/NAME[@REF]``, which
rewrites it and every place that must agree with it.

A notebook opened on Colab has no ``colored`` package yet: its setup cell installs it with pip from
``git+https://github.com/OWNER/NAME@REF``, so that address is written out in each of the seven
notebooks (the ``LAB_REPOSITORY = "OWNER/NAME@REF"`` line of the setup cell), next to the Colab badge
of each notebook (``https://colab.research.google.com/github/OWNER/NAME/blob/REF/notebooks/…``), and in
``README.md`` and ``notebooks/README.md``. An instructor who forks the lab changes them all with one
command, commits and pushes::

    colored notebooks --repo YOU/NAME@main

``colored notebooks`` alone lists every place that disagrees with :data:`PUBLISHED` (exit 1 if any);
``tests/test_colab.py`` runs the same check.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

#: THE setting: the GitHub repository (``OWNER/NAME``) and git ref (branch, tag or commit) where the
#: lab is published. ``colored-lab`` is a placeholder owner: a fork sets its own with
#: ``colored notebooks --repo OWNER/NAME@REF`` (which rewrites this line, the notebooks and the READMEs).
PUBLISHED = "colored-lab/colored@main"
#: The ref when ``--repo`` names none.
DEFAULT_REF = "main"
#: The checkout whose files :func:`set_published` rewrites (the notebooks are not part of the wheel).
ROOT = Path(__file__).resolve().parents[2]
#: What a fork must run, named by every error about the repository setting.
HOW_TO_SET = (
    "run `colored notebooks --repo OWNER/NAME@REF` in a checkout of your fork (it rewrites "
    "colored/notebook/publish.py, every notebook's Colab badge and install line, and the READMEs), "
    "commit, push, and open the notebook from your fork's badge"
)

_OWNER = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})"
_NAME = r"[A-Za-z0-9._-]+"
_REF = r"[A-Za-z0-9._/-]+"
_SPEC = re.compile(rf"(?P<owner>{_OWNER})/(?P<name>{_NAME})(?:@(?P<ref>{_REF}))?")

# What is rewritten, wherever it appears (the repository part of each is replaced):
_BADGE = re.compile(
    rf"https://colab\.research\.google\.com/github/{_OWNER}/{_NAME}/blob/{_REF}?/notebooks/"
)
_GIT_URL = re.compile(rf"git\+https://github\.com/{_OWNER}/{_NAME}(?:@{_REF})?(?<![./-])")
_SETUP_LINE = re.compile(r'^(LAB_REPOSITORY = )"[^"\n]*"', re.M)  # the notebooks' setup cell
_CONSTANT = re.compile(r'^(PUBLISHED = )"[^"\n]*"', re.M)  # this module


@dataclass(frozen=True)
class Repository:
    """A published lab: ``owner/name@ref``."""

    owner: str
    name: str
    ref: str = DEFAULT_REF

    def __str__(self) -> str:
        return f"{self.owner}/{self.name}@{self.ref}"

    @property
    def pip_url(self) -> str:
        """What the setup cells give pip."""
        return f"git+https://github.com/{self}"

    def badge_url(self, notebook: str) -> str:
        """The Colab address that opens ``notebooks/<notebook>`` of this repository."""
        return f"{self.badge_prefix}{notebook}"

    @property
    def badge_prefix(self) -> str:
        return f"https://colab.research.google.com/github/{self.owner}/{self.name}/blob/{self.ref}/notebooks/"


def parse_repository(text: str) -> Repository:
    """``OWNER/NAME`` or ``OWNER/NAME@REF`` (ref default ``main``); ``ValueError`` (one line) otherwise.
    A full ``https://github.com/OWNER/NAME`` address is accepted too."""
    spec = str(text).strip()
    spec = re.sub(r"^(?:git\+)?https?://(?:www\.)?github\.com/", "", spec)
    spec = re.sub(r"\.git(?=@|$)", "", spec).rstrip("/")
    match = _SPEC.fullmatch(spec)
    if (
        not match
        or (match["ref"] or "").startswith("/")
        or (match["ref"] or "").endswith("/")
        or ".." in (match["ref"] or "")
    ):
        raise ValueError(
            f"--repo {text!r} is not a GitHub repository: give OWNER/NAME or OWNER/NAME@REF "
            "(REF a branch, tag or commit; default main), e.g. --repo alice/colored@main"
        )
    return Repository(match["owner"], match["name"], match["ref"] or DEFAULT_REF)


def published() -> Repository:
    """:data:`PUBLISHED` as a :class:`Repository`."""
    return parse_repository(PUBLISHED)


def _notebooks(root: Path) -> list[Path]:
    # the numbered notebooks (colored.notebook.chain.NOTEBOOKS lists the same; chain imports this module)
    return sorted((root / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def _documents(root: Path) -> list[Path]:
    return [root / "README.md", root / "notebooks" / "README.md"]


def _rewrite_text(text: str, repo: Repository) -> str:
    """``text`` with every badge address, pip URL and ``LAB_REPOSITORY`` line pointing at ``repo``."""
    text = _BADGE.sub(lambda _: repo.badge_prefix, text)
    text = _GIT_URL.sub(lambda _: repo.pip_url, text)
    return _SETUP_LINE.sub(lambda m: f'{m[1]}"{repo}"', text)


def find_mismatches(root: str | Path | None = None, repo: Repository | None = None) -> list[str]:
    """Every badge, install line or setting under ``root`` that does not name ``repo`` (default: the
    ``PUBLISHED`` line of ``root``'s ``colored/notebook/publish.py``; ``root`` default :data:`ROOT`), and every
    notebook lacking its badge or its ``LAB_REPOSITORY`` line. Empty when all agree."""
    import nbformat

    root = Path(ROOT if root is None else root)
    source = (root / "colored" / "notebook" / "publish.py").read_text()
    constant = _CONSTANT.search(source)
    problems: list[str] = []
    if constant is None:
        return [
            f'{root / "colored" / "notebook" / "publish.py"}: no PUBLISHED = "OWNER/NAME@REF" line'
        ]
    setting = parse_repository(constant[0].split("=", 1)[1].strip().strip('"'))
    repo = repo or setting
    if setting != repo:
        problems.append(f"colored/notebook/publish.py: PUBLISHED is {setting}, not {repo}")

    def check(where: str, text: str, notebook: str | None) -> None:
        for match in _BADGE.finditer(text):
            if match[0] != repo.badge_prefix:
                problems.append(f"{where}: Colab badge {match[0]}… does not open {repo}")
        for match in _GIT_URL.finditer(text):
            if match[0] != repo.pip_url:
                problems.append(f"{where}: install URL {match[0]} is not {repo.pip_url}")
        for match in _SETUP_LINE.finditer(text):
            if match[0] != f'LAB_REPOSITORY = "{repo}"':
                problems.append(f'{where}: {match[0]} is not LAB_REPOSITORY = "{repo}"')
        if notebook is not None:
            if repo.badge_url(notebook) not in text:
                problems.append(f"{where}: no Colab badge opening {repo.badge_url(notebook)}")
            if not _SETUP_LINE.search(text):
                problems.append(f'{where}: no LAB_REPOSITORY = "{repo}" line in the setup cell')

    for path in _notebooks(root):
        nb = nbformat.read(str(path), as_version=4)
        check(f"notebooks/{path.name}", "\n".join(cell.source for cell in nb.cells), path.name)
    for path in _documents(root):
        check(str(path.relative_to(root)), path.read_text(), None)
    return problems


def set_published(repo: Repository | str, root: str | Path | None = None) -> list[Path]:
    """Point the lab at ``repo``: rewrite :data:`PUBLISHED` in ``root/colored/notebook/publish.py``, the Colab
    badges and ``LAB_REPOSITORY`` install lines of the seven notebooks (their outputs untouched) and the
    badges and install lines of ``README.md`` and ``notebooks/README.md`` (``root`` default :data:`ROOT`).
    Returns the files changed."""
    import nbformat

    repo = parse_repository(repo) if isinstance(repo, str) else repo
    root = Path(ROOT if root is None else root)
    changed: list[Path] = []
    module = root / "colored" / "notebook" / "publish.py"
    text = module.read_text()
    new = _CONSTANT.sub(lambda m: f'{m[1]}"{repo}"', text, count=1)
    if new != text:
        module.write_text(new)
        changed.append(module)
    for path in _notebooks(root):
        nb = nbformat.read(str(path), as_version=4)
        edited = False
        for cell in nb.cells:
            source = _rewrite_text(cell.source, repo)
            if source != cell.source:
                cell.source, edited = source, True
        if edited:
            nbformat.write(nb, str(path))
            changed.append(path)
    for path in _documents(root):
        text = path.read_text()
        new = _rewrite_text(text, repo)
        if new != text:
            path.write_text(new)
            changed.append(path)
    return changed
