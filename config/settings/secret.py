"""The embedded mode's signing key: random, generated once into ``DATA_DIR``, never logged."""

import os
import secrets
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

SECRET_KEY_FILE_NAME = "secret_key"
_MIN_LENGTH = 50


def embedded_secret_key(data_dir: Path) -> str:
    """Return the key kept in ``data_dir/secret_key``, creating it (mode 0600) on first start.

    Every process of one ``DATA_DIR`` (the server, ``manage.py`` commands, a worker) must sign
    with the same key, so the file is created atomically: written under a private temporary
    name, then hard-linked into place; a process that loses the race reads the winner's key.
    """
    path = data_dir / SECRET_KEY_FILE_NAME
    if not path.exists():
        tmp = data_dir / f".{SECRET_KEY_FILE_NAME}.{os.getpid()}.{secrets.token_hex(4)}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(64))
            os.link(tmp, path)
        except FileExistsError:
            pass  # another process of this DATA_DIR created it first: use its key
        finally:
            tmp.unlink(missing_ok=True)
    if path.stat().st_mode & 0o077:
        os.chmod(path, 0o600)  # a key readable by other users is not a secret
    key = path.read_text().strip()
    if len(key) < _MIN_LENGTH:
        raise ImproperlyConfigured(
            f"{path} holds no usable key; delete it to generate a new one (every session and "
            "token of this installation ends) or set DJANGO_SECRET_KEY."
        )
    return key
