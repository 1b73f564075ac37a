"""Partner API keys against the estate's state Redis: issued by ``omnigate partners`` as an operator runs it and
checked by PartnerKeys as the gateway will on each request. A key authenticates; rotation keeps both keys live;
a revoked key is refused at once; a third live key is refused, even when two rotations race; every bad key gets
the same 401 problem; bad partner ids, plans and key ids are refused with a message that says what to do."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from gateway.clients import ClientStore, OAuthClient
from gateway.keys import Keys
from gateway.partners import PartnerKey, PartnerKeyError, PartnerKeys
from gateway.plans import UnknownPlan
from gateway.settings import GatewaySettings
from shared.problems import ProblemError

pytestmark = pytest.mark.estate

Cli = Callable[..., str]
KeysRun = Callable[[Callable[[PartnerKeys], Awaitable[Any]]], Any]


def printed(output: str) -> dict[str, str]:
    return {k.strip(): v.strip() for k, v in (line.split(":", 1) for line in output.splitlines() if ":" in line)}


def a_partner() -> str:
    return f"acme-{uuid.uuid4().hex[:8]}"


async def refusal(keys: PartnerKeys, presented: str) -> ProblemError:
    """The refusal of ``presented``; fails if it authenticates."""
    try:
        found = await keys.authenticate(presented)
    except ProblemError as exc:
        return exc
    raise AssertionError(f"{presented!r} authenticated as {found}")


def assert_the_refusal(problem: ProblemError) -> None:
    assert (problem.status, problem.slug, problem.detail) == (401, "unauthorized", "the X-API-Key is not valid")
    assert problem.headers == {"WWW-Authenticate": 'ApiKey realm="omnigate"'}


def test_create_authenticate_rotate_revoke_through_the_cli(omnigate: Cli, partner_keys: KeysRun) -> None:
    partner = a_partner()
    first = printed(omnigate("partners", "create", "--partner", partner, "--plan", "sandbox"))
    assert first["api_key"].startswith(f"og_{first['key_id']}_")
    assert (first["partner"], first["plan"]) == (partner, "sandbox")
    key = partner_keys(lambda k: k.authenticate(first["api_key"]))
    assert (key.key_id, key.partner_id, key.plan, key.state) == (first["key_id"], partner, "sandbox", "active")

    second = printed(omnigate("partners", "rotate", "--partner", partner))
    assert second["plan"] == "sandbox" and second["key_id"] != first["key_id"]
    assert partner_keys(lambda k: k.authenticate(first["api_key"])).key_id == first["key_id"], "the old stays live"
    assert partner_keys(lambda k: k.authenticate(second["api_key"])).key_id == second["key_id"]

    assert printed(omnigate("partners", "revoke", "--key", first["key_id"]))["revoked"].startswith(first["key_id"])
    assert_the_refusal(partner_keys(lambda k: refusal(k, first["api_key"])))
    assert partner_keys(lambda k: k.authenticate(second["api_key"])).key_id == second["key_id"]

    listed = omnigate("partners", "list", "--partner", partner).splitlines()
    assert [line.split()[:3] for line in listed] == [
        [first["key_id"], "revoked", "sandbox"],
        [second["key_id"], "active", "sandbox"],
    ]
    assert first["api_key"].split("_", 2)[2] not in "".join(listed), "a secret is never shown again"


def test_a_third_live_key_is_refused_until_one_is_revoked(
    omnigate: Cli, omnigate_refused: Cli, partner_keys: KeysRun
) -> None:
    partner = a_partner()
    first = printed(omnigate("partners", "create", "--partner", partner, "--plan", "standard"))
    moved = printed(omnigate("partners", "create", "--partner", partner, "--plan", "premium"))  # a plan change
    assert moved["plan"] == "premium"
    said = omnigate_refused("partners", "rotate", "--partner", partner)
    assert f"partner {partner} already has 2 live keys" in said and "omnigate partners revoke --key" in said
    assert "already has 2 live keys" in omnigate_refused(
        "partners", "create", "--partner", partner, "--plan", "sandbox"
    )
    omnigate("partners", "revoke", "--key", first["key_id"])
    third = printed(omnigate("partners", "rotate", "--partner", partner))
    assert third["plan"] == "premium", "a rotation keeps the plan of the live key"
    live = {k.key_id for k in partner_keys(lambda k: k.list(partner)) if k.state == "active"}
    assert live == {moved["key_id"], third["key_id"]}


async def race(keys: PartnerKeys) -> list[tuple[int, int, int]]:
    """Per partner: (keys issued, rotations refused, live keys) after four concurrent rotations of one live key."""
    found = []
    for _ in range(5):
        partner = a_partner()
        await keys.create(partner, "sandbox")
        outcomes = await asyncio.gather(*(keys.rotate(partner) for _ in range(4)), return_exceptions=True)
        issued = [o for o in outcomes if isinstance(o, tuple)]
        refused = [o for o in outcomes if isinstance(o, PartnerKeyError)]
        live = [k for k in await keys.list(partner) if k.state == "active"]
        found.append((len(issued), len(refused), len(live)))
    return found


def test_racing_rotations_never_leave_three_live_keys(partner_keys: KeysRun) -> None:
    assert partner_keys(race) == [(1, 3, 2)] * 5


async def every_refusal(keys: PartnerKeys) -> list[ProblemError]:
    key, full = await keys.create(a_partner(), "sandbox")
    secret = full.split("_", 2)[2]
    other_id = "0123456789abcdef" if key.key_id != "0123456789abcdef" else "fedcba9876543210"
    wrong_secret = secret[:-1] + ("A" if secret[-1] != "A" else "B")
    bad = [
        "",
        "og_",
        "not a key",
        full + "x",
        full.upper(),
        f"og_{key.key_id}_{wrong_secret}",  # the right id, a wrong secret
        f"og_{other_id}_{secret}",  # an unknown id
        f"og_{key.key_id}",
        "og_" + "a" * 10_000,
    ]
    found = [await refusal(keys, presented) for presented in bad]
    await keys.revoke(key.key_id)
    return [*found, await refusal(keys, full)]


def test_every_bad_key_gets_the_same_refusal(partner_keys: KeysRun) -> None:
    refusals = partner_keys(every_refusal)
    assert len(refusals) == 10
    for problem in refusals:
        assert_the_refusal(problem)


async def revoke_twice(keys: PartnerKeys) -> tuple[PartnerKey, PartnerKey]:
    key, _ = await keys.create(a_partner(), "sandbox")
    return await keys.revoke(key.key_id), await keys.revoke(key.key_id)


def test_revoking_twice_or_an_unknown_key(partner_keys: KeysRun, omnigate_refused: Cli) -> None:
    revoked, again = partner_keys(revoke_twice)
    assert revoked.state == "revoked" and revoked.revoked_ms is not None
    assert again == revoked, "revoking a revoked key changes nothing"
    assert "no partner key '0000000000000000'" in omnigate_refused("partners", "revoke", "--key", "0000000000000000")
    assert "no partner key 'og_nonsense'" in omnigate_refused("partners", "revoke", "--key", "og_nonsense")


async def refused_partners(keys: PartnerKeys) -> list[str]:
    said = []
    for partner in ("", "acme corp", "a" * 65, "-acme", "acme/../x", "acme:1"):
        with pytest.raises(PartnerKeyError) as refused:
            await keys.create(partner, "sandbox")
        said.append(str(refused.value))
    with pytest.raises(UnknownPlan) as unknown:
        await keys.create(a_partner(), "enterprise")
    return [*said, str(unknown.value)]


def test_bad_partner_ids_and_plans_are_refused(omnigate_refused: Cli, partner_keys: KeysRun) -> None:
    said = omnigate_refused("partners", "create", "--partner", a_partner(), "--plan", "gold")
    assert "unknown plan 'gold'; limits.toml defines: premium, sandbox, standard" in said
    assert "a plan name matches" in omnigate_refused("partners", "create", "--partner", "acme", "--plan", "Gold!")
    *partners, plan = partner_keys(refused_partners)
    assert all("a partner id matches" in message for message in partners), partners
    assert "unknown plan 'enterprise'" in plan
    assert "a partner id matches" in omnigate_refused("partners", "list", "--partner", "acme corp")
    assert "has no live key to rotate: create one" in omnigate_refused("partners", "rotate", "--partner", a_partner())


def test_a_client_of_a_partner_takes_a_plan_of_limits_toml(
    omnigate: Cli, omnigate_refused: Cli, gateway_settings: GatewaySettings, partner_keys: KeysRun
) -> None:
    def client(client_id: str) -> Callable[[PartnerKeys], Awaitable[OAuthClient | None]]:
        return lambda k: ClientStore(k.redis, Keys(gateway_settings.key_prefix), pepper=k.pepper).get(client_id)

    argv = ("clients", "create", "--name", "acme erp", "--scopes", "orders:read")
    created = printed(omnigate(*argv, "--partner", "acme", "--plan", "premium"))
    found = partner_keys(client(created["client_id"]))
    assert found is not None and (found.partner, found.plan) == ("acme", "premium")
    assert "unknown plan 'gold'" in omnigate_refused(*argv, "--partner", "acme", "--plan", "gold")
    assert "a plan is a partner's" in omnigate_refused(*argv, "--plan", "sandbox")
    plain = partner_keys(client(printed(omnigate(*argv))["client_id"]))
    assert plain is not None and plain.plan is None
