"""Runs inside the sandbox (`python -I -S harness.py FD`): reads {source, function, arguments, paths,
proxy} from stdin (marshal, written by the host), runs the function and writes one JSON envelope to
file descriptor FD, so nothing the user's code prints can corrupt it. Imports nothing of axops, and
not `json` either: its import (with `re`) would double the start time, so the encoder is below.
"""

import marshal
import os
import sys

_ESCAPES = {i: f"\\u{i:04x}" for i in range(32)} | {34: '\\"', 92: "\\\\", 10: "\\n", 13: "\\r", 9: "\\t"}


def _key(key) -> str:
    if isinstance(key, str):
        return key
    if key is None or isinstance(key, (bool, int, float)):
        return _encode(key)
    raise TypeError(f"keys must be str, int, float, bool or None, not {type(key).__name__}")


def _encode(value) -> str:
    """JSON for what json.dumps(allow_nan=False) accepts; TypeError/ValueError otherwise."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return '"' + value.translate(_ESCAPES) + '"'
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError("NaN and infinity are not JSON")
        return float.__repr__(value)
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_encode(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(_encode(_key(k)) + ":" + _encode(v) for k, v in value.items()) + "}"
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _forwarder(socket_path: str) -> int:
    """127.0.0.1:<port> inside the sandbox, relayed to the host's allowlist proxy on a unix socket."""
    import socket
    import threading

    def pipe(src, dst) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def serve(listener) -> None:
        while True:
            client, _ = listener.accept()
            upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                upstream.connect(socket_path)
            except OSError:
                client.close()
                continue
            threading.Thread(target=pipe, args=(client, upstream), daemon=True).start()
            threading.Thread(target=pipe, args=(upstream, client), daemon=True).start()

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    threading.Thread(target=serve, args=(listener,), daemon=True).start()
    return listener.getsockname()[1]


def _run(request: dict) -> dict:
    namespace = {"__name__": "tool", "__builtins__": __builtins__}
    try:
        exec(compile(request["source"], "tool.py", "exec"), namespace)
        function = namespace.get(request["function"])
        if not callable(function):
            return {"ok": False, "error_kind": "exception", "error": f"no function named {request['function']!r}"}
        value = function(**request["arguments"])
        if hasattr(value, "__await__"):
            import asyncio

            async def wait(awaitable):
                return await awaitable

            value = asyncio.run(wait(value))
    except MemoryError:
        return {"ok": False, "error_kind": "memory", "error": "MemoryError: the memory limit was reached"}
    except BaseException as exc:  # the user's code may raise anything, SystemExit included
        import traceback  # only on failure: it pulls in linecache and tokenize

        tail = traceback.format_exception(exc)[-6:]
        return {"ok": False, "error_kind": "exception", "error": f"{type(exc).__name__}: {exc}", "trace": "".join(tail)}
    return {"ok": True, "value": value}


def main() -> None:
    result_fd = int(sys.argv[1])
    request = marshal.loads(sys.stdin.buffer.read())
    sys.stdin = open(os.devnull)
    sys.path.extend(request.get("paths", ()))
    if request.get("proxy"):
        url = f"http://127.0.0.1:{_forwarder(request['proxy'])}"
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
            os.environ[name] = url
    envelope = _run(request)
    try:
        raw = _encode(envelope).encode("utf-8")
    except (TypeError, ValueError, RecursionError, UnicodeEncodeError) as exc:
        kind = type(envelope.get("value")).__name__
        raw = _encode({"ok": False, "error_kind": "invalid_result", "error": f"{kind} is not JSON: {exc}"}).encode(
            "utf-8", "replace"
        )
    while raw:
        raw = raw[os.write(result_fd, raw) :]
    os.close(result_fd)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # threads the code left running don't hold the run open


if __name__ == "__main__":
    main()
