"""AppProject rules with Argo CD's semantics: repositories, destinations, kinds, namespaces.

Each case is a project as a user writes it and a question the controller asks; a refusal
must name the project and the rule, so the tests read the message too.
"""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.projects import (
    check_destination,
    check_object_namespace,
    check_resource,
    check_source_namespace,
    check_source_repo,
    default_project,
    namespace_matches,
    normalize_git_url,
)
from rollouts.api import AppProject, check_object, parse_object

IN_CLUSTER = "https://kubernetes.default.svc"


def project(name: str = "team-a", **spec: Any) -> AppProject:
    obj = parse_object({"apiVersion": "argoproj.io/v1alpha1", "kind": "AppProject",
                        "metadata": {"name": name, "namespace": "argocd"}, "spec": spec})
    assert isinstance(obj, AppProject)
    return obj


class TestSourceRepos:
    def test_given_a_segment_glob_then_only_that_owner_s_repositories_pass(self) -> None:
        proj = project(sourceRepos=["https://github.com/acme/*"])
        assert check_source_repo(proj, "https://github.com/acme/shop") is None
        assert check_source_repo(proj, "https://github.com/acme/shop.git") is None
        refusal = check_source_repo(proj, "https://github.com/evil/shop")
        assert refusal == ("project 'team-a' does not permit repository "
                           "'https://github.com/evil/shop' (sourceRepos: "
                           "https://github.com/acme/*)")

    def test_star_does_not_cross_a_path_segment_but_double_star_does(self) -> None:
        assert check_source_repo(project(sourceRepos=["https://github.com/acme/*"]),
                                 "https://github.com/acme/group/shop") is not None
        assert check_source_repo(project(sourceRepos=["https://github.com/acme/**"]),
                                 "https://github.com/acme/group/shop") is None

    def test_a_lone_star_permits_every_url(self) -> None:
        assert check_source_repo(project(sourceRepos=["*"]), "git@host:a/b/c.git") is None

    def test_urls_are_compared_normalized_case_suffix_and_scp_form(self) -> None:
        proj = project(sourceRepos=["git@github.com:acme/*"])
        assert check_source_repo(proj, "git@GitHub.com:Acme/Shop.git") is None
        assert normalize_git_url("git@github.com:acme/x.git") == "git@github.com/acme/x"
        assert normalize_git_url(" HTTPS://Host/X.git ") == "https://host/x"

    def test_a_negated_entry_denies_even_when_a_star_permits(self) -> None:
        proj = project(sourceRepos=["*", "!https://github.com/acme/secret"])
        assert check_source_repo(proj, "https://github.com/acme/shop") is None
        refusal = check_source_repo(proj, "https://github.com/acme/secret.git")
        assert refusal is not None
        assert "denies repository" in refusal and "sourceRepos[1]" in refusal

    def test_a_lone_negation_permits_everything_else_as_in_argo(self) -> None:
        proj = project(sourceRepos=["!https://github.com/acme/secret"])
        assert check_source_repo(proj, "https://github.com/acme/shop") is None
        assert check_source_repo(proj, "https://github.com/acme/secret") is not None

    def test_no_source_repos_permits_nothing(self) -> None:
        refusal = check_source_repo(project(), "https://github.com/acme/shop")
        assert refusal is not None and "sourceRepos is empty" in refusal

    def test_credentials_in_the_url_neither_leak_nor_change_the_host_judged(self) -> None:
        proj = project(sourceRepos=["https://github.com/acme/*"])
        assert check_source_repo(proj, "https://robot:s3cr3t@github.com/acme/shop") is None
        refusal = check_source_repo(proj, "https://github.com:pw@evil.example/acme/shop")
        assert refusal is not None and "pw" not in refusal and "evil.example" in refusal


class TestDestinations:
    def test_server_and_namespace_globs_must_both_match(self) -> None:
        proj = project(destinations=[{"server": IN_CLUSTER, "namespace": "team-a-*"}])
        assert check_destination(proj, server=IN_CLUSTER, name=None, namespace="team-a-web") \
            is None
        refusal = check_destination(proj, server=IN_CLUSTER, name=None, namespace="kube-system")
        assert refusal == ("project 'team-a' does not permit namespace 'kube-system' of cluster "
                           f"'{IN_CLUSTER}' (destinations: {{server={IN_CLUSTER} "
                           "namespace=team-a-*})")

    def test_the_local_cluster_matches_by_name_or_by_server(self) -> None:
        by_name = project(destinations=[{"name": "in-cluster", "namespace": "*"}])
        by_server = project(destinations=[{"server": IN_CLUSTER, "namespace": "*"}])
        assert check_destination(by_name, server=IN_CLUSTER, name=None, namespace="x") is None
        assert check_destination(by_server, server=None, name="in-cluster", namespace="x") \
            is None
        assert check_destination(by_server, server=IN_CLUSTER + "/", name=None,
                                 namespace="x") is None

    def test_another_cluster_is_not_the_local_one(self) -> None:
        proj = project(destinations=[{"server": IN_CLUSTER, "namespace": "*"}])
        assert check_destination(proj, server="https://prod.example:6443", name=None,
                                 namespace="x") is not None

    def test_a_negated_namespace_denies_it_and_permits_the_rest(self) -> None:
        proj = project(destinations=[{"server": "*", "namespace": "!kube-*"},
                                     {"server": "*", "namespace": "*"}])
        assert check_destination(proj, server=IN_CLUSTER, name=None, namespace="shop") is None
        refusal = check_destination(proj, server=IN_CLUSTER, name=None, namespace="kube-system")
        assert refusal is not None and "denies" in refusal and "destinations[0]" in refusal

    def test_a_negated_server_denies_that_cluster(self) -> None:
        proj = project(destinations=[{"server": "*", "namespace": "*"},
                                     {"server": f"!{IN_CLUSTER}", "namespace": "*"}])
        assert check_destination(proj, server=IN_CLUSTER, name=None, namespace="x") is not None

    def test_no_destinations_permits_nothing(self) -> None:
        refusal = check_destination(project(), server=IN_CLUSTER, name=None, namespace="x")
        assert refusal is not None and "destinations is empty" in refusal

    def test_the_object_namespace_rule_passes_cluster_scoped_objects(self) -> None:
        proj = project(destinations=[{"server": "*", "namespace": "team-a"}])
        assert check_object_namespace(proj, server=IN_CLUSTER, name=None, namespace="") is None
        assert check_object_namespace(proj, server=IN_CLUSTER, name=None,
                                      namespace="team-a") is None
        assert check_object_namespace(proj, server=IN_CLUSTER, name=None,
                                      namespace="team-b") is not None


class TestResources:
    def test_no_cluster_whitelist_means_no_cluster_scoped_kind(self) -> None:
        refusal = check_resource(project(), group="rbac.authorization.k8s.io",
                                 kind="ClusterRoleBinding", namespaced=False)
        assert refusal == ("project 'team-a' does not permit cluster-scoped "
                           "rbac.authorization.k8s.io/ClusterRoleBinding "
                           "(clusterResourceWhitelist is empty: no cluster-scoped kind is "
                           "allowed)")

    def test_no_namespace_whitelist_means_every_namespaced_kind(self) -> None:
        assert check_resource(project(), group="apps", kind="Deployment", namespaced=True) \
            is None

    def test_an_explicit_empty_namespace_whitelist_means_none_as_in_argo(self) -> None:
        proj = project(namespaceResourceWhitelist=[])
        assert check_resource(proj, group="", kind="ConfigMap", namespaced=True) is not None

    def test_whitelist_globs_for_group_and_kind_core_group_is_empty(self) -> None:
        proj = project(clusterResourceWhitelist=[{"group": "", "kind": "Namespace"},
                                                 {"group": "*.k8s.io", "kind": "Cluster*"}])
        assert check_resource(proj, group="", kind="Namespace", namespaced=False) is None
        assert check_resource(proj, group="rbac.authorization.k8s.io", kind="ClusterRole",
                              namespaced=False) is None
        refusal = check_resource(proj, group="apiextensions.k8s.io",
                                 kind="CustomResourceDefinition", namespaced=False)
        assert refusal is not None and "clusterResourceWhitelist: Namespace" in refusal

    def test_the_blacklist_wins_over_the_whitelist(self) -> None:
        proj = project(clusterResourceWhitelist=[{"group": "*", "kind": "*"}],
                       clusterResourceBlacklist=[{"group": "rbac.authorization.k8s.io",
                                                  "kind": "ClusterRoleBinding"}],
                       namespaceResourceBlacklist=[{"group": "", "kind": "Secret"}])
        refusal = check_resource(proj, group="rbac.authorization.k8s.io",
                                 kind="ClusterRoleBinding", namespaced=False)
        assert refusal is not None and "clusterResourceBlacklist[0]" in refusal
        assert check_resource(proj, group="", kind="Secret", namespaced=True) is not None
        assert check_resource(proj, group="", kind="ConfigMap", namespaced=True) is None

    def test_cluster_lists_may_restrict_by_name(self) -> None:
        proj = project(clusterResourceWhitelist=[{"group": "", "kind": "Namespace",
                                                  "name": "team-a-*"}])
        assert check_resource(proj, group="", kind="Namespace", namespaced=False,
                              name="team-a-web") is None
        assert check_resource(proj, group="", kind="Namespace", namespaced=False,
                              name="kube-system") is not None

    def test_kind_globs_are_case_sensitive_like_filepath_match(self) -> None:
        proj = project(namespaceResourceBlacklist=[{"group": "", "kind": "secret"}])
        assert check_resource(proj, group="", kind="Secret", namespaced=True) is None


class TestSourceNamespaces:
    def test_the_control_namespace_is_always_permitted(self) -> None:
        assert check_source_namespace(project(), app_namespace="argocd",
                                      control_namespace="argocd") is None

    def test_other_namespaces_need_a_match(self) -> None:
        proj = project(sourceNamespaces=["team-a-*"])
        assert check_source_namespace(proj, app_namespace="team-a-dev",
                                      control_namespace="argocd") is None
        refusal = check_source_namespace(proj, app_namespace="team-b",
                                         control_namespace="argocd")
        assert refusal == ("project 'team-a' does not permit Applications in namespace "
                           "'team-b' (sourceNamespaces: team-a-*)")

    def test_without_source_namespaces_only_the_control_namespace(self) -> None:
        refusal = check_source_namespace(project(), app_namespace="team-a",
                                         control_namespace="argocd")
        assert refusal is not None and "only Applications in 'argocd'" in refusal

    def test_slash_wrapped_entries_are_regular_expressions(self) -> None:
        assert namespace_matches(["/^team-(a|b)$/"], "team-b")
        assert not namespace_matches(["/^team-(a|b)$/"], "team-c")
        assert not namespace_matches(["/([/"], "x")  # a bad expression matches nothing


def test_the_default_project_permits_everything_like_argo_cd_s() -> None:
    proj = parse_object(default_project("argocd"))
    assert isinstance(proj, AppProject) and proj.name == "default"
    assert proj.metadata.namespace == "argocd"
    assert check_source_repo(proj, "https://any.example/x/y/z.git") is None
    assert check_destination(proj, server=IN_CLUSTER, name=None, namespace="any") is None
    assert check_resource(proj, group="rbac.authorization.k8s.io", kind="ClusterRoleBinding",
                          namespaced=False) is None
    assert check_resource(proj, group="apps", kind="Deployment", namespaced=True) is None


@pytest.mark.parametrize("pattern", ["[abc", "{a,b", "a\\"])
def test_a_malformed_glob_matches_nothing(pattern: str) -> None:
    # lint refuses such a project; a model built without lint must still fail closed
    proj = AppProject.model_validate({"metadata": {"name": "p"}, "spec": {
        "destinations": [{"server": "*", "namespace": pattern}]}})
    assert check_destination(proj, server=IN_CLUSTER, name=None, namespace="a") is not None


class TestRegularExpressionsCannotStallTheController:
    def test_nested_repetition_is_refused_and_matches_nothing(self) -> None:
        import time

        hostile = "/^(a|aa)+$/"
        started = time.monotonic()
        assert not namespace_matches([hostile], "a" * 62 + "!")
        assert time.monotonic() - started < 2  # Python's backtracking would take ages
        result = check_object({"apiVersion": "argoproj.io/v1alpha1", "kind": "AppProject",
                               "metadata": {"name": "p"}, "spec": {"sourceNamespaces": [hostile]}})
        (problem,) = result.errors
        assert problem.path == "spec.sourceNamespaces[0]" and "exponential" in problem.message

    def test_plain_groups_and_classes_are_fine(self) -> None:
        assert namespace_matches(["/^team-(a|b)-[0-9]+$/"], "team-a-12")


def test_the_public_surface_is_pinned() -> None:
    import reconciler.projects as projects

    assert sorted(projects.__all__) == [
        "DEFAULT_PROJECT_NAME", "IN_CLUSTER_NAME", "IN_CLUSTER_SERVER", "ORPHANED_CONDITION",
        "WindowState", "check_destination", "check_object_namespace", "check_resource",
        "check_source_namespace", "check_source_repo", "cluster_aliases", "default_project",
        "matching_windows", "namespace_matches", "next_window_change", "normalize_git_url",
        "orphan_warning", "orphaned_objects", "sync_window_verdict", "window_state",
        "window_states"]
    for name in projects.__all__:
        assert hasattr(projects, name), name
