"""`credence serve`: the HTTP API (credence.api) on uvicorn, for every party."""

from __future__ import annotations

from credence.cli.common import console, settings, user_errors


def serve() -> None:
    """Serve the HTTP API on CREDENCE_HOST:CREDENCE_PORT (127.0.0.1:8000), until Ctrl-C.

    Sources submit records, relying parties check, subjects read their file and
    dispute, auditors audit, admins administer: each with a key from `credence key
    issue`. Interactive docs at /docs, the schema at /openapi.json.
    """
    from credence.api.server import serve as run

    chosen = settings()
    with user_errors():
        console.print(
            f"credence API on http://{chosen.host}:{chosen.port} (docs: /docs); Ctrl-C stops",
            highlight=False,
        )
        run(chosen)
