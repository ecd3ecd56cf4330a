"""Periodic maintenance of the chat app (Celery beat in scaled mode, config.periodic's timer in
embedded mode)."""

from celery import shared_task
from celery.signals import worker_ready

from chat.recovery import chat_messages_recover_orphans


@shared_task(name="chat.recover_orphans", ignore_result=True)
def chat_recover_orphans_task() -> int:
    """Close answers whose generating worker died (what ``manage.py chat_recover`` does)."""
    return len(chat_messages_recover_orphans())


@worker_ready.connect
def _recover_on_worker_start(**kwargs: object) -> None:
    # A worker (re)starting after a crash closes the answers that died with the ASGI workers
    # of the deployment without waiting for beat (the ASGI workers sweep at their own start).
    chat_recover_orphans_task.delay()
