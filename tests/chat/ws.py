"""A small WebSocket client for the chat consumer tests (channels' WebsocketCommunicator)."""

from typing import Any

from channels.testing import WebsocketCommunicator

ORIGIN = (b"origin", b"http://testserver")


def application():
    from config.asgi import application as app

    return app


async def open_socket(
    token: str | None = None,
    *,
    via: str = "frame",
    path: str = "/ws/chat/",
    origin: tuple[bytes, bytes] = ORIGIN,
) -> WebsocketCommunicator:
    """Connect and authenticate; returns the communicator after the ``ready`` frame."""
    subprotocols = None
    if via == "query" and token is not None:
        path = f"{path}?token={token}"
    if via == "subprotocol" and token is not None:
        subprotocols = ["bearer", token]
    communicator = WebsocketCommunicator(
        application(), path, headers=[origin], subprotocols=subprotocols
    )
    connected, _ = await communicator.connect(timeout=5)
    assert connected
    if via == "frame" and token is not None:
        await communicator.send_json_to({"type": "auth", "token": token})
    if token is not None:
        ready = await communicator.receive_json_from(timeout=5)
        assert ready["type"] == "ready", ready
    return communicator


async def until_end(
    communicator: WebsocketCommunicator, *, timeout: float = 15
) -> list[dict[str, Any]]:
    """Frames up to and including the next ``end`` frame."""
    frames = []
    while True:
        frame = await communicator.receive_json_from(timeout=timeout)
        frames.append(frame)
        if frame["type"] == "end":
            return frames


def text_of(frames: list[dict[str, Any]]) -> str:
    return "".join(f["content"] for f in frames if f["type"] == "token")


def assert_in_order(frames: list[dict[str, Any]], *, first: int = 1) -> None:
    seqs = [f["seq"] for f in frames if f["type"] == "token"]
    assert seqs == list(range(first, first + len(seqs))), seqs
