"""The one place that builds AWS clients: LocalStack's endpoint, dummy credentials, one region."""

from __future__ import annotations

import functools
from urllib.parse import urlparse

from botocore.config import Config
from localstack_client.session import Session

from ocbook.endpoints import endpoint

REGION = "us-east-1"
ACCOUNT = "000000000000"
# One attempt per call: a silent SDK retry could invoke a function twice and spoil what a chapter counts.
# No host prefixes ("sync-127.0.0.1" for StartSyncExecution cannot resolve).
CONFIG = Config(retries={"total_max_attempts": 1}, read_timeout=120, connect_timeout=5, inject_host_prefix=False)


@functools.cache
def session() -> Session:
    """A localstack-client session pointed at the discovered endpoint."""
    url = urlparse(endpoint())
    return Session(aws_access_key_id="test", aws_secret_access_key="test", aws_session_token="test",
                   region_name=REGION, localstack_host=url.netloc)


@functools.cache
def client(service: str):
    """A boto3 client for a service on LocalStack (cached per service)."""
    return session().client(service, config=CONFIG)
