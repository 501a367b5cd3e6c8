"""Kafka: the two roles a client plays (producer, landing consumer), the two clients that play them,
topics, and the landing of a topic into the raw landing (docs/architecture.md, "Module by module")."""
