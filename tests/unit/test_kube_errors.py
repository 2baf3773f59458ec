"""HTTP answers mapped onto our error tree: the class, `temporary`, and the message."""

from __future__ import annotations

import json

import pytest

from rollouts.kube import (
    AlreadyExists,
    Conflict,
    FieldCause,
    Forbidden,
    Gone,
    Invalid,
    KubeError,
    NotFound,
    Unauthorized,
    Unavailable,
    error_from_response,
)


def status(code: int, reason: str, message: str, **details: object) -> bytes:
    return json.dumps({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                       "code": code, "reason": reason, "message": message,
                       "details": details}).encode()


@pytest.mark.parametrize(("code", "reason", "cls", "temporary"), [
    (404, "NotFound", NotFound, False),
    (409, "AlreadyExists", AlreadyExists, False),
    (409, "Conflict", Conflict, True),
    (410, "Expired", Gone, True),
    (401, "Unauthorized", Unauthorized, True),
    (403, "Forbidden", Forbidden, False),
    (422, "Invalid", Invalid, False),
    (429, "TooManyRequests", Unavailable, True),
    (500, "InternalError", Unavailable, True),
    (503, "ServiceUnavailable", Unavailable, True),
    (504, "Timeout", Unavailable, True),
    (400, "BadRequest", KubeError, False),
    (415, "UnsupportedMediaType", KubeError, False),
])
def test_status_codes_map_to_classes_with_their_retry_policy(
    code: int, reason: str, cls: type[KubeError], temporary: bool
) -> None:
    error = error_from_response(code, status(code, reason, "something happened"))
    assert type(error) is cls
    assert (error.status, error.reason, error.temporary) == (code, reason, temporary)
    assert str(error) == "something happened"


def test_all_errors_are_kube_errors() -> None:
    for cls in (NotFound, AlreadyExists, Conflict, Gone, Unauthorized, Forbidden, Invalid,
                Unavailable):
        assert issubclass(cls, KubeError)


def test_invalid_carries_the_rejected_fields() -> None:
    body = status(
        422, "Invalid", 'Rollout.argoproj.io "web" is invalid: spec.replicas: Invalid value',
        name="web", kind="Rollout",
        causes=[{"reason": "FieldValueInvalid", "message": "Invalid value: -1: must be >= 0",
                 "field": "spec.replicas"},
                {"reason": "FieldValueRequired", "message": "Required value"}],
    )
    error = error_from_response(422, body)
    assert isinstance(error, Invalid)
    assert error.causes == (
        FieldCause("spec.replicas", "FieldValueInvalid", "Invalid value: -1: must be >= 0"),
        FieldCause("", "FieldValueRequired", "Required value"),
    )
    assert str(error.causes[0]) == "spec.replicas: Invalid value: -1: must be >= 0"


def test_rate_limiting_says_when_to_come_back() -> None:
    error = error_from_response(429, status(429, "TooManyRequests", "slow down",
                                            retryAfterSeconds=3))
    assert error.retry_after == 3.0


def test_a_body_that_is_not_a_status_still_gives_a_one_line_message() -> None:
    error = error_from_response(502, b"<html>\n<body>Bad gateway</body>\n</html>")
    assert isinstance(error, Unavailable)
    assert error.message == "HTTP 502: <html> <body>Bad gateway</body> </html>"
    assert str(error_from_response(503, None)) == "HTTP 503 from the API server"


def test_a_decoded_status_is_accepted() -> None:
    assert isinstance(error_from_response(404, {"message": "gone", "reason": "NotFound"}),
                      NotFound)


def test_messages_are_one_line_and_short() -> None:
    error = error_from_response(500, status(500, "", "line one\nline two\t" + "x" * 2000))
    assert "\n" not in error.message
    assert error.message.startswith("line one line two x")
    assert len(error.message) <= 500


def test_messages_never_carry_credentials() -> None:
    error = KubeError("request with Authorization: Bearer eyJhbGciOi.abc-def_123 failed; "
                      "url?token=s3cret&x=1")
    assert "eyJhbGciOi" not in str(error)
    assert "s3cret" not in str(error)
    assert "Bearer <redacted>" in str(error)


def test_temporary_can_be_overridden() -> None:
    assert KubeError("x").temporary is False
    assert KubeError("x", temporary=True).temporary is True
    assert Unavailable("x", temporary=False).temporary is False
