"""Health of SealedSecrets and ExternalSecrets: Argo CD's Lua checks, on the status shapes
their controllers write (sealed-secrets' `Synced` condition with `observedGeneration`,
external-secrets' `Ready` condition with `refreshTime`), so an Application waits for
its secrets to exist before it says Healthy (and a PostSync hook before it runs)."""

from __future__ import annotations

from typing import Any

import yaml

from reconciler.health import app_health, resource_health
from rollouts.api.phases import HealthStatusCode as H

SEALED = """
apiVersion: bitnami.com/v1alpha1
kind: SealedSecret
metadata: {name: registry, namespace: shop, generation: 1}
spec:
  encryptedData: {.dockerconfigjson: AgBy3i4OJSWK+PiTySYZZA==}
  template:
    metadata: {name: registry, namespace: shop, creationTimestamp: null}
    type: kubernetes.io/dockerconfigjson
"""

EXTERNAL = """
apiVersion: external-secrets.io/v1beta1
kind: ExternalSecret
metadata: {name: db, namespace: shop, generation: 1}
spec:
  refreshInterval: 1h
  secretStoreRef: {kind: ClusterSecretStore, name: vault}
  target: {name: db, creationPolicy: Owner}
  data:
  - secretKey: password
    remoteRef: {key: secret/shop/db, property: password}
"""


def sealed(status: dict[str, Any] | None = None, generation: int = 1) -> dict[str, Any]:
    obj: dict[str, Any] = yaml.safe_load(SEALED)
    obj["metadata"]["generation"] = generation
    if status is not None:
        obj["status"] = status
    return obj


def synced(value: str, message: str = "", observed: int | None = 1) -> dict[str, Any]:
    status: dict[str, Any] = {"conditions": [{
        "lastTransitionTime": "2026-12-04T10:00:00Z", "lastUpdateTime": "2026-12-04T10:00:01Z",
        "message": message, "status": value, "type": "Synced"}]}
    if observed is not None:
        status["observedGeneration"] = observed
    return status


def external(status: dict[str, Any] | None = None, **spec: Any) -> dict[str, Any]:
    obj: dict[str, Any] = yaml.safe_load(EXTERNAL)
    obj["spec"].update(spec)
    if status is not None:
        obj["status"] = status
    return obj


def ready(value: str, message: str, reason: str, *, at: str = "2026-12-04T10:00:00Z",
          **extra: Any) -> dict[str, Any]:
    return {"conditions": [{"lastTransitionTime": at, "message": message, "reason": reason,
                            "status": value, "type": "Ready"}],
            "syncedResourceVersion": "1-519a61da0dc68b2575b4f8efada70e42", **extra}


class TestSealedSecret:
    def test_before_the_controller_answers_it_is_progressing(self) -> None:
        assert resource_health(sealed()) == (H.PROGRESSING,
                                             "Waiting for Sealed Secret to be decrypted")

    def test_decrypted_is_healthy(self) -> None:
        assert resource_health(sealed(synced("True"))) == (H.HEALTHY, "")

    def test_a_key_that_cannot_decrypt_it_is_degraded_with_the_controllers_message(self) -> None:
        health = resource_health(sealed(synced(
            "False", "no key could decrypt secret (.dockerconfigjson)")))
        assert health == (H.DEGRADED, "no key could decrypt secret (.dockerconfigjson)")

    def test_a_condition_about_an_older_generation_does_not_count(self) -> None:
        # A new encryptedData in Git: the Synced=True left from generation 1 says nothing
        # about generation 2 (and neither does an old failure).
        assert resource_health(sealed(synced("True"), generation=2)).status is H.PROGRESSING
        assert resource_health(sealed(synced("False", "x"), generation=2)).status is \
            H.PROGRESSING
        assert resource_health(sealed(synced("True", observed=2), generation=2)).status is \
            H.HEALTHY

    def test_a_controller_that_records_no_generation_is_trusted(self) -> None:
        assert resource_health(sealed(synced("True", observed=None), generation=3)).status is \
            H.HEALTHY

    def test_other_conditions_are_not_the_answer(self) -> None:
        status = {"conditions": [{"type": "Ready", "status": "True"}], "observedGeneration": 1}
        assert resource_health(sealed(status)).status is H.PROGRESSING

    def test_being_deleted_is_progressing(self) -> None:
        obj = sealed(synced("True"))
        obj["metadata"]["deletionTimestamp"] = "2026-12-04T10:00:00Z"
        assert resource_health(obj).status is H.PROGRESSING

    def test_an_app_with_an_undecrypted_sealed_secret_is_not_healthy(self) -> None:
        assert app_health([H.HEALTHY, resource_health(sealed()).status]) is H.PROGRESSING


class TestExternalSecret:
    def test_before_the_first_sync_it_is_progressing(self) -> None:
        assert resource_health(external()) == (H.PROGRESSING, "Waiting for ExternalSecret")

    def test_synced_is_healthy_with_the_message(self) -> None:
        status = ready("True", "Secret was synced", "SecretSynced",
                       refreshTime="2026-12-04T10:00:00Z")
        assert resource_health(external(status)) == (H.HEALTHY, "Secret was synced")

    def test_a_provider_error_is_degraded(self) -> None:
        message = ('could not get secret data from provider: key "secret/shop/db" from '
                   'ExternalSecret "db"')
        health = resource_health(external(ready("False", message, "SecretSyncedError")))
        assert health == (H.DEGRADED, message)

    def test_on_change_waits_for_a_condition_newer_than_the_refresh(self) -> None:
        stale = ready("True", "Secret was synced", "SecretSynced", at="2026-12-04T09:59:34Z",
                      refreshTime="2026-12-04T10:32:24Z")
        fresh = ready("True", "Secret was synced", "SecretSynced", at="2026-12-04T10:32:24Z",
                      refreshTime="2026-12-04T10:32:24Z")
        assert resource_health(external(stale, refreshPolicy="OnChange")).status is \
            H.PROGRESSING
        assert resource_health(external(fresh, refreshPolicy="OnChange")).status is H.HEALTHY
        # Periodic refresh (the default): the last answer stands until the next one.
        assert resource_health(external(stale)).status is H.HEALTHY

    def test_an_unknown_ready_condition_is_still_waiting(self) -> None:
        status = ready("Unknown", "", "")
        assert resource_health(external(status)).status is H.PROGRESSING

    def test_a_crd_of_another_group_named_externalsecret_has_no_check(self) -> None:
        obj = external(ready("False", "broken", "SecretSyncedError"))
        obj["apiVersion"] = "kubernetes-client.io/v1"
        assert resource_health(obj).status is H.HEALTHY
