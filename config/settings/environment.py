"""The environment every settings module reads: ``BASE_DIR``, ``env`` and the optional ``.env``.

Kept apart from ``base`` so production can check its required secrets before ``base`` runs
(``base`` would otherwise generate an embedded-mode key file on a production host first).
"""

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent.parent
env = environ.Env()
if (BASE_DIR / ".env").is_file():
    env.read_env(str(BASE_DIR / ".env"))
