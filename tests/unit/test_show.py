"""Normalising what the engine returns."""

from decimal import Decimal

from ocbook import show


def test_arns_uuids_times_and_suffixes_are_normalised():
    raw = {"arn": "arn:aws:lambda:us-east-1:000000000000:function:ch01-pay-a1b2c3",
           "id": "6934dd20-80db-481b-9c67-d25ad3737404", "at": "2026-11-27T20:41:31.960Z",
           "queue": "ch01-trail-a1b2c3", "account": "000000000000"}
    assert show.normalise(raw) == {"arn": "arn:aws:lambda:us-east-1:<account>:function:ch01-pay", "id": "<uuid>",
                                   "at": "<time>", "queue": "ch01-trail", "account": "<account>"}


def test_function_code_paths_read_as_lambda_task_root():
    trace = f'File "{show.CODE_ROOT}/failurelab/orders.py", line 12'
    assert show.normalise(trace) == 'File "/var/task/failurelab/orders.py", line 12'
    unpacked = "/w/.engine/run/4619/tmp/lambda/awslambda-us-east-1-tasks/ch02-orders-6934dd20/code/failurelab/orders.py"
    assert show.normalise(f'File "{unpacked}"') == 'File "/var/task/failurelab/orders.py"'
    assert show.normalise('File "/opt/python/x.py"') == 'File "/opt/python/x.py"'  # control: other paths stay


def test_plain_turns_dynamodb_json_into_values():
    item = {"pk": {"S": "a"}, "n": {"N": "3"}, "f": {"N": "1.5"}, "m": {"M": {"x": {"N": "2"}}}}
    assert show.plain(item) == {"pk": "a", "n": 3, "f": 1.5, "m": {"x": 2}}
    values = show.plain({"n": {"N": "3"}, "f": {"N": "1.5"}, "l": {"L": [{"N": "2"}]}})
    assert type(values["n"]) is int and type(values["f"]) is float and type(values["l"][0]) is int
    assert not any(isinstance(v, Decimal) for v in (values["n"], values["f"], values["l"][0]))


def test_table_sorts_and_restricts():
    frame = show.table([{"a": 2, "b": "y"}, {"a": 1, "b": "x", "c": 0}], columns=["a", "b"], sort="a")
    assert list(frame.columns) == ["a", "b"] and list(frame["a"]) == [1, 2]


def test_a_long_printed_line_is_wrapped_to_the_page_without_splitting_words():
    line = "invariant: " + " ".join(["t-stuck: CANCELLED but flight still booked"] * 4)
    wrapped = show.fill(line).splitlines()
    assert len(line) > show.WIDTH and len(wrapped) > 1
    assert all(len(part) <= show.WIDTH for part in wrapped) and wrapped[1].startswith("  ")
    assert " ".join(part.strip() for part in wrapped) == line
    assert show.fill("short") == "short"  # positive control: a short line stays as it is


def test_links_are_shown_by_their_page_name():
    assert show.link_label("https://aws.amazon.com/step-functions/pricing/") == "step-functions pricing"
    assert show.link_label("https://aws.amazon.com/dynamodb/pricing/on-demand/") == "dynamodb pricing on-demand"
    assert show.link_label("https://docs.aws.amazon.com/lambda/latest/dg/scaling-behavior.html") == "scaling-behavior"


def test_a_page_table_escapes_values_and_links_urls():
    import pandas as pd

    frame = pd.DataFrame([{"what": "a <b>", "source": "https://aws.amazon.com/sqs/pricing/ (NOT VERIFIED)"}])
    html = show.fitted(frame, {"what": "40%"}, links=("source",)).to_html()
    assert "a &lt;b&gt;" in html and "<b>" not in html
    assert '<a href="https://aws.amazon.com/sqs/pricing/">sqs pricing</a> (NOT VERIFIED)' in html
    assert "width: 40%" in html and "table-layout: fixed" in html


def test_say_wraps_a_sentence_to_the_page_width_without_breaking_words(capsys):
    show.say("word " * 40, "arn:aws:lambda:us-east-1:<account>:function:a-very-long-name-without-spaces")
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) > 1 and all(len(line) <= show.WIDTH for line in lines[:-1])
    assert lines[-1].endswith("a-very-long-name-without-spaces")  # a long word stays whole


def test_fitted_hides_the_index_fixes_the_widths_and_escapes_cells():
    html = show.fitted(show.table([{"a": "<b>x</b>", "b": 1}]), widths={"a": "70%"}).to_html()
    assert "table-layout: fixed" in html and "width: 70%" in html and "&lt;b&gt;x&lt;/b&gt;" in html
    assert 'class="row_heading' not in html  # no index column
    free = show.fitted(show.table([{"a": "<b>x</b>"}]), escape=False).to_html()
    assert "<b>x</b>" in free and "table-layout: auto" in free and "overflow-wrap: normal" in free


def test_say_keeps_a_number_with_its_unit(capsys):
    show.say("x" * 76, "1.0 s")  # split at the last space, the line would end in "1.0" and the next be "s"
    assert capsys.readouterr().out.splitlines() == ["x" * 76, "1.0 s"]
