"""Who may create an account by email code besides open registration, and what happens to
the invitation a new account arrives with.

Apps above ``accounts`` plug in here (``tenants`` registers its pending invitations in its
``AppConfig.ready``), so the code login asks them without importing them.
"""

from collections.abc import Callable
from typing import Any

from accounts.services.registration import registration_is_open

# ``gate(email) -> bool``: whether something (a pending invitation) lets ``email`` sign up.
_gates: list[Callable[[str], bool]] = []
# ``acceptor(user=, token=, actor=)``: use an invitation token the sign-in came with.
_acceptors: list[Callable[..., Any]] = []


def signup_gate_register(gate: Callable[[str], bool]) -> None:
    if gate not in _gates:
        _gates.append(gate)


def invitation_acceptor_register(acceptor: Callable[..., Any]) -> None:
    if acceptor not in _acceptors:
        _acceptors.append(acceptor)


def code_signup_allowed(email: str) -> bool:
    """Whether an address with no account may create one by email code: registration is
    open, or a registered gate (a pending invitation for it) lets it in."""
    return registration_is_open() or any(gate(email) for gate in _gates)


def invitation_accept_hook(*, user: Any, token: str, actor: Any) -> None:
    """Accept the invitation ``token`` as ``user`` through every registered acceptor."""
    for acceptor in _acceptors:
        acceptor(user=user, token=token, actor=actor)
