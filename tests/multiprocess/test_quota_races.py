"""Quota races across two real ASGI workers on PostgreSQL + Redis: many concurrent chat turns
of two members of one organization never overshoot its budget nor a member's limit."""

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.multiprocess.conftest import ScratchDatabase, openai_env
from tests.multiprocess.procs import manage, start_daphnes

# Two server start-ups and a migrated scratch database take longer than the default timeout.
pytestmark = [pytest.mark.multiprocess, pytest.mark.slow, pytest.mark.timeout(600)]

_TEAM = """
import json
from accounts.models import User
from accounts.tokens import issue_tokens
from core.actor import Actor
from metering.models import OrganizationQuota, Quota
from tenants.models import Membership
from tenants.services import organization_create
users = []
for n in range(2):
    user = User.objects.create_user(f"race-{{n}}-{suffix}@example.com", None, is_verified=True)
    # Their own limits are far away: only the organization's may refuse.
    Quota.objects.create(user=user, max_concurrent=100, daily_tokens=10**9, monthly_tokens=10**10)
    users.append(user)
org = organization_create(actor=Actor(user=users[0], system=True), name="Race", owner=users[0])
Membership.objects.create(organization=org, user=users[1], role="member")
OrganizationQuota.objects.create(
    organization=org, daily_tokens={budget}, member_daily_tokens={member_limit}
)
print(json.dumps({{"org": str(org.pk), "users": [
    {{"id": u.pk, "token": issue_tokens(user=u)["access"]}} for u in users
]}}))
"""

BUDGET = 1500
MEMBER_LIMIT = 900
TURNS = 20  # per member: more than the budget allows (about 60 tokens reserved per turn)
CONCURRENCY = 6  # in flight at once, 3 per worker


def _team(env: dict[str, str]) -> dict[str, Any]:
    script = _TEAM.format(suffix=id(env), budget=BUDGET, member_limit=MEMBER_LIMIT)
    return json.loads(manage(env, "shell", "-c", script).strip().splitlines()[-1])


@pytest.mark.xfail(
    # Not strict: the stall depends on load, and a run that happens to finish must not fail CI.
    strict=False,
    reason="Concurrent REST chat turns over two workers stall (20 s client timeouts, sessions "
    "'idle in transaction' holding counter rows while others wait for them); reproduced with "
    "ONE user and no organization budget on the orgs base (5a1d4c5), so not caused by the "
    "organization counters. Remove this marker once the foundation's stall is fixed.",
)
def test_two_members_on_two_workers_never_overshoot(
    mp_env: dict[str, str], mp_upstream: str, mp_db: ScratchDatabase
) -> None:
    team = _team(mp_env)
    # Answers of 20 tokens, 20 ms apart: reservations overlap across the workers.
    workers = start_daphnes({**openai_env(mp_env, mp_upstream), "AI_MAX_TOKENS": "20"}, 2)
    try:
        jobs = [(workers[i % 2], team["users"][(i // 2) % 2]) for i in range(2 * TURNS)]

        def turn(job: tuple[Any, dict[str, Any]]) -> tuple[int, int, dict[str, Any]]:
            worker, user = job
            try:
                response = httpx.post(
                    f"{worker.url}/api/v1/chat/message",
                    json={"message": "stream 20 0.02"},
                    headers={
                        "Authorization": f"Bearer {user['token']}",
                        "X-Tenant-ID": team["org"],
                    },
                    timeout=10,
                )
            except httpx.TimeoutException:
                return user["id"], 0, {"code": "CLIENT_TIMEOUT"}
            return user["id"], response.status_code, response.json()

        with ThreadPoolExecutor(max_workers=CONCURRENCY) as pool:
            results = list(pool.map(turn, jobs))
    except BaseException:
        for worker in workers:
            print(f"--- {worker.name} ---\n{worker.output()}")
        raise
    finally:
        for worker in workers:
            worker.stop()

    granted = {u["id"]: 0 for u in team["users"]}
    scopes = set()
    for user_id, status, body in results:
        if status == 200:
            granted[user_id] += 1
        else:
            assert status == 429 and body["code"] == "QUOTA_EXCEEDED", body
            scopes.add(body["details"]["scope"])
    assert all(granted.values()), granted  # both members got answers
    assert scopes and scopes <= {"organization", "member"}  # the limits were reached

    org = team["org"]
    # Every reservation is closed, nothing stays held.
    assert mp_db.one(
        "SELECT COUNT(*) FROM metering_quotareservation WHERE organization_id = %s "
        "AND status = 'active'",
        org,
    ) == (0,)
    counters = dict(
        mp_db.all(
            "SELECT COALESCE(user_id, 0), used_tokens FROM metering_organizationquotacounter "
            "WHERE organization_id = %s AND period = 'day' AND reserved_tokens = 0",
            org,
        )
    )
    settled = dict(
        mp_db.all(
            "SELECT user_id, SUM(charged_tokens) FROM metering_quotareservation "
            "WHERE organization_id = %s AND status = 'settled' GROUP BY user_id",
            org,
        )
    )
    recorded = dict(
        mp_db.all(
            "SELECT user_id, SUM(total_tokens) FROM metering_usagerecord "
            "WHERE organization_id = %s GROUP BY user_id",
            org,
        )
    )
    ids = [u["id"] for u in team["users"]]
    # The books agree: counters = settled reservations = usage records, member by member.
    for user_id in ids:
        assert counters[user_id] == settled[user_id] == recorded[user_id], user_id
        assert settled[user_id] <= MEMBER_LIMIT
    assert counters[0] == sum(settled.values()) <= BUDGET
