"""Prometheus metrics, defined once per process (the registry is global)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

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
EMAILS_SENT = Counter("panel_emails_sent_total", "Emails handed to the SMTP server, by kind", ["kind"])
