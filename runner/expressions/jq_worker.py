"""The process that runs jq programs (libjq, through the `jq` package) for jq.py.

Run as a script (`python -I jq_worker.py MEMORY_MIB`), never imported by the
renderer: libjq cannot be interrupted from Python, so a program that loops or
grows is ended by killing this process. It caps its own address space (a
program that allocates without end aborts here, not in the server), writes no
file and dumps no core. One request per line on stdin, one answer per line on
stdout, both JSON:

  request  {"p": program, "i": input as JSON text, "s": input was a string,
            "n": most results, "c": most characters of the results as JSON}
  answer   {"ok": [results…]}  or  {"error": message}

This file imports nothing from runner/, so the process starts in milliseconds.
"""

from __future__ import annotations

import json
import resource
import sys
from collections.abc import Iterator
from typing import Any

import jq  # type: ignore[import-not-found]  # a C extension without type hints

_MAX_PROGRAMS = 256  # compiled programs kept for reuse


def limit_self(memory_mib: int) -> None:
    memory = memory_mib * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))


def _results(program: Any, request: dict[str, Any]) -> Iterator[str]:
    text = request["i"]
    if request.get("s"):  # Kestra reads a string input as one JSON document
        try:
            json.loads(text)
        except ValueError as err:
            raise ValueError(f"the input is not JSON: {err}") from None
    for result in program.input_text(text):
        yield json.dumps(result, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def answer(request: dict[str, Any], programs: dict[str, Any]) -> str:
    source = request["p"]
    program = programs.get(source)
    if program is None:
        program = jq.compile(source)
        if len(programs) >= _MAX_PROGRAMS:
            programs.clear()
        programs[source] = program
    parts: list[str] = []
    size = 0
    for part in _results(program, request):
        parts.append(part)
        size += len(part) + 1
        if len(parts) > request["n"]:
            return _error(f"more than {request['n']} results")
        if size > request["c"]:
            return _error(f"the results are longer than {request['c']} characters as JSON")
    return '{"ok":[' + ",".join(parts) + "]}"


def _error(message: str) -> str:
    return json.dumps({"error": message.strip()})


def main() -> None:
    limit_self(int(sys.argv[1]))
    programs: dict[str, Any] = {}
    for line in sys.stdin:
        try:
            reply = answer(json.loads(line), programs)
        except MemoryError:
            reply = json.dumps({"error": "the program needed more memory than allowed", "oom": True})
        except (ValueError, TypeError, KeyError) as err:
            reply = _error(str(err).replace("jq: 1 compile error", "").replace("jq: error: ", ""))
        sys.stdout.write(reply + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
