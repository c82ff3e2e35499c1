"""Pebble behaviour of the renderer: syntax, operators, tags, printing, filters, functions.

Expected outputs follow Pebble's and Kestra's documentation (examples quoted
where they exist).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from runner.expressions import ExpressionError, Renderer

NOW = dt.datetime(2024, 7, 9, 6, 17, 1, 171193, tzinfo=dt.UTC)
CONTEXT: dict[str, Any] = {
    "inputs": {"name": "World", "n": 3, "opt": None, "empty": "", "list": [1, 2, 3],
               "map": {"a": 1, "b": 2}, "flag": True, "json": '{"a": [666, 1, 2]}'},
    "outputs": {"task1": {"value": 1, "text": "awesome1"}, "task2": {"value": 2, "text": "awesome2"},
                "second-task": {"value": "dash"}},
    "vars": {"greeting": "{{ inputs.name | upper }}"},
    "users": [{"name": "Alex"}, {"name": "Joe"}],
}


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer(clock=lambda: NOW)


def render(renderer: Renderer, template: str, **extra: Any) -> str:
    return renderer.render_text(template, {**CONTEXT, **extra})


def cases(*pairs: tuple[str, str]) -> Any:
    return pytest.mark.parametrize(("template", "expected"), pairs, ids=[p[0] for p in pairs])


@cases(
    ("{{ inputs.name }}", "World"),
    ("{{ outputs.task1.value }}", "1"),
    ("{{ outputs['second-task'].value }}", "dash"),
    ("{{ inputs['name'] }}", "World"),
    ("{{ inputs.list[0] }}", "1"),
    ("{{ inputs.list.1 }}", "2"),
    ("{{ inputs.map }}", '{"a":1,"b":2}'),
    ("{{ inputs.list }}", "[1,2,3]"),
    ("{{ inputs.flag }}", "true"),
    ("{{ inputs.opt }}", ""),
    ("{{ 1.5 }}", "1.5"),
    ("{{ {'title': inputs.name, 'priority': 5} }}", '{"title":"World","priority":5}'),
    ("{{ [1, 'a', null, true] }}", '[1,"a",null,true]'),
    ("plain {{ 'and' }} text", "plain and text"),
    ("{# a comment #}x{{ 1 }}", "x1"),
    ("{% raw %}{{ user.name }}{% endraw %}", "{{ user.name }}"),
    ("{% verbatim %}{% if %}{% endverbatim %}{{ 1 }}", "{% if %}1"),
    ("a  {{- 'b' -}}  c", "abc"),
    ("a\n{%- if true -%}\nb\n{%- endif -%}\nc", "abc"),
    ("{{ '}}' }}", "}}"),
    ("{{ {'a': {'b': 1}} }}", '{"a":{"b":1}}'),
    ("echo ${#array[@]} {{ 1 }}", "echo ${#array[@]} 1"),
)
def test_access_and_printing(renderer: Renderer, template: str, expected: str) -> None:
    assert render(renderer, template) == expected


@cases(
    ("{{ inputs.missing ?? 'default' }}", "default"),
    ("{{ inputs.opt ?? 'default' }}", "default"),
    ("{{ inputs.name ?? 'default' }}", "World"),
    ("{{ foo ?? bar ?? 'baz' }}", "baz"),
    ("{% set baz = 'baz' %}{{ foo ?? bar ?? baz }}", "baz"),
    ("{{ inputs.missing.deeper ?? 'd' }}", "d"),
    ("{{ inputs.opt.deeper ?? 'd' }}", "d"),
    ("{{ inputs.opt ??? 'default' }}", ""),
    ("{{ inputs.missing ??? 'default' }}", "default"),
    ("{{ null ?? now() | date('yyyy-MM-dd') }}", "2024-07-09"),
    ("{{ inputs.missing ?? 'a' | upper }}", "A"),
    ("{{ inputs.missing | upper ?? 'fallback' }}", "fallback"),
    ("{{ (inputs.missing + 1) ?? 0 }}", "0"),
    ("{{ ('x' ~ inputs.missing) ?? 'y' }}", "y"),
    ("{{ fromJson(inputs.missing).a ?? 'z' }}", "z"),
    ("{{ [inputs.missing] ?? [] }}", "[]"),
    ("{% set later = inputs.missing | upper %}{{ later ?? 'unused' }}", "unused"),
    ("{{ inputs.n > 2 ? 'big' : 'small' }}", "big"),
    ("{{ inputs.opt == null ? 'none' : 'some' }}", "none"),
    ("{{ false ? 'a' : true ? 'b' : 'c' }}", "b"),
    ("{{ [1, 2] contains 1 }}", "true"),
    ("{{ ['apple', 'pear', 'banana', 'peach'] contains ['apple', 'peach'] }}", "true"),
    ("{{ [1, 2] contains 3 }}", "false"),
    ("{{ 'abc' contains 'b' }}", "true"),
    ("{{ {'apple': 'red', 'banana': 'yellow'} contains 'banana' }}", "true"),
    ("{{ inputs.name equals 'World' }}", "true"),
    ("{{ 1 == 1.0 }}", "true"),
    ("{{ 1 == true }}", "false"),
    ("{{ 'a' != 'b' }}", "true"),
    ("{{ 2 is even and 3 is odd }}", "true"),
    ("{{ 3 is not even }}", "true"),
    ("{{ (3 is not even) and (2 is odd or 3 is even) }}", "false"),
    ("{{ not false }}", "true"),
    ("{{ not inputs.n == 3 }}", "false"),  # Pebble: unary not binds tighter than ==
    ("{{ inputs.missing is defined }}", "false"),
    ("{{ inputs.missing is not defined }}", "true"),
    ("{{ inputs.name is defined }}", "true"),
    ("{{ inputs.opt is null }}", "true"),
    ("{{ inputs.name is not null }}", "true"),
    ("{{ inputs.empty is empty }}", "true"),
    ("{{ [] is empty }}", "true"),
    ("{{ inputs.map is map }}", "true"),
    ("{{ inputs.list is iterable }}", "true"),
    ("{{ inputs.json is json }}", "true"),
    ("{{ 'apple' ~ 'pear' ~ 'banana' }}", "applepearbanana"),
    ("{{ 'n=' ~ inputs.n ~ ' ' ~ true ~ inputs.opt }}", "n=3 true"),
    ("{{ 'a' ~ 'b' | upper }}", "AB"),  # Pebble: ~ binds tighter than |
    ("{{ 2 + 2 / (10 % 3) * (8 - 1) }}", "16"),
    ("{{ 7 / 2 }}", "3"),
    ("{{ 7.0 / 2 }}", "3.5"),
    ("{{ -7 % 3 }}", "-1"),
    ("{{ -7 | abs }}", "7"),
    ("{{ 2 < 3 and 'a' < 'b' }}", "true"),
    ("{{ 'a' + 1 }}", "a1"),
    ("{{ 1..3 }}", "[1,2,3]"),
)
def test_operators(renderer: Renderer, template: str, expected: str) -> None:
    assert render(renderer, template) == expected


@cases(
    ("{% if inputs.n == 1 %}one{% elseif inputs.n == 3 %}three{% else %}other{% endif %}", "three"),
    ("{% if false %}a{% else %}b{% endif %}", "b"),
    ("{% if users is empty %}none{% else %}some{% endif %}", "some"),
    ("{% for user in users %}{{ loop.index }}:{{ user.name }} {% endfor %}", "0:Alex 1:Joe "),
    ("{% for x in inputs.list %}{{ loop.revindex }}{{ loop.first }}{{ loop.last }}{{ loop.length }} "
     "{% endfor %}", "2truefalse3 1falsefalse3 0falsetrue3 "),
    ("{% for x in [] %}x{% else %}No users found.{% endfor %}", "No users found."),
    ("{% for entry in inputs.map %}{{ entry.key }}={{ entry.value }};{% endfor %}", "a=1;b=2;"),
    ("{% for i in range(0, 3) %}{{ i }},{% endfor %}", "0,1,2,3,"),
    ("{% for i in range(0, 6, 2) %}{{ i }},{% endfor %}", "0,2,4,6,"),
    ("{% for i in 1..3 %}{{ i }}{% endfor %}", "123"),
    ("{% for a in [1, 2] %}{% for b in [3, 4] %}{{ loop.index }}{% endfor %}{{ loop.index }}|"
     "{% endfor %}", "010|011|"),
    ("{% set header = 'Welcome Page' %}{{ header }}", "Welcome Page"),
    ("{% set n = inputs.n * 2 %}{% if true %}{% set m = n + 1 %}{% endif %}{{ m }}", "7"),
    ("{% filter upper %}hello {{ inputs.name }}{% endfilter %}", "HELLO WORLD"),
    ("{% filter lower | title %}hello WORLD{% endfilter %}", "Hello World"),
)
def test_tags(renderer: Renderer, template: str, expected: str) -> None:
    assert render(renderer, template) == expected


@cases(
    ("{{ 'LOUD TEXT' | lower }}", "loud text"),
    ("{{ 'quiet text' | upper }}", "QUIET TEXT"),
    ("{{ 'article title' | title }}", "Article Title"),
    ("{{ 'hello world' | capitalize }}", "Hello world"),
    ("{{ '  padded  ' | trim }}", "padded"),
    ("{{ 'this is a long sentence.' | abbreviate(7) }}", "this..."),
    ("{{ 'I like %this% and %that%.' | replace({'%this%': inputs.name, '%that%': 'bar'}) }}",
     "I like World and bar."),
    ("{{ 'a1b22c' | replace({'[0-9]+': '#'}, regexp=true) }}", "a#b#c"),
    ("{{ 'a.b.c' | substringBefore('.') }}", "a"),
    ("{{ 'a.b.c' | substringAfter('.') }}", "b.c"),
    ("{{ 'a.b.c' | substringBeforeLast('.') }}", "a.b"),
    ("{{ 'a.b.c' | substringAfterLast('.') }}", "c"),
    ("{{ 'abc' | substringBefore('z') }}", "abc"),
    ("{{ 'abc' | substringAfter('z') }}", ""),
    ("{{ 'Hello World!' | slugify }}", "hello-world"),
    ("{{ \"Can't be here\" | escapeChar('single') }}", "Can\\'t be here"),
    ("{{ \"it's\" | escapeChar('shell') }}", "it'\\''s"),
    ("{{ 'test' | base64encode }}", "dGVzdA=="),
    ("{{ 'dGVzdA==' | base64decode }}", "test"),
    ("{{ 'test' | sha256 }}", "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"),
    ("{{ 'test' | md5 }}", "098f6bcd4621d373cade4e832627b4f6"),
    ("{{ 'The string ü@foo-bar' | urlencode }}", "The+string+%C3%BC%40foo-bar"),
    ("{{ 'The+string+%C3%BC%40foo-bar' | urldecode }}", "The string ü@foo-bar"),
    ("{{ 'hello world' | startsWith('hello') }}", "true"),
    ("{{ 'hello world' | endsWith('planet') }}", "false"),
    ("{{ 123 | string }}", "123"),
    ("{{ 'apple,banana,cherry' | split(',') }}", '["apple","banana","cherry"]'),
    ("{{ 'apple,banana,cherry,grape' | split(',', 2) }}", '["apple","banana,cherry,grape"]'),
    ("{{ 'a.b' | split('\\.') }}", '["a","b"]'),  # Pebble keeps backslashes: the regex is \.
    ("{{ 'a, b,c' | split(',\\s*') }}", '["a","b","c"]'),
    ("{{ 'key: value' | indent(2) }}", "key: value"),
    ("{{ 'a\nb' | indent(2) }}", "a\n  b"),
    ("{{ 'a\nb' | nindent(2) }}", "\n  a\n  b"),
    ("{{ inputs.missing | default('No phone number') }}", "No phone number"),
    ("{{ inputs.empty | default('fallback') }}", "fallback"),
    ("{{ inputs.name | default('fallback') }}", "World"),
    ("{{ ['apple', 'banana', 'cherry'] | first }}", "apple"),
    ("{{ ['apple', 'banana', 'cherry'] | last }}", "cherry"),
    ("{{ 'Kestra' | first }}", "K"),
    ("{{ 'Mitch' | length }}", "5"),
    ("{{ inputs.map | length }}", "2"),
    ("{{ ['Alex', 'Joe', 'Bob'] | join(',') }}", "Alex,Joe,Bob"),
    ("{{ {'this': 'foo', 'that': 'bar'} | keys }}", '["this","that"]'),
    ("{{ [0, 1, 3] | keys }}", "[0,1,2]"),
    ("{{ {'this': 'foo', 'that': 'bar'} | values }}", '["foo","bar"]'),
    ("{{ [1, 2, 3, 4, 5] | chunk(2) }}", "[[1,2],[3,4],[5]]"),
    ("{{ ['1', '1', '2', '3'] | distinct }}", '["1","2","3"]'),
    ("{{ [3, 1, 2] | sort }}", "[1,2,3]"),
    ("{{ [3, 1, 2] | rsort }}", "[3,2,1]"),
    ("{{ ['apple', 'banana'] | reverse }}", '["banana","apple"]'),
    ("{{ ['apple', 'banana', 'cherry'] | slice(1, 2) }}", '["banana"]'),
    ("{{ 'Mitch' | slice(1, 3) }}", "it"),
    ("{{ [1, 2] | merge([3, 4]) }}", "[1,2,3,4]"),
    ("{{ '12' | number('INT') + 1 }}", "13"),
    ("{{ '12.3' | number }}", "12.3"),
    ("{{ 3.141592653 | numberFormat('#.##') }}", "3.14"),
    ("{{ [1, 2, 3] | toJson }}", "[1,2,3]"),
    ("{{ true | toJson }}", "true"),
    ("{{ 'foo' | toJson }}", '"foo"'),
    ("{{ inputs.opt | toJson }}", "null"),
    ("{{ [1, 2, 3] | jq('.') }}", "[[1,2,3]]"),
    ("{{ [1, 2, 3] | jq('.[0]') | first }}", "1"),
    ("{{ outputs | jq('.task1.value') | first }}", "1"),
    ("{{ outputs | jq('.task1, .task2 | .text') }}", '["awesome1","awesome2"]'),
    ("{{ [{'a': 1}, {'a': 2}] | jq('.[].a') }}", "[1,2]"),
    ("{{ '{\"a\": {\"b\": [5, 6]}}' | jq('.a.b[1]') | first }}", "6"),
    ("{{ {'a': [1, 2, 3]} | jq('.a | length') | first }}", "3"),
)
def test_filters(renderer: Renderer, template: str, expected: str) -> None:
    assert render(renderer, template) == expected


@cases(
    ("{{ now() }}", "2024-07-09T06:17:01.171193Z"),
    ("{{ now() | date('yyyy-MM-dd') }}", "2024-07-09"),
    ("{{ now() | date(\"yyyy-MM-dd'T'HH:mm:ssX\", timeZone='UTC') }}", "2024-07-09T06:17:01Z"),
    ("{{ now() | date('yyyy-MM-dd HH:mm:ss.SSSSSS') }}", "2024-07-09 06:17:01.171193"),
    ("{{ now() | date('iso_sec', timeZone='Europe/Paris') }}", "2024-07-09T08:17:01+02:00"),
    ("{{ now() | date('iso_date_time', timeZone='Europe/Paris') }}",
     "2024-07-09T08:17:01.171193+02:00[Europe/Paris]"),
    ("{{ now() | date('iso8601') }}", "2024-07-09T06:17:01.171193Z"),
    ("{{ now() | date('sql') }}", "2024-07-09 06:17:01.171193"),
    ("{{ now() | date('EEEE, MMMM d, yyyy h:mm a') }}", "Tuesday, July 9, 2024 6:17 AM"),
    ("{{ now(timeZone='Asia/Kolkata') | date('HH:mm') }}", "11:47"),
    ("{{ 'July 24, 2001' | date('yyyy-MM-dd', existingFormat='MMMM dd, yyyy') }}", "2001-07-24"),
    ("{{ '2024-01-15' | date('dd/MM/yyyy') }}", "15/01/2024"),
    ("{{ now() | dateAdd(-1, 'DAYS') }}", "2024-07-08T06:17:01.171193Z"),
    ("{{ now() | dateAdd(1, 'DAYS') | date('yyyy-MM-dd') }}", "2024-07-10"),
    ("{{ '2024-01-31T00:00:00Z' | dateAdd(1, 'MONTHS') | date('yyyy-MM-dd') }}", "2024-02-29"),
    ("{{ now() | dateAdd(-2, 'HOURS') | date('HH') }}", "04"),
    ("{{ now() | timestamp }}", "1720505821"),
    ("{{ now() | timestampMilli }}", "1720505821171"),
    ("{{ now() | timestampMicro }}", "1720505821171193"),
    ("{{ now() | timestampNano }}", "1720505821171193000"),
    ("{{ 0 | date('yyyy-MM-dd') }}", "1970-01-01"),
    ("{{ inputs.missing ?? now() | dateAdd(-1, 'MONTHS') | date('yyyy-MM-dd') }}", "2024-06-09"),
)
def test_dates(renderer: Renderer, template: str, expected: str) -> None:
    assert render(renderer, template) == expected


@cases(
    ("{{ fromJson('[1, 2, 3]')[0] }}", "1"),
    ("{{ fromJson(inputs.json).a[0] }}", "666"),
    ("{{ max(20, 80, inputs.n) }}", "80"),
    ("{{ min(20, 80, inputs.n) }}", "3"),
    ("{{ range(1, 3) }}", "[1,2,3]"),
    ("{{ range(3, 1, -1) }}", "[3,2,1]"),
    ("{{ render(vars.greeting) }}", "WORLD"),
    ("{{ render('{{ render(\"{{ 1 + 1 }}\") }}') }}", "2"),
    ("{{ uuid() | length }}", "36"),
)
def test_functions(renderer: Renderer, template: str, expected: str) -> None:
    assert render(renderer, template) == expected


def test_injected_functions_per_renderer_and_per_call() -> None:
    calls: list[str] = []

    def secret(name: str) -> str:
        calls.append(name)
        return f"s3cr3t-{name}"

    renderer = Renderer(functions={"secret": secret})
    assert renderer.render_text("{{ secret('GITHUB_TOKEN') }}", {}) == "s3cr3t-GITHUB_TOKEN"
    kv = {"kv": lambda key, namespace=None: {"k": "v"}[key]}
    assert renderer.render_text("{{ kv('k') }}", {}, functions=kv) == "v"
    assert renderer.render_text("{{ read('f.txt') }}", {}, functions={"read": lambda p: "body"}) == "body"
    with pytest.raises(ExpressionError, match="unknown function 'kv'"):
        renderer.render_text("{{ kv('k') }}", {})
    with pytest.raises(ExpressionError, match=r"kv.*'missing'"):
        renderer.render_text("{{ kv('missing') }}", {}, functions=kv)
    assert calls == ["GITHUB_TOKEN"]


def test_clock_is_injectable() -> None:
    later = Renderer(clock=lambda: dt.datetime(2030, 1, 2, 3, 4, 5))  # naive means UTC
    assert later.render_text("{{ now() | date('yyyy-MM-dd HH:mm') }}", {}) == "2030-01-02 03:04"


@pytest.mark.parametrize(("template", "message"), [
    ("{{ inputs.missing }}", "'inputs.missing' is undefined"),
    ("{{ foo }}", "'foo' is undefined"),
    ("{{ foo.bar }}", "'foo' is undefined"),
    ("{{ inputs.missing | upper }}", "'inputs.missing' is undefined"),
    ("{% if inputs.missing %}x{% endif %}", "'inputs.missing' is undefined"),
    ("{{ inputs.missing == 1 }}", "'inputs.missing' is undefined"),
    ("{% for x in inputs.missing %}{% endfor %}", "'inputs.missing' is undefined"),
    ("{{ inputs.missing is null }}", "'inputs.missing' is undefined"),
    ("{{ loop.index }}", "'loop' is undefined"),
    ("{{ 1 / 0 }}", "division by zero"),
    ("{{ 'a' * 2 }}", "'\\*' needs numbers"),
    ("{{ 'a' < 1 }}", "cannot compare string with number"),
    ("{{ inputs.name | uper }}", "unknown filter 'uper' \\(did you mean 'upper'\\?\\)"),
    ("{{ x is strange }}", "unknown test 'strange'"),
    ("{{ nope() }}", "unknown function 'nope'"),
    ("{{ inputs.name.toUpperCase() }}", "method calls are not supported"),
    ("{% extends 'base.peb' %}", "'{% extends %}' tag is not supported"),
    ("{% if true %}x", "missing '{% endif %}'"),
    ("{% endif %}", "unexpected '{% endif %}'"),
    ("{{ 1 + }}", "unexpected"),
    ("{{ 'unterminated }}", "is not closed"),
    ("{% set x = 'unterminated %}", "is not closed"),
    ("{{ x", "is not closed"),
    ("{{ 'a' | date('yyyy') }}", "cannot read a date"),
    ("{{ now() | dateAdd(1, 'FORTNIGHTS') }}", "unknown time unit"),
    ("{{ now() | date('yyyy', timeZone='Mars/Base') }}", "unknown time zone"),
    ("{{ '[1' | jq('.') }}", "not JSON"),
    ("{{ {} | jq('.[') }}", "jq: syntax error"),
    ("{{ 'x' | number }}", "is not a number"),
])
def test_errors_name_the_template(renderer: Renderer, template: str, message: str) -> None:
    with pytest.raises(ExpressionError, match=message) as caught:
        render(renderer, template)
    assert template[:40] in str(caught.value)


def test_render_walks_lists_and_maps_including_keys(renderer: Renderer) -> None:
    value = {"{{ inputs.name }}": ["{{ inputs.n + 1 }}", 5, None, {"k": "{{ true }}"}], "plain": True}
    assert renderer.render(value, CONTEXT) == {"World": ["4", 5, None, {"k": "true"}], "plain": True}


def test_text_without_delimiters_is_returned_as_is(renderer: Renderer) -> None:
    text = "echo ${#x} {# not a template #} }} %}"
    assert renderer.render_text(text, {}) is text


def test_set_inside_a_loop_stays_in_the_loop(renderer: Renderer) -> None:
    template = "{% set x = 'out' %}{% for i in [1] %}{% set x = 'in' %}{{ x }}{% endfor %}{{ x }}"
    assert render(renderer, template) == "inout"


@pytest.mark.parametrize("text", ["{{ À }}", "{{ ² }}", "{{ x٣ }}", "{{ 'ok' ~ Ω }}"])
def test_non_ascii_outside_strings_is_a_syntax_error_not_a_crash(text: str) -> None:
    with pytest.raises(ExpressionError, match="unexpected character"):
        Renderer().render_text(text, {"x": 1})


def test_a_deferred_value_is_made_only_for_a_template_that_names_it(renderer: Renderer) -> None:
    from runner.expressions.render import Deferred

    made: list[str] = []

    def states() -> dict[str, Any]:
        made.append("tasks")
        return {"build": {"state": "SUCCESS"}}

    context = {**CONTEXT, "tasks": Deferred(states),
               "vars": {"nested": "{{ tasks.build.state }}"}}
    assert renderer.render_text("{{ inputs.name }}", context) == "World"
    assert renderer.render("plain text", context) == "plain text"
    assert made == []  # neither template names it
    assert renderer.render_text("{{ tasks.build.state }}", context) == "SUCCESS"
    # render() of a variable that names it, from a template that does not
    assert renderer.render_text("{{ render(vars.nested) }}", context) == "SUCCESS"
    with pytest.raises(ExpressionError):
        renderer.render_text("{{ tasks.missing.state }}", context)
    assert made == ["tasks"]  # made once per Deferred, however many templates read it
