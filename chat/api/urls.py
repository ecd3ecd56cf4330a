"""Routes under /api/v1/chat/."""

from django.urls import path

from chat.api import views

urlpatterns = [
    path("sessions", views.SessionListCreateView.as_view(), name="chat-session-list"),
    path(
        "sessions/<int:session_id>", views.SessionDetailView.as_view(), name="chat-session-detail"
    ),
    path(
        "sessions/<int:session_id>/messages",
        views.SessionMessagesView.as_view(),
        name="chat-session-messages",
    ),
    path(
        "sessions/<int:session_id>/regenerate",
        views.SessionRegenerateView.as_view(),
        name="chat-session-regenerate",
    ),
    path("message", views.SendMessageView.as_view(), name="chat-message-send"),
    path(
        "messages/<int:message_id>/feedback",
        views.MessageFeedbackView.as_view(),
        name="chat-message-feedback",
    ),
]
