class ProvisionError(RuntimeError):
    """A real part (Kafka, PostgreSQL) could not be started; the message says which, why and what to do."""
