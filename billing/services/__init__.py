"""Writes of billing: subscriptions, invoices, period closes, the webhook inbox."""
