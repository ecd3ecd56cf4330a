"""Routes of the documents API: ``documents/…`` and ``search``."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from documents.api.search import SearchView
from documents.api.views import DocumentViewSet

router = SimpleRouter(trailing_slash=False)
router.register("documents", DocumentViewSet, basename="documents")

urlpatterns = [
    path("search", SearchView.as_view(), name="search"),
    *router.urls,
]
