"""Which files of a folder are published, and whether a file is a pickle, judged by its bytes.

A push (`lstm-forecaster push`) uploads an allow-list, never "everything in the folder":

- the model repo's own files, `MODEL_REPO_FILES` (config, weights, scaler, card, metrics,
  training arguments) and the plots the package writes, `PLOT_FILES`;
- the files the user names with `--include` (names or glob patterns relative to the folder).

Everything else is skipped and reported (a stray `.env`, a notebook, a checkpoint). A symlink is
never followed: it is skipped, and a chosen file whose resolved path leaves the folder is refused.
`deploy-space` stages its Space folder and the package source the same way, with the allow-list
`SPACE_SUFFIXES` (source, text and image files).

A file is a pickle when its bytes are one (`looks_like_pickle`): every protocol, 0 to 5 (protocols
0 and 1 have no magic byte: the opcodes are disassembled with `pickletools`, never executed, and
must form a complete, consistent program ending in STOP), a zip archive holding one (torch's
format), or gzip, bzip2 or xz content that decompresses to one. Names (`.pkl`, `.pt`, ...) count
too. Nothing is ever unpickled.
"""

from __future__ import annotations

import bz2
import fnmatch
import io
import lzma
import os
import pickletools
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

MODEL_REPO_FILES = (
    "config.json",
    "model.safetensors",
    "scaler.json",
    "README.md",
    "training_args.json",
    "metrics.json",
)
PLOT_FILES = ("forecast.png", "percent_change.png")
_STEP_PLOT = re.compile(r"^forecast_step\d+\.png$")  # the farthest step's plot of a multi-step model
SPACE_SUFFIXES = (
    ".py", ".md", ".txt", ".csv", ".json", ".yaml", ".yml", ".toml", ".css", ".js", ".html",
    ".png", ".jpg", ".jpeg", ".gif", ".svg", ".webp", ".ico",
)  # fmt: skip
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".joblib", ".ckpt", ".sav")
SKIPPED_DIRS = ("__pycache__", ".ipynb_checkpoints", "checkpoints", "checkpoint")
PICKLE_SNIFF_BYTES = 1 << 20  # how much of a file (or of its decompressed content) is inspected
_MAX_ARCHIVE_MEMBERS = 1000
_MAX_NESTING = 3  # a zip in a gzip in a zip: deeper is refused as a pickle would be


@dataclass
class FolderSelection:
    """The files of a folder to publish, and what was left out.

    Attributes:
        files: Paths relative to the folder (POSIX), sorted: these are uploaded.
        skipped: `(path, reason)` for every file or folder left out, sorted by path.
    """

    files: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def describe_skipped(self) -> str | None:
        """One line naming what was skipped and why, or None when nothing was."""
        if not self.skipped:
            return None
        by_reason: dict[str, list[str]] = {}
        for path, reason in self.skipped:
            by_reason.setdefault(reason, []).append(path)
        parts = [f"{', '.join(paths)} ({reason})" for reason, paths in by_reason.items()]
        return f"skipped {len(self.skipped)} not uploaded: " + "; ".join(parts)


def _walk(folder: Path):
    """(relative path, path) of every entry under `folder`, symlinks reported and never followed."""
    for root, dirs, names in os.walk(folder, followlinks=False):
        base = Path(root)
        for name in sorted(dirs):
            path = base / name
            if path.is_symlink() or name.startswith(".") or name in SKIPPED_DIRS:
                yield path.relative_to(folder).as_posix() + "/", path
        dirs[:] = sorted(
            d for d in dirs if not (base / d).is_symlink() and not d.startswith(".") and d not in SKIPPED_DIRS
        )
        for name in sorted(names):
            path = base / name
            yield path.relative_to(folder).as_posix(), path


def select_files(folder: str | Path, allowed, include: list[str] | tuple[str, ...] = ()) -> FolderSelection:
    """Choose the files of `folder` to publish: those `allowed(relative_path)` accepts plus `include`.

    Parameters
    ----------
    folder : str or Path
        The folder to publish.
    allowed : callable
        Takes a relative POSIX path, returns whether the allow-list holds it.
    include : list of str
        Names or glob patterns (relative to `folder`) the user asked for explicitly.

    Raises
    ------
    ValueError
        When a pattern of `include` matches no file, names a symlink, a pickle or a path outside
        the folder, or when a chosen file resolves outside the folder.
    """
    folder = Path(folder)
    root = folder.resolve()
    patterns = [_check_pattern(p) for p in include]
    matched = {p: False for p in patterns}
    selection = FolderSelection()
    for rel, path in _walk(folder):
        named = [p for p in patterns if fnmatch.fnmatchcase(rel.rstrip("/"), p)]
        for p in named:
            matched[p] = True
        if path.is_symlink():
            if named:
                raise ValueError(f"--include {named[0]} names {rel}, a symlink: a push never follows links")
            selection.skipped.append((rel, "symlink, never followed"))
            continue
        if rel.endswith("/"):
            selection.skipped.append((rel, "hidden or checkpoint folder"))
            continue
        if not (named or allowed(rel)):
            hidden = any(part.startswith(".") for part in rel.split("/"))
            selection.skipped.append((rel, "hidden file" if hidden else "not in the allow-list; add it with --include"))
            continue
        if not path.resolve().is_relative_to(root):
            raise ValueError(f"{rel} resolves to {path.resolve()}, outside {folder}: refused")
        if is_pickle(path):
            raise ValueError(
                f"{folder} holds pickled files ({rel}): loading a pickle can run arbitrary code, so it is not "
                "pushed. Keep weights in model.safetensors and the scaler in scaler.json."
            )
        selection.files.append(rel)
    unmatched = [p for p, hit in matched.items() if not hit]
    if unmatched:
        raise ValueError(f"--include {unmatched[0]} matches no file in {folder}")
    selection.skipped.sort()
    return selection


def _check_pattern(pattern: str) -> str:
    text = str(pattern).replace("\\", "/").strip()
    while text.startswith("./"):
        text = text[2:]
    if not text or text.startswith("/") or ".." in text.split("/"):
        raise ValueError(
            f"--include takes names or patterns inside the folder (e.g. notes.md, plots/*.png). Got {pattern!r}."
        )
    return text.rstrip("/")


def model_repo_file(rel: str) -> bool:
    """Whether a model repo's allow-list holds `rel` (`MODEL_REPO_FILES`, `PLOT_FILES`)."""
    return rel in MODEL_REPO_FILES or rel in PLOT_FILES or bool(_STEP_PLOT.match(rel))


def space_file(rel: str) -> bool:
    """Whether a Space's allow-list holds `rel`: a visible source, text or image file (`SPACE_SUFFIXES`)."""
    return not any(part.startswith(".") for part in rel.split("/")) and rel.lower().endswith(SPACE_SUFFIXES)


def copy_selection(folder: Path, selection: FolderSelection, target: Path) -> None:
    """Copy the chosen files into `target`, refusing any that became a symlink since they were chosen."""
    for rel in selection.files:
        destination = target / rel
        destination.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(folder / rel, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        with os.fdopen(fd, "rb") as source, open(destination, "wb") as out:
            while chunk := source.read(1 << 20):
                out.write(chunk)


# ----- pickles -------------------------------------------------------------------------------------


def is_pickle(path: str | Path) -> bool:
    """Whether a file is a pickle: by name (`PICKLE_SUFFIXES`, also compressed) or by content."""
    path = Path(path)
    name = path.name.lower()
    for ext in (".gz", ".bz2", ".xz", ".zip"):
        name = name.removesuffix(ext)
    if name.endswith(PICKLE_SUFFIXES):
        return True
    with open(path, "rb") as f:
        head = f.read(PICKLE_SNIFF_BYTES)
        truncated = bool(f.read(1))
    if head[:4] == b"PK\x03\x04":
        return _zip_holds_pickle(path)
    return looks_like_pickle(head, truncated=truncated)


def looks_like_pickle(data: bytes, *, truncated: bool = False, depth: int = 0) -> bool:
    """Whether `data` (a file's first bytes) is a pickle, possibly compressed; it is never unpickled.

    Parameters
    ----------
    data : bytes
        The first bytes of a file (up to `PICKLE_SNIFF_BYTES`).
    truncated : bool
        The file goes on after `data`: a consistent opcode stream cut short counts as a pickle.
    """
    if depth > _MAX_NESTING:
        return True
    if not data or _is_safetensors(data):
        return False
    if data[0] == 0x80 and len(data) >= 2 and 2 <= data[1] <= 5:  # PROTO 2 to 5: refused even if malformed
        return True
    decompressed = _decompress_head(data)
    if decompressed is not None:
        content, more = decompressed
        if content[:4] == b"PK\x03\x04":
            return _zip_bytes_hold_pickle(content, depth + 1)
        return looks_like_pickle(content, truncated=more, depth=depth + 1)
    if data[:4] == b"PK\x03\x04":
        return _zip_bytes_hold_pickle(data, depth + 1)
    return _is_opcode_program(data, truncated)


def _is_opcode_program(data: bytes, truncated: bool) -> bool:
    """The bytes disassemble into a consistent pickle program (stack, marks, memo) ending in STOP.

    Any protocol: 2 to 5 open with PROTO (0x80), 0 and 1 with no magic at all. For a file longer
    than `data`, a consistent program cut short by the end of `data` counts as a pickle.
    """
    try:
        pickletools.dis(data, out=io.StringIO())
    except ValueError as e:  # an unknown opcode, a stack underflow, a missing STOP, a short argument
        return truncated and any(word in str(e) for word in ("exhausted", "remain", "no newline"))
    except Exception:  # noqa: BLE001 - any other failure to disassemble: not a pickle
        return False
    return True


def _is_safetensors(data: bytes) -> bool:
    """Starts like a safetensors file: an 8-byte little-endian header length (at most 100 MB), then `{`.

    Its length can start with the bytes of PROTO (640 is 80 02 ...). No pickle starts this way: its
    bytes 3 to 7 would have to be zero with an opcode at byte 8. The file is checked by loading it.
    """
    return len(data) >= 10 and 2 <= int.from_bytes(data[:8], "little") <= 100_000_000 and data[8:9] == b"{"


def _decompress_head(data: bytes) -> tuple[bytes, bool] | None:
    """(the first decompressed bytes, whether there is more) of gzip, bzip2 or xz data; None otherwise."""
    if data[:2] == b"\x1f\x8b":
        decompressor = _GzipHead()
    elif data[:3] == b"BZh":
        decompressor = bz2.BZ2Decompressor()
    elif data[:6] == b"\xfd7zXZ\x00":
        decompressor = lzma.LZMADecompressor()
    else:
        return None
    try:
        out = decompressor.decompress(data, max_length=PICKLE_SNIFF_BYTES)
    except (OSError, EOFError, lzma.LZMAError, ValueError):
        return b"", False
    return out, not decompressor.eof or len(out) >= PICKLE_SNIFF_BYTES


class _GzipHead:
    """gzip's streaming decompressor with the interface of bz2/lzma's (`decompress(data, max_length)`, `eof`)."""

    def __init__(self):
        import zlib

        self._d = zlib.decompressobj(16 + zlib.MAX_WBITS)

    def decompress(self, data: bytes, max_length: int) -> bytes:
        return self._d.decompress(data, max_length)

    @property
    def eof(self) -> bool:
        return self._d.eof


def _zip_holds_pickle(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as archive:
            return _archive_holds_pickle(archive, 1)
    except (zipfile.BadZipFile, OSError, EOFError):
        return False


def _zip_bytes_hold_pickle(data: bytes, depth: int) -> bool:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return _archive_holds_pickle(archive, depth)
    except (zipfile.BadZipFile, OSError, EOFError):
        # A zip cut short by PICKLE_SNIFF_BYTES has no central directory: judge it by its name entries.
        return b".pkl" in data or b"data.pkl" in data


def _archive_holds_pickle(archive: zipfile.ZipFile, depth: int) -> bool:
    members = archive.infolist()
    if len(members) > _MAX_ARCHIVE_MEMBERS:
        return True
    for member in members:
        name = member.filename.lower()
        if name.endswith(PICKLE_SUFFIXES) or name.endswith((".pkl.gz", ".pickle.gz")):
            return True
        if member.is_dir():
            continue
        try:
            with archive.open(member) as f:
                head = f.read(PICKLE_SNIFF_BYTES)
                more = bool(f.read(1))
        except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, RuntimeError):
            continue
        if looks_like_pickle(head, truncated=more, depth=depth):
            return True
    return False
