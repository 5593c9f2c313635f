"""Tests for colored.data and colored.io.kaggle(_credentials): finding images, dataset layouts, Kaggle credentials and
download, sample data, get_dataset's sources.

Nothing here touches the network or the real ~/.kaggle: HOME points into tmp_path, every KAGGLE_*
variable is removed, and downloads go through a fake API object that writes a real zip.
"""

from __future__ import annotations

import io
import json
import shutil
import stat
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from colored import data
from colored.io import files as fileio
from colored.io import kaggle, kaggle_credentials

SECRET = "sEcReT-kaggle-key-0123456789abcdef"
KAGGLE_VARS = (
    "KAGGLE_API_TOKEN",
    "KAGGLE_USERNAME",
    "KAGGLE_KEY",
    "KAGGLE_CONFIG_DIR",
    "XDG_CONFIG_HOME",
)


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh, empty HOME and no Kaggle variables, so the developer's credentials are never seen."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for name in KAGGLE_VARS:
        monkeypatch.delenv(name, raising=False)
    return home


def png_bytes(color: tuple[int, int, int] = (200, 30, 40), size: int = 4) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (size, size), color).save(buffer, format="PNG")
    return buffer.getvalue()


# --------------------------------------------------------------------------------------------------
# find_images
# --------------------------------------------------------------------------------------------------


def test_find_images_recursive_extensions_and_case(tmp_path: Path) -> None:
    root = tmp_path / "photos"
    (root / "sub" / "deeper").mkdir(parents=True)
    wanted = [
        "a.jpg",
        "b.JPEG",
        "c.Png",
        "sub/d.bmp",
        "sub/e.TIF",
        "sub/deeper/f.tiff",
        "g.webp",
        "h.GIF",
    ]
    for name in wanted:
        (root / name).write_bytes(b"x")
    for name in ["notes.txt", "model.h5", "sub/readme.md", ".hidden.png", "sub/._apple.jpg"]:
        (root / name).write_bytes(b"x")
    (root / ".ipynb_checkpoints").mkdir()
    (root / ".ipynb_checkpoints" / "copy.png").write_bytes(b"x")
    (root / "folder.png").mkdir()  # a directory with an image suffix is not an image

    found = data.find_images(root)
    assert found == sorted(root / name for name in wanted), f"recursive search found {found}"
    top = data.find_images(root, recursive=False)
    expected_top = sorted(root / n for n in wanted if "/" not in n)
    assert top == expected_top, f"non-recursive search should stay at the top level, got {top}"
    assert data.find_images(str(root)) == found, "a str folder should work like a Path"
    assert {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".gif"} <= set(
        fileio.IMAGE_EXTENSIONS
    ), f"IMAGE_EXTENSIONS is missing some formats: {fileio.IMAGE_EXTENSIONS}"


def test_find_images_missing_folder_message(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-folder"
    with pytest.raises(FileNotFoundError) as excinfo:
        data.find_images(missing)
    message = str(excinfo.value)
    assert "no-such-folder" in message, f"the error should name the folder: {message}"
    assert "colored download --source sample" in message, (
        f"the error should suggest the sample: {message}"
    )


def test_find_images_empty_folder(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("no photos here")
    with pytest.raises(ValueError, match="no images") as excinfo:
        data.find_images(empty)
    assert "empty" in str(excinfo.value), f"the error should name the folder: {excinfo.value}"


# --------------------------------------------------------------------------------------------------
# dataset_splits
# --------------------------------------------------------------------------------------------------


def test_dataset_splits_kaggle_layout_ignores_black(tmp_path: Path) -> None:
    for name in ("train_black", "train_color", "test_black", "test_color"):
        (tmp_path / name).mkdir()
    splits = data.dataset_splits(tmp_path)
    assert splits == {"train": tmp_path / "train_color", "test": tmp_path / "test_color"}, (
        f"Kaggle layout misread: {splits}"
    )


def test_dataset_splits_kaggle_nested_one_level(tmp_path: Path) -> None:
    (tmp_path / "data" / "train_color").mkdir(parents=True)
    (tmp_path / "data" / "train_black").mkdir()
    splits = data.dataset_splits(tmp_path)
    assert splits == {"train": tmp_path / "data" / "train_color"}, (
        f"nested Kaggle layout misread: {splits}"
    )


def test_dataset_splits_train_test_and_flat(tmp_path: Path) -> None:
    ours = tmp_path / "ours"
    (ours / "train").mkdir(parents=True)
    (ours / "test").mkdir()
    assert data.dataset_splits(ours) == {"train": ours / "train", "test": ours / "test"}, (
        "train/test layout"
    )
    only_train = tmp_path / "only_train"
    (only_train / "train").mkdir(parents=True)
    assert data.dataset_splits(only_train) == {"train": only_train / "train"}, (
        "test must be optional"
    )
    flat = tmp_path / "flat"
    flat.mkdir()
    (flat / "x.png").write_bytes(png_bytes())
    assert data.dataset_splits(flat) == {"train": flat}, "a plain folder should be the train split"
    with pytest.raises(FileNotFoundError, match="--source sample"):
        data.dataset_splits(tmp_path / "missing")


# --------------------------------------------------------------------------------------------------
# Kaggle credentials
# --------------------------------------------------------------------------------------------------


def _write_token(folder: Path, name: str = "access_token") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(SECRET + "\n")
    return folder / name


def _write_kaggle_json(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "kaggle.json").write_text(json.dumps({"username": "alice", "key": SECRET}))
    return folder / "kaggle.json"


@pytest.mark.parametrize(
    "setup, expected",
    [
        ("token_env", "KAGGLE_API_TOKEN"),
        ("token_env_path", "token file"),
        ("access_token_file", "access token file"),
        ("kaggle_json", "kaggle.json"),
        ("username_key_env", "KAGGLE_USERNAME and KAGGLE_KEY"),
        ("config_dir_token", "access token file"),
        ("config_dir_json", "kaggle.json"),
    ],
)
def test_find_kaggle_credentials_each_source(
    tmp_path: Path, isolated_home: Path, setup: str, expected: str
) -> None:
    env: dict[str, str] = {}
    config = tmp_path / "config"
    if setup == "token_env":
        env["KAGGLE_API_TOKEN"] = SECRET
    elif setup == "token_env_path":
        env["KAGGLE_API_TOKEN"] = str(_write_token(tmp_path / "elsewhere", "my_token"))
    elif setup == "access_token_file":
        _write_token(isolated_home / ".kaggle")
    elif setup == "kaggle_json":
        _write_kaggle_json(isolated_home / ".kaggle")
    elif setup == "username_key_env":
        env.update(KAGGLE_USERNAME="alice", KAGGLE_KEY=SECRET)
    elif setup == "config_dir_token":
        _write_token(config)
        env["KAGGLE_CONFIG_DIR"] = str(config)
    elif setup == "config_dir_json":
        _write_kaggle_json(config)
        env["KAGGLE_CONFIG_DIR"] = str(config)
    found = kaggle_credentials.find_kaggle_credentials(env=env, home=isolated_home)
    assert found is not None, f"{setup}: credentials not detected"
    assert expected in found, f"{setup}: description {found!r} should mention {expected!r}"
    assert SECRET not in found, f"{setup}: the description leaks the secret"
    if setup.startswith("config_dir"):
        assert str(config) in found, (
            f"{setup}: should report the KAGGLE_CONFIG_DIR file, got {found!r}"
        )


def test_find_kaggle_credentials_order_and_none(tmp_path: Path, isolated_home: Path) -> None:
    assert kaggle_credentials.find_kaggle_credentials(env={}, home=isolated_home) is None, (
        "empty home + env: nothing"
    )
    # Defaults read os.environ and HOME at call time (the fixture made both empty).
    assert kaggle_credentials.find_kaggle_credentials() is None, (
        "defaults should see the isolated HOME and env"
    )
    _write_kaggle_json(isolated_home / ".kaggle")
    both = kaggle_credentials.find_kaggle_credentials(
        env={"KAGGLE_API_TOKEN": SECRET}, home=isolated_home
    )
    assert both is not None and "KAGGLE_API_TOKEN" in both, (
        f"env token must win over kaggle.json: {both}"
    )
    only_user = kaggle_credentials.find_kaggle_credentials(
        env={"KAGGLE_USERNAME": "alice"}, home=tmp_path / "nobody"
    )
    assert only_user is None, "KAGGLE_USERNAME without KAGGLE_KEY is not a credential"
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "kaggle.json").write_text("{not json " + SECRET)
    malformed = kaggle_credentials.find_kaggle_credentials(
        env={"KAGGLE_CONFIG_DIR": str(broken)}, home=tmp_path / "nobody"
    )
    assert malformed is None, "a malformed kaggle.json should not count as credentials"


def test_credentials_error_message_explains_every_setup() -> None:
    message = str(kaggle.KaggleCredentialsError())
    for needle in [
        "KAGGLE_API_TOKEN",
        "~/.kaggle/access_token",
        "~/.kaggle/kaggle.json",
        "KAGGLE_USERNAME",
        "KAGGLE_KEY",
        "KAGGLE_CONFIG_DIR",
        "Colab",
        "Secrets",
        "from google.colab import userdata",
        "colored download --source sample",
    ]:
        assert needle in message, f"the credentials error should mention {needle!r}:\n{message}"
    assert isinstance(kaggle.KaggleCredentialsError(), RuntimeError), "should be a RuntimeError"


def test_download_without_credentials_raises_before_importing_kaggle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # With sys.modules["kaggle"] = None any import of kaggle raises ImportError: getting the
    # credentials error instead proves the check comes first.
    monkeypatch.setitem(sys.modules, "kaggle", None)
    broken = tmp_path / "cfg"
    broken.mkdir()
    (broken / "kaggle.json").write_text("{}")
    monkeypatch.setenv("KAGGLE_CONFIG_DIR", str(broken))
    with pytest.raises(kaggle.KaggleCredentialsError) as excinfo:
        kaggle.download_kaggle(tmp_path / "kaggle")
    assert "kaggle.json" in str(excinfo.value), (
        f"the broken kaggle.json should be reported: {excinfo.value}"
    )
    assert not (tmp_path / "kaggle").exists(), "nothing should be created without credentials"


# --------------------------------------------------------------------------------------------------
# Kaggle download with a fake API
# --------------------------------------------------------------------------------------------------

SMALL_COUNTS = {"train_color": 3, "test_color": 2}


def kaggle_like_members(train: int = 3, test: int = 2) -> dict[str, bytes]:
    members = {}
    for i in range(train):
        members[f"data/train_color/image{i}.jpg"] = png_bytes((10 * i, 100, 200))
        members[f"data/train_black/image{i}.jpg"] = png_bytes((90, 90, 90))
    for i in range(test):
        members[f"data/test_color/image{i}.jpg"] = png_bytes((200, 10 * i, 50))
        members[f"data/test_black/image{i}.jpg"] = png_bytes((90, 90, 90))
    return members


class FakeApi:
    """Stands in for kaggle.api: writes a real zip where the real one would, counts calls."""

    def __init__(
        self,
        members: dict[str, bytes | tuple[zipfile.ZipInfo, str]] | None = None,
        error: Exception | None = None,
        chatter: str = "",
    ) -> None:
        self.members = kaggle_like_members() if members is None else members
        self.error = error
        self.chatter = chatter
        self.calls: list[dict] = []

    def dataset_download_files(
        self,
        dataset: str,
        path: str | None = None,
        force: bool = False,
        quiet: bool = True,
        unzip: bool = False,
        licenses: list | None = None,
    ) -> None:
        self.calls.append({"dataset": dataset, "path": path, "unzip": unzip, "quiet": quiet})
        if self.chatter:  # a leaky library printing credentials
            print(self.chatter)
            print(self.chatter, file=sys.stderr)
        if self.error is not None:
            raise self.error
        with zipfile.ZipFile(Path(path) / "image-colorization-dataset.zip", "w") as archive:
            for name, content in self.members.items():
                if isinstance(content, tuple):
                    archive.writestr(*content)
                else:
                    archive.writestr(name, content)


@pytest.fixture
def small_counts(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    monkeypatch.setattr(kaggle, "KAGGLE_EXPECTED_COUNTS", dict(SMALL_COUNTS))
    return SMALL_COUNTS


def test_download_kaggle_flattens_and_is_idempotent(tmp_path: Path, small_counts: dict) -> None:
    api = FakeApi()
    target = tmp_path / "data" / "kaggle"
    result = kaggle.download_kaggle(target, api=api)
    assert result == target, f"should return the target, got {result}"
    assert len(api.calls) == 1, f"expected one API call, got {api.calls}"
    call = api.calls[0]
    assert call["dataset"] == kaggle.KAGGLE_DATASET and call["unzip"] is False, (
        f"wrong API call {call}"
    )
    assert target.parent in Path(call["path"]).parents, (
        "the zip should be downloaded next to the target"
    )
    assert sorted(p.name for p in target.iterdir()) == ["test_color", "train_color"], (
        f"only the colour folders should land directly under target: {list(target.iterdir())}"
    )
    assert len(data.find_images(target / "train_color")) == 3, "train_color images missing"
    assert len(data.find_images(target / "test_color")) == 2, "test_color images missing"
    leftovers = sorted(p.name for p in target.parent.iterdir())
    assert leftovers == ["kaggle"], f"temporary download folders were left behind: {leftovers}"
    assert data.dataset_splits(target) == {
        "train": target / "train_color",
        "test": target / "test_color",
    }

    again = kaggle.download_kaggle(target, api=api)
    assert again == target and len(api.calls) == 1, (
        f"a complete dataset must not be downloaded again: {api.calls}"
    )
    # Complete data needs neither credentials nor the kaggle package.
    assert kaggle.download_kaggle(target) == target, (
        "api=None on complete data should return without credentials"
    )
    assert data.get_dataset("kaggle", data_dir=tmp_path / "data", api=api) == target, (
        "get_dataset('kaggle')"
    )
    assert len(api.calls) == 1, "get_dataset on complete data should not call the API"


def test_download_kaggle_count_mismatch(tmp_path: Path, small_counts: dict) -> None:
    api = FakeApi(kaggle_like_members(train=2, test=2))
    target = tmp_path / "kaggle"
    with pytest.raises(RuntimeError) as excinfo:
        kaggle.download_kaggle(target, api=api)
    message = str(excinfo.value)
    assert "train_color" in message, f"should name the folder: {message}"
    assert "2" in message and "3" in message, f"should give found vs expected: {message}"
    assert "Delete" in message or "delete" in message, (
        f"should suggest deleting and retrying: {message}"
    )


@pytest.mark.parametrize(
    "bad_name",
    [
        "../evil.png",
        "/tmp/colored-test-absolute-evil.png",
        "data/train_color/../../../evil.png",
        "C:/evil.png",
    ],
)
def test_download_kaggle_rejects_escaping_members(
    tmp_path: Path, small_counts: dict, bad_name: str
) -> None:
    members = kaggle_like_members()
    members[bad_name] = png_bytes()
    target = tmp_path / "area" / "kaggle"
    with pytest.raises(ValueError) as excinfo:
        kaggle.download_kaggle(target, api=FakeApi(members))
    assert bad_name in str(excinfo.value), f"the error should name the member: {excinfo.value}"
    assert not Path("/tmp/colored-test-absolute-evil.png").exists(), (
        "an absolute member was written"
    )
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert written == [], f"nothing should be written anywhere after a refused archive: {written}"
    assert not (target / "train_color").exists(), "no partial dataset should be placed"


def test_download_kaggle_rejects_symlink_member(tmp_path: Path, small_counts: dict) -> None:
    link = zipfile.ZipInfo("data/train_color/link.png")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    members = kaggle_like_members()
    members["data/train_color/link.png"] = (link, "/etc/passwd")
    target = tmp_path / "kaggle"
    with pytest.raises(ValueError, match="link.png") as excinfo:
        kaggle.download_kaggle(target, api=FakeApi(members))
    assert "symbolic link" in str(excinfo.value), f"should say why: {excinfo.value}"
    assert [p for p in tmp_path.rglob("*") if p.is_file() or p.is_symlink()] == [], (
        "nothing should be written"
    )


def test_download_kaggle_offline_keeps_existing_data(
    tmp_path: Path,
    small_counts: dict,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture,
) -> None:
    monkeypatch.setenv("KAGGLE_KEY", SECRET)
    monkeypatch.setenv("KAGGLE_USERNAME", "alice")
    target = tmp_path / "kaggle"
    (target / "train_color").mkdir(parents=True)
    existing = target / "train_color" / "mine.png"
    existing.write_bytes(png_bytes())
    before = (existing.read_bytes(), existing.stat().st_mtime_ns)
    error = ConnectionError(f"Max retries exceeded (Authorization: Basic alice:{SECRET})")
    api = FakeApi(error=error, chatter=f"debug: key={SECRET}")
    with pytest.raises(RuntimeError) as excinfo:
        kaggle.download_kaggle(target, api=api)
    message = str(excinfo.value)
    assert "could not reach Kaggle" in message and "offline" in message, (
        f"unclear offline message: {message}"
    )
    assert "refused" not in message and "rejected" not in message, (
        f"no answer is not a refusal: {message}"
    )
    assert "--source sample" in message, f"should suggest the offline sample: {message}"
    assert excinfo.value.__cause__ is error, "the network error should be chained as the cause"
    assert SECRET not in message, "the error message leaks the secret"
    assert (existing.read_bytes(), existing.stat().st_mtime_ns) == before, (
        "existing data was modified"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home", "kaggle"], (
        "temporary folders left behind"
    )
    out, err = capfd.readouterr()
    assert "debug: key=***" in out, f"the library's output should still be shown, scrubbed: {out!r}"
    assert SECRET not in out and SECRET not in err, "a credential was printed"


class _Response:
    def __init__(self, status_code: int, reason: str) -> None:
        self.status_code, self.reason = status_code, reason


class HTTPError(OSError):
    """Like requests.HTTPError: an OSError whose ``response`` holds Kaggle's answer."""

    def __init__(self, status_code: int, reason: str) -> None:
        side = "Client" if status_code < 500 else "Server"
        super().__init__(
            f"{status_code} {side} Error: {reason} for url: https://api.kaggle.com/v1/..."
        )
        self.response = _Response(status_code, reason)


@pytest.mark.parametrize(("status", "reason"), [(401, "Unauthorized"), (403, "Forbidden")])
def test_download_kaggle_rejected_credentials_name_the_source_and_the_fix(
    tmp_path: Path,
    isolated_home: Path,
    small_counts: dict,
    monkeypatch: pytest.MonkeyPatch,
    status: int,
    reason: str,
) -> None:
    monkeypatch.setenv("KAGGLE_API_TOKEN", SECRET)
    monkeypatch.setattr(
        kaggle, "_import_kaggle_api", lambda: FakeApi(error=HTTPError(status, reason))
    )
    target = tmp_path / "kaggle"
    with pytest.raises(RuntimeError) as excinfo:
        kaggle.download_kaggle(target)
    message = str(excinfo.value)
    assert message.startswith(
        f"could not download {kaggle.KAGGLE_DATASET}: Kaggle rejected the credentials "
        f"(HTTP {status} {reason}; used: KAGGLE_API_TOKEN environment variable (token))"
    ), message
    assert "https://www.kaggle.com/settings/api" in message and "update the secret" in message, (
        message
    )
    assert "Restart session" in message and f"Nothing in {target} was changed." in message, message
    assert "offline" not in message and SECRET not in message and "\n" not in message, message
    assert not target.exists(), "the data folder was created"


def test_download_kaggle_names_the_key_file_from_home_as_tilde(
    tmp_path: Path, isolated_home: Path, small_counts: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    (isolated_home / ".kaggle").mkdir()
    (isolated_home / ".kaggle" / "kaggle.json").write_text(
        f'{{"username": "alice", "key": "{SECRET}"}}'
    )
    monkeypatch.setattr(
        kaggle, "_import_kaggle_api", lambda: FakeApi(error=HTTPError(401, "Unauthorized"))
    )
    with pytest.raises(
        RuntimeError, match=r"\(HTTP 401 Unauthorized; used: API key file ~/\.kaggle/kaggle\.json\)"
    ):
        kaggle.download_kaggle(tmp_path / "kaggle")


def test_download_kaggle_other_answers_are_not_called_offline_or_credentials(
    tmp_path: Path, small_counts: dict
) -> None:
    with pytest.raises(
        RuntimeError
    ) as excinfo:  # an api passed in: where its credentials came from is unknown
        kaggle.download_kaggle(
            tmp_path / "kaggle", api=FakeApi(error=HTTPError(401, "Unauthorized"))
        )
    assert "Kaggle rejected the credentials (HTTP 401 Unauthorized). Generate" in str(excinfo.value)
    with pytest.raises(RuntimeError) as excinfo:
        kaggle.download_kaggle(
            tmp_path / "kaggle", api=FakeApi(error=HTTPError(500, "Internal Server Error"))
        )
    message = str(excinfo.value)
    assert "Kaggle refused the request (HTTPError: 500 Server Error" in message, message
    assert "could not reach" not in message and "credentials" not in message, message


def test_download_kaggle_lazy_import_suppresses_banner(
    tmp_path: Path,
    small_counts: dict,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture,
) -> None:
    # A stand-in `kaggle` package that, like the real one, prints a banner when imported (here a
    # careless one that includes the key) and exposes a module-level `api`.
    fake_pkg = tmp_path / "fakepkgs" / "kaggle"
    fake_pkg.mkdir(parents=True)
    (fake_pkg / "__init__.py").write_text(
        "import os, sys\n"
        "print('Kaggle banner, key =', os.environ.get('KAGGLE_KEY'))\n"
        "print('warning', os.environ.get('KAGGLE_KEY'), file=sys.stderr)\n"
        "api = None\n"
    )
    monkeypatch.setenv("KAGGLE_KEY", SECRET)
    monkeypatch.setenv("KAGGLE_USERNAME", "alice")
    monkeypatch.syspath_prepend(str(tmp_path / "fakepkgs"))
    monkeypatch.delitem(sys.modules, "kaggle", raising=False)
    fake = FakeApi()
    original = kaggle._import_kaggle_api

    def import_then_use_fake() -> FakeApi:
        module_api = original()  # really imports the stand-in package
        assert module_api is None, "the stand-in kaggle package should have been imported"
        return fake

    monkeypatch.setattr(kaggle, "_import_kaggle_api", import_then_use_fake)
    try:
        kaggle.download_kaggle(tmp_path / "kaggle")
    finally:
        sys.modules.pop("kaggle", None)  # drop the stand-in; monkeypatch restores any real one
    assert len(fake.calls) == 1, "the lazily imported API should have been used"
    out, err = capfd.readouterr()
    assert "banner" not in out, f"the kaggle import banner should be suppressed: {out!r}"
    assert SECRET not in out and SECRET not in err, "a credential was printed"


# --------------------------------------------------------------------------------------------------
# Sample dataset
# --------------------------------------------------------------------------------------------------

SAMPLE_SIZE = 64


@pytest.fixture(scope="module")
def sample_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return data.make_sample_dataset(tmp_path_factory.mktemp("sample") / "sample", size=SAMPLE_SIZE)


def test_sample_dataset_contents(sample_root: Path) -> None:
    splits = data.dataset_splits(sample_root)
    assert set(splits) == {"train", "test"}, f"sample should have train and test: {splits}"
    train, test = data.find_images(splits["train"]), data.find_images(splits["test"])
    assert len(train) == 40 and len(test) == 8, (
        f"expected 40 train / 8 test, got {len(train)} / {len(test)}"
    )
    assert train[0].name == "astronaut_00.png", (
        f"first training image should be colourful: {train[0].name}"
    )
    photo = lambda p: p.name.rsplit("_", 1)[0]  # noqa: E731
    train_photos, test_photos = {photo(p) for p in train}, {photo(p) for p in test}
    assert test_photos == set(data.SAMPLE_TEST_PHOTOS), f"test photos: {test_photos}"
    assert not train_photos & test_photos, (
        f"test photos must be held out of train: {train_photos & test_photos}"
    )
    assert len(test_photos) >= 8, (
        f"the test split must hold at least 8 distinct scenes: {sorted(test_photos)}"
    )
    assert "motorcycle_right" not in train_photos, (
        "the stereo pair's other view is the same scene as a test photo"
    )
    # no test scene is a crop of a training photo: compare every test image with every training crop
    train_arrays = [np.asarray(Image.open(p), float) for p in train]
    for path in test:
        test_array = np.asarray(Image.open(path), float)
        closest = min(np.abs(test_array - t).mean() for t in train_arrays)
        assert closest > 10, (
            f"{path.name} looks like a training crop (mean difference {closest:.1f})"
        )
    for path in train[::7] + test[::3]:
        with Image.open(path) as image:
            assert image.mode == "RGB", f"{path.name} is {image.mode}, not RGB"
            array = np.asarray(image)
        assert array.shape == (SAMPLE_SIZE, SAMPLE_SIZE, 3) and array.dtype == np.uint8, (
            f"{path.name}: {array.shape} {array.dtype}"
        )
    first = np.asarray(Image.open(train[0])).astype(int)
    assert np.abs(first[..., 0] - first[..., 2]).mean() > 10, "astronaut_00 should not be grayscale"
    hidden = [p.name for p in sample_root.rglob(".*")]
    assert hidden == [".sample-complete.json"], f"temporary files left behind: {hidden}"


def test_sample_dataset_idempotent(sample_root: Path) -> None:
    files = sorted(sample_root.rglob("*.png"))
    before = {p: p.stat().st_mtime_ns for p in files}
    assert data.make_sample_dataset(sample_root, size=SAMPLE_SIZE) == sample_root, (
        "should return the target"
    )
    after = {p: p.stat().st_mtime_ns for p in sorted(sample_root.rglob("*.png"))}
    assert after == before, "a complete sample dataset must not be rewritten"


def test_sample_dataset_repairs_interrupted_build(sample_root: Path, tmp_path: Path) -> None:
    copy = tmp_path / "sample"
    shutil.copytree(sample_root, copy)
    reference = (copy / "train" / "hubble_deep_field_03.png").read_bytes()
    (copy / "train" / "hubble_deep_field_03.png").unlink()  # as if interrupted before this file
    (copy / "train" / "stray.png").write_bytes(b"x")
    data.make_sample_dataset(copy, size=SAMPLE_SIZE)
    assert (copy / "train" / "hubble_deep_field_03.png").read_bytes() == reference, (
        "rebuild should be deterministic"
    )
    assert not (copy / "train" / "stray.png").exists(), (
        "stray files in the managed folder should go"
    )
    assert len(data.find_images(copy)) == 48, "rebuilt dataset should be complete"


def test_sample_dataset_rejects_bad_size(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="size"):
        data.make_sample_dataset(tmp_path / "s", size=2)


# --------------------------------------------------------------------------------------------------
# get_dataset
# --------------------------------------------------------------------------------------------------


def test_get_dataset_sources(sample_root: Path, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    shutil.copytree(sample_root, data_dir / "sample")
    stamp = (data_dir / "sample" / "train" / "astronaut_00.png").stat().st_mtime_ns
    root = data.get_dataset("sample", data_dir=data_dir, size=SAMPLE_SIZE)
    assert root == data_dir / "sample", f"sample root should be data_dir/sample, got {root}"
    assert (root / "train" / "astronaut_00.png").stat().st_mtime_ns == stamp, (
        "complete sample rebuilt"
    )

    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "cat.jpg").write_bytes(png_bytes())
    assert data.get_dataset(str(mine)) == mine, "an existing folder should be used as is"
    assert data.get_dataset(mine) == mine, "a Path should work too"
    with pytest.raises(TypeError, match="size"):
        data.get_dataset(mine, size=64)

    with pytest.raises(ValueError) as excinfo:
        data.get_dataset("imagenet", data_dir=data_dir)
    message = str(excinfo.value)
    assert "imagenet" in message and "sample" in message and "kaggle" in message, (
        f"unknown source error should list the choices: {message}"
    )
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="no images"):
        data.get_dataset(empty)


def test_get_dataset_auto_without_credentials_is_the_sample(
    sample_root: Path, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    shutil.copytree(sample_root, data_dir / "sample")
    # The fixture's HOME is empty and no KAGGLE_* variable is set: no credentials anywhere.
    assert data.resolve_source("auto") == "sample", (
        "without credentials 'auto' should be the sample"
    )
    root = data.get_dataset("auto", data_dir=data_dir, size=SAMPLE_SIZE)
    assert root == data_dir / "sample", (
        f"'auto' without credentials should give the sample, got {root}"
    )
    assert not (data_dir / "kaggle").exists(), "'auto' without credentials must not try Kaggle"


@pytest.mark.parametrize("credentials", ["kaggle.json in HOME", "environment variables"])
def test_get_dataset_auto_with_credentials_downloads_from_kaggle(
    tmp_path: Path,
    isolated_home: Path,
    small_counts: dict,
    monkeypatch: pytest.MonkeyPatch,
    credentials: str,
) -> None:
    if credentials == "kaggle.json in HOME":
        _write_kaggle_json(isolated_home / ".kaggle")
    else:
        monkeypatch.setenv("KAGGLE_USERNAME", "alice")
        monkeypatch.setenv("KAGGLE_KEY", SECRET)
    assert data.resolve_source("auto") == "kaggle", f"{credentials}: 'auto' should choose Kaggle"
    api = FakeApi()
    root = data.get_dataset("auto", data_dir=tmp_path / "data", api=api)
    assert root == tmp_path / "data" / "kaggle", (
        f"{credentials}: 'auto' should land in data_dir/kaggle: {root}"
    )
    assert len(api.calls) == 1 and api.calls[0]["dataset"] == kaggle.KAGGLE_DATASET, api.calls
    assert data.dataset_splits(root) == {"train": root / "train_color", "test": root / "test_color"}
    assert not (tmp_path / "data" / "sample").exists(), (
        "'auto' with credentials must not build the sample"
    )


# --------------------------------------------------------------------------------------------------
# Unwritable data folders: one line naming the folder, before any work
# --------------------------------------------------------------------------------------------------


def _refuse_probe(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    """The probe file in ``folder`` fails as in a read-only folder (even for root, who bypasses modes)."""
    from colored.io import files as fileio

    real = fileio.tempfile.mkstemp

    def mkstemp(*args, dir=None, **kwargs):  # noqa: A002 - tempfile's own name
        if dir is not None and Path(dir) == folder:
            raise PermissionError(13, "Permission denied")
        return real(*args, dir=dir, **kwargs)

    monkeypatch.setattr(fileio.tempfile, "mkstemp", mkstemp)


def test_sample_dataset_unwritable_folder_is_one_line_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from colored.io.files import OutputDirError

    blocker = tmp_path / "data"
    blocker.write_text("a file where the data folder should be")
    with pytest.raises(OutputDirError) as caught:
        data.get_dataset("sample", data_dir=blocker, size=SAMPLE_SIZE)
    assert str(caught.value) == (
        f"cannot write to the data folder {blocker / 'sample'} ({blocker} is a file, not a "
        "folder): choose another --data-dir (Python: data_dir=...)"
    ), str(caught.value)
    target = tmp_path / "ro" / "sample"
    _refuse_probe(monkeypatch, target)
    with pytest.raises(OutputDirError, match=r"\(Permission denied\): choose another --data-dir"):
        data.make_sample_dataset(target, size=SAMPLE_SIZE)
    assert not list(target.rglob("*.png")), (
        "nothing may be built in a folder that cannot be written"
    )


def test_cli_download_unwritable_data_dir_exits_2_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    from colored import cli

    folder = tmp_path / "data"
    _refuse_probe(monkeypatch, folder / "sample")
    assert cli.main(["download", "--source", "sample", "--data-dir", str(folder)]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"colored download: error: cannot write to the data folder {folder / 'sample'} (Permission "
        "denied): choose another --data-dir (Python: data_dir=...)\n"
    ), err


def test_complete_sample_in_a_read_only_folder_is_still_used(
    sample_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("a complete dataset needs no writing: the folder must not be probed")

    monkeypatch.setattr(data, "ensure_writable_dir", refuse)
    assert data.make_sample_dataset(sample_root, size=SAMPLE_SIZE) == sample_root


@pytest.mark.parametrize("case", ["parent is a file", "target is a file", "permission denied"])
def test_download_kaggle_unwritable_folder_fails_before_downloading(
    tmp_path: Path, small_counts: dict, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    from colored.io.files import OutputDirError

    api = FakeApi()
    if case == "parent is a file":
        (tmp_path / "data").write_text("not a folder")  # i.e. --data-dir names a file
        target, reason = tmp_path / "data" / "kaggle", "it exists and is a file"
        where = target.parent
    elif case == "target is a file":
        target, reason = tmp_path / "kaggle", "it exists and is a file"
        target.write_text("not a folder")
        where = target
    else:
        target, reason = tmp_path / "data" / "kaggle", "Permission denied"
        where = target.parent
        _refuse_probe(monkeypatch, where)
    with pytest.raises(OutputDirError) as caught:
        kaggle.download_kaggle(target, api=api)
    assert str(caught.value) == (
        f"cannot write to the data folder {where} ({reason}): choose another --data-dir "
        "(Python: data_dir=...)"
    ), str(caught.value)
    assert api.calls == [], "nothing may be downloaded into a folder that cannot take it"


def test_validation_split_is_a_fixed_hash_of_names(tmp_path: Path) -> None:
    from colored.data import VALIDATION_PER_MILLE, find_images, is_validation, split_validation

    names = [f"set{i % 7}/photo_{i:05d}.jpg" for i in range(20000)]
    share = sum(map(is_validation, names)) / len(names)
    assert abs(share - VALIDATION_PER_MILLE / 1000) < 0.005, f"validation share {share:.4f}"
    assert [is_validation(n) for n in names[:500]] == [is_validation(n) for n in names[:500]], (
        "deterministic"
    )
    assert is_validation("a.jpg", per_mille=1000) and not is_validation("a.jpg", per_mille=0)
    for i in range(60):
        (tmp_path / "sub").mkdir(exist_ok=True)
        (tmp_path / ("sub" if i % 2 else "") / f"img_{i}.png").write_bytes(b"")
    train, validation = split_validation(tmp_path, per_mille=300)
    assert sorted(train + validation) == sorted(find_images(tmp_path)) and not set(train) & set(
        validation
    )
    assert all(is_validation(p.relative_to(tmp_path).as_posix(), 300) for p in validation)
    assert 5 < len(validation) < 35, "about 30 % of 60"
