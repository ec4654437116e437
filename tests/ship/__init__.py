"""Tests of logship.ship: batching, retries, the shipper."""
