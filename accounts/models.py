"""The custom user: email login, a role, and a token version that revokes every token at once."""

from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.db import models
from django.utils import timezone


class Role(models.TextChoices):
    ADMIN = "admin", "Admin"
    USER = "user", "User"
    VIEWER = "viewer", "Viewer"


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def _create(self, email: str, password: str | None, **fields: Any) -> "User":
        if not email:
            raise ValueError("An email address is required")
        email = self.normalize_email(email).lower()
        fields.setdefault("username", email.split("@", 1)[0])
        user = self.model(email=email, **fields)
        if password:
            user.set_password(password)
        else:
            user.set_unusable_password()
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **fields: Any) -> "User":
        fields.setdefault("role", Role.USER)
        return self._create(email, password, **fields)

    def create_superuser(self, email: str, password: str | None = None, **fields: Any) -> "User":
        """An admin. A given password must pass the password policy: ``createsuperuser``
        (``DJANGO_SUPERUSER_PASSWORD`` is not validated by Django) and ``create_default_admin``
        both end here, and an administrator's password guards the whole installation."""
        from django.contrib.auth.password_validation import validate_password

        fields["role"] = Role.ADMIN
        fields.setdefault("is_verified", True)
        if password:
            # Raises ValidationError; createsuperuser turns it into a CommandError.
            validate_password(password, user=self.model(email=email, **fields))
        return self._create(email, password, **fields)

    def get_by_natural_key(self, username: str | None) -> "User":
        return self.get(email__iexact=username or "")


class User(AbstractBaseUser, PermissionsMixin):
    """A person who logs in with an email address. ``is_staff`` follows the admin role."""

    email = models.EmailField(unique=True, max_length=254)
    username = models.CharField(unique=True, max_length=150)
    full_name = models.CharField(max_length=200, blank=True, default="")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.USER, db_index=True)
    is_active = models.BooleanField(default=True)
    is_verified = models.BooleanField(default=False)
    is_staff = models.BooleanField(default=False, editable=False)
    preferences = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    # Bumped to revoke every access and refresh token of the user at once (suspension,
    # password change, logout-all); checked by the authentication class on each request.
    token_version = models.PositiveIntegerField(default=0, editable=False)
    # Why an admin deactivated the account (shown in the console; cleared on reactivation).
    # db_default: rows written by code that predates the column (a rolling deploy, a rollback
    # test's historical models) still insert.
    deactivation_reason = models.CharField(max_length=255, blank=True, default="", db_default="")

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["username"]

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["role", "is_active"])]

    def __str__(self) -> str:
        return self.email

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.email = (self.email or "").strip().lower()
        self.is_staff = self.role == Role.ADMIN
        self.is_superuser = self.role == Role.ADMIN
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and "role" in update_fields:
            kwargs["update_fields"] = {*update_fields, "is_staff", "is_superuser"}
        super().save(*args, **kwargs)


class RevokedAccessToken(models.Model):
    """An access token ended before its expiry (logout). Rows are useless once ``expires_at``
    passes, so they are pruned then; the authentication class checks ``jti`` on every request
    in the same query that loads the user."""

    jti = models.CharField(max_length=64, unique=True)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="revoked_access_tokens")
    expires_at = models.DateTimeField(db_index=True)
    revoked_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"revoked access token {self.jti}"


class ApiKeyScope(models.TextChoices):
    """What a personal API key may reach (see ``accounts.apikeys`` for the mapping)."""

    CHAT = "chat", "Chat"
    DOCUMENTS = "documents", "Documents and search"
    READ = "read", "Read-only everywhere the user can read"
    OPENAI = "openai", "OpenAI-compatible API (/v1/)"


class ApiKey(models.Model):
    """A personal API key. Only the SHA-256 of the secret is stored; the secret is shown once.

    The secret carries 256 random bits, so a fast hash is enough (nobody can brute-force it)
    and one indexed lookup per request finds the key.
    """

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_keys")
    # The organization the key acts in (issued for one; the user must still be a member).
    organization = models.ForeignKey(
        "tenants.Organization", on_delete=models.CASCADE, related_name="api_keys"
    )
    name = models.CharField(max_length=100)
    # The public part of the key (``ak_<prefix>_...``), shown in lists to tell keys apart.
    prefix = models.CharField(max_length=16, unique=True)
    secret_hash = models.CharField(max_length=64, unique=True, editable=False)
    scopes = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["user", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.name} (ak_{self.prefix}_…)"

    @property
    def is_usable(self) -> bool:
        """Not revoked and not expired (the owner's own state is checked separately)."""
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or self.expires_at > timezone.now()


class UserDeletionStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class UserDeletion(models.Model):
    """A background job erasing one user and their data, part by part, in small batches.

    Outlives the user (``user`` becomes NULL at the end): it is the record of what was removed.
    Resumable: every batch is its own transaction, ``removed`` counts what is gone, and a job
    whose worker died (no heartbeat) is claimed again by the periodic maintenance.
    """

    user = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="deletions"
    )
    # Who the job was for, kept after the account is gone (the job is the record of it).
    user_label = models.CharField(max_length=300)
    requested_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(
        max_length=16,
        choices=UserDeletionStatus.choices,
        default=UserDeletionStatus.PENDING,
        db_index=True,
    )
    # What the preview showed when the deletion was asked for, and what is gone so far.
    preview = models.JSONField(default=dict, blank=True)
    removed = models.JSONField(default=dict, blank=True)
    step = models.CharField(max_length=64, blank=True, default="")
    attempts = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True, default="")
    heartbeat_at = models.DateTimeField(default=timezone.now)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # One open job per user: asking twice returns the running one.
            models.UniqueConstraint(
                fields=["user"],
                condition=models.Q(status__in=["pending", "running"]),
                name="one_open_deletion_per_user",
            )
        ]

    def __str__(self) -> str:
        return f"Deletion of {self.user_label} ({self.status})"
