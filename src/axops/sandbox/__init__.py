"""Running untrusted Python (tools written by users) in bubblewrap: no network unless allowed, a
read-only system, a private work directory, limits on CPU, memory, processes, output and time.
A leaf module: it knows nothing of axops but its settings."""
