"""schemathesis against the live service's own OpenAPI spec, with an admin token: every
operation, inputs that fit the spec and inputs that do not, and no server error; on SQLite
and on PostgreSQL.

schemathesis's pytest plugin does not run on this pytest (9.x), so the test drives its
Python API directly: one hypothesis run per operation and generation mode.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode

from tests.integration.pg_fixtures import postgres_server
from tests.integration.server_fixtures import LiveServer, live_server

pytestmark = pytest.mark.integration
__all__ = ["live_server", "postgres_server"]

EXAMPLES = 10  # per operation and mode: ~27 operations x 2 modes, about a minute


@pytest.mark.parametrize("live_server", ["sqlite", "postgresql"], indirect=True)
def test_no_server_errors(live_server: LiveServer) -> None:
    schema = schemathesis.openapi.from_url(f"{live_server.url}/api/v1/openapi.json")
    headers = {"Authorization": f"Bearer {live_server.tokens['admin']}"}
    calls = {"count": 0}
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 25
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                derandomize=True,
                suppress_health_check=list(HealthCheck),
                database=None,
            )
            def run(case: Any) -> None:
                response = case.call(base_url=live_server.url, headers=headers, timeout=30)
                calls["count"] += 1
                case.validate_response(response, checks=[not_a_server_error])

            try:
                run()
            except Unsatisfiable:
                # no input can break a spec without parameters: nothing negative to send
                assert mode == GenerationMode.NEGATIVE, operation.label
            except Exception as exc:  # noqa: BLE001 - collect every failure, then report all
                failures.append(f"{operation.label} [{mode}]: {str(exc)[:1500]}")
    assert failures == [], "\n\n".join(failures)
    assert calls["count"] > 300
