"""Factories of the chat models."""

import factory

from chat.models import ChatMessage, ChatSession, MessageStatus
from tests.factories import UserFactory


class ChatSessionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ChatSession

    user = factory.SubFactory(UserFactory)
    title = factory.Sequence(lambda n: f"Session {n}")


class ChatMessageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ChatMessage

    session = factory.SubFactory(ChatSessionFactory)
    user = factory.LazyAttribute(lambda o: o.session.user)
    message = factory.Sequence(lambda n: f"Question {n}?")
    response = factory.Sequence(lambda n: f"Answer {n}.")
    status = MessageStatus.COMPLETE
    metadata = factory.LazyFunction(lambda: {"provider": "offline", "model": "offline-extractive"})
