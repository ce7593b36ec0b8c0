"""A local stand-in for an OpenAI-compatible chat-completions server, with injectable faults.

It speaks the wire format of `POST /v1/chat/completions` over real HTTP on 127.0.0.1, so the
real openai client talks to it exactly as it would to a provider. Uses:

- tests: script faults per call (keyed by the `X-Karl-Call-Id` header the openai annotator sends)
  and count the requests the server saw;
- demos: `karl serve-fake-llm` (or `python -m python_jobs.testing.fake_llm_serve`) then `OPENAI_BASE_URL=http://127.0.0.1:PORT/v1 karl run
  --annotator openai ...` (no network, no key);
- benchmarks: a fixed latency per response.

The default "model" answers a label derived from a hash of the pair text (the same label on
every attempt), optionally flipped with probability `noise` per call seed, so runs are
deterministic and some pairs disagree. `GET /_stats` returns request counts as JSON.

Beyond chat completions it speaks what a real provider does around them:

- `logprobs: true` in a request returns per-token log-probabilities, the label digit as a token
  of its own with a probability derived from the pair text (so a test knows it in advance);
- `dialect="llama.cpp"` answers logprobs as a llama.cpp server (llama-cpp-python 0.3.x) does:
  only when the request also names `top_logprobs` (even 0), and under a response_format
  (grammar-constrained decoding) the unconstrained model's logprobs, the forced `{` at -10.5;
- faults that never end by themselves: `hang` (accepts the request, never answers) and
  `trickle` (one byte of the body a second), per call or for the whole server (`ServerFault`,
  `--fault` on the command line);
- a scripted fault can carry `x-should-retry: true|false`, the header OpenAI uses to overrule
  the status code's usual retry rule;
- `/v1/files` (multipart upload, `GET .../content`) and `/v1/batches` (create, get, list, cancel):
  a batch is processed in the background after `batch_delay_s`, each line answered as a chat
  completion (scripted faults keyed by the line's `custom_id`), with a scripted end per batch:
  completed, failed (validation), expired (only the first `partial_lines` answered, the rest in
  the error file as `batch_expired`), or never finishing (stays in_progress).
"""

from __future__ import annotations

import itertools
import json
import select
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

from python_jobs.annotation.openai.protocol import CALL_ID_HEADER
from python_jobs.testing.fake_llm_batches import BatchHandlerMixin, BatchServerMixin
from python_jobs.testing.fake_llm_scripts import (  # noqa: F401 - the scripting names tests use
    LLAMA_CPP_PYTHON_SCHEMA_ERROR,
    LLAMA_CPP_SCHEMA_ERROR,
    BatchScript,
    Fault,
    RequestLog,
    ServerFault,
    default_label,
    hang,
    is_constrained,
    label_probability,
    logprobs_for,
    trickle,
    unconstrained_logprobs_for,
)

DIALECTS = ("openai", "llama.cpp")


@dataclass
class FakeLLMServer(BatchServerMixin):
    host: str = "127.0.0.1"
    port: int = 0
    latency_s: float = 0.0
    noise: float = 0.0
    reject_json_schema: bool = False
    reject_style: str = "llama.cpp"  # llama.cpp | llama-cpp-python: the error text of the rejection
    answer: Callable[[dict[str, Any]], int] | None = None
    supports_logprobs: bool = True  # False: `logprobs` is ignored (null), as some servers do
    known_models: tuple[str, ...] | None = None  # set: other models get a 404 model_not_found
    api_key: str | None = None  # set: other bearer tokens get a 401
    batch_delay_s: float = 0.05  # how long a batch stays validating/in_progress
    dialect: str = "openai"  # openai | llama.cpp: how logprobs are answered (module docstring)
    server_fault: ServerFault | None = None  # a fault for calls not scripted one by one
    requests: list[RequestLog] = field(default_factory=list)
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    batches: dict[str, dict[str, Any]] = field(default_factory=dict)
    batch_scripts: list[BatchScript] = field(default_factory=list)  # consumed by batches in creation order
    _ids: Any = field(default_factory=itertools.count)
    _faults: dict[str, list[Fault]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stopping: threading.Event = field(default_factory=threading.Event)
    _httpd: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    # --- control ------------------------------------------------------------------------
    def script(self, call_id: str, *faults: Fault) -> None:
        """The next requests carrying this call id get these faults, in order; then normal answers."""
        with self._lock:
            self._faults.setdefault(call_id, []).extend(faults)

    def request_counts(self) -> dict[str, int]:
        with self._lock:
            counts: dict[str, int] = {}
            for log in self.requests:
                key = log.call_id or ""
                counts[key] = counts.get(key, 0) + 1
            return counts

    def requests_for(self, call_id: str) -> list[RequestLog]:
        with self._lock:
            return [log for log in self.requests if log.call_id == call_id]

    @property
    def base_url(self) -> str:
        assert self._httpd is not None, "server not started"
        return f"http://{self.host}:{self._httpd.server_address[1]}/v1"

    def start(self) -> "FakeLLMServer":
        server = self

        class Handler(_Handler):
            owner = server

        httpd = _Server((self.host, self.port), Handler)
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, name="fake-llm", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # ends hanging and trickling answers
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> "FakeLLMServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- behaviour ----------------------------------------------------------------------
    def _next_fault(self, call_id: str | None) -> Fault | None:
        with self._lock:
            queue = self._faults.get(call_id or "")
            if queue:
                return queue.pop(0)
            if self.server_fault is None:
                return None
            number = sum(1 for log in self.requests if log.call_id == call_id)  # this request's, logged already
            return self.server_fault.fault if self.server_fault.applies(call_id, number) else None

    def new_id(self, prefix: str) -> str:
        with self._lock:
            return f"{prefix}-fake-{next(self._ids)}"

    def completion(self, body: dict[str, Any], content: str | None, finish_reason: str = "stop",
                   refusal: str | None = None) -> dict[str, Any]:
        prompt_chars = sum(len(m.get("content") or "") for m in body.get("messages", []))
        completion_tokens = max(1, len(content or refusal or "") // 4)
        return {
            "id": f"chatcmpl-fake-{int(time.time() * 1e6)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "fake-llm"),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content, "refusal": refusal},
                    "finish_reason": finish_reason,
                    "logprobs": self.logprobs(body, content),
                }
            ],
            "usage": {
                "prompt_tokens": max(1, prompt_chars // 4),
                "completion_tokens": completion_tokens,
                "total_tokens": max(1, prompt_chars // 4) + completion_tokens,
            },
        }

    def logprobs(self, body: dict[str, Any], content: str | None) -> dict[str, Any] | None:
        if not content or not body.get("logprobs") or not self.supports_logprobs:
            return None
        top_n = int(body.get("top_logprobs") or 0)
        if self.dialect == "llama.cpp":
            if "top_logprobs" not in body:
                return None
            if is_constrained(body):
                return unconstrained_logprobs_for(content, top_n)
        return logprobs_for(content, label_probability(body), top_n)

    def normal_answer(self, body: dict[str, Any]) -> dict[str, Any]:
        label = self.answer(body) if self.answer else default_label(body, self.noise)
        content = json.dumps({"label": label, "reason": "fake-llm answer"})
        return self.completion(body, content)

    def check_request(self, body: dict[str, Any], authorization: str | None) -> tuple[int, dict[str, Any]] | None:
        """A provider's up-front refusals: a wrong key (401), an unknown model (404)."""
        if self.api_key is not None and (authorization or "") != f"Bearer {self.api_key}":
            return 401, {"error": {"message": "Incorrect API key provided.", "type": "invalid_request_error",
                                   "code": "invalid_api_key"}}
        model = body.get("model")
        if self.known_models is not None and model is not None and model not in self.known_models:
            return 404, {"error": {"message": f"The model `{model}` does not exist or you do not have access to it.",
                                   "type": "invalid_request_error", "code": "model_not_found"}}
        return None

    # --- files and batches --------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256
    allow_reuse_address = True


class _Handler(BatchHandlerMixin, BaseHTTPRequestHandler):
    owner: FakeLLMServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else headers and body as two writes meet delayed ACK: +40 ms a call

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass

    def _send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _hang_up(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _wait_for_client_to_leave(self, at_most_s: float | None) -> None:
        """Say nothing until the client closes its end, the server stops, or `at_most_s`."""
        deadline = None if at_most_s is None else time.monotonic() + at_most_s
        while not self.owner._stopping.is_set() and (deadline is None or time.monotonic() < deadline):
            readable, _, _ = select.select([self.connection], [], [], 0.05)
            if readable:
                try:
                    if not self.connection.recv(1, socket.MSG_PEEK):
                        return
                except OSError:
                    return

    def _trickle(self, data: bytes, seconds_per_byte: float) -> None:
        """Headers at once, then the body a byte at a time: every read the client makes is quick."""
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.flush()
        for index in range(len(data)):
            if self.owner._stopping.wait(seconds_per_byte):
                break
            self.wfile.write(data[index:index + 1])
            self.wfile.flush()
        self._hang_up()

    def _send_bytes(self, data: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _not_found(self, what: str = "not found") -> None:
        self._send_json(404, {"error": {"message": what, "type": "invalid_request_error"}})

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        if self._files_and_batches_get(self.path):
            return
        if self.path.rstrip("/").endswith("/_stats"):
            counts = self.owner.request_counts()
            self._send_json(200, {"total": sum(counts.values()), "by_call_id": counts})
        elif self.path.rstrip("/").endswith("/models"):
            refused = self.owner.check_request({}, self.headers.get("Authorization"))
            if refused is not None:
                self._send_json(*refused)
                return
            names = self.owner.known_models or ("fake-llm",)
            self._send_json(200, {"object": "list", "data": [{"id": name, "object": "model", "owned_by": "karl"} for name in names]})
        else:
            self._send_json(404, {"error": {"message": "not found", "type": "invalid_request_error"}})

    def do_POST(self) -> None:  # noqa: N802 - stdlib name
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        if self._files_and_batches_post(self.path, raw):
            return
        if self.path.split("?")[0].rstrip("/") not in ("/v1/chat/completions", "/chat/completions"):
            self._send_json(404, {"error": {"message": "not found", "type": "invalid_request_error"}})
            return
        try:
            body = json.loads(raw)
        except json.JSONDecodeError:
            self._send_json(400, {"error": {"message": "invalid JSON body", "type": "invalid_request_error"}})
            return
        call_id = self.headers.get(CALL_ID_HEADER)
        owner = self.owner
        with owner._lock:
            owner.requests.append(RequestLog(call_id, time.time(), body, self.headers.get("Authorization")))
        refused = owner.check_request(body, self.headers.get("Authorization"))
        if refused is not None:
            self._send_json(*refused)
            return
        if owner.latency_s:
            time.sleep(owner.latency_s)
        fault = owner._next_fault(call_id)
        response_format = body.get("response_format") or {}
        if fault is None and owner.reject_json_schema and response_format.get("type") == "json_schema":
            message = LLAMA_CPP_PYTHON_SCHEMA_ERROR if owner.reject_style == "llama-cpp-python" else LLAMA_CPP_SCHEMA_ERROR
            self._send_json(500, {"error": {"code": 500, "message": message, "type": "server_error"}})
            return
        try:
            self._respond(body, fault)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _respond(self, body: dict[str, Any], fault: Fault | None) -> None:
        owner = self.owner
        if fault is None:
            self._send_json(200, owner.normal_answer(body))
        elif fault.kind == "status":
            headers = {} if fault.retry_after is None else {"Retry-After": f"{fault.retry_after:g}"}
            if fault.should_retry is not None:
                headers["x-should-retry"] = "true" if fault.should_retry else "false"
            kind = "rate_limit_exceeded" if fault.status == 429 else "server_error"
            self._send_json(fault.status, {"error": {"message": f"scripted {fault.status}", "type": kind}}, headers)
        elif fault.kind == "slow":
            time.sleep(fault.seconds)
            self._send_json(200, owner.normal_answer(body))
        elif fault.kind == "malformed_body":
            self._send_json(200, b'{"id": "chatcmpl-broken", "choices": [{"message": {"content": "{\\"lab')
        elif fault.kind == "content":
            self._send_json(200, owner.completion(body, fault.content))
        elif fault.kind == "refusal":
            self._send_json(200, owner.completion(body, None, refusal=fault.content or "I can't help with that."))
        elif fault.kind == "truncated_output":
            self._send_json(200, owner.completion(body, '{"label": 2, "reason": "the toner is the consum', "length"))
        elif fault.kind == "truncated_body":
            data = json.dumps(owner.normal_answer(body)).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self._hang_up()
        elif fault.kind == "echo_auth":
            # What some providers do on a bad key: quote it back. Callers must redact it.
            key = (self.headers.get("Authorization") or "").removeprefix("Bearer ")
            self._send_json(401, {"error": {"message": f"Incorrect API key provided: {key}", "type": "invalid_request_error"}})
        elif fault.kind == "drop":
            self._hang_up()
        elif fault.kind == "hang":
            self._wait_for_client_to_leave(fault.seconds or None)
            self._hang_up()
        elif fault.kind == "trickle":
            self._trickle(json.dumps(owner.normal_answer(body)).encode(), fault.seconds or 1.0)
        else:
            raise ValueError(f"unknown fault kind {fault.kind!r}")
