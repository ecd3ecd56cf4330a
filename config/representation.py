"""Rendering read-only serializers without rebuilding their fields on every request.

A DRF serializer builds its fields for every instance it is created for: a ``ModelSerializer``
inspects the model and deep-copies the declared fields each time, which costs more than
rendering a small object (the profile of ``GET /api/v1/users/me`` showed ``get_fields`` as one of
its largest costs). For output-only serializers whose representation depends on the instance
alone (no ``context``, no request), one instance per process renders every object:
``to_representation`` only reads its fields. The serializer class stays the source of truth
for the shape and for the OpenAPI schema.
"""

import threading
from collections.abc import Iterable
from typing import Any

from rest_framework import serializers


class Representer:
    """``Representer(UserSerializer)(user)`` == ``UserSerializer(user).data``, fields built once.

    Only for serializers that do not read ``self.context`` (nor the request) while rendering.
    """

    def __init__(self, serializer_class: type[serializers.Serializer]) -> None:
        self.serializer_class = serializer_class
        self._prototype: serializers.Serializer | None = None
        self._lock = threading.Lock()

    def _serializer(self) -> serializers.Serializer:
        prototype = self._prototype
        if prototype is None:
            with self._lock:
                if self._prototype is None:
                    built = self.serializer_class()
                    built.fields  # noqa: B018 - bind the fields now, once, under the lock
                    self._prototype = built
                prototype = self._prototype
        return prototype

    def __call__(self, instance: Any) -> dict[str, Any]:
        return self._serializer().to_representation(instance)

    def many(self, instances: Iterable[Any]) -> list[dict[str, Any]]:
        serializer = self._serializer()
        return [serializer.to_representation(instance) for instance in instances]
