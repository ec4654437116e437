"""The ``http`` sink: each batch is POSTed as NDJSON to ``LOGSHIP_HTTP_URL``.

Wire format: one record per line, each line ending with ``\\n`` (the last one too), ``Content-Type:
application/x-ndjson``, body compressed per ``LOGSHIP_HTTP_COMPRESSION`` (``gzip``, level 1: fast;
``zstd``, level 3, needs the optional ``zstandard`` package; ``none``) and announced by
``Content-Encoding``. Authentication: ``Authorization: Bearer <token>`` or ``Basic <base64(user:pass)>``
(built here: aiohttp 3.14 deprecates ``BasicAuth``), plus any extra headers. Redirects are not followed
(a 30x would turn the POST into a GET and lose the body); they count as rejections.

Answers (``classify``): 2xx delivered; 413 rejected, split the batch; 401/403 retried (credentials are
a configuration fault, not a fault of the records: dead-lettering would throw every record away until
someone fixes them, while retrying keeps them in the buffer); a status in ``retry_status`` retried,
honouring ``Retry-After``; any other status rejected. No answer: ``connect``, ``tls`` or ``timeout``
retry.
"""
