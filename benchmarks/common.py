"""Helpers shared by the benchmark scripts: the machine, peak memory, medians and spreads, tables.

Nothing here measures anything by itself; `peers.py`, `scaling.py` and `accuracy.py` import it.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import shlex
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def machine() -> dict:
    """What the figures were measured on: CPU model, cores, memory, load, library versions."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_gib = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_gib = round(int(line.split()[1]) / 2**20, 1)
                break
    except OSError:
        pass
    import torch

    return {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": memory_gib,
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
    }


def command_line() -> str:
    """The command that is running, as a user would type it from the repository root."""
    script = Path(sys.argv[0]).resolve()
    if script.is_relative_to(ROOT):
        script = script.relative_to(ROOT)
    python = Path(sys.executable)
    python = python.relative_to(ROOT) if python.is_relative_to(ROOT) else Path(python.name)
    return shlex.join([str(python), str(script), *sys.argv[1:]])


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far (ru_maxrss), in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mib() -> float:
    """Current resident memory of this process, in MiB."""
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def timed(fn, *args, **kwargs) -> tuple[float, object]:
    """(seconds, result) of one call."""
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - start, result


def summary(values: list[float]) -> dict:
    """Median, min, max and count of repeated measurements."""
    values = [float(v) for v in values if v is not None]
    if not values:
        return {"median": None, "min": None, "max": None, "n": 0}
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def fmt(stats: dict, scale: float = 1.0, digits: int = 3) -> str:
    """'median [min-max]' of a `summary`, each value times `scale`."""
    if not stats or stats.get("median") is None:
        return "n/a"

    def one(v: float) -> str:
        v = v * scale
        return f"{v:,.{digits}g}" if abs(v) < 10**digits else f"{v:,.0f}"

    if stats["n"] == 1:
        return one(stats["median"])
    return f"{one(stats['median'])} [{one(stats['min'])}-{one(stats['max'])}]"


def ratio(a: dict, b: dict) -> float | None:
    """Ratio of two summaries' medians."""
    if not a or not b or a.get("median") is None or not b.get("median"):
        return None
    return a["median"] / b["median"]


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    """A GitHub-flavoured Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def run_worker(args: list[str], timeout: float, log: Path) -> dict:
    """Run `python <args>` in a fresh process; its last stdout line is a JSON object: return it.

    stderr (library warnings, progress) goes to `log`. Raises RuntimeError with the log's tail when
    the process fails or prints no JSON.
    """
    with open(log, "ab") as err:
        try:
            done = subprocess.run(
                [sys.executable, *args], stdout=subprocess.PIPE, stderr=err, timeout=timeout, cwd=ROOT, check=False
            )
        except subprocess.TimeoutExpired as e:
            raise RuntimeError(f"{' '.join(args)} ran past {timeout:.0f} s") from e
    lines = [line for line in done.stdout.decode().splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
        raise RuntimeError(f"{' '.join(args)} failed (exit {done.returncode}):\n{tail}")
    return json.loads(lines[-1])


def network_record(config, batch: int) -> dict:
    """The network a benchmark timed, for its JSON: the ensemble, cell, sizes, head, window and batch."""
    return {
        "ensemble": config.ensemble,
        "cell": config.cell,
        "hidden_sizes": config.hidden_sizes,
        "head": config.head,
        "context_length": config.context_length,
        "features": len(config.features),
        "batch": batch,
    }


def write_json(path: Path, payload: dict) -> None:
    """Write `payload` as indented JSON, creating the folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2, allow_nan=False) + "\n")
    os.replace(tmp, path)


def check_device(device: str) -> None:
    """Exit with a readable line when `--device cuda` is asked for and no GPU is visible."""
    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            sys.exit(
                "--device cuda: no CUDA GPU is visible to torch here; run on a machine with one, or use --device cpu"
            )


def start_run(args) -> tuple[dict, Path]:
    """Print and return the run's metadata (command, machine, arguments); an empty log beside `args.json`."""
    meta = {"command": command_line(), "machine": machine(), "args": vars(args)}
    print(f"{meta['command']}\n{json.dumps(meta['machine'])}", flush=True)
    log = Path(args.json).with_suffix(".log")
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("")
    return meta, log
