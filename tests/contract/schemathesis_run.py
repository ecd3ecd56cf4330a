"""schemathesis over the whole schema against a live server: zero failures allowed.

Starts the server (``live_server``), logs in as its admin (so admin operations are exercised
too) and runs the pinned schemathesis CLI with the checks ``not_a_server_error``,
``status_code_conformance`` and ``response_schema_conformance``: at most
``CONTRACT_MAX_EXAMPLES`` (20) cases per operation, positive and negative data, a fixed seed so
CI is reproducible. Excluded - because they would end the run's own session - are only the
operations in ``SESSION_ENDING`` (listed in the README too).
"""

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

from tests.contract.live_server import live_server

CHECKS = "not_a_server_error,status_code_conformance,response_schema_conformance"
SESSION_ENDING = [
    "auth_logout_create",  # ends this session's tokens
    "auth_logout_all_create",  # ends every session of the run's user
    "auth_password_change_create",  # a change ends every other session
    "users_me_password_create",  # the same operation under users/me
    "auth_password_reset_create",  # a reset ends every session of the user
]
# The login throttles and lock-out would otherwise answer most generated cases with 429 (which
# is documented, so conformant) and leave the success bodies untested.
GENEROUS_LIMITS = dict.fromkeys(
    (
        "THROTTLE_LOGIN",
        "THROTTLE_LOGIN_IP",
        "THROTTLE_MFA",
        "THROTTLE_MFA_IP",
        "THROTTLE_REGISTER",
        "THROTTLE_ACCOUNT_EMAIL",
        "THROTTLE_ACCOUNT_EMAIL_IP",
        "THROTTLE_CHAT_MESSAGE",
        "THROTTLE_DOCUMENT_UPLOAD",
        "THROTTLE_SEARCH",
    ),
    "100000/min",
) | {"LOGIN_LOCKOUT_THRESHOLD": "100000", "API_KEYS_MAX_PER_USER": "1000"}


def _admin_token(base_url: str, email: str, password: str) -> str:
    request = urllib.request.Request(
        f"{base_url}/api/v1/auth/login",
        data=json.dumps({"email": email, "password": password}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())["access"]


def main() -> int:
    max_examples = os.environ.get("CONTRACT_MAX_EXAMPLES", "20")
    with live_server(GENEROUS_LIMITS) as server:
        token = _admin_token(server.url, server.admin_email, server.admin_password)
        command = [
            str(Path(sys.executable).with_name("schemathesis")),
            "--config-file",
            str(Path(__file__).with_name("schemathesis.toml")),
            "run",
            f"{server.url}/api/schema/",
            "--url",
            server.url,
            "--checks",
            CHECKS,
            "--max-examples",
            max_examples,
            "--seed",
            os.environ.get("CONTRACT_SEED", "16"),
            "--phases",
            "examples,coverage,fuzzing",
            "--workers",
            "1",
            "--request-timeout",
            "30",
            "--header",
            f"Authorization: Bearer {token}",
            "--no-color",
        ]
        for operation_id in SESSION_ENDING:
            command += ["--exclude-operation-id", operation_id]
        result = subprocess.run(command, check=False)
        if result.returncode != 0:
            print(f"server log: {server.log_path} (set CONTRACT_KEEP_DATA=1 to keep it)")
        return result.returncode


if __name__ == "__main__":
    sys.exit(main())
