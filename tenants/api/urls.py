"""Routes of the organizations API (mounted at ``/api/v1/``: ``organizations...``).

``{organization}`` is an organization's id or slug, or ``current`` (the one the request acts
in: ``X-Tenant-ID`` or the default)."""

from django.urls import path

from tenants.api.views import governance, invitations, members, organizations

urlpatterns = [
    path(
        "organizations",
        organizations.OrganizationListCreateView.as_view(),
        name="organization-list",
    ),
    path(
        "organizations/invitations/accept",
        invitations.InvitationAcceptView.as_view(),
        name="organization-invitation-accept",
    ),
    path(
        "organizations/<str:organization>",
        organizations.OrganizationDetailView.as_view(),
        name="organization-detail",
    ),
    path(
        "organizations/<str:organization>/default",
        organizations.OrganizationDefaultView.as_view(),
        name="organization-default",
    ),
    path(
        "organizations/<str:organization>/members",
        members.MemberListView.as_view(),
        name="organization-members",
    ),
    path(
        "organizations/<str:organization>/members/<int:user_id>",
        members.MemberDetailView.as_view(),
        name="organization-member-detail",
    ),
    path(
        "organizations/<str:organization>/invitations",
        invitations.InvitationListCreateView.as_view(),
        name="organization-invitations",
    ),
    path(
        "organizations/<str:organization>/invitations/<uuid:invitation_id>",
        invitations.InvitationDetailView.as_view(),
        name="organization-invitation-detail",
    ),
    path(
        "organizations/<str:organization>/invitations/<uuid:invitation_id>/resend",
        invitations.InvitationResendView.as_view(),
        name="organization-invitation-resend",
    ),
    path(
        "organizations/<str:organization>/audit",
        governance.AuditEventListView.as_view(),
        name="organization-audit",
    ),
    path(
        "organizations/<str:organization>/flags",
        governance.OrganizationFlagListView.as_view(),
        name="organization-flags",
    ),
    path(
        "organizations/<str:organization>/flags/<str:name>",
        governance.OrganizationFlagDetailView.as_view(),
        name="organization-flag-detail",
    ),
]
