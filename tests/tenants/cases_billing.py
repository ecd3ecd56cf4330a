"""Cases of subscriptions and billing (``billing/api``): every member reads the plan and
its usage; owners and admins read invoices; owners (and admins, when the owner allows it)
change the subscription."""

from tests.tenants.casekit import (
    Call,
    Case,
    anonymous_route,
    everyone,
    list_without,
    not_found,
    status_is,
)
from tests.tenants.cases_organizations import org_admins, org_owners

SUBSCRIPTION = "/api/v1/subscription"

BILLING_CASES: dict[tuple[str, str], Case] = {
    ("api:subscription-info", "GET"): Case(
        call=lambda ids: Call("GET", f"{SUBSCRIPTION}/info"),
        walk=status_is(200),
        roles=everyone(200),
    ),
    ("api:subscription-plans", "GET"): Case(
        call=lambda ids: Call("GET", f"{SUBSCRIPTION}/plans"),
        walk=status_is(200),
        roles=everyone(200),
    ),
    ("api:subscription-usage", "GET"): Case(
        call=lambda ids: Call("GET", f"{SUBSCRIPTION}/usage"),
        walk=status_is(200),
        roles=everyone(200),
    ),
    ("api:subscription-upgrade", "POST"): Case(
        # The plan it is on (the only one the migrations make): the owner is told so; nobody
        # else may change the plan (admins only when the owner allows it).
        call=lambda ids: Call("POST", f"{SUBSCRIPTION}/upgrade/free", {}),
        walk=status_is(409),
        roles=org_owners(409),
    ),
    ("api:subscription-cancel", "POST"): Case(
        call=lambda ids: Call("POST", f"{SUBSCRIPTION}/cancel", {}),
        walk=status_is(409),
        roles=org_owners(409),
    ),
    ("api:subscription-resume", "POST"): Case(
        call=lambda ids: Call("POST", f"{SUBSCRIPTION}/resume", {}),
        walk=status_is(409),
        roles=org_owners(409),
    ),
    ("api:subscription-settings", "PATCH"): Case(
        call=lambda ids: Call("PATCH", f"{SUBSCRIPTION}/settings", {"admins_may_manage": True}),
        walk=status_is(200),
        roles=org_owners(200),
    ),
    ("api:subscription-portal", "POST"): Case(
        call=lambda ids: Call("POST", f"{SUBSCRIPTION}/portal", {}),
        walk=status_is(409),
        roles=org_owners(409),
    ),
    ("api:subscription-billing-history", "GET"): Case(
        call=lambda ids: Call("GET", f"{SUBSCRIPTION}/billing/history"),
        walk=list_without("invoice"),
        roles=org_admins(200),
    ),
    ("api:billing-history", "GET"): Case(
        call=lambda ids: Call("GET", "/api/v1/billing/history"),
        walk=list_without("invoice"),
        roles=org_admins(200),
    ),
    ("api:billing-invoice-download", "GET"): Case(
        call=lambda ids: Call("GET", f"/api/v1/billing/invoices/{ids.invoice}/download"),
        walk=not_found,
        roles=org_admins(200),
    ),
    ("api:billing-webhook-stripe", "POST"): Case(
        # Unauthenticated: Stripe's signature is the only credential. An unsigned event is
        # refused and changes nothing of any organization (the walk's snapshot of A).
        call=lambda ids: Call(
            "POST",
            "/api/v1/billing/webhooks/stripe",
            {"id": "evt_forged", "type": "customer.subscription.deleted", "data": {}},
        ),
        walk=status_is(400),
        roles=anonymous_route(400),
        tenant=False,
        settings={"STRIPE_WEBHOOK_SECRET": "whsec_walk"},
    ),
}
