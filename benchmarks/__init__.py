"""Benchmarks: sqsobs side by side with the seed packages and the raw boto3 limit.

Run ``python -m benchmarks`` (``--help`` for options). Each contender runs in its own client
process against one shared server process per run (the "null SQS" of :mod:`benchmarks.null_sqs`
for the client-side ceiling, moto's server for functional truth), interleaved, several
repetitions, medians reported. This package is never imported by the library.
"""

from __future__ import annotations
