"""A grading server answering like MLE-bench's (environment/grading_server.py), standard library
only, for the tests' containers: ``POST /validate`` with the submission as the multipart field
``file`` answers ``{"result": "Submission is valid."}`` or
``{"result": "Submission invalid! ..."}``; ``GET /health`` answers ``{"status": "running"}``.
Valid here: the header ``id,label`` and one row per id of the (made-up) test set, ids 1 to 4.
"""

import json
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

IDS = {"1", "2", "3", "4"}


def verdict(data: bytes) -> str:
    lines = data.decode("utf-8", errors="replace").strip().splitlines()
    if not lines or lines[0].strip() != "id,label":
        return (
            "Submission invalid! The attempt to grade the submission has resulted in the "
            "following error message:\nthe columns must be id,label"
        )
    ids = {line.split(",", 1)[0] for line in lines[1:]}
    if ids != IDS:
        return (
            "Submission invalid! The attempt to grade the submission has resulted in the "
            f"following error message:\nexpected ids 1 to 4, got {len(ids)}"
        )
    return "Submission is valid."


class Handler(BaseHTTPRequestHandler):
    def _answer(self, code: int, payload: dict) -> None:
        body = json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self._answer(200, {"status": "running"})

    def do_POST(self) -> None:
        if self.path != "/validate":
            self._answer(404, {"error": "not found"})
            return
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        head = f"Content-Type: {self.headers.get('Content-Type', '')}\r\n\r\n".encode()
        message = BytesParser(policy=HTTP).parsebytes(head + body)
        files = [
            part.get_payload(decode=True)
            for part in message.iter_parts()
            if part.get_param("name", header="content-disposition") == "file"
        ]
        if not files:
            self._answer(500, {"error": "An unexpected error occurred.", "details": "no file"})
            return
        self._answer(200, {"result": verdict(files[0])})

    def log_message(self, *args: object) -> None:
        pass


if __name__ == "__main__":
    import sys

    port = int(sys.argv[1]) if len(sys.argv) > 1 else 5000  # MLE-bench's port by default
    ThreadingHTTPServer(("0.0.0.0", port), Handler).serve_forever()
