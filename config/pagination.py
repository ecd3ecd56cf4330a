"""Default pagination: ``?page=`` and ``?page_size=`` (capped by ``API_MAX_PAGE_SIZE``).

DRF silently ignores a ``page_size`` it cannot read (``null``, ``abc``, ``0``, ``-1``), so a
client's mistake passes unnoticed; here it is a 400 envelope. Sizes above the cap are served at
the cap, as documented.
"""

from typing import Any

from django.conf import settings
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request


def _positive_int_param(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1 or not raw.strip().isdigit():
        raise ValidationError({name: ["A positive whole number is required."]})
    return value


class DefaultPagination(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = settings.API_MAX_PAGE_SIZE

    def get_page_size(self, request: Request) -> int:
        size = _positive_int_param(request, self.page_size_query_param)
        if size is None:
            return self.page_size
        return min(size, self.max_page_size)

    def paginate_queryset(self, queryset: Any, request: Request, view: Any = None) -> Any:
        if request.query_params.get(self.page_query_param) not in self.last_page_strings:
            _positive_int_param(request, self.page_query_param)
        return super().paginate_queryset(queryset, request, view)

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            parameter["schema"]["minimum"] = 1
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"]["maximum"] = self.max_page_size
        return parameters
