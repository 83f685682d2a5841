"""Prometheus metrics, defined once per process (the registry is global)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

HTTP_REQUESTS = Counter(
    "panel_http_requests_total",
    "HTTP requests by endpoint, method and status",
    ["endpoint", "method", "status"],
)
HTTP_LATENCY = Histogram(
    "panel_http_request_duration_seconds",
    "HTTP request latency by endpoint",
    ["endpoint"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
JOBS_RUN = Counter("panel_jobs_total", "Background jobs run, by task and outcome", ["task", "outcome"])
JOBS_DEAD = Counter(
    "panel_jobs_given_up_total",
    "Outbox jobs given up after PANEL_JOB_MAX_ATTEMPTS failed runs, by task",
    ["task"],
)
JOBS_DEAD_NOW = Gauge(
    "panel_jobs_dead", "Dead outbox jobs waiting for an operator (`panel jobs retry`), read at each scrape"
)
EMAILS_SENT = Counter("panel_emails_sent_total", "Emails handed to the SMTP server, by kind", ["kind"])

# The matching and contact pipeline (panel_service.services.matching / contact).
INVITATIONS_CREATED = Counter("panel_invitations_created_total", "Invitations queued by matching")
INVITATIONS_SENT = Counter("panel_invitations_sent_total", "Invitations accepted by the SMTP server")
INVITATIONS_CANCELLED = Counter(
    "panel_invitations_cancelled_total", "Invitations cancelled before sending, by reason", ["reason"]
)
INVITATIONS_FAILED = Counter(
    "panel_invitations_failed_total", "Invitations given up after the last attempt, by reason", ["reason"]
)
INVITATIONS_DEFERRED = Counter(
    "panel_invitations_deferred_total",
    "Sends put off: SMTP refused (retry) or contact cap, by cause",
    ["cause"],
)
INVITATIONS_AMBIGUOUS = Gauge(
    "panel_invitations_ambiguous", "Invitations whose send may or may not have happened (operator to resolve)"
)
