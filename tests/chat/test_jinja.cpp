// The Jinja interpreter (eigenformer/chat/jinja.hpp), feature by feature, against expectations written by
// hand (no network). Parity with Hugging Face's renderer on real templates is in test_reference.cpp.
#include <doctest/doctest.h>

#include <ctime>
#include <string>

#include "eigenformer/chat/jinja.hpp"

using namespace eigenformer;
namespace jinja = eigenformer::chat::jinja;

namespace {

/// Renders `tpl` with the variables of the JSON object `vars`.
std::string render(const std::string& tpl, const std::string& vars = "{}") {
  const jinja::Value context = jinja::Value::from_json(json::parse(vars, "test variables"));
  return jinja::Template(tpl, "test").render(context.as_object());
}

const char* kChat = R"({
  "messages": [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "  Hi!  "},
    {"role": "assistant", "content": "Hello.", "tool_calls": [{"function": {"name": "f", "arguments": {"x": 1}}}]},
    {"role": "tool", "content": "42"}
  ],
  "bos_token": "<s>", "eos_token": "</s>", "add_generation_prompt": true,
  "d": {"b": 2, "a": 1}, "n": 7, "word": "héllo"
})";

}  // namespace

TEST_CASE("jinja: text, output, comments and literals") {
  CHECK(render("plain text") == "plain text");
  CHECK(render("a{# comment #}b") == "ab");
  CHECK(render("{{ 1 }} {{ -2 }} {{ 1.5 }} {{ 2.0 }} {{ 'x' }} {{ \"y\" }}") == "1 -2 1.5 2.0 x y");
  CHECK(render("{{ true }} {{ false }}|{{ none }}|{{ undefined_name }}|") == "true false|||");
  CHECK(render("{{ [1, 'a', true] }} {{ {'k': [2]} }}") == "[1, \"a\", true] {\"k\": [2]}");
  CHECK(render("{{ 'a' 'b' }}") == "ab");
  CHECK(render("{{ 'tab\\there\\nnew \\'q\\' \\u00e9 \\x41' }}") == "tab\there\nnew 'q' é A");
  CHECK(render("{{ 0.1 + 0.2 }} {{ 100000000000000000000.0 }} {{ 1000000000000000000000.0 }}") == "0.30000000000000004 100000000000000000000.0 1e+21");
}

TEST_CASE("jinja: arithmetic, concatenation, comparisons, logic") {
  CHECK(render("{{ 7 + 3 }} {{ 7 - 10 }} {{ 7 * 3 }} {{ 7 / 2 }} {{ 7 // 2 }} {{ 7 % 3 }} {{ 2 ** 10 }}") ==
        "10 -3 21 3.5 3 1 1024");
  CHECK(render("{{ -7 // 2 }} {{ 1.5 + 1 }} {{ 6 / 3 }} {{ 2 * 3 + 4 }} {{ 2 * (3 + 4) }}") == "-4 2.5 2.0 10 14");
  CHECK(render("{{ 'a' + 'b' ~ 1 ~ true }} {{ 'n=' + 3 }}") == "ab1true n=3");
  CHECK(render("{{ 1 < 2 }}{{ 2 <= 2 }}{{ 3 > 4 }}{{ 'a' == 'a' }}{{ 'a' != 'b' }}{{ 1 == 1.0 }}{{ [1, 2] == [1, 2] }}") ==
        "truetruefalsetruetruetruetrue");
  CHECK(render("{{ true and false }}{{ true or false }}{{ not true }}{{ none or 'd' }}{{ '' and 'x' }}|") == "falsetruefalsed|");
  CHECK(render("{{ not 1 == 2 and 3 > 2 }}") == "true");
  CHECK(render("{{ 'll' in 'hello' }}{{ 'z' not in 'hello' }}{{ 2 in [1, 2] }}{{ 'a' in d }}{{ 'q' in d }}", kChat) ==
        "truetruetruetruefalse");
  CHECK(render("{{ 'x' in nothing }}{{ 'x' not in nothing }}") == "falsetrue");
}

TEST_CASE("jinja: inline if, attribute and item access, slicing") {
  CHECK(render("{{ 'yes' if n > 5 else 'no' }}|{{ 'a' if false else 'b' }}|{{ 'shown' if true }}|{{ 'hidden' if false }}|", kChat) ==
        "yes|b|shown||");
  CHECK(render("{{ messages[1]['role'] }} {{ messages[1].role }} {{ messages[-1].content }} {{ messages[2].tool_calls[0].function.name }}",
               kChat) == "user user 42 f");
  CHECK(render("{{ messages[0].missing is defined }} {{ messages[0].missing.deeper is defined }} {{ messages[9] is defined }}", kChat) ==
        "false false false");
  CHECK(render("{{ messages[1:]|length }} {{ messages[:-1]|length }} {{ (messages[::-1]|first).role }}", kChat) == "3 3 tool");
  CHECK(render("{{ 'abcdef'[1:4] }} {{ 'abcdef'[::-1] }} {{ 'abcdef'[::2] }} {{ 'abcdef'[-2:] }} {{ 'abc'[5:] }}|") ==
        "bcd fedcba ace ef |");
  CHECK(render("{{ [1, 2, 3, 4, 5][4:1:-2] }} {{ [1, 2, 3][-1] }} {{ word[1:3] }} {{ word[1] }}", kChat) == "[5, 3] 3 él é");
}

TEST_CASE("jinja: string filters and methods") {
  CHECK(render("[{{ '  x \\n'|trim }}][{{ 'MiXed'|upper }}][{{ 'MiXed'|lower }}][{{ 'hello big world'|title }}]") ==
        "[x][MIXED][mixed][Hello Big World]");
  CHECK(render("{{ 'hello World'|capitalize }} {{ word|length }} {{ word|upper }} {{ 'ÉCOLE Straße'|lower }}", kChat) ==
        "Hello World 5 HÉLLO école straße");
  CHECK(render("{{ 'a-b-c'|replace('-', '+') }} {{ 'a-b-c'|replace('-', '+', 1) }} {{ '12'|int + 1 }} {{ '2.5'|float }} {{ 3.7|int }} {{ 'x'|int }}") ==
        "a+b+c a+b-c 13 2.5 3 0");
  CHECK(render("{{ 'xxhixx'.strip('x') }}|{{ '\\n\\nhi\\n'.lstrip('\\n') }}|{{ 'hi \\n'.rstrip() }}|{{ ' y '.strip() }}") ==
        "hi|hi\n|hi|y");
  CHECK(render("{{ 'a,b,,c'.split(',') }} {{ ' a b  c '.split() }} {{ 'a,b,c'.split(',', 1) }} {{ 'a,b,c'.rsplit(',', 1) }}") ==
        "[\"a\", \"b\", \"\", \"c\"] [\"a\", \"b\", \"c\"] [\"a\", \"b,c\"] [\"a,b\", \"c\"]");
  CHECK(render("{{ 'abc'.startswith('ab') }}{{ 'abc'.endswith('bc') }}{{ 'abc'.startswith(('x', 'a')) }}{{ 'abc'.endswith('x') }}") ==
        "truetruetruefalse");
  CHECK(render("{{ 'aXbX'.replace('X', '-') }} {{ 'abc'.upper() }} {{ 'hi there'.title() }} {{ 'abcb'.find('b') }} {{ 'abc'.find('z') }}") ==
        "a-b- ABC Hi There 1 -1");
  CHECK(render("{{ ', '.join(['a', 'b']) }} {{ 'x'|safe }} {{ 'one</think>two'.split('</think>')[-1] }}") == "a, b x two");
  CHECK(render("{{ 'a\\nb\\n\\nc'|indent }}|{{ 'a\\nb'|indent(2, true) }}") == "a\n    b\n\n    c|  a\n  b");
}

TEST_CASE("jinja: list and dict filters") {
  CHECK(render("{{ [3, 1, 2]|sort }}{{ [3, 1, 2]|sort(reverse=true) }}{{ ['b', 'A', 'c']|sort }}") == "[1, 2, 3][3, 2, 1][\"A\", \"b\", \"c\"]");
  CHECK(render("{{ ['a', 'b']|join(', ') }} {{ [1, 2]|join }} {{ [1, 2, 3]|first }} {{ [1, 2, 3]|last }} {{ [1, 2]|reverse }}") ==
        "a, b 12 1 3 [2, 1]");
  CHECK(render("{{ [1, 2, 1, 3]|unique|list }} {{ []|length }} {{ 'ab'|list }} {{ [1]|string }}") == "[1, 2, 3] 0 [\"a\", \"b\"] [1]");
  CHECK(render("{% for k, v in d|items %}{{ k }}={{ v }};{% endfor %} {% for k, v in d|dictsort %}{{ k }}{% endfor %} {{ d|length }}",
               kChat) == "b=2;a=1; ab 2");
  CHECK(render("{{ d.keys()|list }} {{ d.values()|list }} {{ d.items()|list }} {{ d.get('a') }} {{ d.get('z', 'none!') }}", kChat) ==
        "[\"b\", \"a\"] [2, 1] [[\"b\", 2], [\"a\", 1]] 1 none!");
  CHECK(render("{{ missing|default('dflt') }} {{ missing|d('d2') }} {{ ''|default('x', true) }} {{ 'set'|default('x') }}") ==
        "dflt d2 x set");
  CHECK(render("{{ messages|selectattr('role', 'equalto', 'user')|list|length }} "
               "{{ messages|rejectattr('role', 'equalto', 'user')|map(attribute='role')|join(',') }} "
               "{{ messages|selectattr('tool_calls')|map(attribute='role')|first }} "
               "{{ messages|map(attribute='nope', default='-')|join }}",
               kChat) == "1 system,assistant,tool assistant ----");
}

TEST_CASE("jinja: tojson as Python's json.dumps writes it") {
  CHECK(render("{{ messages[2].tool_calls[0].function|tojson }}", kChat) == "{\"name\": \"f\", \"arguments\": {\"x\": 1}}");
  CHECK(render("{{ d|tojson(indent=2) }}", kChat) == "{\n  \"b\": 2,\n  \"a\": 1\n}");
  CHECK(render("{{ [1, [], {}]|tojson(indent=4) }}") == "[\n    1,\n    [],\n    {}\n]");
  CHECK(render("{{ 'q\" \\\\ \\n é 中'|tojson }} {{ 'é'|tojson(ensure_ascii=true) }}") == "\"q\\\" \\\\ \\n é 中\" \"\\u00e9\"");
  CHECK(render("{{ d|tojson(sort_keys=true) }} {{ d|tojson(separators=(',', ':')) }}", kChat) == "{\"a\": 1, \"b\": 2} {\"b\":2,\"a\":1}");
  CHECK(render("{{ none|tojson }} {{ true|tojson }} {{ 2.5|tojson }} {{ 2.0|tojson }} {{ nothing|tojson }}") == "null true 2.5 2 null");
}

TEST_CASE("jinja: tests") {
  CHECK(render("{{ messages is defined }}{{ nothing is undefined }}{{ none is none }}{{ 'a' is string }}{{ d is mapping }}", kChat) ==
        "truetruetruetruetrue");
  CHECK(render("{{ [1] is iterable }}{{ d is iterable }}{{ [1] is sequence }}{{ 1 is number }}{{ 'a' is number }}", kChat) ==
        "truefalsetruetruefalse");
  CHECK(render("{{ true is true }}{{ 1 is true }}{{ false is false }}{{ 3 is odd }}{{ 4 is even }}{{ 'x' is not none }}") ==
        "truefalsetruetruetruetrue");
  CHECK(render("{{ 'x' is equalto('x') }}{{ 1 is integer }}{{ 1.5 is float }}{{ 'abc' is lower }}") == "truetruetruetrue");
}

TEST_CASE("jinja: for loops with loop.*, else, filtering, break and continue") {
  CHECK(render("{% for m in messages %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}{{ loop.length }}"
               "{{ 'F' if loop.first }}{{ 'L' if loop.last }};{% endfor %}",
               kChat) == "10434F;21324;32214;43104L;");
  CHECK(render("{% for x in [] %}never{% else %}empty{% endfor %}") == "empty");
  CHECK(render("{% for m in messages if m.role != 'system' %}{{ loop.index }}{{ m.role[0] }}{% endfor %}", kChat) == "1u2a3t");
  CHECK(render("{% for i in range(3) %}{{ i }}{% endfor %}|{% for i in range(1, 10, 3) %}{{ i }}{% endfor %}|{% for i in range(3, 0, -1) %}{{ i }}{% endfor %}") ==
        "012|147|321");
  CHECK(render("{% for a, b in [[1, 2], [3, 4]] %}{{ a + b }}{% endfor %}") == "37");
  CHECK(render("{% for i in range(10) %}{% if i == 2 %}{% continue %}{% endif %}{% if i == 5 %}{% break %}{% endif %}{{ i }}{% endfor %}") ==
        "0134");
  CHECK(render("{% for k in d %}{{ k }}{% endfor %}", kChat) == "ba");
  CHECK(render("{% for x in [1, 2] %}{{ loop.previtem }}-{{ loop.nextitem }};{% endfor %}") == "-2;1-;");
}

TEST_CASE("jinja: if/elif/else, set, namespace, set blocks") {
  CHECK(render("{% for i in range(4) %}{% if i == 0 %}z{% elif i == 1 %}o{% elif i == 2 %}t{% else %}m{% endif %}{% endfor %}") == "zotm");
  CHECK(render("{% set x = 1 %}{% set a, b = 1, 2 %}{{ x + a + b }}") == "4");
  // A set inside a loop stays inside; a namespace carries values out.
  CHECK(render("{% set x = 1 %}{% set ns = namespace(count=0, found=false) %}{% for m in messages %}{% set x = 99 %}"
               "{% set ns.count = ns.count + 1 %}{% if m.role == 'tool' %}{% set ns.found = true %}{% endif %}{% endfor %}"
               "{{ x }} {{ ns.count }} {{ ns.found }}",
               kChat) == "1 4 true");
  CHECK(render("{% set greeting %}Hello {{ messages[1].content|trim }}{% endset %}[{{ greeting }}]", kChat) == "[Hello Hi!]");
  CHECK(render("{% if not add_generation_prompt is defined %}{% set add_generation_prompt = false %}{% endif %}{{ add_generation_prompt }}") ==
        "false");
}

TEST_CASE("jinja: macros with defaults, keyword arguments and call blocks") {
  const std::string macro = "{% macro tag(name, body='(empty)', close=true) %}<{{ name }}>{{ body }}{% if close %}</{{ name }}>{% endif %}{% endmacro %}";
  CHECK(render(macro + "{{ tag('a') }}{{ tag('b', 'x') }}{{ tag('c', close=false) }}{{ tag(name='d', body='y') }}") ==
        "<a>(empty)</a><b>x</b><c>(empty)<d>y</d>");
  CHECK(render("{% macro box(title) %}[{{ title }}: {{ caller() }}]{% endmacro %}{% call box('T') %}inside {{ n }}{% endcall %}", kChat) ==
        "[T: inside 7]");
  CHECK(render("{% macro f(n) %}{% if n > 0 %}{{ n }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(3) }}") == "321");
}

TEST_CASE("jinja: whitespace control, trim_blocks and lstrip_blocks as Hugging Face sets them") {
  CHECK(render("a  {{- ' b ' -}}  c") == "a b c");
  CHECK(render("x\n  {%- if true -%}\n   y   \n{%- endif -%}\n  z") == "xyz");
  CHECK(render("e {# c #} f {#- trimmed -#} g") == "e  fg");
  // trim_blocks: the newline after a block tag goes; lstrip_blocks: the indentation before it goes.
  CHECK(render("line1\n    {% if true %}\n    inside\n    {% endif %}\nline2\n") == "line1\n    inside\nline2");
  CHECK(render("{% for i in range(2) %}\n  item {{ i }}\n{% endfor %}\nend") == "  item 0\n  item 1\nend");
  // ... but not after an expression: {{ }} keeps its newline.
  CHECK(render("{{ 'a' }}\nb") == "a\nb");
  CHECK(render("{% generation %}kept{% endgeneration %}") == "kept");
}

TEST_CASE("jinja: raise_exception and strftime_now") {
  CHECK_THROWS_AS(render("{{ raise_exception('Roles must alternate') }}"), jinja::TemplateRaisedError);
  try {
    render("line one\n{% if true %}{{ raise_exception('Roles must alternate') }}{% endif %}");
    FAIL("raise_exception must throw");
  } catch (const jinja::TemplateRaisedError& e) {
    CHECK(e.reason() == "Roles must alternate");
    CHECK(e.line() == 2);
    CHECK(e.column() == 17);  // the raise_exception call
    CHECK(std::string(e.what()).find("test:2:17") != std::string::npos);
  }
  const std::time_t now = std::time(nullptr);
  std::tm local{};
  localtime_r(&now, &local);
  char year[8];
  std::strftime(year, sizeof year, "%Y", &local);
  CHECK(render("{{ strftime_now('%Y') }}") == year);
  CHECK(render("{{ strftime_now('%d %b %Y')|length }}") == "11");
}

TEST_CASE("jinja: syntax errors name the line and column") {
  const auto syntax_error_at = [](const std::string& tpl, std::size_t line, std::size_t column, const std::string& words) {
    try {
      render(tpl);
      FAIL("expected a syntax error for " << tpl);
    } catch (const jinja::TemplateSyntaxError& e) {
      CHECK_MESSAGE(e.line() == line, std::string(e.what()));
      CHECK_MESSAGE(e.column() == column, std::string(e.what()));
      CHECK_MESSAGE(std::string(e.what()).find(words) != std::string::npos, std::string(e.what()));
    }
  };
  syntax_error_at("{% for x in xs %}never closed", 1, 4, "for block is never closed");
  syntax_error_at("ok\n{% frobnicate %}", 2, 4, "unknown statement 'frobnicate'");
  syntax_error_at("{{ 'unterminated }}", 1, 4, "never closed");
  syntax_error_at("a\nb\n  {{ 1 + }}", 3, 10, "expected an expression");
  syntax_error_at("{{ x ! y }}", 1, 6, "unexpected character '!'");
  syntax_error_at("{# no end", 1, 1, "comment");
  syntax_error_at("{% if x %}a{% else %}b", 1, 4, "if block is never closed");
}

TEST_CASE("jinja: render errors are typed and name the line and column") {
  const auto render_error_at = [](const std::string& tpl, std::size_t line, std::size_t column, const std::string& words) {
    try {
      render(tpl, kChat);
      FAIL("expected a render error for " << tpl);
    } catch (const jinja::TemplateRenderError& e) {
      CHECK_MESSAGE(e.line() == line, std::string(e.what()));
      CHECK_MESSAGE(e.column() == column, std::string(e.what()));
      CHECK_MESSAGE(std::string(e.what()).find(words) != std::string::npos, std::string(e.what()));
    }
  };
  render_error_at("{{ n|frobnicate }}", 1, 6, "unknown filter 'frobnicate'");
  render_error_at("\n{{ n is frobnicated }}", 2, 6, "unknown test");
  render_error_at("{{ 'a' ~ nothing }}", 1, 8, "'nothing' is not defined");
  render_error_at("{{ none|trim }}", 1, 9, "does not apply");
  render_error_at("{{ 'x' + messages }}", 1, 8, "cannot add a string and a list");
  render_error_at("{% for x in n %}{% endfor %}", 1, 13, "cannot loop over a integer");
  render_error_at("{{ n() }}", 1, 5, "cannot call a integer");
  render_error_at("{% set d.x = 1 %}", 1, 9, "namespace");
  render_error_at("{{ 1 // 0 }}", 1, 6, "division by zero");
}

TEST_CASE("jinja: hostile templates hit limits, not the stack") {
  // 10000 nested parentheses / ifs: a syntax error about nesting, not a stack overflow.
  std::string deep = "{{ " + std::string(10000, '(') + "1" + std::string(10000, ')') + " }}";
  CHECK_THROWS_WITH_AS(render(deep), doctest::Contains("nesting deeper than"), jinja::TemplateSyntaxError);
  std::string ifs;
  for (int i = 0; i < 5000; ++i) ifs += "{% if true %}";
  CHECK_THROWS_WITH_AS(render(ifs), doctest::Contains("nesting deeper than"), jinja::TemplateSyntaxError);
  std::string nots = "{{ " ;
  for (int i = 0; i < 5000; ++i) nots += "not ";
  CHECK_THROWS_AS(render(nots + "x }}"), jinja::TemplateSyntaxError);
  // Unbounded macro recursion: a clear error after Limits::max_call_depth calls.
  CHECK_THROWS_WITH_AS(render("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}"),
                       doctest::Contains("runaway recursion"), jinja::TemplateRenderError);
  // Budgets: range() length, loop iterations, output size.
  CHECK_THROWS_WITH_AS(render("{% for i in range(100000000) %}{% endfor %}"), doctest::Contains("range() longer than"),
                       jinja::TemplateRenderError);
  jinja::Limits small;
  small.max_loop_iterations = 1000;
  small.max_output_bytes = 100;
  const jinja::Object none;
  CHECK_THROWS_WITH_AS(jinja::Template("{% for i in range(100) %}{% for j in range(100) %}{% endfor %}{% endfor %}", "t", small).render(none),
                       doctest::Contains("loop iterations"), jinja::TemplateRenderError);
  CHECK_THROWS_WITH_AS(jinja::Template("{% for i in range(50) %}abc{% endfor %}", "t", small).render(none),
                       doctest::Contains("larger than 100 bytes"), jinja::TemplateRenderError);
  // Invalid UTF-8 in the template text is refused up front.
  CHECK_THROWS_AS(jinja::Template("bad \xff byte"), eigenformer::Error);
}

TEST_CASE("jinja: what @huggingface/jinja lacks, as Python's Jinja2 documents it") {
  // select/reject with tests, round, sum/min/max, batch/slice, {% raw %}, '%' and str.format, |format.
  // (Checked against the full feature templates in test_reference.cpp; these are the corner cases.)
  CHECK(render("{{ [1, 2, 3, 4, 5, 6]|select('divisibleby', 3)|join }}|{{ [0, 1, '']|reject|list|length }}") == "36|2");
  CHECK(render("{{ 0.125|round(2) }}|{{ 0.5|round }}|{{ 1.5|round }}|{{ -2.5|round(method='ceil') }}") == "0.12|0.0|2.0|-2.0");
  CHECK(render("{{ [{'n': 1.5}, {'n': 1}]|sum(attribute='n') }}|{{ []|sum }}|{{ []|max is undefined }}") == "2.5|0|true");
  CHECK(render("{{ [1, 2, 3]|batch(5, 0)|first|length }}|{{ [1, 2]|slice(4)|length }}") == "5|4");
  CHECK(render("{% raw %}{%- no -%}{# kept #}{% endraw %}") == "{%- no -%}{# kept #}");
  CHECK(render("{{ '%-4s|%4.1f|%c%c' % ('ab', 2.25, 'x', 65) }}") == "ab  | 2.2|xA");
  CHECK(render("{{ '{:<3}|{:>3}|{:=+5d}'.format(1, 'b', 7) }}") == "1  |  b|+   7");
  // Bad input is refused with the template's line and column.
  CHECK_THROWS_WITH_AS(render("\n  {{ '%d' % 'x' }}"), doctest::Contains("test:2:"), jinja::TemplateRenderError);
  CHECK_THROWS_WITH_AS(render("{{ '%s %s' % ('a',) }}"), doctest::Contains("expected an expression"), jinja::TemplateSyntaxError);
  CHECK_THROWS_WITH_AS(render("{{ '%s %s' % ['a'] }}"), doctest::Contains("not enough arguments"), jinja::TemplateRenderError);
  CHECK_THROWS_WITH_AS(render("{{ '%s' % ['a', 'b'] }}"), doctest::Contains("not all arguments converted"), jinja::TemplateRenderError);
  CHECK_THROWS_WITH_AS(render("{{ '%*d' % [3, 4] }}"), doctest::Contains("'*' widths"), jinja::TemplateRenderError);
  CHECK_THROWS_WITH_AS(render("{{ '{}{}'.format(1) }}"), doctest::Contains("out of range"), jinja::TemplateRenderError);
  CHECK_THROWS_WITH_AS(render("{{ '{m.role}'.format(m={'role': 1}) }}"), doctest::Contains("use [key]"), jinja::TemplateRenderError);
  CHECK_THROWS_WITH_AS(render("{{ '{!r}'.format(1) }}"), doctest::Contains("not supported"), jinja::TemplateRenderError);
  CHECK_THROWS_WITH_AS(render("{{ 2.5|round(1, 'up') }}"), doctest::Contains("'common', 'ceil' or 'floor'"), jinja::TemplateRenderError);
  CHECK_THROWS_WITH_AS(render("{{ ['a', 1]|sum }}"), doctest::Contains("adds numbers only"), jinja::TemplateRenderError);
  CHECK_THROWS_WITH_AS(render("{{ [1]|batch(0) }}"), doctest::Contains("positive integer"), jinja::TemplateRenderError);
  CHECK_THROWS_WITH_AS(render("{% raw %}never closed"), doctest::Contains("never closed"), jinja::TemplateSyntaxError);
  CHECK_THROWS_WITH_AS(render("a\n{% include 'x.jinja' %}"), doctest::Contains("test:2:4: '{% include %}' loads another template"),
                       jinja::TemplateSyntaxError);
  CHECK_THROWS_WITH_AS(render("{% extends 'base' %}"), doctest::Contains("not supported"), jinja::TemplateSyntaxError);
}
