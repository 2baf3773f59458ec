"""Templates as Argo CD renders them: Go text/template with sprig, and fasttemplate tags.

- `parse(source, name=...) -> GoTemplate`, `GoTemplate.execute(data, missing_key_error=...)`
  and `render_go(...)`: Go templates (ApplicationSets with `goTemplate: true`,
  notification templates); see `rollouts.templating.go`.
- `render_fast(source, params)`: ApplicationSet's default `{{param}}` substitution; see
  `rollouts.templating.fast`.
- `normalize(name)`: Argo CD's `SanitizeName` (sprig's `normalize`; ApplicationSets'
  `nameNormalized`, `basenameNormalized`).
- `TemplateError` (a ValueError): every failure, with a one-line message naming the
  template, the line:column and the cause.

Pure: no I/O, no clock, no imports of the client or the runtime. Neighbours: the
ApplicationSet controller and the notifications controller use it; nothing here knows
about them.
"""

from rollouts.templating.errors import TemplateError
from rollouts.templating.fast import render_fast
from rollouts.templating.go import GoTemplate, parse, render_go
from rollouts.templating.sprig_argo import normalize

__all__ = ["GoTemplate", "TemplateError", "normalize", "parse", "render_fast", "render_go"]
