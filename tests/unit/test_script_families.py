"""Kestra's other script families (ruby, r, julia, go, perl, php, lua, powershell, deno, bun,
jbang, groovy): each validates as Kestra writes it; perl runs here on the host."""

from __future__ import annotations

import textwrap

import pytest

from runner.events import State
from runner.language.parse import parse_flow
from tests.unit.engine_helpers import Harness

FAMILIES = ("ruby", "r", "julia", "go", "perl", "php", "lua", "powershell", "deno", "bun",
            "jbang", "groovy")


@pytest.mark.parametrize("family", FAMILIES)
def test_each_family_validates_as_kestra_writes_it(family: str) -> None:
    # https://kestra.io/plugins/plugin-script-<family> (Script and Commands examples)
    text = textwrap.dedent(f"""
        id: {family}_scripts
        namespace: company.team
        tasks:
          - id: script
            type: io.kestra.plugin.scripts.{family}.Script
            containerImage: my-registry/{family}:latest
            beforeCommands:
              - echo preparing
            script: "print hello"
            outputFiles:
              - "*.csv"
          - id: commands
            type: io.kestra.plugin.scripts.{family}.Commands
            taskRunner:
              type: io.kestra.plugin.scripts.runner.docker.Docker
            namespaceFiles:
              enabled: true
            commands:
              - run main
    """).lstrip("\n")
    flow, diagnostics = parse_flow(text, "f.yml")
    assert flow is not None and diagnostics == []


def test_perl_script_and_commands_on_the_host(h: Harness) -> None:
    # https://kestra.io/plugins/plugin-script-perl/io.kestra.plugin.scripts.perl.script
    execution = h.run("""
        id: perl_script
        namespace: company.team
        tasks:
          - id: script
            type: io.kestra.plugin.scripts.perl.Script
            taskRunner:
              type: io.kestra.plugin.core.runner.Process
            script: |
              my $total = 2 + 40;
              print "total is $total\\n";
              print "::{\\"outputs\\":{\\"total\\":$total}}::\\n";
          - id: commands
            type: io.kestra.plugin.scripts.perl.Commands
            taskRunner:
              type: io.kestra.plugin.core.runner.Process
            commands:
              - perl -e 'print "from commands\\n"'
          - id: log
            type: io.kestra.plugin.core.log.Log
            message: "{{ outputs.script.vars.total }}"
    """)
    assert execution.state.current is State.SUCCESS, h.logs()
    assert h.logs("script") == ["total is 42"]
    assert h.logs("commands") == ["from commands"]
    assert h.logs("log") == ["42"]
