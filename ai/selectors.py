"""Reads of the generation history (``/ai/generate``), scoped to the acting user."""

from django.db.models import Q, QuerySet

from ai.models import Generation
from config.exceptions import NotFoundError
from core.actor import Actor


def generation_list(*, actor: Actor, search: str = "") -> QuerySet[Generation]:
    """The actor's generations, newest first; ``search`` matches prompt or answer."""
    queryset = Generation.objects.filter(user=actor.user).prefetch_related("ratings")
    search = search.strip()[:200]
    if search:
        queryset = queryset.filter(Q(prompt__icontains=search) | Q(response__icontains=search))
    return queryset.order_by("-created_at", "-pk")


def generation_get(*, actor: Actor, generation_id: int) -> Generation:
    """One of the actor's generations; anybody else's is a 404."""
    generation = generation_list(actor=actor).filter(pk=generation_id).first()
    if generation is None:
        raise NotFoundError("Generation not found.")
    return generation
