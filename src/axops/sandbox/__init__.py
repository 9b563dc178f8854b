"""Running untrusted Python (tools written by users) in bubblewrap: no network unless allowed, a
read-only system, a private work directory, limits on CPU, memory, processes, output and time.
A leaf module: it knows nothing of axops; its configuration comes as arguments.

`runner.run_python` runs one function and returns a `Result`; `runner.wrap` (or `isolation.bwrap_argv`
with `isolation.preexec`) sandboxes a long-lived command; `proxy` is the allowlist proxy of a run."""

from axops.sandbox.isolation import Limits
from axops.sandbox.runner import Result, available, run_python, wrap

__all__ = ["Limits", "Result", "available", "run_python", "wrap"]
