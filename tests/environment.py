"""`-p tests.environment` (in pyproject's addopts): what the settings need, set before Django loads them.

packager refuses to start without a secret key; the tests, and the worker processes they
start (which inherit this environment), use one that signs nothing outside the tests.
"""

from __future__ import annotations

import os

os.environ.setdefault("SECRET_KEY", "tests-only-secret-key-never-used-outside-the-test-suite")
