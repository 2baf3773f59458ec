"""`reconciler.projects`: what an AppProject permits, as pure functions of the parsed model.

Public surface (neighbours import these, not the modules):

- rules (`rules`): `check_source_repo`, `check_destination`, `check_object_namespace`,
  `check_resource`, `check_source_namespace`, and the helpers `namespace_matches`,
  `normalize_git_url`, `cluster_aliases`; each check returns None when permitted, else
  one line naming the project and the rule that forbids it;
- sync windows (`windows`): `sync_window_verdict`, `next_window_change`,
  `matching_windows`, `window_states` / `window_state` and `WindowState`;
- orphaned objects (`orphans`): `orphaned_objects`, `orphan_warning`,
  `ORPHANED_CONDITION`;
- the `default` project (`defaults`): `default_project`, `DEFAULT_PROJECT_NAME`.

Argo CD's semantics throughout (see each module). The model and its lint rules are
`rollouts.api.appproject` / `rollouts.api.rules_appproject`; the controller's use of these
rules is `reconciler.project_gate`. No I/O, no clock: `now` is an argument.
"""

from reconciler.projects.defaults import DEFAULT_PROJECT_NAME, default_project
from reconciler.projects.orphans import ORPHANED_CONDITION, orphan_warning, orphaned_objects
from reconciler.projects.rules import (
    IN_CLUSTER_NAME,
    IN_CLUSTER_SERVER,
    check_destination,
    check_object_namespace,
    check_resource,
    check_source_namespace,
    check_source_repo,
    cluster_aliases,
    namespace_matches,
    normalize_git_url,
)
from reconciler.projects.windows import (
    WindowState,
    matching_windows,
    next_window_change,
    sync_window_verdict,
    window_state,
    window_states,
)

__all__ = [
    "DEFAULT_PROJECT_NAME",
    "IN_CLUSTER_NAME",
    "IN_CLUSTER_SERVER",
    "ORPHANED_CONDITION",
    "WindowState",
    "check_destination",
    "check_object_namespace",
    "check_resource",
    "check_source_namespace",
    "check_source_repo",
    "cluster_aliases",
    "default_project",
    "matching_windows",
    "namespace_matches",
    "next_window_change",
    "normalize_git_url",
    "orphan_warning",
    "orphaned_objects",
    "sync_window_verdict",
    "window_state",
    "window_states",
]
