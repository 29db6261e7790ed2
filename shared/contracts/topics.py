"""Kafka topic names: `<prefix>.<stream>`, one stream per publishing service; dead letters in `<topic>.dlq`.

The prefix is a setting (`TOPIC_PREFIX`, default `clusnet`), so that tests and parallel
environments sharing one broker never read each other's events.
"""

RECOMMENDATIONS = "recommendations"
EVALUATIONS = "evaluations"
NOTIFICATIONS = "notifications"
STREAMS = (RECOMMENDATIONS, EVALUATIONS, NOTIFICATIONS)


def name(prefix: str, stream: str) -> str:
    return f"{prefix}.{stream}"


def dead_letter(topic: str) -> str:
    return f"{topic}.dlq"


def all_names(prefix: str) -> list[str]:
    """Every topic of the system, dead-letter topics included."""
    main = [name(prefix, s) for s in STREAMS]
    return [*main, *(dead_letter(t) for t in main)]
