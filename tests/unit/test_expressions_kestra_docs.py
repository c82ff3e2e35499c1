"""Kestra's documentation examples, written as the pages write them, with the results
they document. Each case cites its page; flows run through the real parser and engine.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from runner.expressions import ExpressionError, Renderer
from tests.unit.engine_helpers import Harness, final, runs

EXPRESSIONS = "https://kestra.io/docs/expressions"
NOW = dt.datetime(2024, 7, 9, 6, 17, 1, 171193, tzinfo=dt.UTC)
RENDERER = Renderer(clock=lambda: NOW)


def render(template: str, **context: Any) -> str:
    return RENDERER.render_text(template, context)


# -- templates ------------------------------------------------------------------------
@pytest.mark.parametrize(("template", "context", "expected"), [
    # EXPRESSIONS#filters
    ('{{ "Lemons to lemonade." | upper | abbreviate(10) }}', {}, "LEMONS ..."),
    # EXPRESSIONS#functions
    ("{{ max(user.score, highscore) }}", {"user": {"score": 7}, "highscore": 5}, "7"),
    # EXPRESSIONS#control-structures
    ('{% for article in articles %}{{ article.title }}{% else %}"No articles available."{% endfor %}',
     {"articles": []}, '"No articles available."'),
    ('{% if category == "news" %}{{ news }}{% elseif category == "sports" %}{{ sports }}{% else %}'
     '"Select a category"{% endif %}', {"category": "sports", "news": "N", "sports": "S"}, "S"),
    # EXPRESSIONS#macros and #named-arguments
    ('{% macro input(type, name) %}{{ name }} is of type {{ type }}{% endmacro %}'
     '{{ input("text", "example") }}', {}, "example is of type text"),
    ('{% macro input(type="text", name, value="") %}type: "{{ type }}", name: "{{ name }}", '
     'value: "{{ value }}"{% endmacro %}{{ input(name="country") }}', {},
     'type: "text", name: "country", value: ""'),
    # EXPRESSIONS#macro ("Passing global context")
    ("{% set foo = 'bar' %}{{ test(_context) }}{% macro test(_context) %}{{ _context.foo }}"
     "{% endmacro %}", {}, "bar"),
    # EXPRESSIONS#comments
    ('{# This is a comment #}{{ "Visible content" }}', {}, "Visible content"),
    # EXPRESSIONS#raw ("Kestra's docs use raw to escape {{")
    ("{% raw %}{{ user.name }}{% endraw %}", {}, "{{ user.name }}"),
    # EXPRESSIONS#set
    ('{% set header = "Welcome Page" %}{{ header }}', {}, "Welcome Page"),
    # EXPRESSIONS#filter (tag)
    ("{% filter upper %}hello{% endfilter %}", {}, "HELLO"),
    # EXPRESSIONS#block (function)
    ('{% block "post" %}content{% endblock %}\n{{ block("post") }}', {}, "content\ncontent"),
    # EXPRESSIONS#for: loop variables and maps
    ("{% for user in users %}{{ loop.index }}: {{ user.id }}\n{% endfor %}",
     {"users": [{"id": "a"}, {"id": "b"}]}, "0: a\n1: b\n"),
    ("{% for entry in map %}{{ entry.key }}: {{ entry.value }};{% endfor %}",
     {"map": {"x": 1, "y": 2}}, "x: 1;y: 2;"),
    # EXPRESSIONS#if
    ("{% if users is empty %}No users available.{% elseif users.length == 1 %}One user found."
     "{% else %}Multiple users found.{% endif %}", {"users": []}, "No users available."),
    # EXPRESSIONS#concat, #math, #null-coalescing, #ternary-operator
    ('{{ "apple" ~ "pear" ~ "banana" }}', {}, "applepearbanana"),
    ("{{ 2 + 2 / (10 % 3) * (8 - 1) }}", {}, "16"),
    ('{% set baz = "baz" %}{{ foo ?? bar ?? baz }}', {}, "baz"),
    ('{{ foo == null ? bar : baz }}', {"foo": None, "bar": "B", "baz": "Z"}, "B"),
    # EXPRESSIONS#contains and #is / #logic
    ('{% if ["apple", "pear", "banana"] contains "apple" %}yes{% endif %}', {}, "yes"),
    ('{% if {"apple":"red", "banana":"yellow"} contains "banana" %}yes{% endif %}', {}, "yes"),
    ('{% if ["apple", "pear", "banana", "peach"] contains ["apple", "peach"] %}yes{% endif %}', {}, "yes"),
    ("{% if (3 is not even) and (2 is odd or 3 is even) %}yes{% else %}no{% endif %}", {}, "no"),
    ('{% if user.name equals "Mitchell" %}hi{% endif %}', {"user": {"name": "Mitchell"}}, "hi"),
    # EXPRESSIONS#isIn
    ("{{ execution.state isIn ['SUCCESS', 'KILLED', 'CANCELLED'] }}",
     {"execution": {"state": "KILLED"}}, "true"),
    # EXPRESSIONS#test
    ("{% if missing is not defined %}undefined{% endif %}", {}, "undefined"),
    ("{% if '{\"test\": 1}' is json %}json{% endif %}", {}, "json"),
    ('{% if {"apple":"red", "banana":"yellow"} is map %}map{% endif %}', {}, "map"),
    ("{% if users is iterable %}{% for user in users %}{{ user }}{% endfor %}{% endif %}",
     {"users": ["a", "b"]}, "ab"),
    # EXPRESSIONS#json-filters
    ("{{ [1, 2, 3] | toJson }}", {}, "[1,2,3]"),
    ("{{ outputs | jq('.task1.value') | first }}",
     {"outputs": {"task1": {"value": 1, "text": "awesome1"}, "task2": {"value": 2}}}, "1"),
    # EXPRESSIONS#numeric-filters, #object-filters, #string-filters
    ("{{ -7 | abs }}", {}, "7"),
    ("{{ 3.141592653 | numberFormat(\"#.##\") }}", {}, "3.14"),
    ("{{ [1, 2, 3, 4, 5] | chunk(2) }}", {}, "[[1,2],[3,4],[5]]"),
    ("{{ ['1', '1', '2', '3'] | distinct }}", {}, '["1","2","3"]'),
    ("{{ 'Mitch' | last }}", {}, "h"),
    ("{{ {'foo': 'bar', 'baz': 'qux'} | keys }}", {}, '["foo","baz"]'),
    ("{{ 'apple,banana,cherry,grape' | split(',', 2) }}", {}, '["apple","banana,cherry,grape"]'),
    ('{{ "Can\'t be here" | escapeChar(\'single\') }}', {}, "Can\\'t be here"),
    ('{{ "I like %this% and %that%." | replace({\'%this%\': foo, \'%that%\': "bar"}) }}',
     {"foo": "foo"}, "I like foo and bar."),
    # EXPRESSIONS#temporal-filters (their documented now())
    ("{{ now() | date('yyyy-MM-dd') }}", {}, "2024-07-09"),
    ("{{ now() | dateAdd(-1, 'DAYS') }}", {}, "2024-07-08T06:17:01.171193Z"),
    ('{{ "July 24, 2001" | date("yyyy-MM-dd", existingFormat="MMMM dd, yyyy") }}', {}, "2001-07-24"),
    ("{{ now() | timestamp(timeZone='Asia/Kolkata') }}", {}, "1720505821"),
    # EXPRESSIONS#yaml-filters and #yaml (function), #fromjson
    ('{{ {"key": "value"} | yaml }}', {}, "key: value\n"),
    ("{{ yaml('foo: [666, 1, 2]').foo[0] }}", {}, "666"),
    ("{{ fromJson('{\"foo\": [666, 1, 2]}').foo[0] }}", {}, "666"),
    ("{{ fromJson('[1, 2, 3]')[0] }}", {}, "1"),
    # EXPRESSIONS#range
    ("{% for i in range(0, 6, 2) %}{{ i }},{% endfor %}", {}, "0,2,4,6,"),
    # EXPRESSIONS#render
    ("{{ render(\"{{ trigger.date ?? execution.startDate | date('yyyy-MM-dd') }}\") }}",
     {"trigger": None, "execution": {"startDate": "2024-07-09T06:17:01Z"}}, "2024-07-09"),
])
def test_documented_templates(template: str, context: dict[str, Any], expected: str) -> None:
    assert render(template, **context) == expected


def test_documented_null_coalescing_raise() -> None:
    # EXPRESSIONS#null-coalescing: "raises an exception if all variables are undefined"
    with pytest.raises(ExpressionError, match="'raise' is undefined"):
        render("{{ foo ?? bar ?? raise }}")


def test_documented_print_context_and_ids() -> None:
    # EXPRESSIONS#printcontext, #uuid, #randomint, #randomport
    assert json.loads(render("{{ printContext() }}", flow={"id": "f"})) == {"flow": {"id": "f"}}
    assert len(render("{{ uuid() }}")) == 36
    assert 1 <= int(render("{{ randomInt(1, 10) }}")) < 10
    assert 0 < int(render("{{ randomPort() }}")) < 65536


def test_current_each_output_reads_the_current_value() -> None:
    # EXPRESSIONS#currenteachoutput: outputs.first is keyed by each value (ForEach)
    context = {"outputs": {"first": {"value 1": {"value": "a"}, "value 2": {"value": "b"}}},
               "taskrun": {"value": "value 2"}, "parents": []}
    assert render("{{ currentEachOutput(outputs.first).value }}", **context) == "b"


# -- flows ------------------------------------------------------------------------------
def test_manipulating_json_payload_flow(tmp_path: Path) -> None:
    # EXPRESSIONS#manipulating-json-payloads (and /docs/expressions/filter/json)
    harness = Harness(tmp_path)
    execution = harness.run(r'''
        id: myflow
        namespace: company.myteam

        inputs:
          - id: payload
            type: JSON
            defaults: |-
              {
                "name": "John Doe",
                "score": {
                  "English": 72,
                  "Maths": 88,
                  "French": 95,
                  "Spanish": 85,
                  "Science": 91
                },
                "address": {
                  "city": "Paris",
                  "country": "France"
                },
                "graduation_years": [2020, 2021, 2022, 2023]
              }

        tasks:
          - id: print_status
            type: io.kestra.plugin.core.log.Log
            message:
              - "Student name: {{ inputs.payload.name }}" # Extracting a value
              - "Score in languages: {{ inputs.payload.score.English + inputs.payload.score.French + inputs.payload.score.Spanish }}" # Summing numbers
              - "Total subjects: {{ inputs.payload.score | length }}" # Counting keys in a map
              - "Total score: {{ inputs.payload.score | values | jq('reduce .[] as $num (0; .+$num)') | first }}" # Summing all values
              - "Complete address: {{ inputs.payload.address.city }}, {{ inputs.payload.address.country | upper }}" # Concatenation and transformation
              - "Total years for graduation: {{ inputs.payload.graduation_years | length }}" # Counting array elements
              - "Started college in: {{ inputs.payload.graduation_years | first }}" # First element in an array
              - "Completed college in: {{ inputs.payload.graduation_years | last }}" # Last element in an array
        ''')  # noqa: E501 - the page's lines as they are
    assert final(execution, "print_status") == "SUCCESS"
    assert harness.logs("print_status") == [
        "Student name: John Doe", "Score in languages: 252", "Total subjects: 5", "Total score: 431",
        "Complete address: Paris, FRANCE", "Total years for graduation: 4", "Started college in: 2020",
        "Completed college in: 2023"]


def test_pass_data_between_tasks_flow(tmp_path: Path) -> None:
    # EXPRESSIONS#outputs
    harness = Harness(tmp_path)
    execution = harness.run('''
        id: pass_data_between_tasks
        namespace: company.team

        tasks:
          - id: first
            type: io.kestra.plugin.core.debug.Return
            format: First output value

          - id: second-task
            type: io.kestra.plugin.core.debug.Return
            format: Second output value

          - id: print_both_outputs
            type: io.kestra.plugin.core.log.Log
            message: |
              First: {{ outputs.first.value }}
              Second: {{ outputs['second-task'].value }}
        ''')
    assert final(execution, "print_both_outputs") == "SUCCESS"
    assert harness.logs("print_both_outputs") == ["First: First output value\nSecond: Second output value\n"]


def test_flow_variables_and_render_flow(tmp_path: Path) -> None:
    # EXPRESSIONS#flow-variables and #render-function-and-null-coalescing
    harness = Harness(tmp_path)
    execution = harness.run('''
        id: flow_variables
        namespace: company.team

        variables:
          my_variable: "my_value"
          greeting: "{{ vars.my_variable | upper }}"

        tasks:
          - id: print_variable
            type: io.kestra.plugin.core.debug.Return
            format: "{{ vars.my_variable }} {{ render(vars.greeting) }}"
        ''')
    assert runs(execution, "print_variable")[0]["outputs"]["value"] == "my_value MY_VALUE"


def test_statement_tags_inside_task_properties(tmp_path: Path) -> None:
    # Issue 17: `{% for %}`/`{% if %}`/`{% set %}` inside any property, a condition included
    # (the If task: https://kestra.io/plugins/core/flow/io.kestra.plugin.core.flow.if)
    harness = Harness(tmp_path)
    execution = harness.run('''
        id: tags
        namespace: company.team

        inputs:
          - id: years
            type: JSON
            defaults: "[2020, 2021, 2022, 2023]"

        tasks:
          - id: last_is_2023
            type: io.kestra.plugin.core.flow.If
            condition: "{% for y in inputs.years %}{% if loop.last %}{{ y == 2023 }}{% endif %}{% endfor %}"
            then:
              - id: listed
                type: io.kestra.plugin.core.debug.Return
                format: >-
                  {% set total = 0 %}{% for y in inputs.years -%}
                  {{ y }}{{ loop.last ? '' : ', ' }}
                  {%- endfor %} | {% raw %}{{ not rendered }}{% endraw %}
        ''')
    assert final(execution, "last_is_2023") == "SUCCESS"
    assert runs(execution, "listed")[0]["outputs"]["value"] == "2020, 2021, 2022, 2023 | {{ not rendered }}"


def test_current_each_output_flow(tmp_path: Path) -> None:
    # EXPRESSIONS#currenteachoutput, the page's flow (with the id and namespace it leaves out)
    harness = Harness(tmp_path)
    execution = harness.run('''
        id: current_each_output
        namespace: company.team

        tasks:
          - id: each
            type: io.kestra.plugin.core.flow.EachSequential
            tasks:
              - id: first
                type: io.kestra.plugin.core.debug.Return
                format: "{{task.id}}"
              - id: second
                type: io.kestra.plugin.core.debug.Return
                format: "{{ currentEachOutput(outputs.first).value }}"
            value: ["value 1", "value 2", "value 3"]
        ''')
    assert final(execution, "each") == "SUCCESS"
    assert [run["outputs"]["value"] for run in runs(execution, "second")] == ["first"] * 3


def test_current_each_output_picks_the_current_value(tmp_path: Path) -> None:
    harness = Harness(tmp_path)
    execution = harness.run('''
        id: current_each_value
        namespace: company.team
        tasks:
          - id: each
            type: io.kestra.plugin.core.flow.ForEach
            values: ["a", "b"]
            tasks:
              - id: first
                type: io.kestra.plugin.core.debug.Return
                format: "got {{ taskrun.value }}"
              - id: second
                type: io.kestra.plugin.core.debug.Return
                format: "{{ currentEachOutput(outputs.first).value }}"
        ''')
    assert [run["outputs"]["value"] for run in runs(execution, "second")] == ["got a", "got b"]


def test_render_string_concatenation_flow(tmp_path: Path) -> None:
    # https://kestra.io/docs/expressions/function#render ("String concatenation"), as the page
    # writes it; run by hand, so trigger.date is undefined and `??` falls back to the input
    harness = Harness(tmp_path)
    execution = harness.run('''
        id: pebble_string_concatenation
        namespace: company.team

        inputs:
          - id: date
            type: DATETIME
            defaults: 2024-02-24T22:00:00.000Z

          - id: user
            type: STRING
            defaults: Rick

        variables:
          day_of_week: "{{ trigger.date ?? inputs.date | date('EEEE') }}"
          full_date: "{{ vars.day_of_week }}, the {{ trigger.date ?? inputs.date | date('yyyy-MM-dd') }}"
          full_date_concat: "{{ vars.day_of_week ~ ', the ' ~ (trigger.date ?? inputs.date | date('yyyy-MM-dd')) }}"
          greeting_concat: "{{'Hello, ' ~ inputs.user ~ ' on ' ~ vars.full_date }}"
          greeting_brackets: "Hello, {{ inputs.user }} on {{ vars.full_date }}"

        tasks:
          - id: not-rendered
            type: io.kestra.plugin.core.log.Log
            message: |
             Concat: {{ vars.greeting_concat }}
             Brackets: {{ vars.greeting_brackets }}
             Full date: {{ vars.full_date }}
             Full date concat: {{ vars.full_date_concat }}

          - id: rendered-recursively
            type: io.kestra.plugin.core.log.Log
            message: |
             Concat: {{ render(vars.greeting_concat) }}
             Brackets: {{ render(vars.greeting_brackets) }}
             Full date: {{ render(vars.full_date) }}
             Full date concat: {{ render(vars.full_date_concat) }}

          - id: rendered-once
            type: io.kestra.plugin.core.log.Log
            message: |
             Concat: {{ render(vars.greeting_concat, recursive=false) }}
             Brackets: {{ render(vars.greeting_brackets, recursive=false) }}
             Full date: {{ render(vars.full_date, recursive=false) }}
             Full date concat: {{ render(vars.full_date_concat, recursive=false) }}

        triggers:
          - id: schedule
            type: io.kestra.plugin.core.trigger.Schedule
            cron: "* * * * *"
        ''')  # noqa: E501 - the page's lines as they are
    assert final(execution, "rendered-once") == "SUCCESS"
    date = "trigger.date ?? inputs.date | date('yyyy-MM-dd')"
    logs = [harness.logs(task)[0].strip()
            for task in ("not-rendered", "rendered-recursively", "rendered-once")]
    assert logs == [
        "Concat: {{'Hello, ' ~ inputs.user ~ ' on ' ~ vars.full_date }}\n"
        "Brackets: Hello, {{ inputs.user }} on {{ vars.full_date }}\n"
        f"Full date: {{{{ vars.day_of_week }}}}, the {{{{ {date} }}}}\n"
        f"Full date concat: {{{{ vars.day_of_week ~ ', the ' ~ ({date}) }}}}",
        "Concat: Hello, Rick on Saturday, the 2024-02-24\n"
        "Brackets: Hello, Rick on Saturday, the 2024-02-24\n"
        "Full date: Saturday, the 2024-02-24\n"
        "Full date concat: Saturday, the 2024-02-24",
        f"Concat: Hello, Rick on {{{{ vars.day_of_week }}}}, the {{{{ {date} }}}}\n"
        f"Brackets: Hello, Rick on {{{{ vars.day_of_week }}}}, the {{{{ {date} }}}}\n"
        "Full date: {{ trigger.date ?? inputs.date | date('EEEE') }}, the 2024-02-24\n"
        "Full date concat: {{ trigger.date ?? inputs.date | date('EEEE') }}, the 2024-02-24"]
