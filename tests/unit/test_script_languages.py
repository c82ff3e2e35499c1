"""Kestra's script languages on the host (Process runner), each as Kestra's plugin pages write
them (kestra.io/plugins/plugin-script-<language>): a Script and a Commands task that read an
inputFiles file, write an outputFiles file and set outputs with `::{"outputs":…}::`. Which
interpreters scripts/setup test-env installs: node, perl, ruby, php, lua, a JDK (jbang's
Script falls back to `java Main.java`). Under CI=true a missing interpreter fails the test."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from runner.engine.engine import Engine
from runner.events import Collect, State
from runner.executors import Executors, LocalExecutor
from tests.conftest import PYTHON_IMAGE, _missing
from tests.unit.engine_helpers import flow_of

# language: (interpreter on the host, extension, a script reading in.txt, writing out.txt)
LANGUAGES = {
    "ruby": ("ruby", ".rb", """\
name = File.read("in.txt").strip
File.write("out.txt", "hello #{name}")
puts "::{\\"outputs\\":{\\"greeting\\":\\"hello #{name}\\"}}::"
"""),
    "php": ("php", ".php", """\
<?php
$text = file_get_contents("in.txt");
if ($text === false) { exit(1); }
$name = trim($text);
file_put_contents("out.txt", "hello $name");
echo "::" . json_encode(["outputs" => ["greeting" => "hello $name"]]) . "::\\n";
"""),
    "lua": ("lua", ".lua", """\
local f = io.open("in.txt"); local name = f:read("l"); f:close()
local o = io.open("out.txt", "w"); o:write("hello " .. name); o:close()
print('::{"outputs":{"greeting":"hello ' .. name .. '"}}::')
"""),
    "node": ("node", ".js", """\
const fs = require("fs");
const name = fs.readFileSync("in.txt", "utf8").trim();
fs.writeFileSync("out.txt", `hello ${name}`);
console.log(`::${JSON.stringify({outputs: {greeting: `hello ${name}`}})}::`);
"""),
    "perl": ("perl", ".pl", """\
open(my $f, "<", "in.txt") or die "in.txt: $!"; my $name = <$f>; chomp $name; close $f;
open(my $o, ">", "out.txt"); print $o "hello $name"; close $o;
print "::{\\"outputs\\":{\\"greeting\\":\\"hello $name\\"}}::\\n";
"""),
    "jbang": ("java", ".java", """\
import java.nio.file.*;

class hello {
    public static void main(String[] args) throws Exception {
        String name = Files.readString(Path.of("in.txt")).strip();
        Files.writeString(Path.of("out.txt"), "hello " + name);
        System.out.println("::{\\"outputs\\":{\\"greeting\\":\\"hello " + name + "\\"}}::");
    }
}
"""),
}
PROCESS = {"type": "io.kestra.plugin.core.runner.Process"}


def _flow(language: str) -> str:
    interpreter, extension, script = LANGUAGES[language]
    base = f"io.kestra.plugin.scripts.{language}"
    flow = {"id": f"{language}_on_host", "namespace": "company.team", "tasks": [
        {"id": "script", "type": f"{base}.Script", "taskRunner": PROCESS,
         "inputFiles": {"in.txt": "world"}, "outputFiles": ["out.txt"], "script": script},
        {"id": "commands", "type": f"{base}.Commands", "taskRunner": PROCESS,
         "inputFiles": {"in.txt": "commands", f"main{extension}": script},
         "outputFiles": ["*.txt"], "commands": [f"{interpreter} main{extension}"]},
        {"id": "show", "type": "io.kestra.plugin.core.debug.Return",
         "format": "{{ outputs.script.vars.greeting }}|{{ read(outputs.script.outputFiles['out.txt']) }}"
                   "|{{ outputs.commands.vars.greeting }}"},
    ]}
    return json.dumps(flow)  # JSON is YAML: the scripts keep their quotes as written


@pytest.mark.parametrize("language", sorted(LANGUAGES))
def test_script_and_commands_on_the_host(language: str, tmp_path: Path) -> None:
    interpreter = LANGUAGES[language][0]
    if shutil.which(interpreter) is None:
        _missing(f"the {interpreter} interpreter", "scripts/setup test-env installs it")
    engine = Engine(Executors(LocalExecutor()), Collect(), environ={},
                    data_dir=tmp_path / "data", work_root=tmp_path)
    execution = engine.run(flow_of(_flow(language)), {})
    runs = {r.task_id: r for r in execution.task_runs}
    assert execution.state.current == State.SUCCESS, {k: r.outputs for k, r in runs.items()}
    assert runs["show"].outputs["value"] == "hello world|hello world|hello commands"
    assert runs["script"].outputs["exitCode"] == 0
    written = runs["commands"].outputs["outputFiles"]
    assert sorted(written) == ["in.txt", "out.txt"]
    assert Path(written["out.txt"]).read_text() == "hello commands"


@pytest.mark.parametrize("language", sorted(LANGUAGES))
def test_a_failing_script_fails_the_task(language: str, tmp_path: Path) -> None:
    interpreter = LANGUAGES[language][0]
    if shutil.which(interpreter) is None:
        _missing(f"the {interpreter} interpreter", "scripts/setup test-env installs it")
    engine = Engine(Executors(LocalExecutor()), Collect(), environ={},
                    data_dir=tmp_path / "data", work_root=tmp_path)
    flow = json.loads(_flow(language))
    flow["tasks"][0]["inputFiles"] = {}  # the script reads in.txt: it is not there
    execution = engine.run(flow_of(json.dumps(flow)), {})
    assert execution.state.current == State.FAILED
    assert [r.task_id for r in execution.task_runs] == ["script"]


@pytest.mark.docker
def test_python_script_in_its_image_with_files_and_outputs(docker_executor: object,
                                                           tmp_path: Path) -> None:
    engine = Engine(Executors(LocalExecutor(), docker_executor), Collect(),  # type: ignore[arg-type]
                    environ={}, data_dir=tmp_path / "data", work_root=tmp_path)
    execution = engine.run(flow_of(f"""
        id: python_in_container
        namespace: company.team
        tasks:
          - id: script
            type: io.kestra.plugin.scripts.python.Script
            containerImage: {PYTHON_IMAGE}
            inputFiles:
              in.txt: world
            outputFiles:
              - out.txt
            script: |
              import json, pathlib, sys
              name = pathlib.Path("in.txt").read_text().strip()
              pathlib.Path("out.txt").write_text(f"hello {{name}} from {{sys.version_info[0]}}")
              print("::" + json.dumps({{"outputs": {{"greeting": "hello " + name}}}}) + "::")
          - id: show
            type: io.kestra.plugin.core.debug.Return
            format: >-
              {{{{ outputs.script.vars.greeting }}}}|{{{{ read(outputs.script.outputFiles['out.txt']) }}}}
        """), {})
    runs = {r.task_id: r for r in execution.task_runs}
    assert execution.state.current == State.SUCCESS, runs["script"].outputs
    assert runs["show"].outputs["value"] == "hello world|hello world from 3"


def test_jbang_kotlin_example_validates_and_a_bad_extension_fails(tmp_path: Path) -> None:
    # https://kestra.io/plugins/plugin-script-jbang/io.kestra.plugin.scripts.jbang.script
    kotlin = flow_of("""
        id: jbang_script
        namespace: company.team
        tasks:
          - id: script_kotlin
            type: io.kestra.plugin.scripts.jbang.Script
            extension: .kt
            quiet: false
            script: |
              public fun main() {
                  println("Hello World");
              }
        """)
    assert kotlin.tasks[0].props["extension"] == ".kt"
    engine = Engine(Executors(LocalExecutor()), Collect(), environ={},
                    data_dir=tmp_path / "data", work_root=tmp_path)
    flow = json.loads(_flow("jbang"))
    flow["tasks"][0]["extension"] = "/../../x.java"
    execution = engine.run(flow_of(json.dumps(flow)), {})
    assert execution.state.current == State.FAILED
    assert not (tmp_path / "x.java").exists()
