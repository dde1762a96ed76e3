"""Load on the Space: many concurrent `/forecast` calls against a local server, all must succeed.

    python benchmarks/space_load.py                                  # runs/default (make run trains it)
    python benchmarks/space_load.py --model tests/golden/tiny-quantile --calls 50 --clients 50
    python benchmarks/space_load.py --upload tests/data/Binance_ETHUSDT_1h_zero_volume.csv

The app (`lstm_forecaster.app.build_demo`) is served in its own process on 127.0.0.1, as `lstm-forecaster
serve` serves it, so the clients here do not share its interpreter. First a baseline in the same run:
`--baseline` calls one after another from one client (each call alone on the server). Then `--calls`
calls from `--clients` threads, each with its own `gradio_client.Client`, all started together. Every
call must return steps 1..`horizon` of every asset (all the data's assets, or `--symbol`) with positive
forecasts; the script exits 1 otherwise. It prints
the latency of each call (p50, p95, max, from submit to result, milliseconds), the wall time and the
throughput of the concurrent run, and the ratio of the concurrent p50 to the baseline's p50.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

SERVER = """
import sys
from lstm_forecaster.app import build_demo
demo = build_demo(sys.argv[1])
demo.launch(server_name="127.0.0.1", server_port=int(sys.argv[2]), share=False, quiet=False)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(model: str, port: int, log: Path, timeout: float) -> subprocess.Popen:
    """The app in its own process; returns once it answers on `port`."""
    # One torch thread, as `make run` serves it (Makefile: OMP_NUM_THREADS=1), unless set otherwise.
    env = {
        **os.environ,
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
        "GRADIO_ANALYTICS_ENABLED": "False",
        "HF_HUB_DISABLE_TELEMETRY": "1",
    }
    err = open(log, "ab")  # noqa: SIM115 - the server writes to it until it is stopped
    process = subprocess.Popen(
        [sys.executable, "-c", SERVER, model, str(port)], stdout=err, stderr=err, env=env, cwd=common.ROOT
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited ({process.returncode}):\n{log.read_text()[-2000:]}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return process
        time.sleep(0.2)
    process.terminate()
    raise RuntimeError(f"the server did not answer within {timeout:.0f} s")


def new_client(url: str, timeout: float):
    """A `gradio_client.Client` whose HTTP calls wait up to `timeout` seconds (a queued call waits its turn)."""
    from gradio_client import Client

    return Client(url, verbose=False, download_files=False, httpx_kwargs={"timeout": timeout})


def one_call(client, upload: str | None, horizon: int, symbol: str | None) -> tuple[float, int]:
    """(seconds, records) of one `/forecast` call; raises unless every asset has steps 1..horizon."""
    from gradio_client import handle_file

    start = time.perf_counter()
    records = client.predict(handle_file(upload) if upload else None, horizon, symbol, api_name="/forecast")
    seconds = time.perf_counter() - start
    steps = [r["step"] for r in records]
    if not records or steps != list(range(1, horizon + 1)) * (len(records) // horizon):
        raise RuntimeError(f"unexpected answer: {records!r}"[:300])
    if not all(r["forecast"] > 0 for r in records):
        raise RuntimeError(f"a forecast that is not positive: {records!r}"[:300])
    return seconds, len(records)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def stats_ms(seconds: list[float]) -> dict:
    ms = [1e3 * s for s in seconds]
    return {
        "p50": statistics.median(ms),
        "p95": percentile(ms, 0.95),
        "max": max(ms),
        "n": len(ms),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="runs/default", help="model folder or Hub repo id")
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--clients", type=int, default=50, help="threads, each with its own client")
    parser.add_argument("--baseline", type=int, default=10, help="sequential calls first")
    parser.add_argument("--horizon", type=int, default=None, help="default: the model's horizon")
    parser.add_argument("--upload", default=None, help="a CSV/Parquet file sent with every call")
    parser.add_argument("--symbol", default=None, help="the one asset to forecast (default: every asset of the data)")
    parser.add_argument("--json", default="benchmarks/results/space_load.json")
    parser.add_argument("--timeout", type=float, default=300)
    args = parser.parse_args()
    if not Path(args.model).is_dir() and "/" not in args.model:
        sys.exit(f"--model {args.model}: no such folder (train runs/default with `make run`, or give a folder)")
    if args.horizon is None:
        args.horizon = json.loads((Path(args.model) / "config.json").read_text())["horizon"]
    meta, log = common.start_run(args)

    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    server = start_server(args.model, port, log, args.timeout)
    try:
        first = new_client(url, args.timeout)
        _, records = one_call(first, args.upload, args.horizon, args.symbol)  # warm-up: imports, first forward pass
        baseline = [one_call(first, args.upload, args.horizon, args.symbol)[0] for _ in range(args.baseline)]
        # Every client connects before the clock starts: the figure is the calls', not the connections'.
        clients = [new_client(url, args.timeout) for _ in range(args.clients)]

        failures: list[str] = []
        lock = threading.Lock()
        gate = threading.Barrier(min(args.clients, args.calls))

        def call(i: int) -> float | None:
            if i < gate.parties:
                gate.wait(timeout=args.timeout)
            try:
                return one_call(clients[i % args.clients], args.upload, args.horizon, args.symbol)[0]
            except Exception as e:  # noqa: BLE001 - every failure is counted and reported
                with lock:
                    failures.append(f"call {i}: {type(e).__name__}: {e}"[:300])
                return None

        start = time.perf_counter()
        with ThreadPoolExecutor(args.clients) as pool:
            results = list(pool.map(call, range(args.calls), timeout=args.timeout))
        wall = time.perf_counter() - start
    finally:
        server.terminate()
        server.wait(timeout=30)

    ok = [s for s in results if s is not None]
    base, loaded = stats_ms(baseline), stats_ms(ok) if ok else None
    payload = {
        **meta,
        "baseline_sequential_ms": base,
        "concurrent_ms": loaded,
        "records_per_call": records,
        "succeeded": len(ok),
        "failed": len(failures),
        "failures": failures[:10],
        "wall_seconds": wall,
        "calls_per_second": len(ok) / wall,
        "p50_ratio_to_baseline": loaded["p50"] / base["p50"] if loaded else None,
    }
    common.write_json(Path(args.json), payload)
    print(
        common.markdown_table(
            ["run", "calls", "succeeded", "p50 (ms)", "p95 (ms)", "max (ms)"],
            [
                [
                    "sequential (baseline)",
                    base["n"],
                    base["n"],
                    f"{base['p50']:.0f}",
                    f"{base['p95']:.0f}",
                    f"{base['max']:.0f}",
                ],
                [
                    f"{args.calls} concurrent, {args.clients} clients",
                    args.calls,
                    len(ok),
                    *((f"{loaded[k]:.0f}" for k in ("p50", "p95", "max")) if loaded else ("n/a",) * 3),
                ],
            ],
        )
    )
    print(
        f"concurrent wall time {wall:.2f} s, {len(ok) / wall:.1f} calls/s; "
        f"p50 concurrent / p50 sequential = {payload['p50_ratio_to_baseline']:.1f}x"
        if loaded
        else "no call succeeded"
    )
    for failure in failures[:10]:
        print(failure, file=sys.stderr)
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
