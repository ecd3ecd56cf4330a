"""Each door turns what it has into the same Actor."""

import dataclasses

import pytest
from django.contrib.auth.models import AnonymousUser
from django.test import RequestFactory

from accounts.models import User
from core.actor import Actor, actor_for_system, actor_from_request, actor_from_scope


def test_actor_from_a_request_has_the_user_address_request_id_and_agent():
    user = User(pk=7, email="a@example.com")
    request = RequestFactory().get("/", REMOTE_ADDR="203.0.113.9", HTTP_USER_AGENT="curl/8")
    request.user = user
    request.request_id = "req-1"
    actor = actor_from_request(request)
    assert (actor.user, actor.user_id, actor.ip) == (user, 7, "203.0.113.9")
    assert (actor.request_id, actor.user_agent, actor.system) == ("req-1", "curl/8", False)
    assert actor.is_authenticated


def test_anonymous_request_gives_an_actor_without_user():
    request = RequestFactory().post("/", REMOTE_ADDR="198.51.100.1")
    request.user = AnonymousUser()
    actor = actor_from_request(request)
    assert actor.user is None and not actor.is_authenticated and actor.ip == "198.51.100.1"
    identified = actor.as_user(User(pk=3))
    assert identified.user_id == 3 and identified.ip == "198.51.100.1"


def test_socket_and_system_actors():
    scope = {"client": ("192.0.2.4", 5000), "headers": [(b"user-agent", b"ws-client")]}
    user = User(pk=1)
    socket = actor_from_scope(scope, user)
    assert (socket.user, socket.ip, socket.user_agent, socket.system) == (
        user,
        "192.0.2.4",
        "ws-client",
        False,
    )
    system = actor_for_system(user, request_id="task-1")
    assert system.system and system.ip is None and system.request_id == "task-1"


def test_actor_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        Actor().user = User()  # type: ignore[misc]
