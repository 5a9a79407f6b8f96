"""The public credit portal: server-rendered pages over the same services the API calls.

Anyone may look up an organisation's public record, the catalogue, the
published rulebooks, the ledger's latest checkpoint and aggregate statistics;
a person signs in with their subject key to see their own file, who looked
them up, and to dispute a record. Pages are Jinja2 templates that read
without JavaScript; every asset (CSS, charts drawn as SVG on the server) is
served from the package, so no third party learns who reads what.
"""
