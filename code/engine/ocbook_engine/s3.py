"""S3 with its object store under the engine's TMPDIR instead of the hard-coded /tmp/localstack-s3-storage.

Selected with ``PROVIDER_OVERRIDE_S3=local-tmp``; otherwise LocalStack's own S3 provider unchanged.
"""

from __future__ import annotations

import os
import tempfile

from localstack.services.plugins import Service, aws_provider

from ocbook_engine.versions import require


@aws_provider(api="s3", name="local-tmp")
def s3_local_tmp():
    """LocalStack's S3 provider, storing objects under $TMPDIR/localstack-s3-storage."""
    require("s3:local-tmp", "localstack-core")
    from localstack.services.s3.provider import S3Provider
    from localstack.services.s3.storage.ephemeral import EphemeralS3ObjectStore

    root = os.path.join(tempfile.gettempdir(), "localstack-s3-storage")
    return Service.for_provider(S3Provider(storage_backend=EphemeralS3ObjectStore(root)))
