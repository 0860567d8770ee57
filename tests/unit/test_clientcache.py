"""LocalStack's internal clients: cached, except those made with temporary credentials (no LocalStack needed)."""

from __future__ import annotations

import functools

from ocbook_engine.clientcache import cache_unless_session_token


class Factory:
    built = 0

    def build(self, service_name, aws_session_token=None):
        Factory.built += 1
        return object()


def test_clients_with_a_session_token_are_not_kept():
    cached = functools.lru_cache(maxsize=256)(Factory.build)
    Factory._get_client = cache_unless_session_token(cached, Factory.build)
    factory = Factory()
    assert factory._get_client("sqs") is factory._get_client("sqs")  # positive control: still cached
    before = cached.cache_info().currsize
    one = factory._get_client("lambda", aws_session_token="t1")
    assert one is not factory._get_client("lambda", aws_session_token="t1")  # built anew, not cached
    assert cached.cache_info().currsize == before
