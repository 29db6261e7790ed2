"""Schema steps of the outbox table, which every service has. Migrations call these; once
released a step never changes (a later change is a new function and new migrations)."""

from alembic import op

# 2026-11: the Kafka message is stored serialized (headers + value) instead of the event's JSON.
TO_SERIALIZED = """
UPDATE outbox SET
  headers = json_build_object(
    'ce_specversion', '1.0', 'ce_id', event->>'id', 'ce_type', event->>'type', 'ce_source', event->>'source',
    'ce_subject', event->>'subject', 'ce_time', regexp_replace(event->>'time', 'Z$', '+00:00'),
    'content-type', 'application/json', 'traceparent', event->>'traceparent'),
  value = convert_to((event->'data')::text, 'UTF8')
"""


def serialize_outbox_messages() -> None:
    op.execute("ALTER TABLE outbox ADD COLUMN headers json, ADD COLUMN value bytea")
    op.execute(TO_SERIALIZED)  # rows still waiting when the migration runs keep their event
    op.execute("ALTER TABLE outbox ALTER COLUMN headers SET NOT NULL, ALTER COLUMN value SET NOT NULL, DROP COLUMN event")


def unserialize_outbox_messages() -> None:
    op.execute("ALTER TABLE outbox ADD COLUMN event json")
    op.execute("""
UPDATE outbox SET event = json_build_object(
  'id', headers->>'ce_id', 'type', headers->>'ce_type', 'source', headers->>'ce_source', 'subject', headers->>'ce_subject',
  'time', headers->>'ce_time', 'traceparent', headers->>'traceparent', 'data', convert_from(value, 'UTF8')::json)
""")
    op.execute("ALTER TABLE outbox ALTER COLUMN event SET NOT NULL, DROP COLUMN headers, DROP COLUMN value")
