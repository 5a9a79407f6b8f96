"""The HTTP API (FastAPI): thin routers over credence.service, RFC 9457 errors, keys."""
