"""Generations that run independently of any socket: ``generation`` (one answer streamed,
published and saved) and ``running`` (this process's generations, their heartbeat, cancel)."""
