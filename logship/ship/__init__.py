"""Shipping: batches read from the disk buffer, sent to a sink, classified, retried and acknowledged."""
