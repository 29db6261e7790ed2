"""Schema steps of the outbox table, which every service has. Migrations call these; once
released a step never changes (a later change is a new function and new migrations)."""

from alembic import op

from shared.platform.outbox import OUTBOX_CHANNEL

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


# 2026-11: every insert into the outbox wakes every relay listening on this database (other
# processes too: an API process writes, a `clusnet worker` publishes). One notification per
# statement, and PostgreSQL folds identical notifications of one transaction into one, delivered
# at commit: a relay is never woken for rows it cannot see yet.
def notify_on_outbox_insert() -> None:
    op.execute(f"""
CREATE FUNCTION clusnet_outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('{OUTBOX_CHANNEL}', '');
  RETURN NULL;
END $$""")
    op.execute("CREATE TRIGGER outbox_notify AFTER INSERT ON outbox FOR EACH STATEMENT EXECUTE FUNCTION clusnet_outbox_notify()")


def drop_outbox_notify() -> None:
    op.execute("DROP TRIGGER outbox_notify ON outbox")
    op.execute("DROP FUNCTION clusnet_outbox_notify()")
