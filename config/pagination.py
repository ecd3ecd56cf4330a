"""Default pagination: ``?page=`` and ``?page_size=`` (capped by ``API_MAX_PAGE_SIZE``)."""

from django.conf import settings
from rest_framework.pagination import PageNumberPagination


class DefaultPagination(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = settings.API_MAX_PAGE_SIZE
