"""Prometheus metrics (prometheus-client: the standard exposition format without hand-writing it)."""

from prometheus_client import Counter, Gauge, Histogram

REQUEST_DURATION = Histogram(
    "clusnet_http_request_duration_seconds", "HTTP request duration", ["service", "method", "route", "status"]
)
EVENTS_PUBLISHED = Counter("clusnet_events_published_total", "Events published by the outbox relay", ["service", "type"])
EVENTS_CONSUMED = Counter("clusnet_events_consumed_total", "Events consumed", ["service", "type", "outcome"])
CONSUMER_LAG = Gauge(
    "clusnet_consumer_lag", "Messages not yet consumed (NaN while it cannot be measured)", ["service", "topic", "partition"]
)
CONSUMER_LAG_UNKNOWN = Gauge(
    "clusnet_consumer_lag_unknown", "1 while the consumer lag cannot be measured (the broker does not answer)", ["service"]
)
OUTBOX_BACKLOG = Gauge("clusnet_outbox_backlog", "Outbox rows waiting to be published", ["service"])
OUTBOX_OLDEST_AGE = Gauge("clusnet_outbox_oldest_age_seconds", "Age of the oldest unpublished outbox row", ["service"])
DELIVERY_ATTEMPTS = Counter("clusnet_delivery_attempts_total", "Notification delivery attempts", ["channel", "outcome"])
REQUESTS_REFUSED = Counter(
    "clusnet_http_requests_refused_total",
    "Requests refused at once (503): the process was at capacity, its event loop ran late, or its consumers were behind",
    ["service"],
)
PIPELINE_DELAY = Gauge(
    "clusnet_pipeline_delay_seconds",
    "How long ago the oldest event of this service's stream that a running consumer group has not applied was appended"
    " (admission signal for writes)",
    ["service"],
)
PIPELINE_BACKLOG = Gauge(
    "clusnet_pipeline_backlog_events",
    "Events of this service's stream that the latest running consumer group (see clusnet_pipeline_delay_seconds) has not applied",
    ["service"],
)
PIPELINE_DRAIN = Gauge(
    "clusnet_pipeline_drain_seconds",
    "How long that group takes to apply the events waiting, at the rate it has applied them over the last 1.5 s"
    " (admission signal for writes, with the delay)",
    ["service"],
)
EVENT_LOOP_LAG = Gauge(
    "clusnet_event_loop_lag_seconds", "How late the API process's event loop ran its latest timer (admission signal)", ["service"]
)
