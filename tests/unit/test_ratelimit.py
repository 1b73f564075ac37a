"""The gateway's rate-limit pieces without Redis: the RateLimit-Policy / RateLimit / Retry-After fields as
draft-ietf-httpapi-ratelimit-headers-11 spells them (checked by parsing them back as Structured Fields), the 429
problem, and the strict decoding of limits.toml (an unknown key or a bad rate fails with where it is)."""

from __future__ import annotations

from pathlib import Path

import pytest
from http_sfv.item import Item
from http_sfv.list import List as SfList

from gateway.plans import DEFAULT_FILE, LimitsConfigError, Policy, UnknownPlan, decode, load
from gateway.ratelimit import Decision, headers, too_many_requests

VALID = """
[plans]
sandbox = "100/minute"
premium = "5000/hour"

[clients]
default = "600/minute"

[channels.web]
shopper = "100/minute"
ip = "600/minute"

[channels.mobile]
shopper = "50 per 30 seconds"
ip = "600/minute"
"""


def decision(policy: str, *, allowed: bool = True, remaining: int = 37, reset_s: int = 23) -> Decision:
    return Decision(
        policy=policy,
        limit=100,
        window_s=60,
        allowed=allowed,
        remaining=remaining,
        reset_s=reset_s,
        retry_after_s=None if allowed else reset_s,
    )


def test_headers_of_one_decision_are_the_drafts_structured_fields() -> None:
    assert headers([decision("partner-sandbox")]) == {
        "RateLimit-Policy": '"partner-sandbox";q=100;w=60',
        "RateLimit": '"partner-sandbox";r=37;t=23',
    }


def test_headers_list_every_policy_in_order_and_parse_back() -> None:
    found = headers([decision("web-shopper"), decision("web-ip", remaining=599, reset_s=60)])
    policy, limit = SfList(), SfList()
    policy.parse(found["RateLimit-Policy"].encode())
    limit.parse(found["RateLimit"].encode())
    assert [(i.value, dict(i.params)) for i in policy] == [
        ("web-shopper", {"q": 100, "w": 60}),
        ("web-ip", {"q": 100, "w": 60}),
    ]
    assert [(i.value, dict(i.params)) for i in limit] == [
        ("web-shopper", {"r": 37, "t": 23}),
        ("web-ip", {"r": 599, "t": 60}),
    ]
    assert "Retry-After" not in found


def test_a_refused_decision_adds_retry_after_the_longest_wait() -> None:
    found = headers(
        [decision("web-shopper", allowed=False, remaining=0, reset_s=12), decision("web-ip", allowed=False, reset_s=40)]
    )
    assert found["Retry-After"] == "40"
    assert found["RateLimit"] == '"web-shopper";r=0;t=12, "web-ip";r=37;t=40'


def test_no_decision_no_headers() -> None:
    assert headers([]) == {}


def test_too_many_requests_is_a_429_problem_with_the_headers() -> None:
    refused = decision("partner-sandbox", allowed=False, remaining=0, reset_s=9)
    problem = too_many_requests([decision("client"), refused])
    assert problem.status == 429 and problem.slug == "too-many-requests"
    assert problem.headers["Retry-After"] == "9"
    assert problem.headers["RateLimit"] == '"client";r=37;t=23, "partner-sandbox";r=0;t=9'
    assert problem.errors == [{"policy": "partner-sandbox", "limit": 100, "window_s": 60}]
    with pytest.raises(ValueError, match="no decision was refused"):
        too_many_requests([decision("client")])


def test_the_packaged_limits_file_decodes() -> None:
    limits = load()
    assert limits.plan("sandbox").limit == 100 and limits.plan("sandbox").window_s == 60
    assert {"sandbox", "standard", "premium"} <= set(limits.plans)
    assert limits.shopper("web").name == "web-shopper" and limits.ip("mobile").name == "mobile-ip"
    assert load(DEFAULT_FILE) == limits


def test_a_limits_file_decodes_to_policies() -> None:
    limits = decode(VALID)
    assert (limits.plan("premium").name, limits.plan("premium").limit, limits.plan("premium").window_s) == (
        "partner-premium",
        5000,
        3600,
    )
    assert (limits.shopper("mobile").limit, limits.shopper("mobile").window_s) == (50, 30)
    assert limits.client.name == "client" and limits.client.limit == 600
    with pytest.raises(UnknownPlan, match="unknown plan 'gold'; limits.toml defines: premium, sandbox"):
        limits.plan("gold")


@pytest.mark.parametrize(
    ("text", "says"),
    [
        (VALID.replace('premium = "5000/hour"', 'premium = "5000/hours/day"'), "premium = '5000/hours/day'"),
        (VALID.replace('premium = "5000/hour"', 'premium = "lots"'), "couldn't parse rate limit string 'lots'"),
        (VALID.replace('default = "600/minute"', 'default = "600/fortnight"'), "default = '600/fortnight'"),
        (VALID.replace('ip = "600/minute"', 'ip = "0/minute"', 1), "at least 1 unit"),
        (VALID.replace('ip = "600/minute"', 'ip = "1/second; 5/minute"', 1), "one rate per policy"),
        (VALID.replace('premium = "5000/hour"', "premium = 5000"), "Expected `str`, got `int`"),
        (VALID.replace("premium =", "Premium ="), "key"),
        (VALID + '\n[channels.kiosk]\nshopper = "1/minute"\nip = "1/minute"\n', "unknown field `kiosk`"),
        (VALID.replace("[clients]", '[clients]\nburst = "5/second"'), "unknown field `burst`"),
        (
            VALID.replace("[channels.mobile]\nshopper", "[channels.mobile]\nshoppers"),
            "unknown field `shoppers` - at `$.channels.mobile`",
        ),
        (VALID + "\nextra = 1\n", "unknown field `extra`"),
        ("[plans]\n", "Object missing required field"),
        ("plans = [", "invalid rate limits"),
    ],
)
def test_bad_limits_fail_with_where_and_why(text: str, says: str) -> None:
    with pytest.raises(LimitsConfigError) as failed:
        decode(text)
    assert says in str(failed.value)


def test_a_missing_limits_file_names_its_path(tmp_path: Path) -> None:
    with pytest.raises(LimitsConfigError, match=f"cannot read the rate limits file {tmp_path / 'none.toml'}"):
        load(tmp_path / "none.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text(VALID.replace('"100/minute"', '"100/moment"', 1))
    with pytest.raises(LimitsConfigError, match=str(bad)):
        load(bad)


def test_a_policy_takes_one_rate() -> None:
    assert (Policy.parse("p", "10 per 2 seconds").limit, Policy.parse("p", "10 per 2 seconds").window_s) == (10, 2)
    with pytest.raises(ValueError):
        Policy.parse("p", "ten/minute")


@pytest.mark.parametrize(
    ("name", "remaining", "reset_s"),
    [("web-shopper", 0, 0), ("partner-sandbox", 99, 60), ("a", 999_999_999, 1), ("x.y_z-1", 7, 59)],
)
def test_the_ratelimit_field_is_what_http_sfv_writes(name: str, remaining: int, reset_s: int) -> None:
    """``RateLimit`` is assembled from the name http-sfv serialised and plain decimal Integers: byte for byte what
    http-sfv writes for the same list."""
    decisions = [
        Decision(policy=name, limit=10**9, window_s=60, allowed=True, remaining=remaining, reset_s=reset_s),
        Decision(policy="web-ip", limit=600, window_s=60, allowed=True, remaining=5, reset_s=3),
    ]
    expected = SfList()
    for d in decisions:
        item = Item(d.policy)
        item.params["r"] = d.remaining
        item.params["t"] = d.reset_s
        expected.append(item)
    assert headers(decisions)["RateLimit"] == str(expected)
