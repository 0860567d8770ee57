"""The book's view of the engine's clock, without an engine (the endpoint's answer is faked)."""

from __future__ import annotations

import pytest

from ocbook import engine


@pytest.mark.parametrize("answer,says", [
    ({"scale": 1 / 60}, "time scale: 1/60 (one AWS minute of waiting lasts 1 s here)"),
    ({"scale": 1.0}, "time scale: 1 (AWS's real waiting times)"),
    (None, "time scale: unknown")])
def test_a_chapter_prints_the_scale_it_ran_with(monkeypatch, answer, says):
    monkeypatch.setattr(engine, "_call", lambda path, body=None: answer)
    assert engine.describe_time_scale().startswith(says)


def test_delivery_faults_are_refused_politely_by_another_localstack(monkeypatch):
    monkeypatch.setattr(engine, "_call", lambda path, body=None: None)
    assert engine.plan_delivery_fault("arn:aws:sqs:us-east-1:000000000000:q", 1) is False


def test_engine_only_cells_run_on_the_engine(monkeypatch):
    monkeypatch.setattr(engine, "_call", lambda path, body=None: {"scale": 1 / 60})
    assert engine.skipped("bisecting", "the book's bisect") is None  # positive control: nothing skipped
    assert engine.describe().startswith("Outputs from the book's engine")
    assert engine.aws_wait(120) == pytest.approx(2.0)


def test_engine_only_cells_skip_with_one_line_on_another_localstack(monkeypatch):
    monkeypatch.setattr(engine, "_call", lambda path, body=None: None)
    monkeypatch.setattr(engine, "endpoint", lambda: "http://localhost:4566")
    line = engine.skipped("bisecting", "the book's bisect")
    assert line.startswith("skipped: bisecting") and "http://localhost:4566" in line and "\n" not in line
    assert "not the book's engine" in engine.describe()
    assert engine.aws_wait(120) == 120  # another LocalStack waits as long as AWS


def test_a_real_endpoint_without_the_clock_is_another_localstack(monkeypatch):
    """The check goes over HTTP: a server that answers everything but /_ocbook/clock is not the engine."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            found = self.path == "/_ocbook/clock" and self.server.engine
            body = json.dumps({"scale": 0.5}).encode() if found else b"not found"
            self.send_response(200 if found else 404)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setattr(engine, "endpoint", lambda: f"http://127.0.0.1:{server.server_address[1]}")
    try:
        server.engine = True
        assert engine.skipped("x", "y") is None and engine.aws_wait(60) == 30
        server.engine = False
        assert engine.skipped("x", "y").startswith("skipped: x") and engine.aws_wait(60) == 60
    finally:
        server.shutdown()
