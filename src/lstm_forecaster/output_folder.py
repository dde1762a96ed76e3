"""The output folder of `train`: checked before training, locked while it is written, debris cleaned.

`claim_output(folder)` is called before any data is read or any epoch is run:

- the path must be usable: no part of it is an existing file (`runs/notes.txt/sub`), and the first
  existing folder above it is writable;
- a lock file `.NAME.lock` beside the folder is taken (`flock`, released when the run ends or its
  process dies): a second run with the same `--output` stops at once, saying which process holds it;
- temporary folders left by a killed run (`.NAME.tmp-PID`, `.NAME.old-PID` of a process that no
  longer exists) are removed.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: the lock file is created exclusively instead
    fcntl = None


class OutputLock:
    """A held lock on an output folder; `release()` it when the folder is written (or the run failed)."""

    def __init__(self, path: Path, fd: int):
        self.path = path
        self._fd = fd

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()  # while still holding it: a waiting run then locks a fresh file
        os.close(self._fd)
        self._fd = None


def lock_path(output_dir: Path) -> Path:
    """`.NAME.lock` beside the output folder."""
    return output_dir.parent / f".{output_dir.name}.lock"


def check_output_path(output_dir: str | Path) -> None:
    """Raise `ValueError` unless a folder can be written at `output_dir` (checked before training)."""
    output_dir = Path(output_dir)
    if output_dir.exists() and not output_dir.is_dir():
        raise ValueError(f"--output {output_dir} is a file; give a folder name")
    for parent in output_dir.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ValueError(f"--output {output_dir}: {parent} is a file, not a folder")
            if not os.access(parent, os.W_OK | os.X_OK):
                raise ValueError(f"--output {output_dir}: cannot write in {parent} (permission denied)")
            return


def claim_output(output_dir: str | Path, *, replace: bool = False) -> OutputLock:
    """Check the path, lock it for this process, and clean what dead runs left beside it.

    Parameters
    ----------
    output_dir : str or Path
        The folder `train` will write.
    replace : bool
        Whether an existing folder may be replaced (`--overwrite`, `--resume`).

    Raises
    ------
    ValueError
        When the path is unusable, another run holds it, or it exists and `replace` is False.
    """
    output_dir = Path(output_dir)
    check_output_path(output_dir)
    output_dir.parent.mkdir(parents=True, exist_ok=True)
    lock = _acquire(lock_path(output_dir), output_dir)
    if output_dir.exists() and not replace:
        lock.release()
        raise ValueError(f"--output {output_dir} exists; pass --overwrite to replace it, or choose another folder")
    clean_stale_temporaries(output_dir)
    return lock


def _acquire(path: Path, output_dir: Path) -> OutputLock:
    if fcntl is None:
        return _held(path, _exclusive(path, output_dir))
    for _ in range(5):  # a released lock file is unlinked: lock the file that is there now
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise ValueError(
                f"--output {output_dir} is in use by another training run (process {holder}); "
                "wait for it to finish or choose another folder"
            ) from None
        try:
            current = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            current = False
        if current:
            return _held(path, fd)
        os.close(fd)
    raise ValueError(f"--output {output_dir}: could not lock {path}; another run keeps replacing it")


def _held(path: Path, fd: int) -> OutputLock:
    os.ftruncate(fd, 0)
    os.write(fd, str(os.getpid()).encode())
    return OutputLock(path, fd)


def _exclusive(path: Path, output_dir: Path) -> int:
    """Without `flock`: create the lock file exclusively; a lock of a dead process is taken over."""
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        holder = path.read_text(errors="replace").strip()
        if holder.isdigit() and not pid_alive(int(holder)):
            path.unlink()
            return os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
        raise ValueError(
            f"--output {output_dir} is in use by another training run (process {holder or 'unknown'}); "
            "wait for it to finish or choose another folder"
        ) from None


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists (one of another user counts as alive)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def clean_stale_temporaries(output_dir: Path) -> list[Path]:
    """Remove `.NAME.tmp-PID` / `.NAME.old-PID` folders beside `output_dir` whose process is gone; returns them."""
    pattern = re.compile(rf"^\.{re.escape(output_dir.name)}\.(?:tmp|old)-(\d+)$")
    removed = []
    for path in output_dir.parent.iterdir():
        match = pattern.match(path.name)
        if match and int(match.group(1)) != os.getpid() and not pid_alive(int(match.group(1))):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
            removed.append(path)
    return removed


@contextlib.contextmanager
def staged_folder(output_dir: str | Path, merge: bool = False) -> Iterator[Path]:
    """Yield an empty temp folder beside `output_dir` to write into; on success it becomes `output_dir`.

    Every file is made world-readable (a folder is meant to be shared and served), then the temp
    folder replaces `output_dir` (`replace_folder`) or, with `merge`, each file is moved into it. On
    an error nothing is left behind and `output_dir` is as it was.
    """
    output_dir = Path(output_dir)
    output_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = output_dir.parent / f".{output_dir.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        yield tmp
        for path in tmp.iterdir():
            path.chmod(0o644)
        if merge:
            output_dir.mkdir(exist_ok=True)
            for path in tmp.iterdir():
                os.replace(path, output_dir / path.name)
        else:
            tmp.chmod(0o755)
            replace_folder(tmp, output_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def replace_folder(tmp: Path, output_dir: Path) -> None:
    """Rename the complete folder `tmp` to `output_dir`, replacing an existing one only once the new one
    is complete (the old one is moved aside, then removed)."""
    if output_dir.exists():
        old = output_dir.parent / f".{output_dir.name}.old-{os.getpid()}"
        os.replace(output_dir, old)
        os.replace(tmp, output_dir)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, output_dir)
