"""Extra routes used only by the foundation tests (mounted with ``pytest.mark.urls``)."""

from django.urls import include, path
from rest_framework import serializers
from rest_framework.permissions import AllowAny, IsAdminUser
from rest_framework.response import Response
from rest_framework.throttling import AnonRateThrottle
from rest_framework.views import APIView

from config.urls import urlpatterns as project_urlpatterns


class EchoSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=10)
    count = serializers.IntegerField(min_value=0)


class EchoView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []

    def post(self, request):
        serializer = EchoSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return Response(serializer.validated_data)

    def get(self, request):
        return Response({"ok": True})


class BoomView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []

    def get(self, request):
        raise RuntimeError("database password is hunter2 at /srv/secret/path")


class AdminOnlyView(APIView):
    permission_classes = [IsAdminUser]

    def get(self, request):
        return Response({"ok": True})


class TightThrottle(AnonRateThrottle):
    rate = "2/min"


class ThrottledView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []
    throttle_classes = [TightThrottle]

    def get(self, request):
        return Response({"ok": True})


urlpatterns = [
    path("api/v1/test/echo", EchoView.as_view()),
    path("api/v1/test/boom", BoomView.as_view()),
    path("api/v1/test/admin-only", AdminOnlyView.as_view()),
    path("api/v1/test/throttled", ThrottledView.as_view()),
    path("", include(project_urlpatterns)),
]

handler400 = "config.exceptions.handler400"
handler403 = "config.exceptions.handler403"
handler404 = "config.exceptions.handler404"
handler500 = "config.exceptions.handler500"
