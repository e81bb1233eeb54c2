"""Full disks and unwritable folders: one line naming the folder, no empty files left."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from hqnn_pl.errors import ConfigurationError
from hqnn_pl.run.files import atomic_path, check_output_folder
from tests.harness import QUICK, QUICKSTART, fails_with


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 160 KB tmpfs (needs root: skipped where mounting is not allowed)."""
    folder = tmp_path / "tiny"
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=160k", "tmpfs", str(folder)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def test_a_full_disk_is_one_line_and_leaves_no_empty_file(
    tiny_disk: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    line = fails_with(
        capsys, 2, "fit", "--config", QUICKSTART, *QUICK,
        f"--trainer.default_root_dir={tiny_disk}",
    )  # fmt: skip
    assert str(tiny_disk) in line and "No space left on device" in line and "free" in line
    written = [p for p in tiny_disk.rglob("*") if p.is_file() and not p.name.endswith(".lock")]
    assert written, "the run wrote nothing: the disk was not the limit"
    assert all(p.stat().st_size > 0 for p in written), [str(p) for p in written]
    assert not [p for p in written if ".partial" in p.name]


def test_a_picture_that_does_not_fit_leaves_no_file(tiny_disk: Path) -> None:
    target = tiny_disk / "curves.png"
    with (
        pytest.raises(ConfigurationError, match="No space left"),
        atomic_path(target, "draw curves.png") as partial,
    ):
        partial.write_bytes(b"x" * 400_000)
    assert list(tiny_disk.iterdir()) == []


def test_an_output_folder_that_is_a_file_or_unwritable_is_refused(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigurationError, match="is a file"):
        check_output_folder(tmp_path / "file")
    with pytest.raises(ConfigurationError, match="cannot be written"):
        check_output_folder(tmp_path / "file" / "below")
    assert check_output_folder(tmp_path / "new").is_dir()
