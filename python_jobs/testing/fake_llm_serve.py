"""The fake OpenAI-compatible server in the foreground (`karl serve-fake-llm`,
`python -m python_jobs.testing.fake_llm_serve`): its options, whole-server faults and dialect."""

from __future__ import annotations

import argparse
import sys
import time

from python_jobs.testing.fake_llm_scripts import Fault, ServerFault, hang, trickle
from python_jobs.testing.fake_llm_server import DIALECTS, FakeLLMServer


def serve(host: str = "127.0.0.1", port: int = 8089, latency_s: float = 0.0, noise: float = 0.0,
          reject_json_schema: bool = False, dialect: str = "openai", server_fault: ServerFault | None = None) -> None:
    """Run the fake server in the foreground until interrupted; prints its base URL first."""
    server = FakeLLMServer(host=host, port=port, latency_s=latency_s, noise=noise,
                           reject_json_schema=reject_json_schema, dialect=dialect, server_fault=server_fault).start()
    print(server.base_url, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


SERVER_FAULTS = {
    "hang": lambda seconds: hang(),
    "trickle": lambda seconds: trickle(seconds or 1.0),
    "cut": lambda seconds: Fault("truncated_body"),
    "drop": lambda seconds: Fault("drop"),
    "slow": lambda seconds: Fault("slow", seconds=seconds or 5.0),
    "500": lambda seconds: Fault.http(500),
    "429": lambda seconds: Fault.http(429, retry_after=seconds or 1.0),
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8089)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per response")
    parser.add_argument("--noise", type=float, default=0.0, help="probability a call flips its label")
    parser.add_argument("--reject-json-schema", action="store_true", help="answer json_schema like an old llama.cpp")
    parser.add_argument("--dialect", choices=DIALECTS, default="openai",
                        help="llama.cpp: logprobs only with top_logprobs, unconstrained under a response_format")
    parser.add_argument("--fault", choices=sorted(SERVER_FAULTS),
                        help="hang: never answer; trickle: a byte of the body per --fault-seconds; cut: close mid-body")
    parser.add_argument("--fault-seconds", type=float, default=0.0, help="trickle: seconds a byte; slow: the delay")
    parser.add_argument("--fault-share", type=float, default=1.0,
                        help="share of calls (by call id) given the fault; below 1 the preflight is spared")
    parser.add_argument("--fault-requests", type=int, default=None,
                        help="only a call's first N requests get the fault (its retries then succeed)")
    args = parser.parse_args(argv)
    server_fault = None
    if args.fault:
        server_fault = ServerFault(SERVER_FAULTS[args.fault](args.fault_seconds), args.fault_share, args.fault_requests)
    serve(args.host, args.port, args.latency, args.noise, args.reject_json_schema, args.dialect, server_fault)


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1:])
