"""`-p tests.environment` (in pyproject's addopts): the environment the settings and the test servers need, set before Django loads.

packager refuses to start without a secret key; the tests, and the worker processes they
start (which inherit this environment), use one that signs nothing outside the tests.
"""

from __future__ import annotations

import os

os.environ.setdefault("SECRET_KEY", "tests-only-secret-key-never-used-outside-the-test-suite")

# packager's live test server on 127.0.0.1, storage (tests/s3_servers.py) on localhost: two host
# names, as a real deployment and its bucket have, since clients decide by host name whether
# to send credentials again after a redirect.
os.environ.setdefault("DJANGO_LIVE_TEST_SERVER_ADDRESS", "127.0.0.1")
