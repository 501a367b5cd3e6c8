"""Local stand-ins for the pipeline's external services (a real Kafka broker), for development and tests."""
