"""Keep LocalStack's internal boto3 clients made with temporary credentials out of its client cache.

LocalStack caches every internal client it builds (``ClientFactory._get_client``, an ``lru_cache`` of 256,
keyed on the credentials among others). A Step Functions task or a Lambda destination assumes its role
first, and each assumed role brings new credentials, so each such call builds a client that is never asked
for again, yet stays cached: with its own client class, operation models and docstrings, about 0.5-1 MB
each. Chapter 6's hundreds of executions filled the cache (measured: ~27,000 operation models in the engine).
A client with a session token is now built without the cache (it was built anew each time anyway); every
other client is cached as before.
"""

from __future__ import annotations

import functools
import logging

LOG = logging.getLogger(__name__)


def cache_unless_session_token(cached, uncached):
    """A _get_client that goes through the cache only for clients without temporary credentials."""

    @functools.wraps(uncached)
    def get_client(self, *args, **kwargs):
        if kwargs.get("aws_session_token"):
            return uncached(self, *args, **kwargs)
        return cached(self, *args, **kwargs)

    get_client.cached = cached
    return get_client


def patch_client_cache() -> bool:
    """Apply it to LocalStack's ClientFactory; False if its cache is not where this was written for."""
    from localstack.aws.connect import ClientFactory

    cached = ClientFactory.__dict__.get("_get_client")
    uncached = getattr(cached, "__wrapped__", None)
    if uncached is None or not hasattr(cached, "cache_info"):
        LOG.warning("ClientFactory._get_client is not an lru_cache here; clients with temporary credentials "
                    "stay cached")
        return False
    ClientFactory._get_client = cache_unless_session_token(cached, uncached)
    return True
