"""The forms a secret value takes in text (pure): as is, URL-encoded (`quote` and
`quote_plus`) and JSON-escaped, longest first.

A secret in a URL query or a JSON body is escaped; masking only its plain form would let
it through a log line or an Event. Neighbours: `analysis.args.ResolvedArgs.redact` (an
AnalysisRun's secret arguments) and `rollouts.notifications.config.redactor` (the
notification Secret's values) mask every form.
"""

from __future__ import annotations

import json
from urllib.parse import quote, quote_plus

__all__ = ["secret_forms"]


def secret_forms(secret: str) -> list[str]:
    """`secret` and its URL-encoded and JSON-escaped forms, distinct, longest first."""
    # surrogatepass: a lone surrogate (not valid UTF-8, so never from a Secret) must not
    # make redaction itself fail.
    forms = [secret, quote(secret, safe="", errors="surrogatepass"),
             quote_plus(secret, errors="surrogatepass"), json.dumps(secret)[1:-1]]
    return sorted({form for form in forms if form}, key=len, reverse=True)
