"""Throughput of the openai annotator against the local fake server with a fixed latency.

The server runs in its own process (so its threads do not share our GIL) and answers every call
after L seconds. For each concurrency c the annotator sends one round of calls through the real
openai client and records each call in a DuckDB file, exactly as in a run. Printed per c:
achieved calls/s, the ideal c/L, the sequential rate 1/L, and achieved / ideal (target >= 0.95
at c = 64). Each measurement is one annotate() call, so calls/s includes the per-round start
(client, connections, thread, cache lookup) and the last wave; "steady" is the rate between the
first and the last recorded completion. CPU per call is printed for the client (this process:
event loop, HTTP, recording) and for the server process. Run it on a quiet machine: the fake
server and the client share the cores, and other load shows in the figures.

usage: .venv/bin/python benchmarks/annotation_throughput.py [--latency 0.5] [--concurrency 1 8 32]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from python_jobs import warehouse  # noqa: E402
from python_jobs.annotation.base import CallContext, PairToAnnotate  # noqa: E402
from python_jobs.annotation.call_log import DuckDBCallSink  # noqa: E402
from python_jobs.annotation.openai.client import OpenAIAnnotator  # noqa: E402
from python_jobs.annotation.openai.transport import aiohttp_available  # noqa: E402
from python_jobs.config import LLMSettings  # noqa: E402
from python_jobs.warehouse.keys import pair_key  # noqa: E402


def start_server(latency: float) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "python_jobs.testing.fake_llm_serve", "--port", "0", "--latency", str(latency)],
        stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parent.parent,
    )
    assert process.stdout is not None
    return process, process.stdout.readline().strip()


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU of another process (Linux /proc); nan elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def synthetic_pairs(n: int, tag: str) -> list[PairToAnnotate]:
    pairs = []
    for i in range(n):
        a, b = f"bench:{tag}-{i}-a", f"bench:{tag}-{i}-b"
        pairs.append(PairToAnnotate(pair_key(a, b), a, f"Made-up stapler {i}", b, f"Made-up staples {i}"))
    return pairs


class MemorySink:
    """A sink keeping records in a list, to separate the HTTP path from the DuckDB writes."""

    def __init__(self) -> None:
        self.calls: list = []

    def missing_attempts(self, context, pairs):  # noqa: ANN001, ANN201
        return [(pair, attempt) for pair in pairs for attempt in range(1, context.k_calls + 1)]

    def record(self, call) -> None:  # noqa: ANN001
        self.calls.append(call)

    def record_many(self, calls) -> None:  # noqa: ANN001
        self.calls.extend(calls)

    def find_cached_many(self, cache_keys) -> dict:  # noqa: ANN001
        return {}

    def spent_usd(self, run_id: str) -> float:
        return 0.0

    def mark_sending(self, call_id, context, pair_key, attempt_index) -> None:  # noqa: ANN001
        pass

    def sent_unrecorded(self, context) -> set:  # noqa: ANN001
        return set()


def measure_memory(base_url: str, latency: float, concurrency: int, waves: int) -> tuple[int, float, float, float]:
    n_calls = max(30, waves * concurrency // 3 * 3)
    pairs = synthetic_pairs(n_calls // 3, f"m{concurrency}")
    config = LLMSettings(model="fake-llm", base_url=base_url, concurrency=concurrency, timeout_s=30, use_cache=False)
    sink = MemorySink()
    started, cpu_started = time.perf_counter(), time.process_time()
    OpenAIAnnotator(config, api_key="sk-benchmark-local").annotate(pairs, CallContext(f"mem-c{concurrency}", 1, 3), sink)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    stamps = sorted(call.created_at for call in sink.calls)
    window = (stamps[-1] - stamps[0]).total_seconds()
    steady = (len(stamps) - concurrency) / window if window and len(stamps) > concurrency else float("nan")
    return len(sink.calls), elapsed, cpu, steady


def measure(base_url: str, latency: float, concurrency: int, db_path: Path, waves: int) -> tuple[int, float, float, float]:
    """One round of `waves` x c calls (at least 30). Returns (calls, seconds, client CPU seconds,
    steady-state calls/s between the first and the last recorded completion)."""
    n_calls = max(30, waves * concurrency // 3 * 3)
    pairs = synthetic_pairs(n_calls // 3, f"c{concurrency}")
    config = LLMSettings(model="fake-llm", base_url=base_url, concurrency=concurrency,
                                   timeout_s=30, use_cache=False)
    annotator = OpenAIAnnotator(config, api_key="sk-benchmark-local")
    con = warehouse.connect(db_path)
    try:
        started, cpu_started = time.perf_counter(), time.process_time()
        annotator.annotate(pairs, CallContext(f"bench-c{concurrency}", 1, 3), DuckDBCallSink(con))
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        recorded, window = con.execute(
            "select count(*), epoch(max(created_at)) - epoch(min(created_at)) from raw.llm_calls where run_id = ?",
            [f"bench-c{concurrency}"]).fetchone()
    finally:
        con.close()
    assert recorded == len(pairs) * 3, (recorded, len(pairs) * 3)
    # The first wave completes together at ~L; after it, c calls complete per L in steady state.
    steady = (recorded - concurrency) / window if window and recorded > concurrency else float("nan")
    return recorded, elapsed, cpu, steady


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.5, help="server seconds per response (L)")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--waves", type=int, default=20, help="calls per worker in each measurement")
    parser.add_argument("--sink", choices=["duckdb", "memory"], default="duckdb",
                        help="record calls in a DuckDB file (as in a run) or in a list (HTTP path alone)")
    args = parser.parse_args()
    server, base_url = start_server(args.latency)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            db_path = Path(tmp) / "bench.duckdb"
            print(f"fake server {base_url}, latency L = {args.latency:.3f} s; calls recorded in {args.sink}; "
                  f"HTTP via {'aiohttp' if aiohttp_available() else 'httpx'}; "
                  f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
            print(f"{'c':>4} {'calls':>6} {'seconds':>8} {'calls/s':>9} {'ideal c/L':>10} {'sequential 1/L':>15} "
                  f"{'achieved/ideal':>15} {'steady calls/s':>15} {'steady/ideal':>13} {'client CPU ms/call':>19} "
                  f"{'server CPU ms/call':>19}")
            for concurrency in args.concurrency:
                server_cpu = process_cpu_seconds(server.pid)
                if args.sink == "memory":
                    calls, elapsed, cpu, steady = measure_memory(base_url, args.latency, concurrency, args.waves)
                else:
                    calls, elapsed, cpu, steady = measure(base_url, args.latency, concurrency, db_path, args.waves)
                server_cpu = process_cpu_seconds(server.pid) - server_cpu
                rate = calls / elapsed
                ideal = concurrency / args.latency
                print(f"{concurrency:>4} {calls:>6} {elapsed:>8.2f} {rate:>9.1f} {ideal:>10.1f} "
                      f"{1 / args.latency:>15.1f} {rate / ideal:>15.1%} {steady:>15.1f} {steady / ideal:>13.1%} "
                      f"{cpu / calls * 1000:>19.2f} {server_cpu / calls * 1000:>19.2f}")
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:  # SIGTERM ignored (inherited from a parent that ignores it)
            server.kill()
            server.wait()


if __name__ == "__main__":
    main()
