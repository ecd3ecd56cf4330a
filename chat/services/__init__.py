"""Writes of chat data: sessions, turns, the end of a generation, feedback.

The REST views, the WebSocket consumer and the admin all go through these modules.
"""
