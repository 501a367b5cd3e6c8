"""The ingestion gateway: the original's API Gateway endpoints (Kafka REST v2 and the Kinesis proxy).

``app.create_app`` builds the FastAPI application, ``backends`` talks to Kafka and Kinesis, ``limits``
holds the body size and rate limits. ``pinpipe gateway`` serves it with uvicorn.
"""
