"""Endpoint discovery rules."""

import http.server
import json
import threading

import pytest

from ocbook import endpoints as ep


@pytest.fixture(autouse=True)
def fresh(monkeypatch):
    ep.endpoint.cache_clear()
    for variable in ep.EXPLICIT_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    yield
    ep.endpoint.cache_clear()


def test_explicit_endpoint_wins(monkeypatch):
    monkeypatch.setenv("LOCALSTACK_ENDPOINT", "http://127.0.0.1:4999/")
    monkeypatch.setattr(ep, "answers", lambda url, timeout=2.0: url == "http://127.0.0.1:4999")
    assert ep.endpoint() == "http://127.0.0.1:4999"


def test_real_aws_is_refused(monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "https://lambda.eu-west-1.amazonaws.com")
    with pytest.raises(ep.EndpointError, match="real AWS endpoint"):
        ep.endpoint()


def test_unreachable_explicit_endpoint_says_what_to_do(monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    with pytest.raises(ep.EndpointError, match="not reachable at http://127.0.0.1:9"):
        ep.endpoint()


def test_running_localstack_is_used_without_starting_one(monkeypatch):
    monkeypatch.setattr(ep, "answers", lambda url, timeout=2.0: True)
    monkeypatch.setattr(ep, "start_embedded", lambda: pytest.fail("must not start an engine"))
    assert ep.endpoint() == ep.DEFAULT


def test_embedded_engine_is_started_when_nothing_answers(monkeypatch):
    started = []
    monkeypatch.setattr(ep, "answers", lambda url, timeout=2.0: False)
    monkeypatch.setattr(ep, "start_embedded", lambda: started.append(True))
    assert ep.endpoint() == ep.DEFAULT and started == [True]


@pytest.mark.parametrize("url", ["https://sqs.us-east-1.amazonaws.com.", "https://lambda.cn-north-1.amazonaws.com.cn.",
                                 "https://states.us-east-1.api.aws."])
def test_real_aws_with_a_trailing_dot_is_refused(monkeypatch, url):
    monkeypatch.setenv("AWS_ENDPOINT_URL", url)
    monkeypatch.setattr(ep, "answers", lambda url, timeout=2.0: True)
    with pytest.raises(ep.EndpointError, match="real AWS endpoint"):
        ep.endpoint()


def test_a_local_name_that_only_contains_amazonaws_is_not_refused():
    ep.refuse_real_aws("http://amazonaws.com.localhost:4566")  # positive control: no exception


HEALTH = {"services": {"s3": "running", "sqs": "available", "lambda": "disabled"}, "edition": "community",
          "version": "4.14.1.dev"}


@pytest.fixture
def http_server():
    """A loopback HTTP server answering each path with the JSON (or text) put into its `pages`."""
    pages: dict[str, object] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path not in pages:
                self.send_error(404)
                return
            page = pages[self.path]
            body = page.encode() if isinstance(page, str) else json.dumps(page).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", pages
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("health, info, accepted", [
    (HEALTH, None, True),                                                       # LocalStack's own answer
    ({**HEALTH, "version": None}, {"version": "4.14.1"}, True),                 # version from /_localstack/info
    ({**HEALTH, "version": None}, None, False),                                 # no version anywhere
    ({"services": []}, None, False),                                            # services is not a map
    ({"services": {"web": "up", "db": "up"}, "version": "1"}, None, False),    # someone else's health page
    ({"services": {"s3": "running", "sqs": {"state": "ok"}}, "version": "1"}, None, False),  # not states
    ({"services": {}, "version": "1"}, None, False),                            # no service at all
    ("services", None, False),                                                  # not JSON
])
def test_only_localstacks_health_answer_is_accepted(http_server, health, info, accepted):
    url, pages = http_server
    pages["/_localstack/health"] = health
    if info is not None:
        pages["/_localstack/info"] = info
    assert ep.answers(url) is accepted
