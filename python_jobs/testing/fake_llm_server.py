"""A local stand-in for an OpenAI-compatible chat-completions server, with injectable faults.

It speaks the wire format of `POST /v1/chat/completions` over real HTTP on 127.0.0.1, so the
real openai client talks to it exactly as it would to a provider. Uses:

- tests: script faults per call (keyed by the `X-Karl-Call-Id` header the openai annotator sends)
  and count the requests the server saw;
- demos: `karl serve-fake-llm` then `OPENAI_BASE_URL=http://127.0.0.1:PORT/v1 karl run
  --annotator openai ...` (no network, no key);
- benchmarks: a fixed latency per response.

The default "model" answers a label derived from a hash of the pair text (the same label on
every attempt), optionally flipped with probability `noise` per call seed, so runs are
deterministic and some pairs disagree. `GET /_stats` returns request counts as JSON.

Beyond chat completions it speaks what a real provider does around them:

- `logprobs: true` in a request returns per-token log-probabilities, the label digit as a token
  of its own with a probability derived from the pair text (so a test knows it in advance);
- a scripted fault can carry `x-should-retry: true|false`, the header OpenAI uses to overrule
  the status code's usual retry rule;
- `/v1/files` (multipart upload, `GET .../content`) and `/v1/batches` (create, get, list, cancel):
  a batch is processed in the background after `batch_delay_s`, each line answered as a chat
  completion (scripted faults keyed by the line's `custom_id`), with a scripted end per batch:
  completed, failed (validation), expired (only the first `partial_lines` answered, the rest in
  the error file as `batch_expired`), or never finishing (stays in_progress).
"""

from __future__ import annotations

import argparse
import email.parser
import hashlib
import itertools
import json
import math
import random
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

from python_jobs.annotation.openai.protocol import CALL_ID_HEADER  # noqa: E402

LLAMA_CPP_SCHEMA_ERROR = 'response_format type must be one of "text" or "json_object", but got: json_schema'
# What llama-cpp-python's server (0.3.x) answers, with HTTP 500, seen against a real one.
LLAMA_CPP_PYTHON_SCHEMA_ERROR = (
    "1 validation error:\n  {'type': 'literal_error', 'loc': ('body', 'response_format', 'type'), "
    "'msg': \"Input should be 'text' or 'json_object'\", 'input': 'json_schema'}"
)


@dataclass(frozen=True)
class Fault:
    """One scripted reaction to one request.

    kind: status (HTTP error `status`, optional retry-after) | slow (sleep `seconds`, then a normal
    answer) | malformed_body (200 with a body that is not JSON) | content (a 200 answer whose
    message text is `content`) | refusal (message.refusal set) | truncated_output (finish_reason
    length, cut JSON) | truncated_body (Content-Length promises more than is sent, then close) |
    drop (close the connection without a response) | echo_auth (401 quoting the API key back).
    """

    kind: str
    status: int = 500
    retry_after: float | None = None
    seconds: float = 0.0
    content: str | None = None
    should_retry: bool | None = None  # sent as the x-should-retry header when set

    @staticmethod
    def http(status: int, retry_after: float | None = None, should_retry: bool | None = None) -> "Fault":
        return Fault("status", status=status, retry_after=retry_after, should_retry=should_retry)

    @staticmethod
    def label(value: Any, reason: str = "scripted") -> "Fault":
        return Fault("content", content=json.dumps({"label": value, "reason": reason}))


@dataclass
class RequestLog:
    call_id: str | None
    received_at: float
    body: dict[str, Any] | None
    authorization: str | None


def default_label(body: dict[str, Any], noise: float = 0.0) -> int:
    """Deterministic pseudo-answer: a hash of the user message, flipped with probability noise."""
    user = "".join(m.get("content") or "" for m in body.get("messages", []) if m.get("role") == "user")
    label = 1 + int(hashlib.sha256(user.encode()).hexdigest(), 16) % 9
    if noise > 0:
        rng = random.Random(f"{user}|{body.get('seed')}|{body.get('model')}")
        if rng.random() < noise:
            label = 1 + (label + rng.randrange(1, 9) - 1) % 9
    return label


def label_probability(body: dict[str, Any]) -> float:
    """The fake model's probability of the label it answers, in [0.40, 0.99]: from the pair text,
    so the same pair always has the same confidence and tests can compute it."""
    user = "".join(m.get("content") or "" for m in body.get("messages", []) if m.get("role") == "user")
    fraction = int(hashlib.sha256(f"p|{user}".encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return round(0.40 + 0.59 * fraction, 4)


def logprobs_for(content: str, label_probability: float, top_n: int = 0) -> dict[str, Any]:
    """OpenAI's `choices[].logprobs` for a JSON answer: the label digit is one token (as in the
    real tokenizers), every other token certain. top_logprobs spreads the rest over other codes."""
    tokens: list[dict[str, Any]] = []
    marker = '"label": '
    cut = content.find(marker)
    pieces = [content] if cut < 0 else [content[: cut + len(marker)], content[cut + len(marker)], content[cut + len(marker) + 1:]]
    for index, piece in enumerate(pieces):
        if not piece:
            continue
        is_label = cut >= 0 and index == 1
        logprob = math.log(label_probability) if is_label else 0.0
        entry: dict[str, Any] = {"token": piece, "logprob": logprob, "bytes": list(piece.encode())}
        if top_n:
            top = [{"token": piece, "logprob": logprob, "bytes": list(piece.encode())}]
            if is_label and top_n > 1:
                rest = (1 - label_probability) / (top_n - 1)
                others = [str(code) for code in range(1, 10) if str(code) != piece][: top_n - 1]
                top += [{"token": o, "logprob": math.log(rest), "bytes": list(o.encode())} for o in others]
            entry["top_logprobs"] = top
        else:
            entry["top_logprobs"] = []
        tokens.append(entry)
    return {"content": tokens, "refusal": None}


@dataclass
class BatchScript:
    """How one batch ends: completed | failed | expired | stuck (never finishes)."""

    outcome: str = "completed"
    partial_lines: int = 0  # expired: lines answered before the window closed


@dataclass
class FakeLLMServer:
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
    requests: list[RequestLog] = field(default_factory=list)
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    batches: dict[str, dict[str, Any]] = field(default_factory=dict)
    batch_scripts: list[BatchScript] = field(default_factory=list)  # consumed by batches in creation order
    _ids: Any = field(default_factory=itertools.count)
    _faults: dict[str, list[Fault]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
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
            return queue.pop(0) if queue else None

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
                    "logprobs": (
                        logprobs_for(content, label_probability(body), int(body.get("top_logprobs") or 0))
                        if content and body.get("logprobs") and self.supports_logprobs else None
                    ),
                }
            ],
            "usage": {
                "prompt_tokens": max(1, prompt_chars // 4),
                "completion_tokens": completion_tokens,
                "total_tokens": max(1, prompt_chars // 4) + completion_tokens,
            },
        }

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
    def add_file(self, content: bytes, filename: str, purpose: str) -> dict[str, Any]:
        file_id = self.new_id("file")
        meta = {"id": file_id, "object": "file", "bytes": len(content), "created_at": int(time.time()),
                "filename": filename, "purpose": purpose, "status": "processed"}
        with self._lock:
            self.files[file_id] = {"meta": meta, "content": content}
        return meta

    def create_batch(self, request: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self._lock:
            source = self.files.get(request.get("input_file_id") or "")
        if source is None:
            return 400, {"error": {"message": "input_file_id not found", "type": "invalid_request_error"}}
        batch_id = self.new_id("batch")
        now = int(time.time())
        batch = {
            "id": batch_id, "object": "batch", "endpoint": request.get("endpoint"), "errors": None,
            "input_file_id": request["input_file_id"], "completion_window": request.get("completion_window", "24h"),
            "status": "validating", "output_file_id": None, "error_file_id": None, "created_at": now,
            "in_progress_at": None, "expires_at": now + 86400, "finalizing_at": None, "completed_at": None,
            "failed_at": None, "expired_at": None, "cancelling_at": None, "cancelled_at": None,
            "request_counts": {"total": 0, "completed": 0, "failed": 0}, "metadata": request.get("metadata"),
        }
        with self._lock:
            script = self.batch_scripts.pop(0) if self.batch_scripts else BatchScript()
            self.batches[batch_id] = batch
        threading.Thread(target=self._run_batch, args=(batch_id, source["content"], script),
                         name=f"fake-batch-{batch_id}", daemon=True).start()
        return 200, batch

    def _run_batch(self, batch_id: str, content: bytes, script: BatchScript) -> None:
        time.sleep(self.batch_delay_s)
        lines = [json.loads(line) for line in content.decode().splitlines() if line.strip()]
        with self._lock:
            batch = self.batches[batch_id]
            batch["request_counts"]["total"] = len(lines)
            if script.outcome == "failed":
                batch.update(status="failed", failed_at=int(time.time()), errors={"object": "list", "data": [
                    {"code": "invalid_request", "message": "scripted validation failure", "line": 1}]})
                return
            batch.update(status="in_progress", in_progress_at=int(time.time()))
        if script.outcome == "stuck":
            return
        time.sleep(self.batch_delay_s)
        answered = lines if script.outcome != "expired" else lines[: script.partial_lines]
        outputs, errors = [], []
        for line in answered:
            custom_id, body = line["custom_id"], line["body"]
            with self._lock:
                self.requests.append(RequestLog(custom_id, time.time(), body, "batch"))
            fault = self._next_fault(custom_id)
            if fault is not None and fault.kind == "status":
                response = {"status_code": fault.status, "request_id": self.new_id("req"),
                            "body": {"error": {"message": f"scripted {fault.status}", "type": "server_error"}}}
            elif fault is not None and fault.kind == "content":
                response = {"status_code": 200, "request_id": self.new_id("req"), "body": self.completion(body, fault.content)}
            else:
                response = {"status_code": 200, "request_id": self.new_id("req"), "body": self.normal_answer(body)}
            outputs.append({"id": self.new_id("batch_req"), "custom_id": custom_id, "response": response, "error": None})
        for line in lines[len(answered):]:
            errors.append({"id": self.new_id("batch_req"), "custom_id": line["custom_id"], "response": None,
                           "error": {"code": "batch_expired", "message": "This request could not be executed before the completion window expired."}})
        output_file = self.add_file("".join(json.dumps(o) + "\n" for o in outputs).encode(), f"{batch_id}_output.jsonl", "batch_output") if outputs else None
        error_file = self.add_file("".join(json.dumps(e) + "\n" for e in errors).encode(), f"{batch_id}_error.jsonl", "batch_output") if errors else None
        with self._lock:
            batch = self.batches[batch_id]
            if batch["status"] == "cancelling":
                batch.update(status="cancelled", cancelled_at=int(time.time()))
            elif script.outcome == "expired":
                batch.update(status="expired", expired_at=int(time.time()))
            else:
                batch.update(status="completed", finalizing_at=int(time.time()), completed_at=int(time.time()))
            failed = sum(1 for o in outputs if o["response"]["status_code"] != 200) + len(errors)
            batch["request_counts"] = {"total": len(lines), "completed": len(outputs) - failed + len(errors), "failed": failed}
            batch["output_file_id"] = output_file["id"] if output_file else None
            batch["error_file_id"] = error_file["id"] if error_file else None

    def batch_count(self) -> int:
        with self._lock:
            return len(self.batches)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256
    allow_reuse_address = True


class _Handler(BaseHTTPRequestHandler):
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

    def _send_bytes(self, data: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _not_found(self, what: str = "not found") -> None:
        self._send_json(404, {"error": {"message": what, "type": "invalid_request_error"}})

    def _files_and_batches_get(self, path: str) -> bool:
        owner = self.owner
        parts = path.split("?")[0].rstrip("/").split("/")
        if "files" in parts:
            rest = parts[parts.index("files") + 1:]
            with owner._lock:
                stored = owner.files.get(rest[0]) if rest else None
            if stored is None:
                self._not_found("no such file")
            elif rest[1:] == ["content"]:
                self._send_bytes(stored["content"])
            else:
                self._send_json(200, stored["meta"])
            return True
        if "batches" in parts:
            rest = parts[parts.index("batches") + 1:]
            with owner._lock:
                if not rest:
                    data = sorted(owner.batches.values(), key=lambda b: b["id"], reverse=True)
                    payload: Any = {"object": "list", "data": [dict(b) for b in data], "has_more": False,
                                    "first_id": data[0]["id"] if data else None, "last_id": data[-1]["id"] if data else None}
                else:
                    batch = owner.batches.get(rest[0])
                    payload = dict(batch) if batch else None
            if payload is None:
                self._not_found("no such batch")
            else:
                self._send_json(200, payload)
            return True
        return False

    def _files_and_batches_post(self, path: str, raw: bytes) -> bool:
        owner = self.owner
        parts = path.split("?")[0].rstrip("/").split("/")
        if parts[-1] == "files":
            message = email.parser.BytesParser().parsebytes(
                f"Content-Type: {self.headers.get('Content-Type')}\r\n\r\n".encode() + raw)
            fields: dict[str, tuple[bytes, str | None]] = {}
            for part in message.get_payload() if message.is_multipart() else []:
                fields[part.get_param("name", header="content-disposition")] = (
                    part.get_payload(decode=True), part.get_filename())
            if "file" not in fields:
                self._send_json(400, {"error": {"message": "missing file", "type": "invalid_request_error"}})
                return True
            content, filename = fields["file"]
            purpose = fields.get("purpose", (b"batch", None))[0].decode()
            self._send_json(200, owner.add_file(content, filename or "upload.jsonl", purpose))
            return True
        if "batches" in parts:
            rest = parts[parts.index("batches") + 1:]
            if not rest:
                status, payload = owner.create_batch(json.loads(raw or b"{}"))
                self._send_json(status, payload)
            elif rest[1:] == ["cancel"]:
                with owner._lock:
                    batch = owner.batches.get(rest[0])
                    if batch is not None and batch["status"] in ("validating", "in_progress"):
                        batch.update(status="cancelling", cancelling_at=int(time.time()))
                if batch is None:
                    self._not_found("no such batch")
                else:
                    self._send_json(200, dict(batch))
            else:
                self._not_found()
            return True
        return False

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
        else:
            raise ValueError(f"unknown fault kind {fault.kind!r}")


def serve(host: str = "127.0.0.1", port: int = 8089, latency_s: float = 0.0, noise: float = 0.0,
          reject_json_schema: bool = False) -> None:
    """Run the fake server in the foreground until interrupted; prints its base URL first."""
    server = FakeLLMServer(host=host, port=port, latency_s=latency_s, noise=noise,
                           reject_json_schema=reject_json_schema).start()
    print(server.base_url, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8089)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per response")
    parser.add_argument("--noise", type=float, default=0.0, help="probability a call flips its label")
    parser.add_argument("--reject-json-schema", action="store_true", help="answer json_schema like an old llama.cpp")
    args = parser.parse_args(argv)
    serve(args.host, args.port, args.latency, args.noise, args.reject_json_schema)


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1:])
