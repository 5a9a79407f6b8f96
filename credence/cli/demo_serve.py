"""The demo's last step: demo keys for every role, ready-to-paste calls, then serve.

Keys issued by an earlier demo run are revoked first, so only this run's
keys work. The keys are also written to `<data dir>/demo-keys.env` (private)
for scripts.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from rich.console import Console

from credence.service.keys import issue_key, list_keys, revoke_key
from credence.settings import Settings
from credence.store.registry import Registry
from credence.synth.city import CityManifest

DEMO_PREFIX = "demo-"


def demo_keys(registry: Registry, manifest: CityManifest, person: str | None) -> dict[str, str]:
    """Fresh demo keys by role (old demo keys revoked): admin, source, relying party, ..."""
    for party in list_keys(registry):
        if party.name.startswith(DEMO_PREFIX) and party.revoked_at is None:
            revoke_key(registry, str(party.id))
    court = next(
        (s.name for s in manifest.sources if any("judicial" in p for p in s.patterns)), None
    )
    keys = {
        "admin": issue_key(registry, "admin", "demo-admin")[0],
        "relying-party": issue_key(
            registry, "relying-party", "demo-airline", ["flight-booking", "train-ticketing"]
        )[0],
        "auditor": issue_key(registry, "auditor", "demo-auditor")[0],
    }
    if court:
        keys["source"] = issue_key(registry, "source", "demo-court", source=court)[0]
    if person:
        keys["subject"] = issue_key(registry, "subject", "demo-person", subject=person)[0]
    return keys


def print_calls(
    console: Console,
    settings: Settings,
    keys: dict[str, str],
    person: str | None,
    organisation: str | None,
) -> Path:
    """Print the address and example calls; write the keys to demo-keys.env."""
    base = f"http://{settings.host}:{settings.port}"
    env = settings.data_dir / "demo-keys.env"
    lines = [f"{role.upper().replace('-', '_')}_KEY={key}" for role, key in keys.items()]
    env.write_text("\n".join(lines) + "\n", encoding="utf-8")
    env.chmod(0o600)
    out = [f"portal: {base}/  (a person signs in at {base}/me with the SUBJECT_KEY below)"]
    if organisation:
        out.append(f"  an organisation on a list: {base}/organisations/{organisation[5:]}")
    out.append(f"API: {base}  (interactive docs: {base}/docs, schema: {base}/openapi.json)")
    out.append(f"demo keys (also in {env}):")
    out += [f"  {line}" for line in lines]
    out.append("try:")
    out.append(f"  curl -s {base}/v1/health")
    if organisation:
        out.append(f"  curl -s {base}/v1/organisations/{organisation.removeprefix('uscc:')}")
    bearer = "Authorization: Bearer "
    if person:
        body = shlex.quote(f'{{"subject": "{person}", "purpose": "flight-booking"}}')
        out.append(
            f"  curl -s -H '{bearer}{keys['relying-party']}' -H 'Content-Type: application/json' "
            f"-d {body} {base}/v1/checks"
        )
    if "subject" in keys:
        out.append(f"  curl -s -H '{bearer}{keys['subject']}' {base}/v1/me")
    if "source" in keys:
        out.append(f"  curl -s -H '{bearer}{keys['source']}' {base}/v1/disputes")
    out.append(f"  curl -s -H '{bearer}{keys['auditor']}' {base}/v1/statistics")
    out.append(f"  curl -s -H '{bearer}{keys['admin']}' {base}/v1/keys")
    for line in out:
        console.print(line, highlight=False, markup=False, soft_wrap=True)
    return env
