"""Contender client programs: each runs in its own process, one run per process.

They import only the standard library, boto3 and the contender under test (never the harness),
so the seed packages can run them from their own virtual environments.
"""
