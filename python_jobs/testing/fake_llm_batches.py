"""The fake server's `/v1/files` and `/v1/batches`: uploads, batch creation, the batch run in the
background with its scripted end, and the HTTP routes (mixed into FakeLLMServer and its handler)."""

from __future__ import annotations

import email.parser
import json
import threading
import time
from typing import Any

from python_jobs.testing.fake_llm_scripts import BatchScript, RequestLog


class BatchServerMixin:
    """Files and batches of a FakeLLMServer (its fields: files, batches, batch_scripts, ...)."""

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


class BatchHandlerMixin:
    """The routes of /v1/files and /v1/batches for the server's request handler."""

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
