"""Daphne (Twisted) adjustment for the embedded server, applied by ``config.asgi``.

Twisted's ``http.Request`` parses every multipart POST body into ``request.args`` before the
application sees it - a second parse of a whole upload that Daphne never reads - and answers a
body it cannot parse with a bare ``400`` (no envelope, no Content-Type) without calling the
application. Turning that parse off leaves multipart bodies to Django/DRF, which answer malformed
ones with the 400 envelope like every other bad input.
"""

import inspect

from twisted.web import http


def disable_twisted_form_parsing() -> None:
    """Make Daphne's requests skip Twisted's own form parsing (idempotent)."""
    from daphne.http_protocol import WebRequest

    if getattr(WebRequest, "_aichat_form_parsing_off", False):
        return
    if "parsePOSTFormSubmission" not in inspect.signature(http.Request.__init__).parameters:
        return  # an older Twisted without the switch
    original = WebRequest.__init__

    def __init__(self: WebRequest, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("parsePOSTFormSubmission", False)
        original(self, *args, **kwargs)

    WebRequest.__init__ = __init__
    WebRequest._aichat_form_parsing_off = True
