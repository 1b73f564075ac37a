"""schemathesis over each public contract (openapi/public-*.json), through the gateway with valid credentials, one
operation at a time and as stateful runs along the contract's OpenAPI links (estate/public_contracts.py): every
check (no 5xx, status codes, content types, headers and bodies conform to the document, invalid input refused,
valid input accepted or refused only with a documented business problem).

The gateway here is an instance of its own whose limits are far above what the run sends (a 429 is documented, but
a spent limit would hide every other answer), with the same route table and the same layers below."""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck
from schemathesis import GenerationMode

from tests.estate import TestEstate, order_body

OPENAPI = Path(__file__).resolve().parents[3] / "openapi"
EXAMPLES = 15
LIMITS = """
[plans]
sandbox = "1000000/minute"
standard = "1000000/minute"
premium = "1000000/minute"

[clients]
default = "1000000/minute"

[channels.web]
shopper = "1000000/minute"
ip = "1000000/minute"

[channels.mobile]
shopper = "1000000/minute"
ip = "1000000/minute"
"""
FUZZ = hypothesis.settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
    database=None,
)


@pytest.fixture(scope="module")
def fuzz_gateway(estate: TestEstate, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    limits = tmp_path_factory.mktemp("fuzz") / "limits.toml"
    limits.write_text(LIMITS)
    url = estate.start_instance("gateway", "fuzz", env={"OMNIGATE_GATEWAY_LIMITS_FILE": str(limits)})
    yield url
    estate.stop_instance("gateway", "fuzz")


@pytest.fixture
def customer() -> str:
    return f"c-fuzz-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def credentials(
    customer: str, shopper_token: Callable[..., str], partner_key: Callable[..., str]
) -> dict[str, dict[str, str]]:
    """A shopper's tokens on web and mobile and a partner's key (one operation's run uses one set), from a client
    address of the run's own: the counters are shared with the estate's gateway, whose limits are the shipped ones,
    and a minute of fuzzing from 127.0.0.1 would spend that address's limit for the tests after this one."""
    address = {"X-Forwarded-For": f"198.18.{random.randint(0, 255)}.{random.randint(1, 254)}"}
    return {
        "web": {"Authorization": f"Bearer {shopper_token(customer, 'web')}", **address},
        "mobile": {"Authorization": f"Bearer {shopper_token(customer, 'mobile')}", **address},
        "partner": {"X-API-Key": partner_key(f"p-fuzz-{uuid.uuid4().hex[:8]}", "standard"), **address},
    }


# What a schema-valid request may get besides a 2xx: a business refusal the contract documents (an unknown SKU,
# store or order: 404/422; not enough stock or too late to cancel: 409; a limit: 429; 304 on a matching ETag).
# Never 400 (the document said it was valid), 401/403 (the credentials are valid) or 5xx.
ACCEPTED = ["2xx", "304", "404", "409", "422", "429"]


def _schema(channel: str) -> schemathesis.schemas.BaseSchema:
    schema = schemathesis.openapi.from_dict(json.loads((OPENAPI / f"public-{channel}.json").read_text()))
    schema.config.checks.positive_data_acceptance.expected_statuses = ACCEPTED
    return schema


web, mobile, partner = _schema("web"), _schema("mobile"), _schema("partner")


def _prepare(case: schemathesis.Case) -> None:
    # A cursor is opaque and issued by the API (signed): one made up is refused with 400, which no schema can
    # tell a generator. Generated cases leave it out; the paging tests follow real cursors.
    if case.query:
        case.query.pop("cursor", None)
    # The credentials are the test's own, valid ones: what a generator makes up for the other security schemes
    # would be a second credential, which the gateway refuses (one request, one caller).
    if case.headers:
        for name in [n for n in case.headers if n.lower() in ("authorization", "x-api-key", "x-forwarded-for")]:
            del case.headers[name]


def _check(url: str, headers: dict[str, str], case: schemathesis.Case) -> None:
    _prepare(case)
    case.call_and_validate(base_url=url, headers=headers, timeout=15)


STATEFUL = hypothesis.settings(
    max_examples=15,
    stateful_step_count=6,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
    database=None,
)


@pytest.mark.parametrize("channel", ["web", "mobile", "partner"])
def test_the_linked_operations_hold_together_through_the_gateway(
    estate: TestEstate, fuzz_gateway: str, credentials: dict[str, dict[str, str]], customer: str, channel: str
) -> None:
    """schemathesis' stateful run over the contract's OpenAPI links: an order placed, then read, followed, cancelled
    or returned by the id its answer gave, every answer checked as above. The order placed is one that can be
    (a stocked SKU, the caller's customer): made-up SKUs would stop every chain at a 422, and the stateless runs
    above already fuzz the order body."""
    schema = _schema(channel)
    schema.config.generation.update(modes=[GenerationMode.POSITIVE])  # the stateless runs send the invalid input
    headers = credentials[channel]
    (sku,) = estate.fresh_skus(1)
    estate.set_dc_stock(sku, 100)
    steps: list[str] = []

    class Workflow(schema.as_state_machine()):  # type: ignore[misc]
        def before_call(self, case: schemathesis.Case) -> None:
            _prepare(case)
            if case.method == "POST" and case.path == f"/{channel}/v1/orders":
                case.body = order_body(sku, 1, customer=customer)

        def call(self, case: schemathesis.Case, **kwargs: object) -> schemathesis.Response:
            response = case.call(base_url=fuzz_gateway, headers=headers, timeout=15)
            steps.append(f"{case.method} {case.path} {response.status_code}")
            return response

    Workflow.run(settings=STATEFUL)
    placed = [s for s in steps if s.startswith(f"POST /{channel}/v1/orders 20")]
    linked = [s for s in steps if "{order_id}" in s and s.split()[-1].startswith("2")]
    assert placed and linked, f"no order was placed and followed: {sorted(set(steps))}"


@web.parametrize()
@FUZZ
def test_the_web_contract_holds_through_the_gateway(
    fuzz_gateway: str, credentials: dict[str, dict[str, str]], case: schemathesis.Case
) -> None:
    _check(fuzz_gateway, credentials["web"], case)


@mobile.parametrize()
@FUZZ
def test_the_mobile_contract_holds_through_the_gateway(
    fuzz_gateway: str, credentials: dict[str, dict[str, str]], case: schemathesis.Case
) -> None:
    _check(fuzz_gateway, credentials["mobile"], case)


@partner.parametrize()
@FUZZ
def test_the_partner_contract_holds_through_the_gateway(
    fuzz_gateway: str, credentials: dict[str, dict[str, str]], case: schemathesis.Case
) -> None:
    _check(fuzz_gateway, credentials["partner"], case)
