"""The management console of accounts: users (list, filters, search, the account actions),
their API keys, session records and deletion jobs; other apps' admins it hides.

Every action calls the same service the API uses, so the console never bypasses a rule.
Importing this package (Django's admin autodiscovery) registers them all.
"""

from accounts.admin import api_keys, deletions, hidden, tokens, users

__all__ = ["api_keys", "deletions", "hidden", "tokens", "users"]
