"""Large payloads: messages over the SQS limit stored in S3, a pointer sent in their place.

The pointer is the one AWS's extended clients use (``amazon-sqs-extended-client`` for Python,
``amazon-sqs-java-extended-client-lib`` for Java), so either side of a queue can be one of them:

- :mod:`._pointer`: the pointer body, the reserved ``ExtendedPayloadSize`` attribute, the key;
- :mod:`._rules`: when a message is offloaded, and what goes to SQS instead (producer side);
- :mod:`._store`: the S3 calls (put, get, delete, the bucket check) in CLIENT spans, counted;
- :mod:`._s3client`: the boto3 S3 client sqsobs builds when given none;
- :mod:`._parallel`: a batch's uploads on a few short-lived threads.

The producer, the listener and the dramatiq workers use it; it imports none of them.
"""
